"""Four leptons by conversion: e+e- -> gamma*(m1) gamma*(m2), each gamma* -> l+ l- (docs/generator.md).

The conversion (two-photon annihilation) diagrams of e+e- -> l+l- l'+l'-: the e+e- pair annihilates
into two virtual photons by t- and u-channel electron exchange, and each virtual photon converts to
a lepton pair. They complement the final-state pair emission of :class:`belle_mc.processes.PairEmission`;
the channels add the two classes incoherently (:class:`belle_mc.montecarlo.MixtureProcess`).

Cross section. For massless beams, e+e- -> V1 V2 with vector masses m1, m2, summed over the three
polarisations of each vector (-g_mu nu: the virtual photons couple to conserved lepton currents), is

    d sigma / dt = (2 pi alpha^2 / s^2) [t/u + u/t + 2 s (m1^2 + m2^2) / (t u) - m1^2 m2^2 (1/t^2 + 1/u^2)],

t = (p_e- - k1)^2, u = (p_e- - k2)^2, without the 1/2 of identical vectors (the e+e- -> ZZ, Z gamma and
gamma gamma forms at the corresponding masses; tests/test_four_lepton.py re-derives it from the
explicit Dirac trace). The electron mass is kept in the propagators, t -> t - m_e^2 with the exact
beam momentum, which regulates t -> 0 when a vector is (nearly) massless: at m1 = m2 = 0 the
integral over angles is 2 x (2 pi alpha^2 / s) [ln(s / m_e^2) - 1], the QED e+e- -> gamma gamma
cross section with the factor 2 of identical photons removed. Each virtual photon of mass m converts
to l+ l- with the probability density

    (alpha / 3 pi) (dm^2 / m^2) beta (1 + 2 m_l^2 / m^2),   beta = sqrt(1 - 4 m_l^2 / m^2),

the Kroll-Wada factor (:func:`belle_mc.processes.kroll_wada_factor`); the factorisation is exact
once the decay angles are integrated, because the -g_mu nu sum over the three polarisations is
the polarisation sum for conserved currents.

Decay angles: exact at tree level for these diagrams. Given the two virtual photons, the lepton
directions are drawn isotropically in each photon's rest frame and kept with probability
r / ``DECAY_RATIO_MAX``, where r = |M|^2 / <|M|^2>_angles is the full spin-summed squared matrix
element of e+e- -> (l1- l1+)(l2- l2+) through the conversion diagrams (massless beams, lepton
masses kept), L1_mu rho L2_nu sigma Tr[p2-slash Gamma^mu nu p1-slash Gamma-bar^rho sigma] with the
pair tensors L_mu rho = 4 [a_mu b_rho + b_mu a_rho - g_mu rho (a.b + m_l^2)], divided by its
average over the decay angles, (2/3)^2 m1^2 m2^2 (3 - beta1^2)(3 - beta2^2) x 8 [bracket] (current
conservation). The average of r over the angles is 1, so the production distribution is untouched;
this keeps the polarisation of each virtual photon and the spin correlations between the pairs and
with the beams.

Approximations: tree level, no interference with the pair-emission diagrams, no interference
between identical leptons of the two pairs (4 mu), no Z exchange, no beam ISR or final-state
radiation; the 1/2 of identical virtual photons is applied when both pairs have the same flavour.
"""

from __future__ import annotations

import numba
import numpy as np

from core import constants as c

from .kinematics import two_body_decay
from .montecarlo import Proposal
from .particles import four_vector
from .processes import _sqrt_s_per_event, kroll_wada_factor

PAIR_MASS_MARGIN_GEV = 1e-3
"""The upper end of each proposed pair mass stays this far below sqrt(s) - 2 m_l(other pair), GeV."""
DECAY_RATIO_MAX = 2.4
"""Bound on r = |M|^2 / <|M|^2>_angles used to accept decay angles: each pair's angular factor is at most
3/2 (massless leptons), so r <= 9/4; the largest r seen in 4 mu and mu mu tau tau samples is 2.16."""

_METRIC = np.array([1.0, -1.0, -1.0, -1.0])


