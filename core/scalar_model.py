"""The leptophilic scalar phi_L: partial widths and branching fractions and (g-2)_mu (docs/physics.md §5).

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

(g-2)_mu: the one-loop contribution of a scalar with Yukawa coupling y = xi m_mu / v,

    Delta a_mu = y^2 / (8 pi^2) int_0^1 dz (1 - z)^2 (1 + z) / ((1 - z)^2 + z (m_phi / m_mu)^2),

which tends to 3 y^2 / (16 pi^2) for m_phi << m_mu; the integral is the one of the vector Z'
(:func:`core.zprime_model.one_loop_integral`) with the scalar numerator. The favoured band
(:func:`g2_band_xi`) is where Delta a_mu lies within +-2 sigma of the measured gap of
:mod:`core.zprime_model`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.constants import ELECTRON_MASS_GEV, HBARC_GEV_CM, HIGGS_VEV_GEV, MUON_MASS_GEV, PDG_ELECTRON, PDG_MUON, TAU_MASS_GEV
from core.zprime_model import (
    DELTA_A_MU_GAP,
    DELTA_A_MU_GAP_ERROR,
    G2_BAND_N_SIGMA,
    CouplingBand,
    coupling_band,
    loop_integral_per_mass,
)

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


def scalar_loop_numerator(z: float) -> float:
    """Numerator (1-z)^2 (1+z) of the scalar one-loop (g-2)_mu integral (3/2 at m_phi = 0)."""
    return (1.0 - z) ** 2 * (1.0 + z)


def delta_a_mu_scalar(xi: ArrayLike, mphi_gev: ArrayLike) -> NDArray[np.float64]:
    """One-loop Delta a_mu of phi_L with coupling ``xi`` and mass ``mphi_gev`` (GeV; broadcast together)."""
    x, m = np.broadcast_arrays(np.asarray(xi, dtype=float), np.asarray(mphi_gev, dtype=float))
    if np.any(m < 0):
        raise ValueError("phi_L mass must not be negative")
    yukawa2 = (x * MUON_MASS_GEV / HIGGS_VEV_GEV) ** 2
    return np.asarray(yukawa2 / (8.0 * math.pi**2) * loop_integral_per_mass(m, scalar_loop_numerator))


def g2_band_xi(
    mphi_gev: ArrayLike, gap: float = DELTA_A_MU_GAP, gap_error: float = DELTA_A_MU_GAP_ERROR, n_sigma: float = G2_BAND_N_SIGMA
) -> CouplingBand:
    """xi values (over mass) where Delta a_mu equals the gap and its +-n sigma edges (an edge <= 0 is 0)."""
    return coupling_band(delta_a_mu_scalar(1.0, mphi_gev), gap, gap_error, n_sigma)
