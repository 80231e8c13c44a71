"""The L_mu - L_tau Z': partial widths, invisible branching fraction and (g-2)_mu (docs/physics.md §3, §7).

Every width is proportional to g'^2, so the branching fractions do not depend on
the coupling; functions take the mass in GeV (a number or a numpy array) and
return numpy arrays (0-d for scalar input).

The Z' couples with strength g' to mu, tau and their (left-handed) neutrinos:

    Gamma(Z' -> l+ l-)     = g'^2 M / (12 pi) (1 + 2 m_l^2 / M^2) sqrt(1 - 4 m_l^2 / M^2),  l = mu, tau
    Gamma(Z' -> nu nubar)  = g'^2 M / (24 pi) per flavour (nu_mu, nu_tau)

The one-loop contribution to the muon anomalous magnetic moment is

    Delta a_mu = g'^2 / (4 pi^2) int_0^1 dz m_mu^2 z (1 - z)^2 / (m_mu^2 (1 - z)^2 + M^2 z),

which tends to g'^2 / (8 pi^2) for M << m_mu and to g'^2 m_mu^2 / (12 pi^2 M^2) for M >> m_mu.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate

from core.constants import HBARC_GEV_CM, MUON_MASS_GEV, TAU_MASS_GEV

N_NEUTRINO_FLAVOURS = 2
"""Neutrino flavours the L_mu - L_tau Z' decays to (nu_mu, nu_tau)."""

DELTA_A_MU_GAP = 251e-11
"""Measured minus predicted a_mu, (251 +- 59) x 10^-11 (2021; docs/physics.md §7)."""
DELTA_A_MU_GAP_ERROR = 59e-11
"""One standard deviation of :data:`DELTA_A_MU_GAP`."""
G2_BAND_N_SIGMA = 2.0
"""Half-width of the favoured (g-2)_mu band in standard deviations of the gap."""


