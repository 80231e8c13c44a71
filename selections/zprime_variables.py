"""Per-event variables of the invisible-Z' search, computed in one fused numba pass.

:func:`dimuon_event_variables` reads the flat buffers of the ntuple branches
(docs/ntuple-format.md) once and, for every event with two oppositely charged,
muon-identified tracks, fills one column of :data:`VARIABLES` (recoil mass, the
quantities the ten cuts of the seed talk act on, and the 14 network inputs).
Fusing the work into one loop is what keeps the processor close to the raw
read rate: no intermediate awkward arrays, no per-variable passes.

Definitions (muon mass hypothesis for both tracks; ``_cms`` has z along the e-
beam, see :mod:`selections.kinematics`; sqrt(s) is the nominal beam value):

- ``recoil_mass2``: M^2 = (sqrt(s) - E*_mumu)^2 - |p*_mumu|^2 = s + m_mumu^2 - 2 E*_mumu sqrt(s), GeV^2.
- ``recoil_mass2_visible``: the same against the dimuon plus every neutral ECL cluster, GeV^2.
- ``cos_theta_recoil_cms``: cosine of the CM polar angle of the recoil momentum -p*_mumu.
- ``theta_recoil_lab``: lab polar angle of the recoil (missing) momentum, rad.
- ``opening_angle_cms``: angle between the two muons in the CM frame, rad.
- ``vertex_pvalue``: confidence level of the two-track vertex fit (:mod:`selections.vertex_fit`).
- ``e_neutral_lab`` (E_sum): energy sum of all neutral ECL clusters in the lab, GeV.
- ``e_visible_cms``: CM energy of the dimuon plus all neutral clusters (massless), GeV.
- ``dphi_recoil_photon``: smallest azimuthal difference (CM) between the recoil momentum and a
  neutral cluster above :data:`PHOTON_ENERGY_MIN_GEV`; pi when there is none, rad.
- ``delta_m``: sqrt(s) - m_mumu - M_recoil, GeV (kinematic slack; 0 when the dimuon is at rest
  against the recoil), with M_recoil the signed square root of M^2.
- ``delta_m_gamma``: M_recoil - M_recoil(visible), GeV: how much the neutral clusters move the
  recoil mass (large for mu mu gamma with a detected photon).
- ``p_thrust``: thrust momentum of the two muons, sum |p*_i . n_T| = max(|p1* + p2*|, |p1* - p2*|), GeV.
- ``pl_min_mu``, ``pl_max_mu``: CM longitudinal momentum p*_z of the lower/higher-momentum muon, GeV.
- ``pt_proj_max``, ``pt_proj_min``: p_t*Z' sin(alpha_M), p_t*Z' sin(alpha_m): the missing transverse
  momentum p_t*Z' = -p_t*mumu projected perpendicular to the transverse momentum of the
  higher/lower-momentum muon (the "diagonal cut" variables), GeV.
- ``pt_mumu_cms``: transverse momentum of the dimuon in the CM frame, GeV.
- ``angle_pt_mu_minus_thrust``, ``angle_pt_mu_plus_thrust``: angle between the muon's transverse
  CM momentum and the transverse projection of the thrust axis, folded into [0, pi/2], rad.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core import belle_detector as det
from core import constants as c
from core.beams import cms_frame
from selections.flat_buffers import check_counter
from selections.kinematics import (
    axis_angle_transverse,
    energy,
    invariant_mass_squared,
    lorentz_transform,
    opening_angle,
    photon_four_vector_cms,
    recoil_mass_squared,
    signed_sqrt,
    transverse_projection,
    two_body_thrust,
)
from selections.vertex_fit import two_track_vertex_pvalue

VARIABLES: tuple[str, ...] = (
    "recoil_mass2",
    "recoil_mass2_visible",
    "e_mumu_cms",
    "p_mumu_cms",
    "m_mumu",
    "pt_mumu_cms",
    "cos_theta_recoil_cms",
    "theta_recoil_lab",
    "opening_angle_cms",
    "vertex_pvalue",
    "e_neutral_lab",
    "e_visible_cms",
    "dphi_recoil_photon",
    "delta_m",
    "delta_m_gamma",
    "p_thrust",
    "pl_min_mu",
    "pl_max_mu",
    "pt_proj_max",
    "pt_proj_min",
    "angle_pt_mu_minus_thrust",
    "angle_pt_mu_plus_thrust",
)
"""Columns of the variable table, in order."""

COLUMN = {name: i for i, name in enumerate(VARIABLES)}
"""Column index of each variable."""

NETWORK_FEATURES: tuple[str, ...] = (
    "e_mumu_cms",
    "cos_theta_recoil_cms",
    "e_neutral_lab",
    "vertex_pvalue",
    "delta_m",
    "delta_m_gamma",
    "p_thrust",
    "pl_min_mu",
    "pl_max_mu",
    "pt_proj_max",
    "pt_proj_min",
    "pt_mumu_cms",
    "angle_pt_mu_minus_thrust",
    "angle_pt_mu_plus_thrust",
)
"""The 14 inputs of the Punzi-loss network, in the order of the seed talk."""

PHOTON_ENERGY_MIN_GEV = 0.1
"""Lab energy above which a neutral cluster counts as a photon candidate for ``dphi_recoil_photon``, GeV
(above the soft beam-background clusters, mean 0.04 GeV above the 0.02 GeV threshold)."""

STAGE_NONE, STAGE_TWO_OPPOSITE_CHARGE_TRACKS, STAGE_TWO_MUON_ID = 0, 1, 2
"""Values of the per-event preselection stage returned by :func:`dimuon_event_variables`."""

_NVAR = len(VARIABLES)
# column indices as module constants (numba freezes globals at compile time)
_RECOIL_MASS2 = 0
_RECOIL_MASS2_VISIBLE = 1
_E_MUMU_CMS = 2
_P_MUMU_CMS = 3
_M_MUMU = 4
_PT_MUMU_CMS = 5
_COS_THETA_RECOIL_CMS = 6
_THETA_RECOIL_LAB = 7
_OPENING_ANGLE_CMS = 8
_VERTEX_PVALUE = 9
_E_NEUTRAL_LAB = 10
_E_VISIBLE_CMS = 11
_DPHI_RECOIL_PHOTON = 12
_DELTA_M = 13
_DELTA_M_GAMMA = 14
_P_THRUST = 15
_PL_MIN_MU = 16
_PL_MAX_MU = 17
_PT_PROJ_MAX = 18
_PT_PROJ_MIN = 19
_ANGLE_PT_MU_MINUS_THRUST = 20
_ANGLE_PT_MU_PLUS_THRUST = 21


@numba.njit(cache=True)
def _stage_kernel(n_track, t_charge, t_muid, pid_cut, stage):  # pragma: no cover - jitted
    """Preselection stage of every event; return the number of events at :data:`STAGE_TWO_MUON_ID`."""
    n_sel = 0
    t0 = 0
    for i in range(n_track.shape[0]):
        nt = n_track[i]
        stage[i] = STAGE_NONE
        if nt == 2 and t_charge[t0] + t_charge[t0 + 1] == 0:
            stage[i] = STAGE_TWO_OPPOSITE_CHARGE_TRACKS
            if t_muid[t0] > pid_cut and t_muid[t0 + 1] > pid_cut:
                stage[i] = STAGE_TWO_MUON_ID
                n_sel += 1
        t0 += nt
    return n_sel


@numba.njit(cache=True)
def _variables_kernel(
    stage, n_track, t_px, t_py, t_pz, t_charge, t_dr, t_dz, n_cluster, c_e, c_theta, c_phi,
    sqrt_s, to_cms, to_lab, muon_mass, photon_e_min, out,
):  # fmt: skip  # pragma: no cover - jitted
    """One column of ``out`` [n_variables, n_preselected] per event at :data:`STAGE_TWO_MUON_ID`."""
    n = 0
    t0 = 0
    k0 = 0
    for i in range(stage.shape[0]):
        nc = n_cluster[i]
        if stage[i] == STAGE_TWO_MUON_ID:
            # the ntuple stores float32; convert so that all arithmetic is float64 (numba's float() keeps float32)
            f64 = np.float64
            _fill_column(
                f64(t_px[t0]), f64(t_py[t0]), f64(t_pz[t0]), f64(t_dr[t0]), f64(t_dz[t0]), t_charge[t0],
                f64(t_px[t0 + 1]), f64(t_py[t0 + 1]), f64(t_pz[t0 + 1]), f64(t_dr[t0 + 1]), f64(t_dz[t0 + 1]),
                c_e, c_theta, c_phi, k0, k0 + nc, sqrt_s, to_cms, to_lab, muon_mass, photon_e_min, out, n,
            )  # fmt: skip
            n += 1
        t0 += n_track[i]
        k0 += nc


@numba.njit(cache=True, inline="always")
def _fill_column(
    px0, py0, pz0, dr0, dz0, charge0, px1, py1, pz1, dr1, dz1,
    c_e, c_theta, c_phi, k_start, k_stop, sqrt_s, to_cms, to_lab, muon_mass, photon_e_min, out, n,
):  # fmt: skip  # pragma: no cover - jitted
    """All variables of one dimuon event (tracks 0 and 1, clusters k_start:k_stop) into ``out[:, n]``."""
    # --- muons in the CM frame ---------------------------------------------------
    e0, x0, y0, z0 = lorentz_transform(energy(px0, py0, pz0, muon_mass), px0, py0, pz0, to_cms)
    e1, x1, y1, z1 = lorentz_transform(energy(px1, py1, pz1, muon_mass), px1, py1, pz1, to_cms)
    e_mm, x_mm, y_mm, z_mm = e0 + e1, x0 + x1, y0 + y1, z0 + z1
    pt_mm = math.sqrt(x_mm * x_mm + y_mm * y_mm)
    p_mm = math.sqrt(pt_mm * pt_mm + z_mm * z_mm)
    m_mm = signed_sqrt(invariant_mass_squared(e_mm, x_mm, y_mm, z_mm))
    m2_rec = recoil_mass_squared(sqrt_s, e_mm, x_mm, y_mm, z_mm)
    out[_RECOIL_MASS2, n] = m2_rec
    out[_E_MUMU_CMS, n] = e_mm
    out[_P_MUMU_CMS, n] = p_mm
    out[_M_MUMU, n] = m_mm
    out[_PT_MUMU_CMS, n] = pt_mm
    out[_COS_THETA_RECOIL_CMS, n] = -z_mm / p_mm if p_mm > 0.0 else 0.0
    out[_OPENING_ANGLE_CMS, n] = opening_angle(x0, y0, z0, x1, y1, z1)
    out[_VERTEX_PVALUE, n] = two_track_vertex_pvalue(dr0, dz0, px0, py0, pz0, dr1, dz1, px1, py1, pz1, muon_mass)
    out[_DELTA_M, n] = sqrt_s - m_mm - signed_sqrt(m2_rec)
    _, rx, ry, rz = lorentz_transform(sqrt_s - e_mm, -x_mm, -y_mm, -z_mm, to_lab)
    out[_THETA_RECOIL_LAB, n] = math.atan2(math.sqrt(rx * rx + ry * ry), rz)
    # --- neutral clusters --------------------------------------------------------
    e_sum = 0.0
    e_n, x_n, y_n, z_n = 0.0, 0.0, 0.0, 0.0
    cos_dphi_max = -2.0  # cosine of the smallest azimuthal angle recoil - photon candidate
    for k in range(k_start, k_stop):
        e = np.float64(c_e[k])
        ge, gx, gy, gz = photon_four_vector_cms(e, np.float64(c_theta[k]), np.float64(c_phi[k]), to_cms)
        e_sum += e
        e_n += ge
        x_n += gx
        y_n += gy
        z_n += gz
        if e > photon_e_min:
            norm = pt_mm * math.sqrt(gx * gx + gy * gy)
            if norm > 0.0:
                cos_dphi_max = max(cos_dphi_max, -(x_mm * gx + y_mm * gy) / norm)
    m2_vis = recoil_mass_squared(sqrt_s, e_mm + e_n, x_mm + x_n, y_mm + y_n, z_mm + z_n)
    out[_RECOIL_MASS2_VISIBLE, n] = m2_vis
    out[_E_NEUTRAL_LAB, n] = e_sum
    out[_E_VISIBLE_CMS, n] = e_mm + e_n
    out[_DPHI_RECOIL_PHOTON, n] = math.acos(min(1.0, cos_dphi_max)) if cos_dphi_max > -2.0 else math.pi
    out[_DELTA_M_GAMMA, n] = signed_sqrt(m2_rec) - signed_sqrt(m2_vis)
    # --- thrust, momentum ordering, diagonal-cut projections ---------------------
    nx, ny, _, p_thrust = two_body_thrust(x0, y0, z0, x1, y1, z1)
    out[_P_THRUST, n] = p_thrust
    if x0 * x0 + y0 * y0 + z0 * z0 >= x1 * x1 + y1 * y1 + z1 * z1:
        hx, hy, hz, lx, ly, lz = x0, y0, z0, x1, y1, z1
    else:
        hx, hy, hz, lx, ly, lz = x1, y1, z1, x0, y0, z0
    out[_PL_MAX_MU, n] = hz
    out[_PL_MIN_MU, n] = lz
    out[_PT_PROJ_MAX, n] = transverse_projection(-x_mm, -y_mm, hx, hy)
    out[_PT_PROJ_MIN, n] = transverse_projection(-x_mm, -y_mm, lx, ly)
    if charge0 < 0:
        mx, my, qx, qy = x0, y0, x1, y1
    else:
        mx, my, qx, qy = x1, y1, x0, y0
    out[_ANGLE_PT_MU_MINUS_THRUST, n] = axis_angle_transverse(mx, my, nx, ny)
    out[_ANGLE_PT_MU_PLUS_THRUST, n] = axis_angle_transverse(qx, qy, nx, ny)


def dimuon_event_variables(
    n_track: np.ndarray,
    tracks: dict[str, np.ndarray],
    n_cluster: np.ndarray,
    clusters: dict[str, np.ndarray],
    pid_cut: float = det.PID_CUT,
) -> tuple[np.ndarray, np.ndarray]:
    """Preselection stage of every event and the variables of the preselected ones.

    ``n_track`` and ``n_cluster`` are the per-event counters; ``tracks`` holds the
    flat (all events concatenated) buffers ``px, py, pz`` (GeV, lab), ``charge``,
    ``muonID``, ``dr``, ``dz`` (cm); ``clusters`` holds ``E`` (GeV), ``theta`` and
    ``phi`` (rad, lab). Returns ``stage`` (int8 per event: :data:`STAGE_NONE`,
    :data:`STAGE_TWO_OPPOSITE_CHARGE_TRACKS` for exactly two tracks of opposite charge,
    :data:`STAGE_TWO_MUON_ID` when both also pass muonID > ``pid_cut``) and the
    variables as a float64 array ``[len(VARIABLES), n_preselected]`` (one contiguous
    row per variable, ``variables[COLUMN[name]]``; columns follow the event order).

    Raises ValueError when a counter disagrees with the length of its flat buffers.
    """
    n_track = np.ascontiguousarray(n_track)
    n_cluster = np.ascontiguousarray(n_cluster)
    check_counter(n_track, tracks, "nTrack")
    check_counter(n_cluster, clusters, "nCluster")
    stage = np.empty(len(n_track), dtype=np.int8)
    n_sel = _stage_kernel(n_track, tracks["charge"], tracks["muonID"], pid_cut, stage)
    sqrt_s, to_cms, to_lab = cms_frame()
    out = np.empty((_NVAR, n_sel))
    _variables_kernel(
        stage, n_track, tracks["px"], tracks["py"], tracks["pz"], tracks["charge"], tracks["dr"], tracks["dz"],
        n_cluster, clusters["E"], clusters["theta"], clusters["phi"],
        sqrt_s, to_cms, to_lab, c.MUON_MASS_GEV, PHOTON_ENERGY_MIN_GEV, out,
    )  # fmt: skip
    return stage, out
