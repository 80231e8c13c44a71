"""Tau decays with their visible daughters (polarisation neglected).

Modes and branching fractions (docs/physics.md §4; PDG for the rest):
mu nu nu 17.39%, e nu nu 17.82%, pi nu 10.82%, rho nu 25.49% (rho -> pi pi0),
three prongs 15.20% (a1 -> rho0 pi -> pi pi pi), and the remainder 13.28% as
pi 2pi0 nu (a1 -> rho pi0). Leptons follow the V-A spectrum x^2 (3 - 2x) in the
tau rest frame; hadronic systems take Breit-Wigner masses and decay
isotropically. pi0 -> gamma gamma. Neutrinos are not stored (invisible).
The decay point is displaced by the tau flight, (p/m) c tau t with t ~ Exp(1).

The decays run in one numba kernel over all taus, fed with a fixed number of
uniform random numbers per tau (inverse-CDF sampling throughout), so a seed gives
the same decays on every machine.
"""

from __future__ import annotations

import numba
import numpy as np

from core import constants as c

from .kinematics import two_body_in_direction
from .particles import ParticleTable

MODES = ("mu_nu_nu", "e_nu_nu", "pi_nu", "rho_nu", "three_prong", "pi_2pi0_nu")
BRANCHING_FRACTIONS = np.array([0.1739, 0.1782, 0.1082, 0.2549, 0.1520, 0.1328])
assert abs(BRANCHING_FRACTIONS.sum() - 1.0) < 1e-12
_CUMULATIVE_BF = np.cumsum(BRANCHING_FRACTIONS)
N_VISIBLE = np.array([1, 1, 1, 3, 3, 5])
"""Visible (stored) daughters of each mode of :data:`MODES`."""
_RANDOMS_PER_TAU = 14

_M_TAU = c.TAU_MASS_GEV
_M_PI = c.CHARGED_PION_MASS_GEV
_M_PI0 = c.NEUTRAL_PION_MASS_GEV


@numba.njit(cache=True, fastmath=True)
def michel_fraction_from_uniform(u: float, x_min: float) -> float:
    """Inverse CDF of x^2 (3 - 2x) on [x_min, 1]: the lepton energy fraction for a uniform number u.

    Solves G(x) = 2x^3 - x^4 = target by Newton's method from x = target^(1/3). G is increasing
    and convex on [0, 1] and G(x) >= x^3 there, so the start lies above the root and the iterates
    descend monotonically onto it; five steps reach double precision.
    """
    g0 = x_min * x_min * x_min * (2.0 - x_min)
    target = g0 + u * (1.0 - g0)
    if target <= 0.0:
        return 0.0
    x = np.cbrt(target)
    for _ in range(5):
        x2 = x * x
        x -= (x2 * x * (2.0 - x) - target) / (x2 * (6.0 - 4.0 * x))
    return min(x, 1.0)


def michel_lepton_fraction(rng: np.random.Generator, n: int, x_min: float) -> np.ndarray:
    """Energy fractions x = E / E_max of the charged lepton in tau -> l nu nu, density x^2 (3 - 2x) on [x_min, 1]."""
    return _michel_array(rng.random(n), float(x_min))


@numba.njit(cache=True)
def _michel_array(u, x_min):  # pragma: no cover - jitted
    out = np.empty(len(u))
    for i in range(len(u)):
        out[i] = michel_fraction_from_uniform(u[i], x_min)
    return out


@numba.njit(cache=True, fastmath=True)
def _bw_angle(m, mass, width):
    """arctan((m - mass) / (width / 2)): the Breit-Wigner CDF variable of the mass m."""
    return np.arctan((m - mass) / (0.5 * width))


@numba.njit(cache=True, fastmath=True)
def _breit_wigner(u, mass, width, angle_lo, angle_hi):
    """Inverse CDF of a Breit-Wigner between the masses whose :func:`_bw_angle` are ``angle_lo`` and ``angle_hi``."""
    return mass + 0.5 * width * np.tan(angle_lo + u * (angle_hi - angle_lo))