def width_to_leptons_gev(mzp_gev: ArrayLike, lepton_mass_gev: float, gprime: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Gamma(Z' -> l+ l-) in GeV for a charged lepton of mass ``lepton_mass_gev``; zero below threshold."""
    m = np.asarray(mzp_gev, dtype=float)
    r = np.divide(lepton_mass_gev**2, m**2, out=np.full_like(m, np.inf), where=m > 0)
    open_ = r < 0.25
    beta = np.sqrt(np.where(open_, 1.0 - 4.0 * r, 0.0))
    factor = np.where(open_, (1.0 + 2.0 * r) * beta, 0.0)
    return np.asarray(np.asarray(gprime, dtype=float) ** 2 * m / (12.0 * math.pi) * factor)


def width_to_neutrinos_gev(mzp_gev: ArrayLike, gprime: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Gamma(Z' -> nu nubar) in GeV summed over nu_mu and nu_tau (the invisible width)."""
    m = np.asarray(mzp_gev, dtype=float)
    return np.asarray(N_NEUTRINO_FLAVOURS * np.asarray(gprime, dtype=float) ** 2 * m / (24.0 * math.pi))


def total_width_gev(mzp_gev: ArrayLike, gprime: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Total width in GeV: nu_mu, nu_tau, mu+ mu- and tau+ tau-."""
    return (
        width_to_neutrinos_gev(mzp_gev, gprime)
        + width_to_leptons_gev(mzp_gev, MUON_MASS_GEV, gprime)
        + width_to_leptons_gev(mzp_gev, TAU_MASS_GEV, gprime)
    )


def branching_fraction_invisible(mzp_gev: ArrayLike) -> NDArray[np.float64]:
    """BR(Z' -> nu nubar): 1 below 2 m_mu, ~1/2 up to 2 m_tau, 0.38 at 4 GeV, 0.335 at 8 GeV."""
    m = np.asarray(mzp_gev, dtype=float)
    if np.any(m <= 0):
        raise ValueError("Z' mass must be positive")
    return width_to_neutrinos_gev(m) / total_width_gev(m)


def branching_fraction_mumu(mzp_gev: ArrayLike) -> NDArray[np.float64]:
    """BR(Z' -> mu+ mu-) = Gamma(mu mu) / Gamma_total (nu_mu, nu_tau, mu, tau); 0 below 2 m_mu."""
    m = np.asarray(mzp_gev, dtype=float)
    if np.any(m <= 0):
        raise ValueError("Z' mass must be positive")
    return width_to_leptons_gev(m, MUON_MASS_GEV) / total_width_gev(m)


def decay_length_cm(mzp_gev: ArrayLike, gprime: ArrayLike) -> NDArray[np.float64]:
    """Proper decay length c tau = hbar c / Gamma_total of the Z', cm."""
    return HBARC_GEV_CM / total_width_gev(mzp_gev, gprime)


def one_loop_integral(mass_gev: float, numerator: Callable[[float], float]) -> float:
    """int_0^1 dz numerator(z) / ((1-z)^2 + (M/m_mu)^2 z): the one-loop (g-2)_mu integral of a boson of mass M.

    The denominator is common to a vector (:func:`vector_loop_numerator`) and a scalar
    (:func:`core.scalar_model.scalar_loop_numerator`) coupling to the muon; only the numerator differs.
    """
    x2 = (mass_gev / MUON_MASS_GEV) ** 2
    # the integrand turns over at z ~ 1/x2 for a heavy boson: tell quad where
    knee = min(1.0 / x2, 0.5) if x2 > 0 else 0.5
    value, _ = integrate.quad(
        lambda z: numerator(z) / ((1.0 - z) ** 2 + x2 * z),
        0.0,
        1.0,
        points=[knee],
        epsabs=0.0,
        epsrel=1e-10,
        limit=200,
    )
    return value


def vector_loop_numerator(z: float) -> float:
    """Numerator z (1-z)^2 of the vector (Z') one-loop integral (1/2 at M = 0)."""
    return z * (1.0 - z) ** 2


def loop_integral_per_mass(masses_gev: ArrayLike, numerator: Callable[[float], float]) -> NDArray[np.float64]:
    """:func:`one_loop_integral` over an array of masses (GeV; each distinct mass integrated once)."""
    m = np.asarray(masses_gev, dtype=float)
    if np.any(m < 0):
        raise ValueError(f"boson mass must not be negative, got {masses_gev!r}")
    unique, inverse = np.unique(m, return_inverse=True)
    return np.array([one_loop_integral(float(x), numerator) for x in unique])[inverse].reshape(m.shape)


def delta_a_mu(gprime: ArrayLike, mzp_gev: ArrayLike) -> NDArray[np.float64]:
    """One-loop Delta a_mu of a vector Z' with coupling ``gprime`` and mass ``mzp_gev`` (broadcast together)."""
    g, m = np.broadcast_arrays(np.asarray(gprime, dtype=float), np.asarray(mzp_gev, dtype=float))
    if np.any(m < 0):
        raise ValueError("Z' mass must not be negative")
    return np.asarray(g**2 / (4.0 * math.pi**2) * loop_integral_per_mass(m, vector_loop_numerator))


class CouplingBand(NamedTuple):
    """g' values (arrays over mass) where Delta a_mu equals the gap and its +-n sigma edges."""

    central: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


def coupling_band(
    delta_a_mu_at_unit_coupling: ArrayLike,
    gap: float = DELTA_A_MU_GAP,
    gap_error: float = DELTA_A_MU_GAP_ERROR,
    n_sigma: float = G2_BAND_N_SIGMA,
) -> CouplingBand:
    """Couplings where Delta a_mu = coupling^2 x ``delta_a_mu_at_unit_coupling`` (over mass) equals the gap
    and its +-n_sigma edges: sqrt(gap / Delta a_mu(coupling = 1)). An edge where
    gap - n_sigma x gap_error <= 0 is returned as 0. Serves the Z' (g') and the scalar (xi)."""
    per_unit = np.asarray(delta_a_mu_at_unit_coupling, dtype=float)
    low_gap = max(gap - n_sigma * gap_error, 0.0)
    return CouplingBand(
        central=np.sqrt(gap / per_unit),
        lower=np.sqrt(low_gap / per_unit),
        upper=np.sqrt((gap + n_sigma * gap_error) / per_unit),
    )


def g2_band(
    mzp_gev: ArrayLike,
    gap: float = DELTA_A_MU_GAP,
    gap_error: float = DELTA_A_MU_GAP_ERROR,
    n_sigma: float = G2_BAND_N_SIGMA,
) -> CouplingBand:
    """The g' band that explains the (g-2)_mu gap: Delta a_mu(g', M) within gap +- n_sigma x gap_error.

    Delta a_mu is g'^2 times a function of M, so g'(M) = sqrt(Delta a_mu / (Delta a_mu at g' = 1)).
    An edge where gap - n_sigma x gap_error <= 0 is returned as 0.
    """
    return coupling_band(delta_a_mu(1.0, mzp_gev), gap, gap_error, n_sigma)
