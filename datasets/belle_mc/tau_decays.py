"""Tau decays with their visible daughters (polarisation neglected).

Modes and branching fractions (physics.md §4; PDG for the rest):
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

from selections import constants as c

from .particles import ParticleTable

MODES = ("mu_nu_nu", "e_nu_nu", "pi_nu", "rho_nu", "three_prong", "pi_2pi0_nu")
BRANCHING_FRACTIONS = np.array([0.1739, 0.1782, 0.1082, 0.2549, 0.1520, 0.1328])
assert abs(BRANCHING_FRACTIONS.sum() - 1.0) < 1e-12
_CUMULATIVE_BF = np.cumsum(BRANCHING_FRACTIONS)
MAX_VISIBLE_PER_TAU = 5
_RANDOMS_PER_TAU = 16

_M_TAU = c.TAU_MASS_GEV
_M_PI = c.CHARGED_PION_MASS_GEV
_M_PI0 = c.NEUTRAL_PION_MASS_GEV


@numba.njit(cache=True, fastmath=True)
def michel_fraction_from_uniform(u: float, x_min: float) -> float:
    """Inverse CDF of x^2 (3 - 2x) on [x_min, 1]: the lepton energy fraction for a uniform number u."""
    g0 = x_min * x_min * x_min * (2.0 - x_min)
    target = g0 + u * (1.0 - g0)
    lo, hi = x_min, 1.0
    for _ in range(12):  # bisection on the monotonic CDF G(x) = 2x^3 - x^4 to 2^-12 ...
        mid = 0.5 * (lo + hi)
        if mid * mid * mid * (2.0 - mid) < target:
            lo = mid
        else:
            hi = mid
    x = 0.5 * (lo + hi)
    for _ in range(3):  # ... then Newton steps (quadratic convergence), kept inside the bracket
        x2 = x * x
        slope = x2 * (6.0 - 4.0 * x)
        if slope > 0.0:
            x = min(max(x - (x2 * x * (2.0 - x) - target) / slope, lo), hi)
    return x


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
def _breit_wigner(u, mass, width, lo, hi):
    half = 0.5 * width
    a = np.arctan((lo - mass) / half)
    b = np.arctan((hi - mass) / half)
    return mass + half * np.tan(a + u * (b - a))


@numba.njit(cache=True, fastmath=True)
def _two_body(parent, m1, m2, u_cos, u_phi):
    """Daughters (tuples E, px, py, pz) of a two-body decay, isotropic in the rest frame of ``parent``."""
    e, px, py, pz = parent
    mass = np.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))
    lam = (mass * mass - (m1 + m2) ** 2) * (mass * mass - (m1 - m2) ** 2)
    p = np.sqrt(max(lam, 0.0)) / (2.0 * mass)
    cos_t = 2.0 * u_cos - 1.0
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    phi = 2.0 * np.pi * u_phi
    kx, ky, kz = p * sin_t * np.cos(phi), p * sin_t * np.sin(phi), p * cos_t
    e1, e2 = np.sqrt(p * p + m1 * m1), np.sqrt(p * p + m2 * m2)
    # boost both by the parent velocity
    bx, by, bz = px / e, py / e, pz / e
    b2 = bx * bx + by * by + bz * bz
    gamma = 1.0 / np.sqrt(1.0 - b2)
    k = gamma * gamma / (gamma + 1.0)
    bp = bx * kx + by * ky + bz * kz
    f1 = k * bp + gamma * e1
    f2 = -k * bp + gamma * e2
    d1 = (gamma * (e1 + bp), kx + f1 * bx, ky + f1 * by, kz + f1 * bz)
    d2 = (gamma * (e2 - bp), -kx + f2 * bx, -ky + f2 * by, -kz + f2 * bz)
    return d1, d2


@numba.njit(cache=True, fastmath=True)
def _decay_kernel(tau_p4, charge, event, u, cumulative_bf, mode_out, out_event, out_pdg, out_p4, out_x4):  # pragma: no cover
    """Decay every tau; fills the output rows and returns how many were written."""
    m_tau = _M_TAU
    n_out = 0
    for i in range(tau_p4.shape[0]):
        r = u[i]
        tau = (tau_p4[i, 0], tau_p4[i, 1], tau_p4[i, 2], tau_p4[i, 3])
        mode = 0
        while mode < 5 and r[0] >= cumulative_bf[mode]:
            mode += 1
        mode_out[i] = mode
        t = -np.log(1.0 - r[1]) * c.TAU_CTAU_CM / m_tau  # flight: (p / m) c tau t
        x4 = (tau[0] * t, tau[1] * t, tau[2] * t, tau[3] * t)
        sign = -charge[i]  # tau- -> l- (PDG +11, +13); pi- = -211
        start = n_out
        if mode <= 1:
            m_l = c.MUON_MASS_GEV if mode == 0 else c.ELECTRON_MASS_GEV
            e_max = (m_tau * m_tau + m_l * m_l) / (2.0 * m_tau)
            e = michel_fraction_from_uniform(r[2], m_l / e_max * 1.0001) * e_max
            # a lepton of energy e in the tau rest frame = the first daughter of a fictitious two-body
            # decay tau -> l + X with m_X chosen so that the lepton momentum is right
            p = np.sqrt(e * e - m_l * m_l)
            m_x = np.sqrt(max((m_tau - e) ** 2 - p * p, 0.0))
            lep, _ = _two_body(tau, m_l, m_x, r[3], r[4])
            out_p4[n_out] = lep
            out_pdg[n_out] = sign * (c.PDG_MUON if mode == 0 else c.PDG_ELECTRON)
            n_out += 1
        elif mode == 2:
            pi, _ = _two_body(tau, _M_PI, 0.0, r[2], r[3])
            out_p4[n_out] = pi
            out_pdg[n_out] = -sign * c.PDG_PI_PLUS
            n_out += 1
        elif mode == 3:
            m_rho = _breit_wigner(r[2], c.RHO_MASS_GEV, c.RHO_WIDTH_GEV, _M_PI + _M_PI0 + 1e-4, m_tau - 1e-3)
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
            neutral = mode == 5
            m_bachelor = _M_PI0 if neutral else _M_PI
            m_rho_min = _M_PI + (_M_PI0 if neutral else _M_PI)
            m_a1 = _breit_wigner(r[2], c.A1_MASS_GEV, c.A1_WIDTH_GEV, m_rho_min + m_bachelor + 0.01, m_tau - 1e-3)
            a1, _ = _two_body(tau, m_a1, 0.0, r[3], r[4])
            m_rho = _breit_wigner(r[5], c.RHO_MASS_GEV, c.RHO_WIDTH_GEV, m_rho_min + 1e-4, m_a1 - m_bachelor - 1e-4)
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
                for k in range(1, 5):
                    out_pdg[n_out + k] = c.PDG_PHOTON
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
        for k in range(start, n_out):
            out_event[k] = event[i]
            out_x4[k] = x4
    return n_out


def decay_taus(
    rng: np.random.Generator, event: np.ndarray, tau_p4: np.ndarray, tau_charge: np.ndarray
) -> tuple[ParticleTable, np.ndarray]:
    """Decay taus (four-momenta [n, 4], charges +-1, owning events [n]).

    Returns the visible daughters as a :class:`ParticleTable` (in the frame of
    ``tau_p4``, with displaced production points; rows in tau order) and the mode
    index of each tau (into :data:`MODES`).
    """
    n = len(tau_p4)
    u = rng.random((n, _RANDOMS_PER_TAU))
    mode = np.empty(n, dtype=np.int64)
    cap = n * MAX_VISIBLE_PER_TAU
    out_event = np.empty(cap, dtype=np.int64)
    out_pdg = np.empty(cap, dtype=np.int32)
    out_p4 = np.empty((cap, 4))
    out_x4 = np.empty((cap, 4))
    k = _decay_kernel(
        np.ascontiguousarray(tau_p4, dtype=np.float64), np.asarray(tau_charge, dtype=np.int64),
        np.asarray(event, dtype=np.int64), u, _CUMULATIVE_BF, mode, out_event, out_pdg, out_p4, out_x4,
    )
    return ParticleTable(out_event[:k], out_pdg[:k], out_p4[:k], out_x4[:k]), mode