def _dirac_gamma_matrices() -> np.ndarray:
    """gamma^0..gamma^3 in the Dirac representation, [4, 4, 4] complex."""
    i2, z2 = np.eye(2), np.zeros((2, 2))
    pauli = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]])]
    out = [np.block([[i2, z2], [z2, -i2]])] + [np.block([[z2, p], [-p, z2]]) for p in pauli]
    return np.ascontiguousarray(np.array(out, dtype=np.complex128))


_GAMMA = _dirac_gamma_matrices()


@numba.njit(cache=True)
def _slash(p):
    """p-slash = p_mu gamma^mu for a four-vector p (E, px, py, pz)."""
    out = np.zeros((4, 4), dtype=np.complex128)
    for k in range(4):
        out += (_METRIC[k] * p[k]) * _GAMMA[k]
    return out


@numba.njit(cache=True)
def _dot(p, q):
    return p[0] * q[0] - p[1] * q[1] - p[2] * q[2] - p[3] * q[3]


@numba.njit(cache=True)
def _mm_add(a, b, out):  # pragma: no cover - jitted
    """out += a @ b for 4x4 complex matrices (no BLAS call: these are tiny)."""
    for x in range(4):
        for y in range(4):
            acc = 0j
            for k in range(4):
                acc += a[x, k] * b[k, y]
            out[x, y] += acc


@numba.njit(cache=True)
def _mm(a, b, out):  # pragma: no cover - jitted
    """out = a @ b for 4x4 complex matrices."""
    out[:, :] = 0j
    _mm_add(a, b, out)


@numba.njit(cache=True)
def conversion_decay_ratio(sqrt_s, a, b, c4, d4, m_lepton1, m_lepton2):  # pragma: no cover - jitted
    """r = |M|^2 / <|M|^2>_decay angles of e+e- -> gamma* gamma* -> l1-(a) l1+(b) l2-(c4) l2+(d4) (CM frame, e- along +z).

    Four-momenta (E, px, py, pz) in GeV with a + b + c4 + d4 = (sqrt_s, 0, 0, 0); see the module docstring.
    """
    e = 0.5 * sqrt_s
    p1 = np.array([e, 0.0, 0.0, e])
    p2 = np.array([e, 0.0, 0.0, -e])
    q1 = a + b
    q2 = c4 + d4
    k1 = p1 - q1
    k2 = p1 - q2
    t = _dot(k1, k1)
    u = _dot(k2, k2)
    s1 = _slash(k1) / t
    s2 = _slash(k2) / u
    sp1 = _slash(p1)
    sp2 = _slash(p2)
    # pair tensors as sums of coef * (U)_mu (V)_rho, U and V slashed: a b + b a - g (a.b + m^2)
    us1 = np.empty((6, 4, 4), dtype=np.complex128)
    vs1 = np.empty((6, 4, 4), dtype=np.complex128)
    cf1 = np.empty(6)
    us2 = np.empty((6, 4, 4), dtype=np.complex128)
    vs2 = np.empty((6, 4, 4), dtype=np.complex128)
    cf2 = np.empty(6)
    for pair in range(2):
        x = a if pair == 0 else c4
        y = b if pair == 0 else d4
        m = m_lepton1 if pair == 0 else m_lepton2
        us = us1 if pair == 0 else us2
        vs = vs1 if pair == 0 else vs2
        cf = cf1 if pair == 0 else cf2
        sx, sy = _slash(x), _slash(y)
        us[0], vs[0], cf[0] = sx, sy, 4.0
        us[1], vs[1], cf[1] = sy, sx, 4.0
        g_coef = -4.0 * (_dot(x, y) + m * m)
        for k in range(4):  # g_mu rho gamma^mu ... gamma^rho = sum_k g_kk gamma^k ... gamma^k
            us[2 + k], vs[2 + k], cf[2 + k] = _GAMMA[k], _GAMMA[k], g_coef * _METRIC[k]
    # Tr[p2 (U2 S1 U1 + U1 S2 U2) p1 (V1 S1 V2 + V2 S2 V1)] with the i-only products made once
    s1u1 = np.empty((6, 4, 4), dtype=np.complex128)
    u1s2 = np.empty((6, 4, 4), dtype=np.complex128)
    p1v1s1 = np.empty((6, 4, 4), dtype=np.complex128)
    s2v1 = np.empty((6, 4, 4), dtype=np.complex128)
    tmp = np.empty((4, 4), dtype=np.complex128)
    for i in range(6):
        _mm(s1, us1[i], s1u1[i])
        _mm(us1[i], s2, u1s2[i])
        _mm(sp1, vs1[i], tmp)
        _mm(tmp, s1, p1v1s1[i])
        _mm(s2, vs1[i], s2v1[i])
    amp = np.empty((4, 4), dtype=np.complex128)
    left = np.empty((4, 4), dtype=np.complex128)
    right = np.empty((4, 4), dtype=np.complex128)
    p1v2 = np.empty((4, 4), dtype=np.complex128)
    total = 0.0
    for j in range(6):
        _mm(sp1, vs2[j], p1v2)
        for i in range(6):
            _mm(us2[j], s1u1[i], amp)
            _mm_add(u1s2[i], us2[j], amp)  # amp = U2 S1 U1 + U1 S2 U2
            _mm(sp2, amp, left)
            _mm(p1v1s1[i], vs2[j], right)
            _mm_add(p1v2, s2v1[i], right)  # right = p1 (V1 S1 V2 + V2 S2 V1)
            tr = 0.0
            for x in range(4):
                for y in range(4):
                    tr += (left[x, y] * right[y, x]).real
            total += cf1[i] * cf2[j] * tr
    m1sq, m2sq = _dot(q1, q1), _dot(q2, q2)
    b1 = 1.0 - 4.0 * m_lepton1 * m_lepton1 / m1sq
    b2 = 1.0 - 4.0 * m_lepton2 * m_lepton2 / m2sq
    average = (2.0 / 3.0) ** 2 * m1sq * m2sq * (3.0 - b1) * (3.0 - b2) * 8.0 * vector_pair_bracket(-t, -u, sqrt_s * sqrt_s, m1sq, m2sq)
    return total / average


