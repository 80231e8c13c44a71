"""Physics of the generated channels, in the CM frame with the e- beam along +z.

Every process proposes weighted points (see :mod:`belle_mc.montecarlo`); the mean
weight is its cross section in pb. Formulas are those of docs/physics.md:

* :class:`VectorEmission` - e+e- -> l+ l- V with V radiated from the final-state
  leptons (the L_mu - L_tau Z' signal): the (x1, x2) density of docs/physics.md §3 and
  its event-plane orientation weight.
* :class:`ScalarEmission` - e+e- -> gamma* -> tau+ tau- phi_L with the leptophilic scalar
  radiated from the tau line (docs/physics.md §5): the exact tree-level Dalitz density with the
  tau mass kept, derived in :func:`scalar_emission_density`.
* :class:`PairEmission` - the same with a virtual photon V = gamma* -> l'+ l'-
  (e+e- -> mu mu mu mu, e+e- -> mu mu tau tau): the Kroll-Wada factor
  (alpha / 3 pi) (1 + 2 m^2/M^2) sqrt(1 - 4 m^2/M^2) dM^2 / M^2.
* :class:`LeptonPairISR` - e+e- -> l+ l- (gamma) with the ISR radiator W(x) and
  collinear final-state photons.
* :class:`LeptonPairMultiPhoton` - the same with ISR off each beam (per-beam structure
  functions) and several photons per beam and per final lepton with eikonal angles
  (:mod:`belle_mc.radiation`; KKMC-like mu mu and tau tau).
* :class:`BhabhaISR` - e+e- -> e+e- (gamma) inside a CM polar-angle cut on both e+-: Born
  Bhabha (s- and t-channel photon) with the same leading-log ISR radiator and collinear FSR.
* :class:`TwoPhotonLeptonPair` - e+e- -> e+e- l+l- from the equivalent-photon
  approximation for each beam times the Breit-Wheeler gamma gamma -> l+ l- cross section.
"""

from __future__ import annotations

import copy

import numba
import numpy as np

from core import constants as c

from .kinematics import (
    directions_about_axis,
    sample_collinear_cos,
    sample_cos_theta_1_plus_a_cos2,
    two_body_decay,
)
from .montecarlo import Proposal
from .radiation import FSR_PHOTON_MIN_GEV, final_state_photons, initial_state_photons
from .particles import four_vector, invariant_mass2
from core.beams import boost


def _sqrt_s_per_event(rng: np.random.Generator, sqrt_s: float, spread: float, n: int) -> np.ndarray:
    if spread <= 0:
        return np.full(n, sqrt_s)
    return sqrt_s + spread * rng.standard_normal(n)


# ----------------------------------------------------------------------------------
# Final-state emission of a massive vector (docs/physics.md §3)
# ----------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=True)
def fsr_vector_density(x1, x2, mu):
    """(1/sigma_0) d^2 sigma / dx1 dx2 divided by alpha'/(2 pi) for emission of a vector of mass^2 = mu s.

    x_i = 2 E_i / sqrt(s) are the lepton energy fractions in the CM frame (scalars or arrays).
    """
    y1 = 1.0 - x1
    y2 = 1.0 - x2
    return ((x1 + mu) ** 2 + (x2 + mu) ** 2) / (y1 * y2) - mu / y1**2 - mu / y2**2


@numba.njit(cache=True, fastmath=True)
def scalar_emission_density(x1, x2, mu, mu_lepton):
    """(1/sigma_0) d^2 sigma / dx1 dx2 divided by alpha_Y/(2 pi) for gamma* -> l- l+ phi, phi a scalar.

    ``mu = m_phi^2 / s``, ``mu_lepton = m_l^2 / s``, x_i = 2 E_i / sqrt(s) the energy fractions of
    l- and l+ in the CM frame (scalars or arrays); alpha_Y = g^2 / (4 pi) with the Yukawa coupling
    g = xi m_l / v. With y_i = 1 - x_i and mu_l = mu_lepton:

        (1/2) [ y1/y2 + y2/y1 + 2 + (8 mu_l - 2 mu)(1/y1 + 1/y2)
                + (8 mu_l^2 + 4 mu_l - 2 mu mu_l - mu)(1/y1^2 + 1/y2^2)
                + (2 mu^2 - 12 mu mu_l + 16 mu_l^2 + 8 mu_l) / (y1 y2) ]

    Derivation. The amplitude of gamma*(q) -> l-(p1) l+(p2) phi(k) is e g eps_mu ubar(p1) G^mu v(p2)
    with G^mu = (p1-slash + k-slash + m) gamma^mu / D1 + gamma^mu (-p2-slash - k-slash + m) / D2 (phi
    radiated by the outgoing l- or l+), D1 = (p1 + k)^2 - m^2 = s y2, D2 = (p2 + k)^2 - m^2 = s y1. The
    current is conserved (q_mu G^mu between the spinors vanishes), so after averaging over the
    orientation of the event with respect to the (massless) beams, L_mu nu H^mu nu = (4 s / 3) T with
    T = -g_mu nu sum_spins Tr[(p1-slash + m) G^mu (p2-slash - m) Gbar^nu]. T D1^2 D2^2 is a homogeneous
    polynomial of degree 4 in (s, D1, D2, m^2, m_phi^2); its 70 coefficients were obtained exactly
    (integers) by evaluating the Dirac trace with explicit gamma matrices at random phase-space points,
    and the polynomial reproduces the trace to 1e-15 (tests/test_scalar_generator.py re-checks it
    against the explicit trace, current conservation, and the beam average of the full L_mu nu H^mu nu). Normalising with the two-body case (T_2 = 4 (s + 2 m^2), dPhi_2 = beta / (8 pi), which gives
    sigma_Born = sigma_0 beta (3 - beta^2) / 2) and dPhi_3 = s / (128 pi^3) dx1 dx2 gives
    (1/sigma_0) d^2 sigma / dx1 dx2 = g^2 T / (64 pi^2) = (alpha_Y / 2 pi) T / 8, the expression above.
    The same procedure with a vector vertex reproduces :func:`fsr_vector_density` (docs/physics.md §3)
    exactly. For massless leptons it is (1/2) [x3^2 - 2 mu x3 + 2 mu^2] / (y1 y2) - (mu/2)(1/y1^2 + 1/y2^2),
    x3 = 2 - x1 - x2, the known scalar-gluon density x3^2 / (2 y1 y2) at mu = 0.
    """
    y1 = 1.0 - x1
    y2 = 1.0 - x2
    inv1, inv2 = 1.0 / y1, 1.0 / y2
    ml = mu_lepton
    return 0.5 * (
        y1 * inv2
        + y2 * inv1
        + 2.0
        + (8.0 * ml - 2.0 * mu) * (inv1 + inv2)
        + (8.0 * ml * ml + 4.0 * ml - 2.0 * mu * ml - mu) * (inv1 * inv1 + inv2 * inv2)
        + (2.0 * mu * mu - 12.0 * mu * ml + 16.0 * ml * ml + 8.0 * ml) * inv1 * inv2
    )


