"""Belle detector response: stable particles in the lab frame -> ntuple quantities.

Takes a :class:`~belle_mc.particles.ParticleTable` in the lab frame and returns
the per-event tracks and unmatched ECL clusters of docs/ntuple-format.md. Every
number comes from :mod:`core.belle_detector`.

* Charged particles inside the CDC (17-150 deg) with pt > 0.1 GeV become tracks:
  pt smeared by sigma(pt)/pt = 0.19% pt (+) 0.30%/beta, angles by ~1 mrad;
  impact parameters dr, dz from the straight-line distance of closest approach
  of the true production point (beam spot + tau flight) to the z axis, smeared by
  the SVD resolution; muonID/electronID likelihood ratios near 0 or 1 with a
  small smooth middle (:func:`pid_likelihood_ratio`), calibrated at 0.9 to the
  identification efficiency (muons need p > 0.6-0.8 GeV and the KLM
  acceptance) and the fake rates.
* Photons hitting an ECL crystal (not a gap, not the beam pipe) become clusters
  with the ECL energy resolution; charged particles outside the CDC but inside
  the ECL leave an unmatched cluster (electrons their energy, muons and pions a
  minimum-ionising deposit). Clusters below 20 MeV are lost.
* Neutral hadrons (K_L, n) leave no track; inside the ECL they leave a cluster with
  :data:`NEUTRAL_HADRON_ECL_FRACTION` of their kinetic energy (a hadronic shower in 0.8
  interaction lengths of CsI deposits part of it), smeared like a photon cluster.
* Kaons and protons are identified like pions: they fake muons and electrons at the pion
  fake rates (no dE/dx or Cherenkov information is simulated).
* Each event gets a Poisson number of soft beam-background clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from core import belle_detector as det
from core import constants as c

from .particles import ParticleTable, charge_of_pdg


@dataclass
class DetectorEvents:
    """Reconstructed quantities of ``n_events`` events as flat arrays plus per-event counts."""

    n_events: int
    n_track: np.ndarray  # int32 [n_events]
    track: dict[str, np.ndarray]  # px, py, pz, charge, muonID, electronID, dr, dz (flat)
    n_cluster: np.ndarray  # int32 [n_events]
    cluster: dict[str, np.ndarray]  # E, theta, phi (flat)

    def select(self, keep: np.ndarray) -> DetectorEvents:
        """Keep the events where ``keep`` is True (a boolean mask over events)."""
        t_keep = np.repeat(keep, self.n_track)
        c_keep = np.repeat(keep, self.n_cluster)
        return DetectorEvents(
            int(np.count_nonzero(keep)),
            self.n_track[keep],
            {k: v[t_keep] for k, v in self.track.items()},
            self.n_cluster[keep],
            {k: v[c_keep] for k, v in self.cluster.items()},
        )

    def event_range(self, start: int, stop: int) -> DetectorEvents:
        """Events ``start`` to ``stop - 1``, as views of these arrays (no copy)."""
        t0, t1 = int(self.n_track[:start].sum()), int(self.n_track[:stop].sum())
        c0, c1 = int(self.n_cluster[:start].sum()), int(self.n_cluster[:stop].sum())
        return DetectorEvents(
            stop - start,
            self.n_track[start:stop],
            {k: v[t0:t1] for k, v in self.track.items()},
            self.n_cluster[start:stop],
            {k: v[c0:c1] for k, v in self.cluster.items()},
        )


NEUTRAL_HADRON_ECL_FRACTION = 0.5
"""Fraction of a K_L's or neutron's kinetic energy deposited as an ECL cluster (a rough average)."""


@numba.njit(cache=True)
def _is_pion_like(abs_pdg: int) -> bool:
    """Charged hadrons, identified like pions (pi, K, p)."""
    return abs_pdg == c.PDG_PI_PLUS or abs_pdg == c.PDG_KAON_PLUS or abs_pdg == c.PDG_PROTON


@numba.njit(cache=True)
def _is_neutral_hadron(abs_pdg: int) -> bool:
    return abs_pdg == c.PDG_K_LONG or abs_pdg == c.PDG_NEUTRON


@numba.njit(cache=True)
def muon_id_efficiency(abs_pdg: int, p_lab: float, theta_lab: float) -> float:
    """Probability that a track passes muonID > 0.9, by true species, lab momentum (GeV) and polar angle (rad)."""
    lo, hi = det.MUON_KLM_MOMENTUM_THRESHOLD_GEV
    turn_on = min(max((p_lab - lo) / (hi - lo), 0.0), 1.0) if det.in_klm_acceptance(theta_lab) else 0.0
    if abs_pdg == c.PDG_MUON:
        return det.MUON_ID_EFFICIENCY * turn_on
    if _is_pion_like(abs_pdg):
        return det.PION_MUON_FAKE_RATE * turn_on
    if abs_pdg == c.PDG_ELECTRON:
        return det.ELECTRON_MUON_FAKE_RATE
    return 0.0


@numba.njit(cache=True)
def electron_id_efficiency(abs_pdg: int, p_lab: float, theta_lab: float) -> float:
    """Probability that a track passes electronID > 0.9, by true species, lab momentum (GeV) and polar angle (rad)."""
    if abs_pdg == c.PDG_ELECTRON:
        usable = p_lab > det.ELECTRON_ID_MOMENTUM_MIN_GEV and det.in_ecl_acceptance(theta_lab)
        return det.ELECTRON_ID_EFFICIENCY if usable else 0.0
    if _is_pion_like(abs_pdg):
        return det.PION_ELECTRON_FAKE_RATE
    if abs_pdg == c.PDG_MUON:
        return det.MUON_ELECTRON_FAKE_RATE
    return 0.0


@numba.njit(cache=True)
def pid_likelihood_ratio(efficiency: float, u: float, r: float) -> float:
    """Likelihood ratio L_s / (L_s + L_b) of a track whose probability to pass ``PID_CUT`` is ``efficiency``.

    ``u`` is uniform in [0, 1) and ``r`` standard normal; the same pair always gives the same value.

    The log-likelihood ratio t = log(LR / (1 - LR)) comes from three populations (docs/generator.md,
    "Particle identification"), chosen by ``u`` (which, rescaled inside the population, also gives its
    exponential):

    * identified, probability ``efficiency``: t = logit(PID_CUT) + an exponential (LR near 1);
    * transition, probability PID_TRANSITION_FRACTION x eff x (1 - eff): t = logit(PID_CUT) minus an exponential
      (the smooth middle);
    * rejected, the rest: t Gaussian around PID_LOGIT_REJECTED_MEAN, reflected below 0 (LR near 0).

    Only the identified population lies above ``PID_CUT``, so P(LR > PID_CUT) = ``efficiency`` exactly: the
    calibration functions :func:`muon_id_efficiency` and :func:`electron_id_efficiency` fix the 0.9 operating
    point and the shape around it follows from the efficiency (momentum and angle dependence included).
    """
    t_cut = np.log(det.PID_CUT / (1.0 - det.PID_CUT))
    p_transition = det.PID_TRANSITION_FRACTION * efficiency * (1.0 - efficiency)
    if u < efficiency:  # u / efficiency is uniform in [0, 1): -log(1 - it) is a unit exponential
        t = t_cut - det.PID_LOGIT_IDENTIFIED_SCALE * np.log(1.0 - u / efficiency)
    elif u < efficiency + p_transition:
        t = t_cut + det.PID_LOGIT_TRANSITION_SCALE * np.log(1.0 - (u - efficiency) / p_transition)
    else:
        t = -abs(det.PID_LOGIT_REJECTED_MEAN + det.PID_LOGIT_REJECTED_SIGMA * r)
    return 1.0 / (1.0 + np.exp(-t))


KIND_NONE, KIND_TRACK, KIND_PHOTON_CLUSTER, KIND_CHARGED_CLUSTER, KIND_NEUTRAL_HADRON_CLUSTER = 0, 1, 2, 3, 4


@numba.njit(cache=True, fastmath=True)
def _classify_kernel(event, pdg, p4, kind, n_track):  # pragma: no cover - jitted
    """What the detector makes of each particle: nothing, a track, or an unmatched ECL cluster.

    Fills ``kind`` per particle and the tracks per event ``n_track``; returns the numbers of tracks
    and of particle clusters.
    """
    n_trk = 0
    n_cluster = 0
    for i in range(len(pdg)):
        kind[i] = KIND_NONE
        q = charge_of_pdg(pdg[i])
        is_photon = pdg[i] == c.PDG_PHOTON
        neutral_hadron = _is_neutral_hadron(abs(pdg[i]))
        if q == 0 and not is_photon and not neutral_hadron:
            continue
        pt2 = p4[i, 1] * p4[i, 1] + p4[i, 2] * p4[i, 2]
        cos_theta = p4[i, 3] / np.sqrt(pt2 + p4[i, 3] * p4[i, 3])
        if q != 0 and det.in_cdc_acceptance_cos(cos_theta):
            if pt2 > det.TRACK_PT_MIN_GEV**2:
                kind[i] = KIND_TRACK
                n_track[event[i]] += 1
                n_trk += 1
        elif det.in_ecl_acceptance_cos(cos_theta):
            if is_photon:
                kind[i] = KIND_PHOTON_CLUSTER
            elif neutral_hadron:
                kind[i] = KIND_NEUTRAL_HADRON_CLUSTER
            else:
                kind[i] = KIND_CHARGED_CLUSTER
            n_cluster += 1
    return n_trk, n_cluster


@numba.njit(cache=True, fastmath=True)
def _track_kernel(rng, kind, pdg, p4, x4, px, py, pz, charge, muon_id, electron_id, dr, dz):  # pragma: no cover
    """Smear momentum and angles, compute impact parameters and PID of the particles of kind track, in order."""
    a0, a1 = det.ANGLE_RESOLUTION_RAD
    k = 0
    for i in range(len(kind)):
        if kind[i] != KIND_TRACK:
            continue
        pt = np.sqrt(p4[i, 1] * p4[i, 1] + p4[i, 2] * p4[i, 2])  # sqrt, not the slower overflow-safe np.hypot
        p = np.sqrt(pt * pt + p4[i, 3] * p4[i, 3])
        theta = np.arctan2(pt, p4[i, 3])
        beta = p / p4[i, 0]
        cos_phi, sin_phi = p4[i, 1] / pt, p4[i, 2] / pt
        cos_t, sin_t = p4[i, 3] / p, pt / p
        pt_meas = abs(pt + det.pt_resolution_gev(pt, beta) * rng.standard_normal())
        # small-angle smearing: rotate (cos, sin) by d with 4th-order series (|d| < 0.05 rad)
        sigma_angle = np.sqrt(a0 * a0 + (a1 / p) ** 2)
        d_t = sigma_angle * rng.standard_normal()
        d_p = sigma_angle * rng.standard_normal()
        cd_t, sd_t = 1.0 - 0.5 * d_t * d_t * (1.0 - d_t * d_t / 12.0), d_t * (1.0 - d_t * d_t / 6.0)
        cd_p, sd_p = 1.0 - 0.5 * d_p * d_p * (1.0 - d_p * d_p / 12.0), d_p * (1.0 - d_p * d_p / 6.0)
        cos_pm, sin_pm = cos_phi * cd_p - sin_phi * sd_p, sin_phi * cd_p + cos_phi * sd_p
        cot_tm = (cos_t * cd_t - sin_t * sd_t) / (sin_t * cd_t + cos_t * sd_t)
        px[k] = pt_meas * cos_pm
        py[k] = pt_meas * sin_pm
        pz[k] = pt_meas * cot_tm
        charge[k] = charge_of_pdg(pdg[i])
        # straight-line point of closest approach to the z axis from the true production point
        x0, y0, z0 = x4[i, 1], x4[i, 2], x4[i, 3]
        sigma_dr, sigma_dz = det.dr_resolution_sin_cm(p, beta, sin_t), det.dz_resolution_sin_cm(p, beta, sin_t)
        dr[k] = x0 * sin_phi - y0 * cos_phi + sigma_dr * rng.standard_normal()
        dz[k] = z0 - (x0 * cos_phi + y0 * sin_phi) * cos_t / sin_t + sigma_dz * rng.standard_normal()
        apdg = abs(pdg[i])
        muon_id[k] = pid_likelihood_ratio(muon_id_efficiency(apdg, p, theta), rng.random(), rng.standard_normal())
        electron_id[k] = pid_likelihood_ratio(
            electron_id_efficiency(apdg, p, theta), rng.random(), rng.standard_normal()
        )
        k += 1


_BKG_COS_RANGE = (float(np.cos(det.ECL_REGIONS_RAD[-1][1])), float(np.cos(det.ECL_REGIONS_RAD[0][0])))
"""cos(theta) range of the beam-background clusters: the whole ECL, gaps included."""


@numba.njit(cache=True, fastmath=True)
def _cluster_kernel(  # pragma: no cover - jitted
    rng, event, kind, pdg, p4, n_bkg, bkg_e_mean, energy, theta_out, phi_out, n_cluster
):
    """ECL clusters, event by event: the particle clusters (deposited, smeared, placed), then the event's ``n_bkg``
    beam-background clusters (energy exponential above threshold, flat in cos(theta) over the ECL).

    Clusters in a gap or below threshold are lost. Fills the outputs in event order and returns how many
    clusters were written.
    """
    b0, b1 = det.ECL_POSITION_RESOLUTION_RAD
    i = 0
    k = 0
    for ev in range(len(n_bkg)):
        first = k
        while i < len(event) and event[i] == ev:
            if kind[i] >= KIND_PHOTON_CLUSTER:
                e = p4[i, 0]
                if kind[i] == KIND_CHARGED_CLUSTER and abs(pdg[i]) != c.PDG_ELECTRON:
                    e = min(det.ECL_MIP_ENERGY_GEV * (1.0 + 0.1 * rng.standard_normal()), e)  # minimum-ionising deposit
                elif kind[i] == KIND_NEUTRAL_HADRON_CLUSTER:
                    p2 = p4[i, 1] * p4[i, 1] + p4[i, 2] * p4[i, 2] + p4[i, 3] * p4[i, 3]
                    e = NEUTRAL_HADRON_ECL_FRACTION * (e - np.sqrt(max(e * e - p2, 0.0)))  # part of the kinetic energy
                e_meas = e + det.ecl_energy_resolution_gev(e) * rng.standard_normal()
                pt = np.sqrt(p4[i, 1] * p4[i, 1] + p4[i, 2] * p4[i, 2])
                sigma_pos = np.sqrt(b0 * b0 + b1 * b1 / max(e, 1e-3))
                theta = min(max(np.arctan2(pt, p4[i, 3]) + sigma_pos * rng.standard_normal(), 0.0), np.pi)
                phi = np.arctan2(p4[i, 2], p4[i, 1]) + sigma_pos * rng.standard_normal()
                if phi > np.pi:
                    phi -= 2.0 * np.pi
                elif phi < -np.pi:
                    phi += 2.0 * np.pi
                if e_meas > det.ECL_CLUSTER_E_MIN_GEV:
                    energy[k], theta_out[k], phi_out[k] = e_meas, theta, phi
                    k += 1
            i += 1
        for _ in range(n_bkg[ev]):
            cos_theta = rng.uniform(_BKG_COS_RANGE[0], _BKG_COS_RANGE[1])
            e = det.ECL_CLUSTER_E_MIN_GEV + rng.exponential(bkg_e_mean)
            phi = rng.uniform(-np.pi, np.pi)
            if det.in_ecl_acceptance_cos(cos_theta) and e > det.ECL_CLUSTER_E_MIN_GEV:
                energy[k], theta_out[k], phi_out[k] = e, np.arccos(cos_theta), phi
                k += 1
        n_cluster[ev] = k - first
    return k


def simulate(rng: np.random.Generator, particles: ParticleTable, n_events: int) -> DetectorEvents:
    """Detector response to ``particles`` (lab frame, production points relative to the nominal IP).

    ``particles`` must be ordered by event (as :meth:`ParticleTable.concatenate` leaves them).
    """
    event = np.ascontiguousarray(particles.event)
    pdg = np.ascontiguousarray(particles.pdg)
    p4 = np.ascontiguousarray(particles.p4)
    x4 = np.ascontiguousarray(particles.x4)
    kind = np.empty(len(pdg), dtype=np.int8)
    n_track = np.zeros(n_events, dtype=np.int32)
    n_trk, n_cl = _classify_kernel(event, pdg, p4, kind, n_track)

    track = {name: np.empty(n_trk, dtype=np.float32) for name in ("px", "py", "pz", "muonID", "electronID", "dr", "dz")}
    track["charge"] = np.empty(n_trk, dtype=np.int32)
    _track_kernel(
        rng, kind, pdg, p4, x4, track["px"], track["py"], track["pz"], track["charge"], track["muonID"],
        track["electronID"], track["dr"], track["dz"],
    )

    n_bkg = rng.poisson(det.BEAM_BACKGROUND_CLUSTERS_MEAN, n_events)
    cap = n_cl + int(n_bkg.sum())
    cluster = {name: np.empty(cap, dtype=np.float32) for name in ("E", "theta", "phi")}
    n_cluster = np.empty(n_events, dtype=np.int32)
    k = _cluster_kernel(
        rng, event, kind, pdg, p4, n_bkg, det.BEAM_BACKGROUND_CLUSTER_E_MEAN_GEV,
        cluster["E"], cluster["theta"], cluster["phi"], n_cluster,
    )
    return DetectorEvents(n_events, n_track, track, n_cluster, {name: v[:k] for name, v in cluster.items()})