@numba.njit(cache=True)
def _decay_ratio_kernel(rs, l1m, l1p, l2m, l2p, m_lepton1, m_lepton2, out):  # pragma: no cover - jitted
    for i in range(len(rs)):
        out[i] = conversion_decay_ratio(rs[i], l1m[i], l1p[i], l2m[i], l2p[i], m_lepton1, m_lepton2)


def conversion_decay_ratios(sqrt_s, l1_minus, l1_plus, l2_minus, l2_plus, m_lepton1: float, m_lepton2: float) -> np.ndarray:
    """:func:`conversion_decay_ratio` for arrays: sqrt_s [n] (GeV), lepton four-momenta [n, 4] (GeV, CM frame)."""
    out = np.empty(len(sqrt_s))
    _decay_ratio_kernel(
        np.ascontiguousarray(sqrt_s, dtype=np.float64), *(np.ascontiguousarray(x, dtype=np.float64) for x in (l1_minus, l1_plus, l2_minus, l2_plus)),
        float(m_lepton1), float(m_lepton2), out,
    )
    return out


@numba.njit(cache=True, fastmath=True)
def vector_pair_bracket(abs_t: float, abs_u: float, s: float, m1sq: float, m2sq: float) -> float:
    """t/u + u/t + 2 s (m1^2 + m2^2) / (t u) - m1^2 m2^2 (1/t^2 + 1/u^2) at t = -abs_t, u = -abs_u (GeV^2 inputs)."""
    tu = abs_t * abs_u
    return abs_t / abs_u + abs_u / abs_t + 2.0 * s * (m1sq + m2sq) / tu - m1sq * m2sq * (1.0 / abs_t**2 + 1.0 / abs_u**2)