@numba.njit(cache=True, fastmath=True)
def scalar_orientation_weight(y1, y2, mu, mu_lepton, a1, a2, b1, b2):
    """Exact event-plane orientation weight of e+e- -> gamma* -> l- l+ phi (phi a scalar): L_mu nu H^mu nu / <.>.

    y_i = 1 - x_i, ``mu = m_phi^2 / s``, ``mu_lepton = m_l^2 / s``; a_i = k1.p_i / s and b_i = k2.p_i / s are
    the products of the lepton momenta p1 (l-), p2 (l+) with the beam momenta k1, k2 (massless, along the
    z axis of the CM frame), divided by s. The ratio of the full squared matrix element, lepton tensor
    L^mu nu = 4 (k1^mu k2^nu + k2^mu k1^nu - (k1.k2) g^mu nu) contracted with the hadronic tensor of
    :func:`scalar_emission_density`, to its average over orientations, (4 s / 3) T. Its average over
    orientations is 1, so it shapes angles without changing the cross section. As for T, the polynomial
    L.H D1^2 D2^2 / s^5 (231 coefficients, in the products a_i b_j and the invariants) was fitted exactly to the
    explicit Dirac trace; tests/test_scalar_generator.py re-checks it against the trace.
    """
    d1, d2 = y2, y1  # D1 / s and D2 / s
    big, ml = mu, mu_lepton
    r = big - 4.0 * ml
    full = (
        8.0 * d1**3 * d2 + 16.0 * d1 * d1 * d2 * d2 - 16.0 * d1 * d1 * d2 * big + 64.0 * d1 * d1 * d2 * ml
        - 16.0 * d1 * d1 * d2 - 16.0 * d1 * d1 * big * ml - 8.0 * d1 * d1 * big + 64.0 * d1 * d1 * ml * ml
        + 32.0 * d1 * d1 * ml + 8.0 * d1 * d2**3 - 16.0 * d1 * d2 * d2 * big + 64.0 * d1 * d2 * d2 * ml
        - 16.0 * d1 * d2 * d2 + 16.0 * d1 * d2 * big * big - 96.0 * d1 * d2 * big * ml + 16.0 * d1 * d2 * big
        + 128.0 * d1 * d2 * ml * ml + 16.0 * d1 * d2 - 16.0 * d2 * d2 * big * ml - 8.0 * d2 * d2 * big
        + 64.0 * d2 * d2 * ml * ml + 32.0 * d2 * d2 * ml
        + 64.0 * (a1 * b1 * (d1 * d1 * r - d1 * d2) + a2 * b2 * (d2 * d2 * r - d1 * d2) - (a1 * b2 + a2 * b1) * d1 * d2 * (r + 1.0))
    )
    trace = 4.0 * (
        d1**3 * d2 + 2.0 * d1 * d1 * d2 * d2 - 2.0 * d1 * d1 * d2 * big + 8.0 * d1 * d1 * d2 * ml
        - 2.0 * d1 * d1 * big * ml - d1 * d1 * big + 8.0 * d1 * d1 * ml * ml + 4.0 * d1 * d1 * ml + d1 * d2**3
        - 2.0 * d1 * d2 * d2 * big + 8.0 * d1 * d2 * d2 * ml + 2.0 * d1 * d2 * big * big - 12.0 * d1 * d2 * big * ml
        + 16.0 * d1 * d2 * ml * ml + 8.0 * d1 * d2 * ml - 2.0 * d2 * d2 * big * ml - d2 * d2 * big
        + 8.0 * d2 * d2 * ml * ml + 4.0 * d2 * d2 * ml
    )
    return full / (4.0 / 3.0 * trace)


@numba.njit(cache=True, fastmath=True)
def orientation_weight(x1, x2, cos1, cos2):
    """Event-plane orientation weight [x1^2 (1+cos^2 th1) + x2^2 (1+cos^2 th2)] / (4/3 (x1^2 + x2^2)).

    Its average over orientations is 1, so it shapes angles without changing the cross section.
    """
    return (x1**2 * (1 + cos1**2) + x2**2 * (1 + cos2**2)) / (4.0 / 3.0 * (x1**2 + x2**2))


@numba.njit(cache=True, fastmath=True)
def _emission_propose_kernel(  # pragma: no cover
    sqrt_s, m_lepton, m_vector, scalar, u, weight, x1_out, x2_out, cos12_out, cos1_out, psi_out
):
    """Dalitz x orientation weights of proposals from uniform numbers u [n, 4]; see _emission_propose.

    The Dalitz density is :func:`scalar_emission_density` when ``scalar`` is true, else :func:`fsr_vector_density`.
    """
    for i in range(len(sqrt_s)):
        rs, m_v = sqrt_s[i], m_vector[i]
        mu = m_v * m_v / (rs * rs)
        # 1 - x_i lies between (M^2 + 2 m_l M) / s (the recoiling lepton + V system at threshold)
        # and 1 - 2 m_l / sqrt(s) (lepton at rest)
        y_lo = mu + 2.0 * m_lepton * m_v / (rs * rs)
        log_range = np.log((1.0 - 2.0 * m_lepton / rs) / y_lo)
        y1 = y_lo * np.exp(u[i, 0] * log_range)
        y2 = y_lo * np.exp(u[i, 1] * log_range)
        x1, x2 = 1.0 - y1, 1.0 - y2
        cos1 = 2.0 * u[i, 2] - 1.0
        psi = 2.0 * np.pi * u[i, 3]
        x1_out[i], x2_out[i], cos1_out[i], psi_out[i] = x1, x2, cos1, psi
        cos12_out[i] = 1.0
        weight[i] = 0.0
        e1, e2 = 0.5 * x1 * rs, 0.5 * x2 * rs
        e3 = rs - e1 - e2
        if e1 <= m_lepton or e2 <= m_lepton or e3 <= m_v:
            continue
        p1sq, p2sq = e1 * e1 - m_lepton * m_lepton, e2 * e2 - m_lepton * m_lepton
        cos12 = (e3 * e3 - m_v * m_v - p1sq - p2sq) / (2.0 * np.sqrt(p1sq * p2sq))
        if abs(cos12) > 1.0:
            continue
        cos12_out[i] = cos12
        # lepton 2 at azimuth psi about lepton 1 (theta-hat / phi-hat basis)
        cos2 = cos12 * cos1 - np.sqrt(1.0 - cos12 * cos12) * np.cos(psi) * np.sqrt(1.0 - cos1 * cos1)
        if scalar:
            mu_lepton = m_lepton * m_lepton / (rs * rs)
            density = scalar_emission_density(x1, x2, mu, mu_lepton)
            # k.p / s with the beams k = (sqrt(s) / 2)(1, 0, 0, +-1): (E -+ p_z) / (2 sqrt(s))
            p1z, p2z = np.sqrt(p1sq) * cos1, np.sqrt(p2sq) * cos2
            inv = 0.5 / rs
            orientation = scalar_orientation_weight(
                y1, y2, mu, mu_lepton, (e1 - p1z) * inv, (e2 - p2z) * inv, (e1 + p1z) * inv, (e2 + p2z) * inv
            )
        else:
            density = fsr_vector_density(x1, x2, mu)
            orientation = orientation_weight(x1, x2, cos1, cos2)
        w = density * y1 * y2 * log_range**2 * orientation
        weight[i] = max(w, 0.0)


def _emission_propose(rng, sqrt_s, m_lepton, m_vector, scalar=False):
    """Propose (x1, x2) log-uniformly in 1 - x_i and an orientation of the event plane.

    Returns (dalitz_weight, state): dalitz_weight * (alpha'/2 pi) * sigma_0 is the
    importance-sampling weight of the (x1, x2) integral including the orientation
    weight (0 outside phase space); ``state`` is what :func:`_emission_build` needs.
    """
    n = len(sqrt_s)
    m_vector = np.broadcast_to(np.asarray(m_vector, dtype=np.float64), (n,))
    weight = np.empty(n)
    state = {"sqrt_s": sqrt_s, **{k: np.empty(n) for k in ("x1", "x2", "cos12", "cos1", "psi")}}
    _emission_propose_kernel(
        sqrt_s, float(m_lepton), np.ascontiguousarray(m_vector), bool(scalar), rng.random((n, 4)), weight,
        state["x1"], state["x2"], state["cos12"], state["cos1"], state["psi"],
    )
    return weight, state


@numba.njit(cache=True)
def _emission_build_kernel(rs, x1, x2, cos12, cos1, phi1, psi, m_lepton, lm, lp, v):  # pragma: no cover
    for i in range(len(rs)):
        e1, e2 = 0.5 * x1[i] * rs[i], 0.5 * x2[i] * rs[i]
        e3 = rs[i] - e1 - e2
        p1 = np.sqrt(e1 * e1 - m_lepton * m_lepton)
        p2 = np.sqrt(e2 * e2 - m_lepton * m_lepton)
        c1 = cos1[i]
        s1 = np.sqrt(1.0 - c1 * c1)
        cphi, sphi = np.cos(phi1[i]), np.sin(phi1[i])
        c12 = cos12[i]
        s12 = np.sqrt(max(1.0 - c12 * c12, 0.0))
        cpsi, spsi = np.cos(psi[i]), np.sin(psi[i])
        # lepton 1 along u1; lepton 2 at angle arccos(c12) from it, azimuth psi in the (theta-hat, phi-hat) basis
        u1x, u1y, u1z = s1 * cphi, s1 * sphi, c1
        u2x = c12 * u1x + s12 * (cpsi * c1 * cphi - spsi * sphi)
        u2y = c12 * u1y + s12 * (cpsi * c1 * sphi + spsi * cphi)
        u2z = c12 * u1z - s12 * cpsi * s1
        lm[i, 0], lm[i, 1], lm[i, 2], lm[i, 3] = e1, p1 * u1x, p1 * u1y, p1 * u1z
        lp[i, 0], lp[i, 1], lp[i, 2], lp[i, 3] = e2, p2 * u2x, p2 * u2y, p2 * u2z
        v[i, 0] = e3
        v[i, 1] = -(lm[i, 1] + lp[i, 1])
        v[i, 2] = -(lm[i, 2] + lp[i, 2])
        v[i, 3] = -(lm[i, 3] + lp[i, 3])


