"""The leptophilic scalar phi_L: partial widths and branching fractions (physics.md §5).

phi_L couples to the charged leptons in proportion to their mass,

    L = -xi sum_l (m_l / v) phi_L l lbar,   v = 246 GeV (:data:`core.constants.HIGGS_VEV_GEV`),

so its tree-level width to a lepton pair is

    Gamma(phi_L -> l+ l-) = xi^2 m_l^2 m_phi / (8 pi v^2) (1 - 4 m_l^2 / m_phi^2)^(3/2)

(the P-wave threshold factor beta^3 of a CP-even scalar). The total width is the sum over
l = e, mu, tau; loop-induced phi_L -> gamma gamma is neglected (it is suppressed by
alpha^2 / (4 pi)^2 against the leading lepton channel at every mass of the search). Every
width scales as xi^2, so the branching fractions do not depend on the coupling:
BR(e e) = 1 below 2 m_mu, BR(mu mu) ~ 1 - (m_e / m_mu)^2 between 2 m_mu and 2 m_tau,
and tau pairs take over above 2 m_tau.

Functions take the mass in GeV (a number or a numpy array) and return numpy arrays
(0-d for scalar input).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.constants import ELECTRON_MASS_GEV, HBARC_GEV_CM, HIGGS_VEV_GEV, MUON_MASS_GEV, PDG_ELECTRON, PDG_MUON, TAU_MASS_GEV

LEPTON_MASSES_GEV = {"ee": ELECTRON_MASS_GEV, "mumu": MUON_MASS_GEV, "tautau": TAU_MASS_GEV}
"""Lepton-pair decay channels of phi_L and the lepton mass of each, GeV."""


def _masses(mphi_gev: ArrayLike) -> NDArray[np.float64]:
    m = np.asarray(mphi_gev, dtype=float)
    if np.any(~(m > 0)):
        raise ValueError(f"phi_L mass must be positive (GeV), got {mphi_gev!r}")
    return m


def width_to_leptons_gev(mphi_gev: ArrayLike, lepton_mass_gev: float, xi: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Gamma(phi_L -> l+ l-) in GeV for a lepton of mass ``lepton_mass_gev`` (GeV); zero below threshold."""
    m = _masses(mphi_gev)
    r = lepton_mass_gev**2 / m**2
    beta2 = np.clip(1.0 - 4.0 * r, 0.0, None)
    return np.asarray(
        np.asarray(xi, dtype=float) ** 2 * lepton_mass_gev**2 * m / (8.0 * math.pi * HIGGS_VEV_GEV**2) * beta2**1.5
    )


def total_width_gev(mphi_gev: ArrayLike, xi: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Total width of phi_L in GeV: e+e-, mu+mu- and tau+tau-."""
    return sum(width_to_leptons_gev(mphi_gev, m_l, xi) for m_l in LEPTON_MASSES_GEV.values())


def branching_fraction(mphi_gev: ArrayLike, channel: str) -> NDArray[np.float64]:
    """BR(phi_L -> ``channel``) for ``channel`` in ``"ee"``, ``"mumu"``, ``"tautau"`` (independent of xi)."""
    if channel not in LEPTON_MASSES_GEV:
        raise ValueError(f"unknown phi_L decay channel {channel!r}; choose one of {', '.join(LEPTON_MASSES_GEV)}")
    return width_to_leptons_gev(mphi_gev, LEPTON_MASSES_GEV[channel]) / total_width_gev(mphi_gev)


def branching_fraction_ee(mphi_gev: ArrayLike) -> NDArray[np.float64]:
    """BR(phi_L -> e+ e-): 1 below 2 m_mu."""
    return branching_fraction(mphi_gev, "ee")


def branching_fraction_mumu(mphi_gev: ArrayLike) -> NDArray[np.float64]:
    """BR(phi_L -> mu+ mu-): ~1 between 2 m_mu and 2 m_tau, then tau pairs dominate."""
    return branching_fraction(mphi_gev, "mumu")


def branching_fraction_tautau(mphi_gev: ArrayLike) -> NDArray[np.float64]:
    """BR(phi_L -> tau+ tau-): 0 below 2 m_tau."""
    return branching_fraction(mphi_gev, "tautau")


def decay_lepton_pdg(mphi_gev: float) -> int:
    """PDG code of the lepton of the pair phi_L is generated and reconstructed in at this mass (the one rule).

    e+e- up to the di-muon threshold 2 m_mu, mu+mu- above: the coupling is proportional to the
    lepton mass, so mu+mu- dominates once it is open (above 2 m_tau the search still uses mu+mu-
    and the limit applies BR(mu mu)).
    """
    return PDG_ELECTRON if float(_masses(mphi_gev)) <= 2.0 * MUON_MASS_GEV else PDG_MUON


def visible_decay_channel(mphi_gev: float) -> str:
    """The lepton pair the search reconstructs at this mass (:func:`decay_lepton_pdg`): ``"ee"`` or ``"mumu"``."""
    return "ee" if decay_lepton_pdg(mphi_gev) == PDG_ELECTRON else "mumu"


def proper_decay_length_cm(mphi_gev: ArrayLike, xi: ArrayLike = 1.0) -> NDArray[np.float64]:
    """c tau of phi_L in cm (hbar c / Gamma_total)."""
    return np.asarray(HBARC_GEV_CM / total_width_gev(mphi_gev, xi))