@numba.njit(cache=True, fastmath=True)
def vector_pair_kinematics(sqrt_s: float, m1sq: float, m2sq: float):
    """(E1, k, p, d) of e+e- -> V1 V2 in the CM frame, GeV (and GeV^2 for d).

    E1 and k are the energy and momentum of V1, p the beam momentum (electron mass kept), and
    d = |t - m_e^2| at cos(theta_1) = 1, written without cancellations as
    m1^2 m2^2 / ((E1 + k)(E2 + k)) + 2 k (E - p). Then |t - m_e^2| = d + 2 p k (1 - cos) and
    |u - m_e^2| = d + 2 p k (1 + cos), theta_1 the polar angle of V1 from the e- beam.
    """
    s = sqrt_s * sqrt_s
    m1, m2 = np.sqrt(m1sq), np.sqrt(m2sq)
    lam = max((s - (m1 + m2) ** 2) * (s - (m1 - m2) ** 2), 0.0)
    k = np.sqrt(lam) / (2.0 * sqrt_s)
    e1 = (s + m1sq - m2sq) / (2.0 * sqrt_s)
    e2 = sqrt_s - e1
    e_beam = 0.5 * sqrt_s
    p = np.sqrt(e_beam * e_beam - c.ELECTRON_MASS_GEV**2)
    e_minus_p = c.ELECTRON_MASS_GEV**2 / (e_beam + p)
    d = m1sq * m2sq / ((e1 + k) * (e2 + k)) + 2.0 * k * e_minus_p
    return e1, k, p, d


@numba.njit(cache=True, fastmath=True)
def _dsigma_dcos_pb(s: float, p: float, k: float, abs_t: float, abs_u: float, m1sq: float, m2sq: float) -> float:
    """d sigma / d cos(theta_1) of e+e- -> V1 V2 in pb (no identical-vector factor): (d sigma / dt) 2 p k."""
    return (
        2.0 * np.pi * c.ALPHA_EM**2 / (s * s) * vector_pair_bracket(abs_t, abs_u, s, m1sq, m2sq) * 2.0 * p * k
        * c.HBARC2_PB_GEV2
    )


def vector_pair_xsec_pb(sqrt_s: float, m1: float, m2: float, n_nodes: int = 200) -> float:
    """sigma(e+e- -> V1 V2) in pb for vector masses m1, m2 (GeV) at sqrt_s (GeV), without the 1/2 of identical vectors.

    Gauss-Legendre quadrature over cos(theta_1) in [0, 1] in the variable ln|t - m_e^2| and over
    [-1, 0] in ln|u - m_e^2|, which follow the electron-exchange poles. Returns 0 below threshold.
    """
    if m1 + m2 >= sqrt_s:
        return 0.0
    s = sqrt_s * sqrt_s
    m1sq, m2sq = m1 * m1, m2 * m2
    _, k, p, d = vector_pair_kinematics(sqrt_s, m1sq, m2sq)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    lo, hi = np.log(d), np.log(d + 2.0 * p * k)  # |t| from cos = 1 to cos = 0
    pole = np.exp(lo + 0.5 * (x + 1.0) * (hi - lo))  # |t| (|u|) on the cos > 0 (cos < 0) half
    other = 2.0 * d + 4.0 * p * k - pole
    jac = 0.5 * (hi - lo) * pole / (2.0 * p * k)  # d cos / d(node)
    total = 0.0
    for i in range(n_nodes):
        total += w[i] * jac[i] * _dsigma_dcos_pb(s, p, k, pole[i], other[i], m1sq, m2sq)  # cos > 0: |t| small
        total += w[i] * jac[i] * _dsigma_dcos_pb(s, p, k, other[i], pole[i], m1sq, m2sq)  # cos < 0: |u| small
    return float(total)


def gamma_gamma_xsec_pb(sqrt_s: float) -> float:
    """QED sigma(e+e- -> gamma gamma) = (2 pi alpha^2 / s) [ln(s / m_e^2) - 1] in pb (s >> m_e^2), sqrt_s in GeV."""
    s = sqrt_s * sqrt_s
    return 2.0 * np.pi * c.ALPHA_EM**2 / s * (np.log(s / c.ELECTRON_MASS_GEV**2) - 1.0) * c.HBARC2_PB_GEV2