def _emission_build(rng, state, m_lepton):
    """Four-momenta (lepton-, lepton+, vector) of proposals from :func:`_emission_propose`.

    The azimuth of lepton 1 about the beam does not enter the weight, so it is drawn here, for kept events only.
    """
    n = len(state["sqrt_s"])
    lm, lp, v = np.empty((n, 4)), np.empty((n, 4)), np.empty((n, 4))
    _emission_build_kernel(
        state["sqrt_s"], state["x1"], state["x2"], state["cos12"], state["cos1"], rng.uniform(0.0, 2.0 * np.pi, n),
        state["psi"], float(m_lepton), lm, lp, v,
    )
    return lm, lp, v


class VectorEmission:
    """e+e- -> l+ l- V, V (mass ``m_vector``) radiated by the final-state leptons.

    ``coupling_alpha`` is alpha' = g'^2 / (4 pi) (g' = 1 by default, the fileset convention).
    """

    def __init__(
        self,
        m_vector: float,
        m_lepton: float = c.MUON_MASS_GEV,
        coupling_alpha: float = 1.0 / (4.0 * np.pi),
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
    ):
        from core.beams import sqrt_s_gev

        self.m_vector = float(m_vector)
        self.m_lepton = float(m_lepton)
        self.coupling_alpha = float(coupling_alpha)
        self.sqrt_s = sqrt_s_gev() if sqrt_s is None else float(sqrt_s)
        self.energy_spread = float(energy_spread)
        if not 0.0 < self.m_vector < self.sqrt_s - 2 * self.m_lepton:
            raise ValueError(f"vector mass {m_vector} GeV outside (0, sqrt(s) - 2 m_l)")

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        w, state = _emission_propose(rng, rs, self.m_lepton, self.m_vector)
        return Proposal(w * c.sigma_point_pb(rs) * self.coupling_alpha / (2.0 * np.pi), state)

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        lm, lp, v = _emission_build(rng, state, self.m_lepton)
        return {"lepton_minus": lm, "lepton_plus": lp, "vector": v, "sqrt_s": state["sqrt_s"]}


class ScalarEmission:
    """e+e- -> gamma* -> l+ l- phi, the CP-even scalar phi (mass ``m_scalar``) radiated by the final-state leptons.

    The leptophilic scalar of docs/physics.md §5 with l = tau: Yukawa coupling g = xi m_l / v
    (xi = 1 by default, the fileset convention), lepton mass kept everywhere (phase-space
    boundaries and :func:`scalar_emission_density`), Born level (no ISR, as the docs/physics.md
    table), sqrt(s) smeared by the beam-energy spread. (x1, x2) are proposed like
    :class:`VectorEmission` (log-uniform in 1 - x_i); the event plane is oriented with the
    exact weight :func:`scalar_orientation_weight`, which averages to 1 and so does not change
    the cross section.
    The payload holds ``lepton_minus``, ``lepton_plus``, ``scalar`` and ``sqrt_s`` (CM frame)
    and the scalar mass ``m_scalar`` (a number, GeV).
    """

    def __init__(
        self,
        m_scalar: float,
        m_lepton: float = c.TAU_MASS_GEV,
        xi: float = 1.0,
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
    ):
        from core.beams import sqrt_s_gev

        self.m_scalar = float(m_scalar)
        self.m_lepton = float(m_lepton)
        self.yukawa_alpha = (xi * self.m_lepton / c.HIGGS_VEV_GEV) ** 2 / (4.0 * np.pi)
        self.sqrt_s = sqrt_s_gev() if sqrt_s is None else float(sqrt_s)
        self.energy_spread = float(energy_spread)
        if not 0.0 < self.m_scalar < self.sqrt_s - 2 * self.m_lepton:
            raise ValueError(f"scalar mass {m_scalar} GeV outside (0, sqrt(s) - 2 m_l = {self.sqrt_s - 2 * self.m_lepton:.3f})")

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        w, state = _emission_propose(rng, rs, self.m_lepton, self.m_scalar, scalar=True)
        return Proposal(w * c.sigma_point_pb(rs) * self.yukawa_alpha / (2.0 * np.pi), state)

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        lm, lp, phi = _emission_build(rng, state, self.m_lepton)
        return {"lepton_minus": lm, "lepton_plus": lp, "scalar": phi, "sqrt_s": state["sqrt_s"], "m_scalar": self.m_scalar}


@numba.njit(cache=True)
def kroll_wada_factor(m_pair: float, m_lepton: float) -> float:
    """(1 + 2 m^2/M^2) sqrt(1 - 4 m^2/M^2): the gamma* -> l+ l- spectral factor (0 below threshold)."""
    r = min(4.0 * m_lepton**2 / m_pair**2, 1.0)
    return (1.0 + 0.5 * r) * np.sqrt(1.0 - r)


@numba.njit(cache=True, fastmath=True)
def _pair_mass_kernel(u, a, l0, l1, m_pair_lepton, m_pair, pair_factor):  # pragma: no cover - jitted
    """Virtual-photon masses with ln M^2 = a - L, L^3 uniform in [l1^3, l0^3] (density 3 L^2 / (l0^3 - l1^3)),
    and the pair-emission factor (alpha / 3 pi) * Kroll-Wada / density."""
    span = l0**3 - l1**3
    for i in range(len(u)):
        big_l = np.cbrt(l1**3 + u[i] * span)
        m = np.exp(0.5 * (a - big_l))
        m_pair[i] = m
        pair_factor[i] = c.ALPHA_EM / (3.0 * np.pi) * kroll_wada_factor(m, m_pair_lepton) * span / (3.0 * big_l * big_l)


class PairEmission:
    """e+e- -> l+ l- gamma*, gamma* -> l'+ l'- (four leptons by final-state pair emission).

    The virtual-photon mass M is sampled from dM^2/M^2 between 2 m_l' and
    sqrt(s) - 2 m_l; its decay is 1 + cos^2 about its flight direction. The
    payload holds ``<names[0]>_minus/_plus`` for the emitting leptons and
    ``<names[1]>_minus/_plus`` for the pair, and ``sqrt_s``.
    """

    def __init__(
        self,
        m_emitter: float,
        m_pair_lepton: float,
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
        names: tuple[str, str] = ("emitter", "pair"),
    ):
        from core.beams import sqrt_s_gev

        self.m_emitter = float(m_emitter)
        self.m_pair_lepton = float(m_pair_lepton)
        self.names = names
        self.sqrt_s = sqrt_s_gev() if sqrt_s is None else float(sqrt_s)
        self.energy_spread = float(energy_spread)
        self.m2_min = (2.0 * self.m_pair_lepton) ** 2
        self.m2_max = (self.sqrt_s - 2.0 * self.m_emitter - 0.02) ** 2

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        # The (x1, x2) volume of _emission_propose grows as L^2, L = ln(y_max s / M^2), so
        # t = ln M^2 is proposed with density 3 L^2 / (L0^3 - L1^3) to keep the weights flat.
        a = np.log((1.0 - 2.0 * self.m_emitter / self.sqrt_s) * self.sqrt_s**2)
        l0, l1 = a - np.log(self.m2_min), a - np.log(self.m2_max)
        m_pair = np.empty(n)
        pair_factor = np.empty(n)
        _pair_mass_kernel(rng.random(n), a, l0, l1, self.m_pair_lepton, m_pair, pair_factor)
        w, state = _emission_propose(rng, rs, self.m_emitter, m_pair)
        state["m_pair"] = m_pair
        return Proposal(w * pair_factor * c.sigma_point_pb(rs) * (c.ALPHA_EM / (2.0 * np.pi)), state)

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        n = len(state["sqrt_s"])
        lm, lp, v = _emission_build(rng, state, self.m_emitter)
        cos_t = sample_cos_theta_1_plus_a_cos2(rng, 1.0, n)
        axis = v[:, 1:] / np.linalg.norm(v[:, 1:], axis=1, keepdims=True)
        rest_dir = directions_about_axis(axis, cos_t, rng.uniform(0.0, 2 * np.pi, n))
        pm, pp = two_body_decay(v, self.m_pair_lepton, self.m_pair_lepton, rest_dir)
        emitter, pair = self.names
        return {
            f"{emitter}_minus": lm, f"{emitter}_plus": lp, f"{pair}_minus": pm, f"{pair}_plus": pp, "sqrt_s": state["sqrt_s"],
        }


