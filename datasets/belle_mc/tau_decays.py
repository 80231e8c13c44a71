"""Tau decays with their visible daughters (polarisation neglected).

Modes and branching fractions (physics.md §4; PDG for the rest):
mu nu nu 17.39%, e nu nu 17.82%, pi nu 10.82%, rho nu 25.49% (rho -> pi pi0),
three prongs 15.20% (a1 -> rho0 pi -> pi pi pi), and the remainder 13.28% as
pi 2pi0 nu (a1 -> rho pi0). Leptons follow the V-A spectrum x^2 (3 - 2x) in the
tau rest frame; hadronic systems take Breit-Wigner masses and decay
isotropically. pi0 -> gamma gamma. Neutrinos are not stored (invisible).
The decay point is displaced by the tau flight, (p/m) c tau t with t ~ Exp(1).
"""

from __future__ import annotations

import numpy as np

from selections import constants as c

from .kinematics import breit_wigner_mass, isotropic_directions, two_body_decay, velocity
from .particles import ParticleTable, four_vector
from selections.beams import boost

MODES = ("mu_nu_nu", "e_nu_nu", "pi_nu", "rho_nu", "three_prong", "pi_2pi0_nu")
BRANCHING_FRACTIONS = np.array([0.1739, 0.1782, 0.1082, 0.2549, 0.1520, 0.1328])
assert abs(BRANCHING_FRACTIONS.sum() - 1.0) < 1e-12


def michel_lepton_fraction(rng: np.random.Generator, n: int, x_min: float) -> np.ndarray:
    """Energy fractions x = E / E_max of the charged lepton in tau -> l nu nu, density x^2 (3 - 2x) on [x_min, 1]."""
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        x = rng.uniform(x_min, 1.0, len(todo))
        keep = rng.uniform(0.0, 1.0, len(todo)) < x**2 * (3.0 - 2.0 * x)
        out[todo[keep]] = x[keep]
        todo = todo[~keep]
    return out


def _pi0_to_photons(rng, event, pi0, x4):
    g1, g2 = two_body_decay(rng, pi0, 0.0, 0.0)
    return ParticleTable.from_arrays(np.concatenate([event, event]), c.PDG_PHOTON, np.concatenate([g1, g2]), np.concatenate([x4, x4]))


def decay_taus(
    rng: np.random.Generator, event: np.ndarray, tau_p4: np.ndarray, tau_charge: np.ndarray
) -> tuple[ParticleTable, np.ndarray]:
    """Decay taus (four-momenta [n, 4], charges +-1, owning events [n]).

    Returns the visible daughters as a :class:`ParticleTable` (in the frame of
    ``tau_p4``, with displaced production points; rows grouped by decay mode, not
    ordered by event) and the mode index of each tau (into :data:`MODES`).
    """
    n = len(tau_p4)
    m_tau = c.TAU_MASS_GEV
    mode = rng.choice(len(MODES), size=n, p=BRANCHING_FRACTIONS)
    flight = rng.exponential(c.TAU_CTAU_CM, n)
    x4_all = tau_p4 / m_tau * flight[:, None]
    sign = -tau_charge.astype(np.int32)  # tau- (charge -1) -> PDG +11, +13 for its lepton; pi- = -211
    tables: list[ParticleTable] = []

    for idx, (m_lep, pdg) in ((0, (c.MUON_MASS_GEV, c.PDG_MUON)), (1, (c.ELECTRON_MASS_GEV, c.PDG_ELECTRON))):
        sel = np.flatnonzero(mode == idx)
        if len(sel) == 0:
            continue
        e_max = (m_tau**2 + m_lep**2) / (2 * m_tau)
        x = michel_lepton_fraction(rng, len(sel), m_lep / e_max * 1.0001)
        e = x * e_max
        p = np.sqrt(e**2 - m_lep**2)
        rest = four_vector(e, p[:, None] * isotropic_directions(rng, len(sel)))
        lab = boost(rest, velocity(tau_p4[sel]))
        tables.append(ParticleTable.from_arrays(event[sel], sign[sel] * pdg, lab, x4_all[sel]))

    sel = np.flatnonzero(mode == 2)  # pi nu
    if len(sel):
        pi, _ = two_body_decay(rng, tau_p4[sel], c.CHARGED_PION_MASS_GEV, 0.0)
        tables.append(ParticleTable.from_arrays(event[sel], -sign[sel] * c.PDG_PI_PLUS, pi, x4_all[sel]))

    sel = np.flatnonzero(mode == 3)  # rho nu, rho -> pi pi0
    if len(sel):
        m_rho = breit_wigner_mass(
            rng, len(sel), c.RHO_MASS_GEV, c.RHO_WIDTH_GEV, c.CHARGED_PION_MASS_GEV + c.NEUTRAL_PION_MASS_GEV + 1e-4, m_tau - 1e-3
        )
        rho, _ = two_body_decay(rng, tau_p4[sel], m_rho, 0.0)
        pi, pi0 = two_body_decay(rng, rho, c.CHARGED_PION_MASS_GEV, c.NEUTRAL_PION_MASS_GEV)
        tables.append(ParticleTable.from_arrays(event[sel], -sign[sel] * c.PDG_PI_PLUS, pi, x4_all[sel]))
        tables.append(_pi0_to_photons(rng, event[sel], pi0, x4_all[sel]))

    for idx, neutral in ((4, False), (5, True)):  # a1 -> rho pi
        sel = np.flatnonzero(mode == idx)
        if len(sel) == 0:
            continue
        m_pi, m_pi0 = c.CHARGED_PION_MASS_GEV, c.NEUTRAL_PION_MASS_GEV
        m_bachelor = m_pi0 if neutral else m_pi
        m_rho_min = m_pi + (m_pi0 if neutral else m_pi)
        m_a1 = breit_wigner_mass(rng, len(sel), c.A1_MASS_GEV, c.A1_WIDTH_GEV, m_rho_min + m_bachelor + 0.01, m_tau - 1e-3)
        a1, _ = two_body_decay(rng, tau_p4[sel], m_a1, 0.0)
        m_rho = breit_wigner_mass(rng, len(sel), c.RHO_MASS_GEV, c.RHO_WIDTH_GEV, m_rho_min + 1e-4, m_a1 - m_bachelor - 1e-4)
        rho, bachelor = two_body_decay(rng, a1, m_rho, m_bachelor)
        q = -sign[sel]  # sign of the tau's charged pion code
        if neutral:  # a1- -> rho- pi0, rho- -> pi- pi0
            pi, pi0b = two_body_decay(rng, rho, m_pi, m_pi0)
            tables.append(ParticleTable.from_arrays(event[sel], q * c.PDG_PI_PLUS, pi, x4_all[sel]))
            tables.append(_pi0_to_photons(rng, event[sel], bachelor, x4_all[sel]))
            tables.append(_pi0_to_photons(rng, event[sel], pi0b, x4_all[sel]))
        else:  # a1- -> rho0 pi-, rho0 -> pi+ pi-
            pa, pb = two_body_decay(rng, rho, m_pi, m_pi)
            tables.append(ParticleTable.from_arrays(event[sel], q * c.PDG_PI_PLUS, bachelor, x4_all[sel]))
            tables.append(ParticleTable.from_arrays(event[sel], c.PDG_PI_PLUS, pa, x4_all[sel]))
            tables.append(ParticleTable.from_arrays(event[sel], -c.PDG_PI_PLUS, pb, x4_all[sel]))
    return ParticleTable.concatenate(tables, sort=False), mode