@numba.njit(cache=True, fastmath=True)
def _conversion_propose_kernel(
    rs, u, ml1, ml2, log_m2lo1, log_span1, log_m2lo2, log_span2, symmetry, weight, m1_out, m2_out, cos_out
):  # pragma: no cover - jitted
    """Weights (pb) of conversion proposals from uniform numbers u [n, 4] (see FourLeptonConversion)."""
    alpha_3pi = c.ALPHA_EM / (3.0 * np.pi)
    for i in range(len(rs)):
        m1sq = np.exp(log_m2lo1 + u[i, 0] * log_span1)  # ln m^2 uniform
        m2sq = np.exp(log_m2lo2 + u[i, 1] * log_span2)
        m1, m2 = np.sqrt(m1sq), np.sqrt(m2sq)
        m1_out[i], m2_out[i] = m1, m2
        if m1 + m2 >= rs[i]:
            weight[i] = 0.0
            cos_out[i] = 0.0
            continue
        s = rs[i] * rs[i]
        _, k, p, d = vector_pair_kinematics(rs[i], m1sq, m2sq)
        two_pk = 2.0 * p * k
        big_lambda = np.log((d + 2.0 * two_pk) / d)
        pole = d * np.exp(u[i, 3] * big_lambda)  # |t| or |u|, log-uniform on its whole range
        if u[i, 2] < 0.5:
            abs_t = pole
            cos_t = 1.0 - (abs_t - d) / two_pk
            abs_u = 2.0 * d + 2.0 * two_pk - abs_t
        else:
            abs_u = pole
            cos_t = -1.0 + (abs_u - d) / two_pk
            abs_t = 2.0 * d + 2.0 * two_pk - abs_u
        density = 0.5 * two_pk / big_lambda * (1.0 / abs_t + 1.0 / abs_u)  # of cos
        cos_out[i] = min(max(cos_t, -1.0), 1.0)
        pair_factors = (
            alpha_3pi * kroll_wada_factor(m1, ml1) * log_span1 * alpha_3pi * kroll_wada_factor(m2, ml2) * log_span2
        )
        weight[i] = symmetry * pair_factors * _dsigma_dcos_pb(s, p, k, abs_t, abs_u, m1sq, m2sq) / density