# Fixed mass windows as Breit-Wigner CDF variables, computed once: the rho of tau -> rho nu; the a1 and the
# lower edge of its rho in the a1 modes (index 0: a1- -> rho0 pi-, 1: a1- -> rho- pi0)
_RHO_ANGLES = (
    _bw_angle(_M_PI + _M_PI0 + 1e-4, c.RHO_MASS_GEV, c.RHO_WIDTH_GEV),
    _bw_angle(_M_TAU - 1e-3, c.RHO_MASS_GEV, c.RHO_WIDTH_GEV),
)
_A1_RHO_MIN = (_M_PI + _M_PI, _M_PI + _M_PI0)
_A1_BACHELOR = (_M_PI, _M_PI0)
_A1_ANGLES = tuple(
    (
        _bw_angle(_A1_RHO_MIN[k] + _A1_BACHELOR[k] + 0.01, c.A1_MASS_GEV, c.A1_WIDTH_GEV),
        _bw_angle(_M_TAU - 1e-3, c.A1_MASS_GEV, c.A1_WIDTH_GEV),
    )
    for k in range(2)
)
_A1_RHO_ANGLE_LO = tuple(_bw_angle(_A1_RHO_MIN[k] + 1e-4, c.RHO_MASS_GEV, c.RHO_WIDTH_GEV) for k in range(2))


@numba.njit(cache=True, fastmath=True)
def _two_body(parent, m1, m2, u_cos, u_phi):
    """Daughters (tuples E, px, py, pz) of a two-body decay, isotropic in the rest frame of ``parent``."""
    cos_t = 2.0 * u_cos - 1.0
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    phi = 2.0 * np.pi * u_phi
    return two_body_in_direction(parent, m1, m2, sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t)


@numba.njit(cache=True)
def _choose_modes(u, cumulative_bf, n_visible):  # pragma: no cover - jitted
    """Mode of each tau from its first uniform number u[i, 0] (the count of cumulative branching fractions
    it reaches), and the total number of visible daughters."""
    mode = np.empty(len(u), dtype=np.int64)
    n_rows = 0
    for i in range(len(u)):
        m = 0
        for k in range(len(cumulative_bf) - 1):
            m += u[i, 0] >= cumulative_bf[k]
        mode[i] = m
        n_rows += n_visible[m]
    return mode, n_rows


@numba.njit(cache=True, fastmath=True)
def _decay_kernel(tau_p4, charge, event, u, mode, out_event, out_pdg, out_p4, out_x4):  # pragma: no cover
    """Decay every tau in its ``mode``, filling the (event, pdg, p4, x4) rows of the visible daughters in tau order."""
    m_tau = _M_TAU
    n_out = 0
    for i in range(tau_p4.shape[0]):
        r = u[i]
        tau = (tau_p4[i, 0], tau_p4[i, 1], tau_p4[i, 2], tau_p4[i, 3])
        t = -np.log(1.0 - r[1]) * c.TAU_CTAU_CM / m_tau  # flight: (p / m) c tau t
        x4 = (tau[0] * t, tau[1] * t, tau[2] * t, tau[3] * t)
        sign = -charge[i]  # tau- -> l- (PDG +11, +13); pi- = -211
        start = n_out
        if mode[i] <= 1:
            m_l = c.MUON_MASS_GEV if mode[i] == 0 else c.ELECTRON_MASS_GEV
            e_max = (m_tau * m_tau + m_l * m_l) / (2.0 * m_tau)
            e = michel_fraction_from_uniform(r[2], m_l / e_max * 1.0001) * e_max
            # a lepton of energy e in the tau rest frame = the first daughter of a fictitious two-body
            # decay tau -> l + X with m_X chosen so that the lepton momentum is right
            p = np.sqrt(e * e - m_l * m_l)
            m_x = np.sqrt(max((m_tau - e) ** 2 - p * p, 0.0))
            lep, _ = _two_body(tau, m_l, m_x, r[3], r[4])
            out_p4[n_out] = lep
            out_pdg[n_out] = sign * (c.PDG_MUON if mode[i] == 0 else c.PDG_ELECTRON)
            n_out += 1
        elif mode[i] == 2:
            pi, _ = _two_body(tau, _M_PI, 0.0, r[2], r[3])
            out_p4[n_out] = pi
            out_pdg[n_out] = -sign * c.PDG_PI_PLUS
            n_out += 1
        elif mode[i] == 3:
            m_rho = _breit_wigner(r[2], c.RHO_MASS_GEV, c.RHO_WIDTH_GEV, _RHO_ANGLES[0], _RHO_ANGLES[1])
            rho, _ = _two_body(tau, m_rho, 0.0, r[3], r[4])
            pi, pi0 = _two_body(rho, _M_PI, _M_PI0, r[5], r[6])
            g1, g2 = _two_body(pi0, 0.0, 0.0, r[7], r[8])
            out_p4[n_out] = pi
            out_pdg[n_out] = -sign * c.PDG_PI_PLUS
            out_p4[n_out + 1] = g1
            out_p4[n_out + 2] = g2
            out_pdg[n_out + 1] = c.PDG_PHOTON
            out_pdg[n_out + 2] = c.PDG_PHOTON
            n_out += 3
        else:  # a1 -> rho pi
            neutral = mode[i] == 5
            k = 1 if neutral else 0
            m_bachelor = _A1_BACHELOR[k]
            m_a1 = _breit_wigner(r[2], c.A1_MASS_GEV, c.A1_WIDTH_GEV, _A1_ANGLES[k][0], _A1_ANGLES[k][1])
            a1, _ = _two_body(tau, m_a1, 0.0, r[3], r[4])
            rho_hi = _bw_angle(m_a1 - m_bachelor - 1e-4, c.RHO_MASS_GEV, c.RHO_WIDTH_GEV)
            m_rho = _breit_wigner(r[5], c.RHO_MASS_GEV, c.RHO_WIDTH_GEV, _A1_RHO_ANGLE_LO[k], rho_hi)
            rho, bachelor = _two_body(a1, m_rho, m_bachelor, r[6], r[7])
            if neutral:  # a1- -> rho- pi0, rho- -> pi- pi0
                pi, pi0b = _two_body(rho, _M_PI, _M_PI0, r[8], r[9])
                g1, g2 = _two_body(bachelor, 0.0, 0.0, r[10], r[11])
                g3, g4 = _two_body(pi0b, 0.0, 0.0, r[12], r[13])
                out_p4[n_out] = pi
                out_pdg[n_out] = -sign * c.PDG_PI_PLUS
                out_p4[n_out + 1] = g1
                out_p4[n_out + 2] = g2
                out_p4[n_out + 3] = g3
                out_p4[n_out + 4] = g4
                for j in range(1, 5):
                    out_pdg[n_out + j] = c.PDG_PHOTON
                n_out += 5
            else:  # a1- -> rho0 pi-, rho0 -> pi+ pi-
                pa, pb = _two_body(rho, _M_PI, _M_PI, r[8], r[9])
                out_p4[n_out] = bachelor
                out_pdg[n_out] = -sign * c.PDG_PI_PLUS
                out_p4[n_out + 1] = pa
                out_pdg[n_out + 1] = c.PDG_PI_PLUS
                out_p4[n_out + 2] = pb
                out_pdg[n_out + 2] = -c.PDG_PI_PLUS
                n_out += 3
        for j in range(start, n_out):
            out_event[j] = event[i]
            out_x4[j] = x4