# ----------------------------------------------------------------------------------
# Lepton pairs with initial-state radiation (KKMC-like)
# ----------------------------------------------------------------------------------
def isr_beta(s, m_radiator: float = c.ELECTRON_MASS_GEV):
    """Radiator exponent beta = (2 alpha / pi) (ln(s / m^2) - 1) of a pair of charged leptons of mass m.

    With the electron mass (default) it is the ISR exponent, 0.0877 at the Upsilon(4S).
    """
    return 2.0 * c.ALPHA_EM / np.pi * (np.log(s / m_radiator**2) - 1.0)


def isr_radiator(x: np.ndarray, beta: float) -> np.ndarray:
    """W(x) = beta x^(beta-1) (1 + 3 beta/4) - beta (1 - x/2): probability density of the
    fraction x of the beam energy radiated as initial-state photons (normalised to 1 on [0, 1])."""
    return beta * x ** (beta - 1.0) * (1.0 + 0.75 * beta) - beta * (1.0 - 0.5 * x)


def born_lepton_pair_pb(sqrt_s: np.ndarray, m_lepton: float) -> np.ndarray:
    """Born cross section of e+e- -> gamma* -> l+ l-: sigma_0 beta (3 - beta^2) / 2, pb."""
    b2 = np.clip(1.0 - 4.0 * m_lepton**2 / sqrt_s**2, 0.0, None)
    return c.sigma_point_pb(sqrt_s) * np.sqrt(b2) * (3.0 - b2) / 2.0


class _ISRFraction:
    """Sampling of the radiated fraction x of the beam energy from the ISR radiator W(x).

    x is proposed from a mixture of beta x^(beta-1) (soft photons, weight ``SOFT_FRACTION``)
    and 1/(1-x) (radiative return) on (0, ``x_max``], so that W(x) / proposal stays bounded.
    Subclasses set ``beta``, ``x_max`` and ``log_hard = -ln(1 - x_max)``.
    """

    SOFT_FRACTION = 0.7
    beta: float
    x_max: float
    log_hard: float

    def _proposal_density(self, x):
        a = self.SOFT_FRACTION
        soft = self.beta * x ** (self.beta - 1.0) / self.x_max**self.beta
        hard = 1.0 / ((1.0 - x) * self.log_hard)
        return a * soft + (1.0 - a) * hard

    def sample_radiated_fraction(self, rng, n):
        soft = rng.uniform(0.0, 1.0, n) < self.SOFT_FRACTION
        u = rng.uniform(0.0, 1.0, n)
        x = np.where(soft, self.x_max * u ** (1.0 / self.beta), -np.expm1(-u * self.log_hard))
        return np.clip(x, 1e-300, self.x_max)


class _BeamFractions(_ISRFraction):
    """Independent ISR off each beam: fractions x_1 (e-), x_2 (e+) from the per-beam structure function.

    Each beam radiates with the radiator of :func:`isr_radiator` at half the e+e- exponent,
    gamma = beta_ee(Q^2) / 2, with the factorisation scale Q^2 = s' = s (1 - x_1)(1 - x_2) of the event
    (the hard process's own scale; docs/generator.md, "Radiation"): a hard photon off one beam lowers
    the collinear logarithm of both. The soft part of the proposal then uses the smallest exponent, at
    ``s_prime_min`` (GeV^2), so that D(x; gamma(s')) / proposal stays bounded as x -> 0. With
    ``s_prime_min=None`` the scale is fixed at s (gamma = ``beta_ee / 2`` for every event); convoluted, the
    two structure functions then give the e+e- radiator W(x) at leading log. Pairs with a total
    1 - (1 - x_1)(1 - x_2) above ``x_max`` get weight 0. ``exponent`` (the nominal gamma at s) is what the
    photon split uses.
    """

    def __init__(self, beta_ee: float, x_max: float, s_prime_min: float | None = None):
        self.exponent = 0.5 * float(beta_ee)
        self.s_prime_min = None if s_prime_min is None else float(s_prime_min)
        self.beta = self.exponent if s_prime_min is None else 0.5 * float(isr_beta(s_prime_min))
        self.x_max = float(x_max)
        self.log_hard = -np.log1p(-self.x_max)

    def sample(self, rng: np.random.Generator, rs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x_beams [n, 2], weight [n]) for events of CM energies ``rs`` [n] (GeV): the per-beam fractions and
        D(x_1; gamma(s')) D(x_2; gamma(s')) / proposal density."""
        n = len(rs)
        x = np.stack([self.sample_radiated_fraction(rng, n), self.sample_radiated_fraction(rng, n)], axis=-1)
        keep = (1.0 - x[:, 0]) * (1.0 - x[:, 1])
        if self.s_prime_min is None:
            gamma = self.exponent
        else:
            gamma = 0.5 * isr_beta(np.maximum(rs**2 * keep, self.s_prime_min))[:, None]
        weight = np.prod(isr_radiator(x, gamma) / self._proposal_density(x), axis=-1)
        return x, np.where(1.0 - keep <= self.x_max, weight, 0.0)


ISR_SCALES = ("s_prime", "s")
"""Factorisation scales of the per-beam structure functions: Q^2 = s' of the event (default) or the nominal s."""


def _scale_floor(isr_scale: str, s_prime_min: float) -> float | None:
    """``s_prime_min`` for Q^2 = s' (the lowest scale of the process, GeV^2), None for the fixed scale s."""
    if isr_scale not in ISR_SCALES:
        raise ValueError(f"isr_scale must be one of {ISR_SCALES}, not {isr_scale!r}")
    return s_prime_min if isr_scale == "s_prime" else None