class FourLeptonConversion:
    """e+e- -> gamma*(m1) gamma*(m2), gamma*(m1) -> l1+ l1-, gamma*(m2) -> l2+ l2- (conversion diagrams).

    Proposal: ln m1^2 and ln m2^2 uniform from (2 m_l)^2 up to (sqrt(s) - 2 m_l(other pair) - 1 MeV)^2
    (points with m1 + m2 >= sqrt(s) get weight 0), and the polar angle of gamma*(m1) from a mixture of
    d ln|t| and d ln|u| uniform (the electron-exchange poles), azimuth uniform. The weight is the
    differential cross section of the module docstring times the two Kroll-Wada densities, times 1/2
    when both pairs have the same flavour (identical virtual photons). The payload holds
    ``<names[0]>_minus/_plus`` (the pair of gamma*(m1), leptons of mass ``m_lepton1``),
    ``<names[1]>_minus/_plus`` (gamma*(m2), ``m_lepton2``) and ``sqrt_s``, with the keys of
    :class:`belle_mc.processes.PairEmission` for the same ``names``; events are in the CM frame with the
    e- beam along +z.
    """

    def __init__(
        self,
        m_lepton1: float,
        m_lepton2: float,
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
        names: tuple[str, str] = ("emitter", "pair"),
    ):
        from core.beams import sqrt_s_gev

        self.m_lepton1 = float(m_lepton1)
        self.m_lepton2 = float(m_lepton2)
        self.names = names
        self.sqrt_s = sqrt_s_gev() if sqrt_s is None else float(sqrt_s)
        self.energy_spread = float(energy_spread)
        self.symmetry = 0.5 if self.m_lepton1 == self.m_lepton2 else 1.0
        self.decay_ratio_max_seen = 0.0
        """Largest decay ratio r met by the last :meth:`convert` (a check of ``DECAY_RATIO_MAX``)."""
        rs_max = self.sqrt_s + 5.0 * max(self.energy_spread, 0.0)
        self.m2_min = ((2.0 * self.m_lepton1) ** 2, (2.0 * self.m_lepton2) ** 2)
        self.m2_max = (
            (rs_max - 2.0 * self.m_lepton2 - PAIR_MASS_MARGIN_GEV) ** 2,
            (rs_max - 2.0 * self.m_lepton1 - PAIR_MASS_MARGIN_GEV) ** 2,
        )

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        u = rng.random((n, 4))
        weight, m1, m2, cos_t = (np.empty(n) for _ in range(4))
        lo1, lo2 = np.log(self.m2_min[0]), np.log(self.m2_min[1])
        _conversion_propose_kernel(
            rs, u, self.m_lepton1, self.m_lepton2, lo1, np.log(self.m2_max[0]) - lo1, lo2, np.log(self.m2_max[1]) - lo2,
            self.symmetry, weight, m1, m2, cos_t,
        )
        return Proposal(weight, {"sqrt_s": rs, "m1": m1, "m2": m2, "cos_theta": cos_t})

    def virtual_photons(self, rng: np.random.Generator, state: dict) -> tuple[np.ndarray, np.ndarray]:
        """Four-momenta [n, 4] (GeV, CM frame) of gamma*(m1) and gamma*(m2) for kept proposals, azimuth uniform."""
        rs, m1, m2, cos_t = state["sqrt_s"], state["m1"], state["m2"], state["cos_theta"]
        n = len(rs)
        s = rs**2
        k = np.sqrt(np.clip((s - (m1 + m2) ** 2) * (s - (m1 - m2) ** 2), 0.0, None)) / (2.0 * rs)
        e1 = (s + m1**2 - m2**2) / (2.0 * rs)
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        sin_t = np.sqrt(np.clip(1.0 - cos_t**2, 0.0, None))
        direction = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
        v1 = four_vector(e1, k[:, None] * direction)
        v2 = four_vector(rs - e1, -k[:, None] * direction)
        return v1, v2

    def convert(self, rng: np.random.Generator, sqrt_s: np.ndarray, v1: np.ndarray, v2: np.ndarray):
        """Both gamma* -> l- l+ with the exact decay correlations (module docstring): four [n, 4] arrays, GeV.

        Directions isotropic in each rest frame, kept with probability r / DECAY_RATIO_MAX; rejected
        events draw again, so every production point keeps its weight.
        """
        n = len(sqrt_s)
        out = [np.empty((n, 4)) for _ in range(4)]
        todo = np.arange(n)
        self.decay_ratio_max_seen = 0.0
        while len(todo):
            m = len(todo)
            l1m, l1p = two_body_decay(v1[todo], self.m_lepton1, self.m_lepton1, _isotropic(rng, m))
            l2m, l2p = two_body_decay(v2[todo], self.m_lepton2, self.m_lepton2, _isotropic(rng, m))
            r = conversion_decay_ratios(sqrt_s[todo], l1m, l1p, l2m, l2p, self.m_lepton1, self.m_lepton2)
            self.decay_ratio_max_seen = max(self.decay_ratio_max_seen, float(r.max()))
            keep = rng.uniform(0.0, DECAY_RATIO_MAX, m) < r
            for arr, new in zip(out, (l1m, l1p, l2m, l2p), strict=True):
                arr[todo[keep]] = new[keep]
            todo = todo[~keep]
        return tuple(out)

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        v1, v2 = self.virtual_photons(rng, state)
        l1m, l1p, l2m, l2p = self.convert(rng, state["sqrt_s"], v1, v2)
        first, second = self.names
        return {
            f"{first}_minus": l1m, f"{first}_plus": l1p, f"{second}_minus": l2m, f"{second}_plus": l2p,
            "sqrt_s": state["sqrt_s"],
        }


def _isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    """n unit vectors [n, 3], isotropic."""
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
