"""Belle detector description: acceptances and resolutions (docs/physics.md §1).

One home for every detector number. The generator's detector response
(``belle_mc.detector``) simulates with these functions, and the analysis uses
the same resolutions (e.g. impact-parameter errors in the vertex fit), so the
two can never drift apart. Angles in rad, momenta in GeV, lengths in cm.
"""

from __future__ import annotations

import numba
import numpy as np

DEG = np.pi / 180.0

MAGNETIC_FIELD_T = 1.5

# --- Central drift chamber --------------------------------------------------------
CDC_THETA_MIN_RAD = 17.0 * DEG
CDC_THETA_MAX_RAD = 150.0 * DEG
TRACK_PT_MIN_GEV = 0.1
"""Minimum transverse momentum for a reconstructed track, GeV."""
PT_RESOLUTION_LINEAR = 0.0019
"""sigma(pt)/pt term proportional to pt (per GeV)."""
PT_RESOLUTION_MS = 0.0030
"""sigma(pt)/pt multiple-scattering term (divided by beta)."""
ANGLE_RESOLUTION_RAD = (0.0005, 0.001)
"""Track polar/azimuth resolution: constant (rad) (+) term / p (rad GeV)."""

# --- Silicon vertex detector: impact parameters (Belle SVD2, NIM A 560 (2006) 1) ---
DR_RESOLUTION_CM = (0.00219, 0.00355)
"""sigma(dr) = a (+) b / (p beta sin^(3/2) theta), cm."""
DZ_RESOLUTION_CM = (0.00278, 0.00319)
"""sigma(dz) = a (+) b / (p beta sin^(5/2) theta), cm."""
BEAM_SPOT_SIGMA_CM = (0.0100, 0.0005, 0.35)
"""Gaussian size (x, y, z) of the luminous region around the nominal IP, cm."""

# --- Electromagnetic calorimeter --------------------------------------------------
ECL_REGIONS_RAD = (
    (12.4 * DEG, 31.4 * DEG),  # forward endcap
    (32.2 * DEG, 128.7 * DEG),  # barrel
    (130.7 * DEG, 155.1 * DEG),  # backward endcap
)
ECL_RESOLUTION = (0.00066, 0.0081, 0.0134)
"""sigma_E/E = a/E (+) b/E^(1/4) (+) c, E in GeV."""
ECL_CLUSTER_E_MIN_GEV = 0.02
"""Energy threshold of a reconstructed ECL cluster, GeV."""
ECL_MIP_ENERGY_GEV = 0.2
"""Typical energy deposit of a minimum-ionising muon or pion, GeV."""
ECL_POSITION_RESOLUTION_RAD = (0.001, 0.004)
"""Cluster direction resolution: constant (+) term / sqrt(E), rad."""
BEAM_BACKGROUND_CLUSTERS_MEAN = 1.0
"""Mean (Poisson) number of soft beam-background ECL clusters per event."""
BEAM_BACKGROUND_CLUSTER_E_MEAN_GEV = 0.04
"""Mean energy above threshold of a beam-background cluster (exponential), GeV."""

# --- KLM and particle identification ----------------------------------------------
KLM_THETA_MIN_RAD = 20.0 * DEG
KLM_THETA_MAX_RAD = 155.0 * DEG
MUON_KLM_MOMENTUM_THRESHOLD_GEV = (0.6, 0.8)
"""Muon ID turn-on: zero efficiency below the first, full above the second momentum (lab), GeV."""
MUON_ID_EFFICIENCY = 0.92
PION_MUON_FAKE_RATE = 0.015
ELECTRON_MUON_FAKE_RATE = 0.001
ELECTRON_ID_MOMENTUM_MIN_GEV = 0.4
ELECTRON_ID_EFFICIENCY = 0.92
PION_ELECTRON_FAKE_RATE = 0.003
MUON_ELECTRON_FAKE_RATE = 0.001
PID_CUT = 0.9
"""Likelihood-ratio value above which a track counts as identified (muonID, electronID)."""
PID_LOGIT_IDENTIFIED_SCALE = 8.0
"""Identified tracks: log(LR/(1-LR)) lies logit(PID_CUT) plus an exponential of this mean above the cut
(median LR 0.9996; 74% of them above 0.99); see docs/generator.md, "Particle identification"."""
PID_TRANSITION_FRACTION = 0.5
"""Weight of the transition population, in units of eff x (1 - eff) with eff the efficiency at PID_CUT: tracks
whose likelihood ratio falls in the middle (muons at the KLM turn-on, punch-through pions, showering electrons)."""
PID_LOGIT_TRANSITION_SCALE = 1.5
"""Transition tracks: log(LR/(1-LR)) lies logit(PID_CUT) minus an exponential of this mean."""
PID_LOGIT_REJECTED_MEAN = -6.0
"""Rejected tracks: log(LR/(1-LR)) is Gaussian with this mean (LR ~ 0.0025) ..."""
PID_LOGIT_REJECTED_SIGMA = 1.5
"""... and this width, reflected at 0 so that LR < 0.5."""