def isr_photon(rng: np.random.Generator, rs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ISR photons [n, 4] (CM frame, GeV): energy x sqrt(s)/2, on the 1/(1 - beta cos) pole of either beam."""
    n = len(rs)
    e_gamma = 0.5 * x * rs
    one_minus_beta_e = 2.0 * c.ELECTRON_MASS_GEV**2 / rs**2  # 1 - beta of a beam electron
    cos_g = sample_collinear_cos(rng, one_minus_beta_e) * np.where(rng.random(n) < 0.5, 1.0, -1.0)
    phi_g = rng.uniform(0.0, 2 * np.pi, n)
    sin_g = np.sqrt(np.clip(1 - cos_g**2, 0, None))
    k = e_gamma[:, None] * np.stack([sin_g * np.cos(phi_g), sin_g * np.sin(phi_g), cos_g], axis=-1)
    return four_vector(e_gamma, k)


class LeptonPairISR(_ISRFraction):
    """e+e- -> l+ l- (n gamma): ISR from W(x) convolved with sigma_Born(s'), FSR photons collinear.

    The radiated fraction x is proposed from a mixture of beta x^(beta-1) (soft
    photons) and 1/(1-x) (radiative return), so every weight stays bounded. The
    ISR photon is emitted with the 1/(1 - beta cos) collinear pole of either beam.
    Each final-state lepton radiates a collinear photon carrying a fraction z of
    its momentum with density (beta_f/2) z^(beta_f/2 - 1).
    """

    def __init__(
        self,
        m_lepton: float,
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
        final_state_radiation: bool = True,
        min_pair_mass: float | None = None,
    ):
        from core.beams import sqrt_s_gev

        self.m_lepton = float(m_lepton)
        self.sqrt_s = sqrt_s_gev() if sqrt_s is None else float(sqrt_s)
        self.energy_spread = float(energy_spread)
        self.final_state_radiation = final_state_radiation
        self.beta = isr_beta(self.sqrt_s**2)
        # radiate at most down to a pair mass of min_pair_mass, by default 10 MeV above the pair threshold
        # (at the spread-lowered sqrt(s))
        min_pair_mass = 2.0 * self.m_lepton + 0.01 if min_pair_mass is None else float(min_pair_mass)
        s_low = (self.sqrt_s - 5 * max(energy_spread, 0.0)) ** 2
        self.x_max = 1.0 - min_pair_mass**2 / s_low
        self.log_hard = -np.log1p(-self.x_max)

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        x = self.sample_radiated_fraction(rng, n)
        sqrt_s_prime = rs * np.sqrt(1.0 - x)
        weight = isr_radiator(x, self.beta) * born_lepton_pair_pb(sqrt_s_prime, self.m_lepton) / self._proposal_density(x)
        weight = np.where(sqrt_s_prime > 2 * self.m_lepton, weight, 0.0)
        return Proposal(weight, {"sqrt_s": rs, "x_isr": x})

    def _rest_frame_direction(self, rng: np.random.Generator, s_prime: np.ndarray) -> np.ndarray:
        """Unit l- directions [n, 3] in the pair rest frame: 1 + cos^2 + (1 - beta^2) sin^2 about the beam axis."""
        n = len(s_prime)
        b2 = np.clip(1.0 - 4.0 * self.m_lepton**2 / s_prime, 0.0, 1.0)
        cos_l = sample_cos_theta_1_plus_a_cos2(rng, b2 / (2.0 - b2), n)
        phi_l = rng.uniform(0, 2 * np.pi, n)
        sin_l = np.sqrt(1.0 - cos_l**2)
        return np.stack([sin_l * np.cos(phi_l), sin_l * np.sin(phi_l), cos_l], axis=-1)

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        rs, x = state["sqrt_s"], state["x_isr"]
        s_prime = rs**2 * (1.0 - x)
        # ISR photon: energy x sqrt(s)/2 in the CM frame, collinear with the radiating beam
        photon = isr_photon(rng, rs, x)
        pair_system = four_vector(rs - photon[:, 0], -photon[:, 1:])
        lm, lp = two_body_decay(pair_system, self.m_lepton, self.m_lepton, self._rest_frame_direction(rng, s_prime))

        payload = {"lepton_minus": lm, "lepton_plus": lp, "isr_photon": photon, "sqrt_s": rs, "x_isr": x}
        if self.final_state_radiation:
            beta_f = isr_beta(s_prime, self.m_lepton)
            payload["lepton_minus"], payload["fsr_minus"] = _collinear_fsr(rng, lm, self.m_lepton, 0.5 * beta_f)
            payload["lepton_plus"], payload["fsr_plus"] = _collinear_fsr(rng, lp, self.m_lepton, 0.5 * beta_f)
        return payload


class LeptonPairMultiPhoton(LeptonPairISR):
    """e+e- -> l+ l- (n gamma) with photons off both beams and off both final leptons (KKMC-like mu mu, tau tau).

    Each beam radiates independently: the weight is D(x_1) D(x_2) sigma_Born(s'),
    s' = s (1 - x_1)(1 - x_2), with the per-beam structure function D of :class:`_BeamFractions`
    (the radiator at half the exponent) at the factorisation scale ``isr_scale``: ``"s_prime"``
    (default, Q^2 = s') or ``"s"`` (Q^2 = s; convoluted, the two structure functions then give the
    e+e- radiator W(x), and the model cross section is that of :class:`LeptonPairISR` within 0.2%).
    The scale is the model's leading-log ambiguity: Q^2 = s' lowers the mu-pair model cross section
    by 6% and the two-beam recoil tail by ~30% (docs/generator.md, docs/validation-pythia.md). Each
    beam's energy loss is split into several photons with the eikonal (dipole) angular spectrum,
    the lepton pair recoiling against them with mass sqrt(s') exactly
    (:func:`belle_mc.radiation.initial_state_photons`). In the pair rest frame
    the l- flies at 1 + cos^2 + (1 - beta^2) sin^2 about the beam axis and both leptons radiate
    wide-angle final-state photons (:func:`belle_mc.radiation.final_state_photons`; for tau pairs,
    before the decay). The multi-photon split stops at ``photon_min_gev`` (GeV).

    The payload holds ``lepton_minus``, ``lepton_plus``, ``isr_photons`` and ``fsr_photons``
    ([n, 2 PHOTON_SLOTS, 4], zero rows unused; the first half from the e- beam / the l-),
    ``sqrt_s``, ``x_isr`` and the per-beam fractions ``x_isr_beams`` [n, 2], CM frame.
    """

    def __init__(
        self,
        m_lepton: float,
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
        final_state_radiation: bool = True,
        min_pair_mass: float | None = None,
        photon_min_gev: float = FSR_PHOTON_MIN_GEV,
        isr_scale: str = "s_prime",
    ):
        super().__init__(m_lepton, sqrt_s, energy_spread, final_state_radiation, min_pair_mass)
        self.photon_min_gev = float(photon_min_gev)
        self.beams = _BeamFractions(self.beta, self.x_max, _scale_floor(isr_scale, (2.0 * self.m_lepton) ** 2))

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        x_beams, radiator = self.beams.sample(rng, rs)
        sqrt_s_prime = rs * np.sqrt((1.0 - x_beams[:, 0]) * (1.0 - x_beams[:, 1]))
        weight = radiator * born_lepton_pair_pb(sqrt_s_prime, self.m_lepton)
        weight = np.where(sqrt_s_prime > 2 * self.m_lepton, weight, 0.0)
        return Proposal(weight, {"sqrt_s": rs, "x_isr_beams": x_beams})

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        rs, x_beams = state["sqrt_s"], state["x_isr_beams"]
        keep = (1.0 - x_beams[:, 0]) * (1.0 - x_beams[:, 1])
        isr = initial_state_photons(rng, rs, x_beams, self.beams.exponent, self.photon_min_gev)
        k = isr.sum(axis=1)
        pair_system = four_vector(rs - k[:, 0], -k[:, 1:])
        rest_dir = self._rest_frame_direction(rng, rs**2 * keep)
        if self.final_state_radiation:
            lm, lp, fsr = final_state_photons(rng, pair_system, rest_dir, self.m_lepton, self.photon_min_gev)
        else:
            lm, lp = two_body_decay(pair_system, self.m_lepton, self.m_lepton, rest_dir)
            fsr = np.zeros_like(isr)
        return {
            "lepton_minus": lm, "lepton_plus": lp, "isr_photons": isr, "fsr_photons": fsr, "sqrt_s": rs,
            "x_isr": 1.0 - keep, "x_isr_beams": x_beams,
        }  # fmt: skip


class VectorEmissionISR(_ISRFraction):
    """e+e- -> gamma_ISR + (l+ l- V), V radiated by the final-state leptons at the reduced energy sqrt(s').

    The beams radiate a fraction x of their energy with the radiator W(x) of
    :func:`isr_radiator` (one photon on the collinear pole of either beam); the hard
    process is :class:`VectorEmission` at sqrt(s') = sqrt(s (1 - x)) in the rest frame
    of the l+ l- V system (its axis taken along the beams, the photon being collinear),
    boosted back to the CM frame. The cross section is

        sigma = int_0^x_max dx W(x) sigma_VectorEmission(s (1 - x)),

    with x_max where sqrt(s') is 10 MeV above m_V + 2 m_l. W(x) is normalised to 1, so the
    difference to the Born value is the soft-photon factor (1 + 3 beta / 4) and the 1/s' rise.

    ``both_beams=True`` (an option, not used by the channels) radiates as
    :class:`LeptonPairMultiPhoton`: independent structure functions for the two beams,
    s' = s (1 - x_1)(1 - x_2), several photons per beam with dipole angles
    (:func:`belle_mc.radiation.initial_state_photons`), the l+ l- V system recoiling against them,
    the structure functions at the factorisation scale ``isr_scale`` (as there). The payload then
    holds ``isr_photons`` [n, 2 PHOTON_SLOTS, 4] and ``x_isr_beams`` [n, 2] instead of ``isr_photon``.
    """

    def __init__(
        self,
        m_vector: float,
        m_lepton: float = c.MUON_MASS_GEV,
        coupling_alpha: float = 1.0 / (4.0 * np.pi),
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
        both_beams: bool = False,
        photon_min_gev: float = FSR_PHOTON_MIN_GEV,
        isr_scale: str = "s_prime",
    ):
        self.both_beams = bool(both_beams)
        self.photon_min_gev = float(photon_min_gev)
        self.hard = VectorEmission(m_vector, m_lepton, coupling_alpha, sqrt_s, energy_spread)
        self.m_vector, self.m_lepton = self.hard.m_vector, self.hard.m_lepton
        self.sqrt_s, self.energy_spread = self.hard.sqrt_s, self.hard.energy_spread
        self.beta = isr_beta(self.sqrt_s**2)
        self.sqrt_s_prime_min = self.m_vector + 2.0 * self.m_lepton + 0.01
        s_low = (self.sqrt_s - 5 * max(energy_spread, 0.0)) ** 2
        self.x_max = 1.0 - self.sqrt_s_prime_min**2 / s_low
        if not self.x_max > 0.0:
            raise ValueError(f"vector mass {m_vector} GeV leaves no room for initial-state radiation")
        self.log_hard = -np.log1p(-self.x_max)
        self.beams = _BeamFractions(self.beta, self.x_max, _scale_floor(isr_scale, self.sqrt_s_prime_min**2))

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        if self.both_beams:
            x_beams, radiator = self.beams.sample(rng, rs)
            x = 1.0 - (1.0 - x_beams[:, 0]) * (1.0 - x_beams[:, 1])
        else:
            x = self.sample_radiated_fraction(rng, n)
            radiator = isr_radiator(x, self.beta) / self._proposal_density(x)
        rs_prime = rs * np.sqrt(1.0 - x)
        open_ = rs_prime > self.sqrt_s_prime_min
        w, state = _emission_propose(rng, np.where(open_, rs_prime, rs), self.m_lepton, self.m_vector)
        weight = np.where(open_, radiator * w * c.sigma_point_pb(rs_prime) * self.hard.coupling_alpha / (2.0 * np.pi), 0.0)
        state["sqrt_s_prime"] = state.pop("sqrt_s")
        state["sqrt_s"] = rs
        state["x_isr"] = x
        if self.both_beams:
            state["x_isr_beams"] = x_beams
        return Proposal(weight, state)

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        rs, rs_prime = state["sqrt_s"], state["sqrt_s_prime"]
        if self.both_beams:
            photons = initial_state_photons(rng, rs, state["x_isr_beams"], self.beams.exponent, self.photon_min_gev)
            k = photons.sum(axis=1)
            radiation = {"isr_photons": photons, "x_isr_beams": state["x_isr_beams"]}
        else:
            k = isr_photon(rng, rs, state["x_isr"])
            radiation = {"isr_photon": k}
        hard_state = {k: v for k, v in state.items() if k not in ("sqrt_s", "sqrt_s_prime", "x_isr", "x_isr_beams")}
        lm, lp, v = _emission_build(rng, {**hard_state, "sqrt_s": rs_prime}, self.m_lepton)
        # the l+ l- V system recoils against the photons: boost from its rest frame to the CM
        velocity = -k[:, 1:] / (rs - k[:, 0])[:, None]
        return {
            "lepton_minus": boost(lm, velocity), "lepton_plus": boost(lp, velocity), "vector": boost(v, velocity),
            **radiation, "sqrt_s": rs, "sqrt_s_prime": rs_prime, "x_isr": state["x_isr"],
        }  # fmt: skip


def isotropic_pair_decay(rng: np.random.Generator, parent: np.ndarray, m_daughter: float) -> tuple[np.ndarray, np.ndarray]:
    """Decay parents [n, 4] (Z' or phi_L) promptly to l- l+ (masses ``m_daughter``), isotropically in their rest frame.

    Returns (l-, l+) four-momenta [n, 4] in the frame of ``parent``. Exact for the scalar phi_L;
    for the Z' the decay angle of a polarised vector (1 + cos^2 about its spin axis) is not
    modelled, a small effect on the reduced-mass peak and a 4-track acceptance.
    """
    n = len(parent)
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    directions = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
    return two_body_decay(parent, m_daughter, m_daughter, directions)
def bhabha_born_dsigma_dcos_pb(sqrt_s, cos_theta):
    """Born d sigma / d cos(theta) of e+e- -> e+e- (gamma and Z-free, massless electrons), pb.

    theta is the e- angle to the e- beam in the e+e- rest frame; with t = -s (1 - cos) / 2 and
    u = -s (1 + cos) / 2: (pi alpha^2 / s) [u^2 (1/s + 1/t)^2 + (t/s)^2 + (s/t)^2] (s- and t-channel photon).
    """
    s = np.asarray(sqrt_s, dtype=float) ** 2
    t = -0.5 * s * (1.0 - np.asarray(cos_theta, dtype=float))
    u = -0.5 * s * (1.0 + np.asarray(cos_theta, dtype=float))
    bracket = u * u * (1.0 / s + 1.0 / t) ** 2 + (t / s) ** 2 + (s / t) ** 2
    return np.pi * c.ALPHA_EM**2 / s * bracket * c.HBARC2_PB_GEV2


def _rest_frame_cos_range(beta_z, cos_min, cos_max):
    """Range of the e- rest-frame cos(theta) for which e- and e+ both lie in [cos_min, cos_max] in the CM frame.

    The e+e- pair moves along z with velocity ``beta_z``; a massless particle at rest-frame cosine c has
    CM cosine (c + b) / (1 + b c). The e+ flies at -c.
    """
    def to_rest(cos_cms):
        return (cos_cms - beta_z) / (1.0 - beta_z * cos_cms)

    lo = np.maximum(to_rest(cos_min), -to_rest(cos_max))
    hi = np.minimum(to_rest(cos_max), -to_rest(cos_min))
    return lo, hi


class BhabhaISR:
    """e+e- -> e+e- (n gamma), radiative Bhabha scattering inside a polar-angle cut on both e+- in the CM frame.

    The t-channel pole makes the cross section grow as 1/theta^4 at small angles, so the generator
    keeps only events with both e- and e+ at CM polar angles in [``theta_min``, ``theta_max``]
    (default 15-167 deg, i.e. about 10-160 deg in the lab: the ECL, 12.4-155.1 deg, and the CDC,
    17-150 deg, with a margin of 2.4 deg or more for the crossing angle and radiation).

    Radiation, leading-log as in :class:`LeptonPairISR`: the beams radiate a fraction x of
    sqrt(s) with the radiator W(x) (photon exactly collinear with one beam; x limited to pair
    masses above ``min_pair_mass``), the e+e- pair scatters with the Born Bhabha cross section
    :func:`bhabha_born_dsigma_dcos_pb` at s' = (1 - x) s in its rest frame, and each outgoing
    electron radiates a collinear photon (:func:`_collinear_fsr`, which keeps its direction, so the
    angular cut is exact). Initial-final interference and the s/t-channel split of the radiator are
    neglected. ``isr=False`` gives the Born cross section in the same angular range.
    The payload is that of :class:`LeptonPairISR`.
    """

    T_CHANNEL_FRACTION = 0.8

    def __init__(
        self,
        theta_min: float = np.radians(15.0),
        theta_max: float = np.radians(167.0),
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
        isr: bool = True,
        final_state_radiation: bool = True,
        min_pair_mass: float = 1.0,
    ):
        if not 0.0 < theta_min < theta_max < np.pi:
            raise ValueError(f"Bhabha polar-angle cut needs 0 < theta_min < theta_max < pi, got {theta_min}, {theta_max}")
        self.cos_min, self.cos_max = float(np.cos(theta_max)), float(np.cos(theta_min))
        self.isr = isr
        self.final_state_radiation = final_state_radiation
        self.radiator = LeptonPairISR(c.ELECTRON_MASS_GEV, sqrt_s, energy_spread, True, min_pair_mass)
        self.sqrt_s = self.radiator.sqrt_s
        self.energy_spread = float(energy_spread)

    def _sample_cos(self, rng, lo, hi):
        """Rest-frame cos(theta) in [lo, hi] from T_CHANNEL_FRACTION 1/(1-c)^2 + the rest flat; returns (cos, density)."""
        n = len(lo)
        a = self.T_CHANNEL_FRACTION
        inv_lo, inv_hi = 1.0 / (1.0 - lo), 1.0 / (1.0 - hi)  # 1/(1-c) is uniform under density ~ 1/(1-c)^2
        u = rng.random(n)
        pole = rng.random(n) < a
        cos_t = np.where(pole, 1.0 - 1.0 / (inv_lo + u * (inv_hi - inv_lo)), lo + u * (hi - lo))
        density = a / ((1.0 - cos_t) ** 2 * (inv_hi - inv_lo)) + (1.0 - a) / (hi - lo)
        return cos_t, density

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        if self.isr:
            x = self.radiator.sample_radiated_fraction(rng, n)
            weight = isr_radiator(x, self.radiator.beta) / self.radiator._proposal_density(x)
            side = np.where(rng.random(n) < 0.5, 1.0, -1.0)  # photon along the e- (+z) or the e+ (-z) beam
        else:
            x = np.zeros(n)
            weight = np.ones(n)
            side = np.ones(n)
        # the pair recoils against the photon: velocity -side * x / (2 - x) along z
        beta_z = -side * x / (2.0 - x)
        lo, hi = _rest_frame_cos_range(beta_z, self.cos_min, self.cos_max)
        open_ = hi > lo
        lo, hi = np.where(open_, lo, -0.5), np.where(open_, hi, 0.5)
        cos_t, density = self._sample_cos(rng, lo, hi)
        sqrt_s_prime = rs * np.sqrt(1.0 - x)
        weight = np.where(open_, weight * bhabha_born_dsigma_dcos_pb(sqrt_s_prime, cos_t) / density, 0.0)
        return Proposal(weight, {"sqrt_s": rs, "x_isr": x, "side": side, "cos_rest": cos_t})

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        rs, x, side = state["sqrt_s"], state["x_isr"], state["side"]
        n = len(rs)
        e_gamma = 0.5 * x * rs
        zeros = np.zeros(n)
        photon = four_vector(e_gamma, np.stack([zeros, zeros, side * e_gamma], axis=-1))
        pair_system = four_vector(rs - e_gamma, np.stack([zeros, zeros, -side * e_gamma], axis=-1))
        cos_t = state["cos_rest"]
        phi = rng.uniform(0.0, 2 * np.pi, n)
        sin_t = np.sqrt(np.clip(1.0 - cos_t**2, 0.0, None))
        rest_dir = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
        em, ep = two_body_decay(pair_system, c.ELECTRON_MASS_GEV, c.ELECTRON_MASS_GEV, rest_dir)
        payload = {"lepton_minus": em, "lepton_plus": ep, "isr_photon": photon, "sqrt_s": rs, "x_isr": x}
        if self.final_state_radiation:
            beta_f = isr_beta(rs**2 * (1.0 - x), c.ELECTRON_MASS_GEV)
            payload["lepton_minus"], payload["fsr_minus"] = _collinear_fsr(rng, em, c.ELECTRON_MASS_GEV, 0.5 * beta_f)
            payload["lepton_plus"], payload["fsr_plus"] = _collinear_fsr(rng, ep, c.ELECTRON_MASS_GEV, 0.5 * beta_f)
        else:
            payload["fsr_minus"] = payload["fsr_plus"] = np.zeros((n, 4))
        return payload


def _collinear_fsr(rng, lepton, m_lepton, exponent):
    """Let a lepton radiate a photon with momentum fraction z ~ exponent z^(exponent-1).

    The photon follows the 1/(1 - beta cos) pole about the lepton; the lepton keeps
    its direction with momentum scaled by (1 - z). Returns (lepton, photon).
    """
    n = len(lepton)
    z = rng.uniform(0.0, 1.0, n) ** (1.0 / exponent)
    p = np.linalg.norm(lepton[:, 1:], axis=1)
    u = lepton[:, 1:] / p[:, None]
    new_p = (1.0 - z) * p
    new_e = np.sqrt(new_p**2 + m_lepton**2)
    e_gamma = lepton[:, 0] - new_e
    one_minus_beta = m_lepton**2 / (lepton[:, 0] * (lepton[:, 0] + p))
    cos_t = sample_collinear_cos(rng, one_minus_beta)
    k = directions_about_axis(u, cos_t, rng.uniform(0, 2 * np.pi, n))
    return four_vector(new_e, new_p[:, None] * u), four_vector(e_gamma, e_gamma[:, None] * k)


# ----------------------------------------------------------------------------------
# Two-photon production (AAFH-like e+e- -> e+e- l+l-)
# ----------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=True)
def _breit_wheeler_scalar_pb(w: float, m_lepton: float) -> float:
    b2 = 1.0 - 4.0 * m_lepton * m_lepton / (w * w)
    if b2 <= 0.0:
        return 0.0
    b = np.sqrt(b2)
    log_term = np.log((1.0 + b) / max(1.0 - b, 1e-300))
    sigma = 2.0 * np.pi * c.ALPHA_EM**2 / (w * w) * ((3.0 - b2 * b2) * log_term - 2.0 * b * (2.0 - b2))
    return sigma * c.HBARC2_PB_GEV2


@numba.njit(cache=True)
def _breit_wheeler_array_pb(w: np.ndarray, m_lepton: float) -> np.ndarray:  # pragma: no cover - jitted
    out = np.empty(w.shape)
    for i in range(w.size):
        out.flat[i] = _breit_wheeler_scalar_pb(w.flat[i], m_lepton)
    return out


def breit_wheeler_pb(w, m_lepton: float):
    """sigma(gamma gamma -> l+ l-) at invariant mass w (GeV), pb (Breit-Wheeler).

    sigma = (2 pi alpha^2 / W^2) [(3 - beta^4) ln((1+beta)/(1-beta)) - 2 beta (2 - beta^2)].
    """
    return _breit_wheeler_array_pb(np.asarray(w, dtype=np.float64), float(m_lepton))


@numba.njit(cache=True, fastmath=True)
def _scattered_lepton(e_beam, z, q2, phi, direction):
    """Beam lepton (energy e_beam along direction * z) after radiating a photon of fraction z, virtuality q2.

    Returns (E', px', py', pz') of the scattered lepton; Q^2 = 2 (E E' - p p' cos) - 2 m_e^2.
    """
    m_e = c.ELECTRON_MASS_GEV
    e_out = e_beam * (1.0 - z)
    p_beam = np.sqrt(e_beam * e_beam - m_e * m_e)
    p_out = np.sqrt(max(e_out * e_out - m_e * m_e, 1e-300))
    cos_t = min(max((e_beam * e_out - m_e * m_e - 0.5 * q2) / (p_beam * p_out), -1.0), 1.0)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    return e_out, p_out * sin_t * np.cos(phi), p_out * sin_t * np.sin(phi), direction * p_out * cos_t


@numba.njit(cache=True)
def _scattered_lepton_kernel(e_beam, z, q2, phi, direction, out):  # pragma: no cover - jitted
    for i in range(len(z)):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = _scattered_lepton(e_beam[i], z[i], q2[i], phi[i], direction)


@numba.njit(cache=True, fastmath=True)
def _epa_flux(z, q2):
    """Photon flux per d(ln z) d(ln Q^2) in the equivalent-photon approximation (without alpha's running)."""
    m_e = c.ELECTRON_MASS_GEV
    return c.ALPHA_EM / (2 * np.pi) * ((1 + (1 - z) ** 2) - 2 * m_e * m_e * z * z / q2)


@numba.njit(cache=True, fastmath=True)
def _two_photon_propose_kernel(rs, u, z_min, q2_max, q2_bounds, w_min, m_lepton, weight, z1, q2_1, z2, q2_2, phi1, phi2):  # pragma: no cover
    """Weights (pb) of two-photon proposals from uniform numbers u [n, 6] (see TwoPhotonLeptonPair); photon k's
    virtuality is drawn inside ``q2_bounds[k]`` (GeV^2) as well as its kinematic range, weight 0 where they do not meet."""
    m_e = c.ELECTRON_MASS_GEV
    log_z = np.log(1.0 / z_min)
    for i in range(len(rs)):
        a, b = u[i, 0], u[i, 1]
        if a + b > 1.0:  # (ln z1, ln z2) uniform in the triangle ln z1 + ln z2 >= ln z_min
            a, b = 1.0 - a, 1.0 - b
        e_beam = 0.5 * rs[i]
        p_beam = np.sqrt(e_beam * e_beam - m_e * m_e)
        w = log_z * log_z * 0.5
        qe = 0.0
        qx = 0.0
        qy = 0.0
        qz = 0.0
        for k in range(2):
            z = min(z_min ** (a if k == 0 else b), 1.0 - 1e-6)
            q2_lo = max(m_e * m_e * z * z / (1.0 - z), q2_bounds[k, 0])
            q2_hi = min(q2_max, q2_bounds[k, 1])
            log_q2 = np.log(max(q2_hi / q2_lo, 1.0))
            q2 = q2_lo * np.exp(u[i, 2 + k] * log_q2)
            phi = 2.0 * np.pi * u[i, 4 + k]
            direction = 1.0 if k == 0 else -1.0
            w *= _epa_flux(z, q2) * log_q2
            e_out, px, py, pz = _scattered_lepton(e_beam, z, q2, phi, direction)
            qe += e_beam - e_out
            qx -= px
            qy -= py
            qz += direction * p_beam - pz
            if k == 0:
                z1[i], q2_1[i], phi1[i] = z, q2, phi
            else:
                z2[i], q2_2[i], phi2[i] = z, q2, phi
        w2 = qe * qe - qx * qx - qy * qy - qz * qz
        weight[i] = w * _breit_wheeler_scalar_pb(np.sqrt(w2), m_lepton) if w2 > w_min * w_min else 0.0


def _virtuality_bounds(bounds) -> np.ndarray:
    """((lo, hi), (lo, hi)) photon-virtuality bounds (GeV^2) as a [2, 2] array; ValueError unless 0 <= lo < hi."""
    out = np.array(bounds, dtype=np.float64).reshape(2, 2)
    if np.any(out[:, 0] < 0) or np.any(out[:, 1] <= out[:, 0]):
        raise ValueError(f"photon virtuality bounds must be 0 <= lo < hi GeV^2 for each photon, got {bounds}")
    return out


class TwoPhotonLeptonPair:
    """e+e- -> e+e- l+l- by two quasi-real photons (equivalent-photon approximation).

    Each beam radiates a photon with energy fraction z and virtuality Q^2 from
    dN = (alpha/2pi) [(1 + (1-z)^2)/z - 2 m_e^2 z / Q^2] dz dQ^2/Q^2, with
    Q^2 between m_e^2 z^2/(1-z) and ``q2_max``; the scattered electrons keep the
    transverse momentum that goes with Q^2 (mostly lost down the beam pipe). The
    pair is produced with the Breit-Wheeler cross section at W = m(gamma gamma) >
    ``w_min`` and an angular density (1 + b^2 cos^2)/(1 - b^2 cos^2) about the
    photon axis in the gamma gamma rest frame.

    ``virtuality_bounds_gev2`` ((lo, hi) for the photon of the electron, then of the positron; GeV^2) restricts
    the process to a region of the photons' virtualities: Q^2 is drawn only inside it (log-uniform, as without
    it), so the process is the channel's differential cross section in that region and :func:`integrate` gives
    the region's cross section. Regions that share no point are disjoint parts of the channel (generator
    slices, ``belle_mc.slices.PhotonVirtualityRegion``). The default is the whole channel, with the same random
    numbers and events as without the argument.
    """

    def __init__(
        self,
        m_lepton: float = c.MUON_MASS_GEV,
        w_min: float = 0.5,
        q2_max: float = 1.0,
        sqrt_s: float | None = None,
        energy_spread: float = c.CMS_ENERGY_SPREAD_GEV,
        virtuality_bounds_gev2: tuple[tuple[float, float], tuple[float, float]] = ((0.0, np.inf), (0.0, np.inf)),
    ):
        from core.beams import sqrt_s_gev

        self.m_lepton = float(m_lepton)
        self.w_min = max(float(w_min), 2.0 * self.m_lepton * 1.0001)
        self.q2_max = float(q2_max)
        self.virtuality_bounds_gev2 = _virtuality_bounds(virtuality_bounds_gev2)
        self.sqrt_s = sqrt_s_gev() if sqrt_s is None else float(sqrt_s)
        self.energy_spread = float(energy_spread)
        self.z_min = self.w_min**2 / (self.sqrt_s + 5 * max(energy_spread, 0.0)) ** 2

    def restricted(self, virtuality_bounds_gev2: tuple[tuple[float, float], tuple[float, float]]) -> TwoPhotonLeptonPair:
        """The same process restricted to photon virtualities inside ``virtuality_bounds_gev2`` (GeV^2, see the class)."""
        out = copy.copy(self)
        out.virtuality_bounds_gev2 = _virtuality_bounds(virtuality_bounds_gev2)
        return out

    @staticmethod
    def _photon_vectors(e_beam, z, q2, phi, direction):
        """Scattered lepton and photon four-momenta for beam energies ``e_beam`` along ``direction`` (+1/-1) z."""
        n = len(z)
        scattered = np.empty((n, 4))
        _scattered_lepton_kernel(e_beam, z, q2, phi, direction, scattered)
        p_beam = np.sqrt(e_beam**2 - c.ELECTRON_MASS_GEV**2)
        beam = four_vector(e_beam, np.stack([np.zeros(n), np.zeros(n), direction * p_beam], -1))
        return scattered, beam - scattered

    def propose(self, rng: np.random.Generator, n: int) -> Proposal:
        rs = _sqrt_s_per_event(rng, self.sqrt_s, self.energy_spread, n)
        u = rng.random((n, 6))
        weight = np.empty(n)
        state = {"sqrt_s": rs, **{k: np.empty(n) for k in ("z1", "q2_1", "z2", "q2_2", "phi1", "phi2")}}
        _two_photon_propose_kernel(
            rs, u, self.z_min, self.q2_max, self.virtuality_bounds_gev2, self.w_min, self.m_lepton, weight,
            state["z1"], state["q2_1"], state["z2"], state["q2_2"], state["phi1"], state["phi2"],
        )
        return Proposal(weight, state)

    def pre_decay_event(self, state: dict) -> dict:
        """What an accepted proposal fixes before the random decay of the lepton pair (no random numbers): the
        scattered ``electron`` and ``positron``, the photon the electron radiated (``photon_electron``) and the
        pair's four-momentum ``lepton_pair`` (the gamma gamma system), CM frame, GeV; with ``sqrt_s``.
        :meth:`build` makes its events from exactly these arrays, so a generator slice can filter on them before
        building (``GeneratorSlice.pre_decay_filter``)."""
        rs = state["sqrt_s"]
        e_minus, q1 = self._photon_vectors(0.5 * rs, state["z1"], state["q2_1"], state["phi1"], +1.0)
        e_plus, q2 = self._photon_vectors(0.5 * rs, state["z2"], state["q2_2"], state["phi2"], -1.0)
        return {"sqrt_s": rs, "electron": e_minus, "positron": e_plus, "photon_electron": q1, "lepton_pair": q1 + q2}

    def build(self, rng: np.random.Generator, state: dict) -> dict:
        rs = state["sqrt_s"]
        n = len(rs)
        pre = self.pre_decay_event(state)
        e_minus, e_plus, q1, system = pre["electron"], pre["positron"], pre["photon_electron"], pre["lepton_pair"]
        w = np.sqrt(invariant_mass2(system))
        # photon-1 axis in the gamma gamma rest frame
        q1_rest = boost(q1, -(system[:, 1:] / system[:, :1]))
        axis = q1_rest[:, 1:] / np.linalg.norm(q1_rest[:, 1:], axis=1, keepdims=True)
        b2 = np.clip(1 - 4 * self.m_lepton**2 / w**2, 0, 1)
        cos_t = _sample_breit_wheeler_cos(rng, np.sqrt(b2))
        rest_dir = directions_about_axis(axis, cos_t, rng.uniform(0, 2 * np.pi, n))
        lm, lp = two_body_decay(system, self.m_lepton, self.m_lepton, rest_dir)
        return {"electron": e_minus, "positron": e_plus, "lepton_minus": lm, "lepton_plus": lp, "sqrt_s": rs}


def _sample_breit_wheeler_cos(rng, b):
    """cos(theta) with density (1 + b^2 cos^2) / (1 - b^2 cos^2) on [-1, 1] (b < 1)."""
    n = len(b)
    b = np.clip(b, 1e-6, 1 - 1e-12)
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        bb = b[todo]
        half = np.arctanh(bb)
        cos_t = np.tanh(rng.uniform(-1.0, 1.0, len(todo)) * half) / bb  # density ~ 1/(1 - b^2 c^2)
        keep = rng.uniform(0.0, 2.0, len(todo)) < 1.0 + bb**2 * cos_t**2
        out[todo[keep]] = cos_t[keep]
        todo = todo[~keep]
    return out