def decay_taus(
    rng: np.random.Generator,
    event: np.ndarray,
    tau_p4: np.ndarray,
    tau_charge: np.ndarray,
    modes: np.ndarray | None = None,
) -> tuple[ParticleTable, np.ndarray]:
    """Decay taus (four-momenta [n, 4], charges +-1, owning events [n]).

    Returns the visible daughters as a :class:`ParticleTable` (in the frame of
    ``tau_p4``, with displaced production points; rows in tau order) and the mode
    index of each tau (into :data:`MODES`).

    ``modes`` (int [n], indices into :data:`MODES`) forces the mode of each tau instead of
    drawing it from :data:`BRANCHING_FRACTIONS` (a forced-decay sample, docs/generator.md):
    the daughters' kinematics are drawn exactly as for a drawn mode, and the same random
    numbers are consumed, so the caller weights the sample by the branching fractions.
    """
    u = rng.random((len(tau_p4), _RANDOMS_PER_TAU))
    if modes is None:
        mode, n = _choose_modes(u, _CUMULATIVE_BF, N_VISIBLE)
    else:
        mode = np.ascontiguousarray(modes, dtype=np.int64)
        if mode.shape != (len(tau_p4),) or (len(mode) and (mode.min() < 0 or mode.max() >= len(MODES))):
            raise ValueError(f"forced tau modes must be {len(tau_p4)} indices into MODES, got shape {mode.shape}")
        n = int(N_VISIBLE[mode].sum())
    # outputs allocated by numpy, which asks for huge pages: far fewer page faults than numba's own allocations
    daughters = ParticleTable(np.empty(n, np.int64), np.empty(n, np.int32), np.empty((n, 4)), np.empty((n, 4)))
    _decay_kernel(
        np.ascontiguousarray(tau_p4, dtype=np.float64), np.asarray(tau_charge, dtype=np.int64),
        np.asarray(event, dtype=np.int64), u, mode, daughters.event, daughters.pdg, daughters.p4, daughters.x4,
    )
    return daughters, mode