# The functions below are numba-compiled so that the generator's jitted detector
# kernels and plain numpy callers use the very same formulas; each works on
# scalars and on numpy arrays alike.


@numba.njit(cache=True)
def in_cdc_acceptance(theta_lab):
    """True where a polar angle (lab, rad) lies in the CDC acceptance 17-150 deg."""
    return (theta_lab > CDC_THETA_MIN_RAD) & (theta_lab < CDC_THETA_MAX_RAD)


_ECL = ECL_REGIONS_RAD


@numba.njit(cache=True)
def in_ecl_acceptance(theta_lab):
    """True where a polar angle (lab, rad) hits an ECL crystal (not a gap, not the beam pipe)."""
    return (
        ((theta_lab > _ECL[0][0]) & (theta_lab < _ECL[0][1]))
        | ((theta_lab > _ECL[1][0]) & (theta_lab < _ECL[1][1]))
        | ((theta_lab > _ECL[2][0]) & (theta_lab < _ECL[2][1]))
    )


_CDC_COS = (float(np.cos(CDC_THETA_MAX_RAD)), float(np.cos(CDC_THETA_MIN_RAD)))
_ECL_COS = tuple((float(np.cos(hi)), float(np.cos(lo))) for lo, hi in ECL_REGIONS_RAD)


@numba.njit(cache=True)
def in_cdc_acceptance_cos(cos_theta_lab):
    """:func:`in_cdc_acceptance` in terms of cos(theta) (no arctangent in hot loops)."""
    return (cos_theta_lab > _CDC_COS[0]) & (cos_theta_lab < _CDC_COS[1])


@numba.njit(cache=True)
def in_ecl_acceptance_cos(cos_theta_lab):
    """:func:`in_ecl_acceptance` in terms of cos(theta) (no arctangent in hot loops)."""
    return (
        ((cos_theta_lab > _ECL_COS[0][0]) & (cos_theta_lab < _ECL_COS[0][1]))
        | ((cos_theta_lab > _ECL_COS[1][0]) & (cos_theta_lab < _ECL_COS[1][1]))
        | ((cos_theta_lab > _ECL_COS[2][0]) & (cos_theta_lab < _ECL_COS[2][1]))
    )


@numba.njit(cache=True)
def in_klm_acceptance(theta_lab):
    """True where a polar angle (lab, rad) lies in the KLM acceptance 20-155 deg."""
    return (theta_lab > KLM_THETA_MIN_RAD) & (theta_lab < KLM_THETA_MAX_RAD)


@numba.njit(cache=True)
def pt_resolution_gev(pt_gev, beta):
    """Absolute transverse-momentum resolution sigma(pt), GeV: pt * (0.19% pt (+) 0.30%/beta)."""
    return np.hypot(PT_RESOLUTION_LINEAR * pt_gev, PT_RESOLUTION_MS / beta) * pt_gev


@numba.njit(cache=True)
def dr_resolution_cm(p_gev, beta, theta_lab):
    """Transverse impact-parameter resolution sigma(dr), cm."""
    return dr_resolution_sin_cm(p_gev, beta, np.sin(theta_lab))


@numba.njit(cache=True)
def dz_resolution_cm(p_gev, beta, theta_lab):
    """Longitudinal impact-parameter resolution sigma(dz), cm."""
    return dz_resolution_sin_cm(p_gev, beta, np.sin(theta_lab))


@numba.njit(cache=True)
def dr_resolution_sin_cm(p_gev, beta, sin_theta_lab):
    """:func:`dr_resolution_cm` in terms of sin(theta): a (+) b / (p beta sin^(3/2) theta), cm."""
    b = DR_RESOLUTION_CM[1] / (p_gev * beta * sin_theta_lab * np.sqrt(sin_theta_lab))
    return np.sqrt(DR_RESOLUTION_CM[0] ** 2 + b * b)


@numba.njit(cache=True)
def dz_resolution_sin_cm(p_gev, beta, sin_theta_lab):
    """:func:`dz_resolution_cm` in terms of sin(theta): a (+) b / (p beta sin^(5/2) theta), cm."""
    s = sin_theta_lab
    b = DZ_RESOLUTION_CM[1] / (p_gev * beta * s * s * np.sqrt(s))
    return np.sqrt(DZ_RESOLUTION_CM[0] ** 2 + b * b)


@numba.njit(cache=True)
def ecl_energy_resolution_gev(e_gev):
    """Absolute ECL cluster energy resolution sigma_E, GeV."""
    a, b, c = ECL_RESOLUTION
    e = np.maximum(e_gev, 1e-6)
    return np.sqrt((a / e) ** 2 + b * b / np.sqrt(e) + c**2) * e
