"""Physical constants and particle properties: the one home of every number.

Units: GeV for energies, momenta and masses; cm for lengths; rad for angles;
pb for cross sections. Particle properties are PDG 2024 values.
"""

from __future__ import annotations

import math

# --- Beams of KEKB at the Upsilon(4S) (docs/physics.md §1) -----------------------------
HER_ENERGY_GEV = 7.998213
"""Energy of the electron beam (high-energy ring), GeV."""
LER_ENERGY_GEV = 3.499218
"""Energy of the positron beam (low-energy ring), GeV."""
CROSSING_ANGLE_RAD = 0.022
"""Angle of the e- beam to the +z axis in the x-z plane (towards +x), rad; the e+ beam is along -z."""
CMS_ENERGY_SPREAD_GEV = 0.005
"""Gaussian spread of sqrt(s) from the beam-energy spread, GeV."""
B_BBAR_XSEC_PB = 1050.0
"""e+e- -> Upsilon(4S) -> B Bbar cross section at Belle, pb."""
DATA_LUMI_FB = 626.0
"""Integrated luminosity of the Belle Upsilon(4S)-region data set the searches use, fb^-1 (the default ``--lumi``)."""

# --- Couplings and conversions -----------------------------------------------------
ALPHA_EM = 1.0 / 137.035999
"""Fine-structure constant at zero momentum transfer."""
HBARC2_PB_GEV2 = 0.3893794e9
"""(hbar c)^2 in pb GeV^2: multiplies a cross section in GeV^-2 to give pb."""
HIGGS_VEV_GEV = 246.0
"""Vacuum expectation value v of the Higgs field, GeV."""
HBARC_GEV_CM = 1.973269804e-14
"""hbar c in GeV cm: turns a width (GeV) into a proper decay length c tau = hbar c / Gamma (cm)."""

# --- Particle masses, GeV ----------------------------------------------------------
ELECTRON_MASS_GEV = 0.51099895e-3
MUON_MASS_GEV = 0.1056583755
TAU_MASS_GEV = 1.77693
CHARGED_PION_MASS_GEV = 0.13957039
NEUTRAL_PION_MASS_GEV = 0.1349768

RHO_MASS_GEV = 0.77526
RHO_WIDTH_GEV = 0.1491
A1_MASS_GEV = 1.230
A1_WIDTH_GEV = 0.420

TAU_CTAU_CM = 87.03e-4
"""Mean proper decay length c*tau of the tau lepton, cm."""

# --- PDG identifiers ---------------------------------------------------------------
PDG_ELECTRON = 11
PDG_MUON = 13
PDG_TAU = 15
PDG_PHOTON = 22
PDG_PI_PLUS = 211
PDG_PI_ZERO = 111
PDG_ZPRIME = 9900023  # user-defined code for the invisible Z'
PDG_NEUTRINO = 12  # used for every invisible neutrino (nu_e, nu_mu, nu_tau alike)
PDG_NU_MU = 14
PDG_NU_TAU = 16
PDG_KAON_PLUS = 321
PDG_K_LONG = 130
PDG_PROTON = 2212
PDG_NEUTRON = 2112
PDG_UPSILON_4S = 300553

UPSILON_4S_MASS_GEV = 10.5794
"""Mass of the Upsilon(4S), GeV (PDG 2024)."""
B0_MASS_GEV = 5.27966
"""Mass of the B0 meson, GeV (PDG 2024); the B Bbar threshold is 2 m_B0."""


def sigma_point_pb(sqrt_s_gev):
    """Point cross section sigma_0 = 4 pi alpha^2 / (3 s) in pb (e+e- -> mu+mu- at Born level).

    ``sqrt_s_gev`` (GeV) may be a number or a numpy array.
    """
    return 4.0 * math.pi * ALPHA_EM**2 / (3.0 * sqrt_s_gev**2) * HBARC2_PB_GEV2
