"""Per-event variables of the leptophilic-scalar search, computed in one fused numba pass.

:func:`scalar_event_variables` reads the flat buffers of the ntuple branches
(docs/ntuple-format.md) once, gives every event its preselection stage (the talk's five
requirements of :mod:`selections.scalar_selection`, then a phi_L candidate) and,
for every event with a phi_L candidate, fills one column of :data:`VARIABLES`.

phi_L candidate (the talk: "phi_L from ee or mu mu common vertex, the remaining 2
tracks are daughters from tau"): a track is an electron candidate when
electronID > :data:`~selections.scalar_selection.LEPTON_ID_CUT` and electronID >=
muonID, a muon candidate when muonID exceeds the cut and electronID. Among the
opposite-sign pairs of two electron or two muon candidates the kernel keeps the one
with the **largest two-track vertex-fit p-value** (:mod:`selections.vertex_fit`,
lepton mass hypothesis): phi_L decays promptly at the e+e- vertex, while a pair
that borrows a tau daughter shares no vertex at the tau flight length (~250 um).
Ties (p-values equal to machine precision, e.g. both 1) go to the smaller CM
opening angle. The other two tracks are the tau daughters; they get the electron
or muon mass when identified as such, the pion mass otherwise.

Definitions (``_cms`` has z along the e- beam, see :mod:`selections.kinematics`;
sqrt(s) is the nominal beam value; "missing" is the beams minus the four tracks):

- ``pair_mass``: invariant mass m_ll of the phi_L candidate, GeV.
- ``pair_flavour``: 11 for e+e-, 13 for mu+mu- (PDG code of the lepton).
- ``missing_mass``: signed sqrt of (sqrt(s) - E*_4trk)^2 - |p*_4trk|^2, GeV.
- ``missing_theta_cms``: CM polar angle of the missing momentum -p*_4trk, rad.
- ``pt_missing_cms``: CM transverse momentum of the missing momentum, GeV.
- ``pair_e_cms``, ``pair_p_cms``: CM energy and momentum of the pair, GeV.
- ``pair_opening_angle_cms``: CM angle between the two leptons of the pair, rad.
- ``pair_vertex_pvalue``: confidence level of the pair's two-track vertex fit.
- ``tau_p_max_cms``, ``tau_p_min_cms``: CM momenta of the two other tracks, GeV.
- ``tau_pair_mass``: invariant mass of the two other tracks, GeV.
- ``cos_pair_missing_cms``: cosine of the CM angle between the pair and the missing momentum.
- ``e_visible_cms``: CM energy of the four tracks plus all neutral clusters (massless), GeV.
- ``e_neutral_lab``: energy sum of all neutral ECL clusters in the lab, GeV.
- ``thrust_tracks_cms``: thrust of the four tracks in the CM frame,
  max over the axis n of sum |p*_i . n| / sum |p*_i| (exact: the best of the 8 sign choices).
- ``n_cluster``: number of neutral ECL clusters.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core import constants as c
from core.beams import cms_frame
from selections import scalar_selection as sel
from selections.flat_buffers import check_counter
from selections.kinematics import (
    energy,
    invariant_mass_squared,
    lorentz_transform,
    opening_angle,
    photon_four_vector_cms,
    recoil_mass_squared,
    signed_sqrt,
)
from selections.vertex_fit import two_track_vertex_pvalue

VARIABLES: tuple[str, ...] = (
    "pair_mass",
    "pair_flavour",
    "missing_mass",
    "missing_theta_cms",
    "pt_missing_cms",
    "pair_e_cms",
    "pair_p_cms",
    "pair_opening_angle_cms",
    "pair_vertex_pvalue",
    "tau_p_max_cms",
    "tau_p_min_cms",
    "tau_pair_mass",
    "cos_pair_missing_cms",
    "e_visible_cms",
    "e_neutral_lab",
    "thrust_tracks_cms",
    "n_cluster",
)
"""Columns of the variable table, in order."""

COLUMN = {name: i for i, name in enumerate(VARIABLES)}
"""Column index of each variable."""

BDT_FEATURES: tuple[str, ...] = tuple(name for name in VARIABLES if name != "pair_mass")
"""Inputs of the multi-class BDT: every variable but the pair mass (the search variable, cut in windows)."""

(
    STAGE_NONE, STAGE_FOUR_TRACKS, STAGE_IMPACT_PARAMETERS, STAGE_ZERO_NET_CHARGE, STAGE_LEPTON_ID, STAGE_PHI_CANDIDATE,
) = range(6)  # fmt: skip
"""Per-event preselection stage: how many of :data:`selections.scalar_selection.PRESELECTION` the event passes."""

_NVAR = len(VARIABLES)
_FLAVOUR_NONE = 0
# column indices as module constants (numba freezes globals at compile time)
(
    _PAIR_MASS, _PAIR_FLAVOUR, _MISSING_MASS, _MISSING_THETA_CMS, _PT_MISSING_CMS, _PAIR_E_CMS, _PAIR_P_CMS,
    _PAIR_OPENING_ANGLE_CMS, _PAIR_VERTEX_PVALUE, _TAU_P_MAX_CMS, _TAU_P_MIN_CMS, _TAU_PAIR_MASS,
    _COS_PAIR_MISSING_CMS, _E_VISIBLE_CMS, _E_NEUTRAL_LAB, _THRUST_TRACKS_CMS, _N_CLUSTER,
) = range(_NVAR)  # fmt: skip

_E, _MU = sel.FLAVOUR_ELECTRON, sel.FLAVOUR_MUON


@numba.njit(cache=True, inline="always")
def _track_flavour(electron_id, muon_id, pid_cut):
    """11 for an electron candidate, 13 for a muon candidate, 0 otherwise (the larger ID wins; ties: electron)."""
    if electron_id > pid_cut and electron_id >= muon_id:
        return _E
    if muon_id > pid_cut:
        return _MU
    return _FLAVOUR_NONE


@numba.njit(cache=True, inline="always")
def _lepton_mass(flavour, electron_mass, muon_mass, pion_mass):
    if flavour == _E:
        return electron_mass
    if flavour == _MU:
        return muon_mass
    return pion_mass


@numba.njit(cache=True)
def _stage_kernel(
    n_track, t_px, t_py, t_pz, t_charge, t_eid, t_muid, t_dr, t_dz,
    n_tracks_req, dr_max, dz_max, pid_cut, electron_mass, muon_mass, to_cms, stage, pair,
):  # fmt: skip  # pragma: no cover - jitted
    """Stage of every event and, for :data:`STAGE_PHI_CANDIDATE`, the pair's local track indices in ``pair[i]``.

    Returns the number of events with a phi_L candidate.
    """
    n_sel = 0
    t0 = 0
    for i in range(n_track.shape[0]):
        nt = n_track[i]
        stage[i] = STAGE_NONE
        pair[i, 0] = -1
        pair[i, 1] = -1
        if nt == n_tracks_req:
            stage[i] = STAGE_FOUR_TRACKS
            ip_ok = True
            charge = 0
            n_lepton = 0
            for k in range(t0, t0 + nt):
                if not (abs(t_dr[k]) < dr_max and abs(t_dz[k]) < dz_max):
                    ip_ok = False
                charge += t_charge[k]
                if _track_flavour(t_eid[k], t_muid[k], pid_cut) != _FLAVOUR_NONE:
                    n_lepton += 1
            if ip_ok:
                stage[i] = STAGE_IMPACT_PARAMETERS
                if charge == 0:
                    stage[i] = STAGE_ZERO_NET_CHARGE
                    if n_lepton > 0:
                        stage[i] = STAGE_LEPTON_ID
                        best_p = -1.0
                        best_angle = 10.0
                        for a in range(nt):
                            ka = t0 + a
                            fa = _track_flavour(t_eid[ka], t_muid[ka], pid_cut)
                            if fa == _FLAVOUR_NONE:
                                continue
                            for b in range(a + 1, nt):
                                kb = t0 + b
                                if t_charge[ka] + t_charge[kb] != 0 or _track_flavour(t_eid[kb], t_muid[kb], pid_cut) != fa:
                                    continue
                                mass = electron_mass if fa == _E else muon_mass
                                pxa, pya, pza = np.float64(t_px[ka]), np.float64(t_py[ka]), np.float64(t_pz[ka])
                                pxb, pyb, pzb = np.float64(t_px[kb]), np.float64(t_py[kb]), np.float64(t_pz[kb])
                                pvalue = two_track_vertex_pvalue(
                                    np.float64(t_dr[ka]), np.float64(t_dz[ka]), pxa, pya, pza,
                                    np.float64(t_dr[kb]), np.float64(t_dz[kb]), pxb, pyb, pzb, mass,
                                )  # fmt: skip
                                _, xa, ya, za = lorentz_transform(energy(pxa, pya, pza, mass), pxa, pya, pza, to_cms)
                                _, xb, yb, zb = lorentz_transform(energy(pxb, pyb, pzb, mass), pxb, pyb, pzb, to_cms)
                                angle = opening_angle(xa, ya, za, xb, yb, zb)
                                if pvalue > best_p or (pvalue == best_p and angle < best_angle):
                                    best_p = pvalue
                                    best_angle = angle
                                    pair[i, 0] = a
                                    pair[i, 1] = b
                        if pair[i, 0] >= 0:
                            stage[i] = STAGE_PHI_CANDIDATE
                            n_sel += 1
        t0 += nt
    return n_sel


@numba.njit(cache=True)
def _variables_kernel(
    stage, pair, n_track, t_px, t_py, t_pz, t_eid, t_muid, t_dr, t_dz, n_cluster, c_e, c_theta, c_phi,
    sqrt_s, to_cms, pid_cut, electron_mass, muon_mass, pion_mass, out,
):  # fmt: skip  # pragma: no cover - jitted
    """One column of ``out`` [n_variables, n_candidates] per event at :data:`STAGE_PHI_CANDIDATE`."""
    n = 0
    t0 = 0
    k0 = 0
    f64 = np.float64
    ex = np.empty(4)
    px = np.empty(4)
    py = np.empty(4)
    pz = np.empty(4)
    for i in range(stage.shape[0]):
        nt = n_track[i]
        nc = n_cluster[i]
        if stage[i] == STAGE_PHI_CANDIDATE:
            a, b = pair[i, 0], pair[i, 1]
            flavour = _track_flavour(t_eid[t0 + a], t_muid[t0 + a], pid_cut)
            pair_lepton_mass = electron_mass if flavour == _E else muon_mass
            # the four tracks in the CM frame: pair first (0, 1), then the tau daughters (2, 3)
            slot = 2
            for j in range(nt):
                k = t0 + j
                if j == a:
                    s, m = 0, pair_lepton_mass
                elif j == b:
                    s, m = 1, pair_lepton_mass
                else:
                    s, m = slot, _lepton_mass(_track_flavour(t_eid[k], t_muid[k], pid_cut), electron_mass, muon_mass, pion_mass)
                    slot += 1
                qx, qy, qz = f64(t_px[k]), f64(t_py[k]), f64(t_pz[k])
                e_s, x_s, y_s, z_s = lorentz_transform(energy(qx, qy, qz, m), qx, qy, qz, to_cms)
                ex[s] = e_s
                px[s] = x_s
                py[s] = y_s
                pz[s] = z_s
            ka, kb = t0 + a, t0 + b
            out[_PAIR_VERTEX_PVALUE, n] = two_track_vertex_pvalue(
                f64(t_dr[ka]), f64(t_dz[ka]), f64(t_px[ka]), f64(t_py[ka]), f64(t_pz[ka]),
                f64(t_dr[kb]), f64(t_dz[kb]), f64(t_px[kb]), f64(t_py[kb]), f64(t_pz[kb]), pair_lepton_mass,
            )  # fmt: skip
            # --- the pair --------------------------------------------------------------
            e_ll, x_ll, y_ll, z_ll = ex[0] + ex[1], px[0] + px[1], py[0] + py[1], pz[0] + pz[1]
            p_ll = math.sqrt(x_ll * x_ll + y_ll * y_ll + z_ll * z_ll)
            out[_PAIR_MASS, n] = signed_sqrt(invariant_mass_squared(e_ll, x_ll, y_ll, z_ll))
            out[_PAIR_FLAVOUR, n] = flavour
            out[_PAIR_E_CMS, n] = e_ll
            out[_PAIR_P_CMS, n] = p_ll
            out[_PAIR_OPENING_ANGLE_CMS, n] = opening_angle(px[0], py[0], pz[0], px[1], py[1], pz[1])
            # --- the tau daughters -----------------------------------------------------
            p2 = math.sqrt(px[2] * px[2] + py[2] * py[2] + pz[2] * pz[2])
            p3 = math.sqrt(px[3] * px[3] + py[3] * py[3] + pz[3] * pz[3])
            out[_TAU_P_MAX_CMS, n] = max(p2, p3)
            out[_TAU_P_MIN_CMS, n] = min(p2, p3)
            out[_TAU_PAIR_MASS, n] = signed_sqrt(
                invariant_mass_squared(ex[2] + ex[3], px[2] + px[3], py[2] + py[3], pz[2] + pz[3])
            )
            # --- missing four-momentum: beams minus the four tracks -----------------------
            e4 = ex[0] + ex[1] + ex[2] + ex[3]
            x4 = px[0] + px[1] + px[2] + px[3]
            y4 = py[0] + py[1] + py[2] + py[3]
            z4 = pz[0] + pz[1] + pz[2] + pz[3]
            out[_MISSING_MASS, n] = signed_sqrt(recoil_mass_squared(sqrt_s, e4, x4, y4, z4))
            pt_miss = math.sqrt(x4 * x4 + y4 * y4)
            out[_PT_MISSING_CMS, n] = pt_miss
            out[_MISSING_THETA_CMS, n] = math.atan2(pt_miss, -z4)
            p4 = math.sqrt(pt_miss * pt_miss + z4 * z4)
            norm = p4 * p_ll
            out[_COS_PAIR_MISSING_CMS, n] = -(x4 * x_ll + y4 * y_ll + z4 * z_ll) / norm if norm > 0.0 else 1.0
            # --- thrust of the four tracks: axis along sum_i s_i p_i for the best signs ----
            p_sum = 0.0
            for s in range(4):
                p_sum += math.sqrt(px[s] * px[s] + py[s] * py[s] + pz[s] * pz[s])
            best = 0.0
            for signs in range(8):  # s_0 = +1; bits of `signs` give s_1..s_3
                sx, sy, sz = px[0], py[0], pz[0]
                for s in range(1, 4):
                    sign = -1.0 if (signs >> (s - 1)) & 1 else 1.0
                    sx += sign * px[s]
                    sy += sign * py[s]
                    sz += sign * pz[s]
                best = max(best, math.sqrt(sx * sx + sy * sy + sz * sz))
            out[_THRUST_TRACKS_CMS, n] = best / p_sum if p_sum > 0.0 else 0.0
            # --- neutral clusters ----------------------------------------------------------
            e_sum = 0.0
            e_n = 0.0
            for k in range(k0, k0 + nc):
                e = f64(c_e[k])
                ge, _, _, _ = photon_four_vector_cms(e, f64(c_theta[k]), f64(c_phi[k]), to_cms)
                e_sum += e
                e_n += ge
            out[_E_NEUTRAL_LAB, n] = e_sum
            out[_E_VISIBLE_CMS, n] = e4 + e_n
            out[_N_CLUSTER, n] = nc
            n += 1
        t0 += nt
        k0 += nc


def scalar_event_variables(
    n_track: np.ndarray,
    tracks: dict[str, np.ndarray],
    n_cluster: np.ndarray,
    clusters: dict[str, np.ndarray],
    pid_cut: float = sel.LEPTON_ID_CUT,
) -> tuple[np.ndarray, np.ndarray]:
    """Preselection stage of every event and the variables of the events with a phi_L candidate.

    ``n_track`` and ``n_cluster`` are the per-event counters; ``tracks`` holds the flat
    (all events concatenated) buffers ``px, py, pz`` (GeV, lab), ``charge``, ``electronID``,
    ``muonID``, ``dr``, ``dz`` (cm); ``clusters`` holds ``E`` (GeV), ``theta`` and ``phi``
    (rad, lab). Returns ``stage`` (int8 per event, :data:`STAGE_NONE` ...
    :data:`STAGE_PHI_CANDIDATE`) and the variables as a float64 array
    ``[len(VARIABLES), n_candidates]`` (``variables[COLUMN[name]]``; columns follow the event order).

    Raises ValueError when a counter disagrees with the length of its flat buffers.
    """
    n_track = np.ascontiguousarray(n_track)
    n_cluster = np.ascontiguousarray(n_cluster)
    check_counter(n_track, tracks, "nTrack")
    check_counter(n_cluster, clusters, "nCluster")
    sqrt_s, to_cms, _ = cms_frame()
    stage = np.empty(len(n_track), dtype=np.int8)
    pair = np.empty((len(n_track), 2), dtype=np.int8)
    t = tracks
    n_sel = _stage_kernel(
        n_track, t["px"], t["py"], t["pz"], t["charge"], t["electronID"], t["muonID"], t["dr"], t["dz"],
        sel.N_TRACKS, sel.TRACK_DR_MAX_CM, sel.TRACK_DZ_MAX_CM, pid_cut, c.ELECTRON_MASS_GEV, c.MUON_MASS_GEV,
        to_cms, stage, pair,
    )  # fmt: skip
    out = np.empty((_NVAR, n_sel))
    _variables_kernel(
        stage, pair, n_track, t["px"], t["py"], t["pz"], t["electronID"], t["muonID"], t["dr"], t["dz"],
        n_cluster, clusters["E"], clusters["theta"], clusters["phi"],
        sqrt_s, to_cms, pid_cut, c.ELECTRON_MASS_GEV, c.MUON_MASS_GEV, c.CHARGED_PION_MASS_GEV, out,
    )  # fmt: skip
    return stage, out


__all__ = [
    "BDT_FEATURES",
    "COLUMN",
    "STAGE_FOUR_TRACKS",
    "STAGE_IMPACT_PARAMETERS",
    "STAGE_LEPTON_ID",
    "STAGE_NONE",
    "STAGE_PHI_CANDIDATE",
    "STAGE_ZERO_NET_CHARGE",
    "VARIABLES",
    "scalar_event_variables",
]
