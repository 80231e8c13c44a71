"""Belle detector response: stable particles in the lab frame -> ntuple quantities.

Takes a :class:`~belle_mc.particles.ParticleTable` in the lab frame and returns
the per-event tracks and unmatched ECL clusters of interfaces.md §1. Every
number comes from :mod:`selections.belle_detector`.

* Charged particles inside the CDC (17-150 deg) with pt > 0.1 GeV become tracks:
  pt smeared by sigma(pt)/pt = 0.19% pt (+) 0.30%/beta, angles by ~1 mrad;
  impact parameters dr, dz from the straight-line distance of closest approach
  of the true production point (beam spot + tau flight) to the z axis, smeared by
  the SVD resolution; muonID/electronID likelihood ratios drawn from the
  identification efficiency (muons need p > 0.6-0.8 GeV and the KLM
  acceptance) and the fake rates.
* Photons hitting an ECL crystal (not a gap, not the beam pipe) become clusters
  with the ECL energy resolution; charged particles outside the CDC but inside
  the ECL leave an unmatched cluster (electrons their energy, muons and pions a
  minimum-ionising deposit). Clusters below 20 MeV are lost.
* Each event gets a Poisson number of soft beam-background clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selections import belle_detector as det
from selections import constants as c

from .particles import ParticleTable


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


def _polar(p3):
    pt = np.hypot(p3[:, 0], p3[:, 1])
    return pt, np.arctan2(pt, p3[:, 2]), np.arctan2(p3[:, 1], p3[:, 0])


def _pid_likelihood(rng, identified):
    """Likelihood-ratio values: near 1 (above the PID cut) when identified, near 0 otherwise."""
    n = len(identified)
    u = rng.random(n)
    high = det.PID_CUT + (1.0 - det.PID_CUT) * (1.0 - u**2)
    low = det.PID_CUT * u**3
    return np.where(identified, high, low).astype(np.float32)


def muon_id_efficiency(abs_pdg: np.ndarray, p_lab: np.ndarray, theta_lab: np.ndarray) -> np.ndarray:
    """Probability that a track passes muonID > 0.9, by true species, lab momentum (GeV) and polar angle (rad)."""
    lo, hi = det.MUON_KLM_MOMENTUM_THRESHOLD_GEV
    turn_on = np.clip((p_lab - lo) / (hi - lo), 0.0, 1.0) * det.in_klm_acceptance(theta_lab)
    eff = np.where(abs_pdg == c.PDG_MUON, det.MUON_ID_EFFICIENCY * turn_on, 0.0)
    eff = np.where(abs_pdg == c.PDG_PI_PLUS, det.PION_MUON_FAKE_RATE * turn_on, eff)
    return np.where(abs_pdg == c.PDG_ELECTRON, det.ELECTRON_MUON_FAKE_RATE, eff)


def electron_id_efficiency(abs_pdg: np.ndarray, p_lab: np.ndarray, theta_lab: np.ndarray) -> np.ndarray:
    """Probability that a track passes electronID > 0.9, by true species, lab momentum (GeV) and polar angle (rad)."""
    usable = (p_lab > det.ELECTRON_ID_MOMENTUM_MIN_GEV) & det.in_ecl_acceptance(theta_lab)
    eff = np.where(abs_pdg == c.PDG_ELECTRON, det.ELECTRON_ID_EFFICIENCY * usable, 0.0)
    eff = np.where(abs_pdg == c.PDG_PI_PLUS, det.PION_ELECTRON_FAKE_RATE, eff)
    return np.where(abs_pdg == c.PDG_MUON, det.MUON_ELECTRON_FAKE_RATE, eff)


def simulate(rng: np.random.Generator, particles: ParticleTable, n_events: int) -> DetectorEvents:
    """Detector response to ``particles`` (lab frame, production points relative to the nominal IP)."""
    visible = particles.select(particles.visible)
    charge = visible.charge
    apdg = np.abs(visible.pdg)
    p3 = visible.p4[:, 1:]
    p = np.linalg.norm(p3, axis=1)
    pt, theta, phi = _polar(p3)

    # ---------------- tracks ----------------
    is_track = (charge != 0) & det.in_cdc_acceptance(theta) & (pt > det.TRACK_PT_MIN_GEV)
    t = np.flatnonzero(is_track)
    t_event = visible.event[t]
    t_p, t_pt, t_theta, t_phi = p[t], pt[t], theta[t], phi[t]
    t_beta = t_p / visible.p4[t, 0]
    pt_meas = t_pt + det.pt_resolution_gev(t_pt, t_beta) * rng.standard_normal(len(t))
    pt_meas = np.abs(pt_meas)
    a0, a1 = det.ANGLE_RESOLUTION_RAD
    sigma_angle = np.hypot(a0, a1 / t_p)
    theta_meas = np.clip(t_theta + sigma_angle * rng.standard_normal(len(t)), 1e-3, np.pi - 1e-3)
    phi_meas = t_phi + sigma_angle * rng.standard_normal(len(t))

    # straight-line point of closest approach to the z axis from the true production point
    x0, y0, z0 = visible.x4[t, 1], visible.x4[t, 2], visible.x4[t, 3]
    ux, uy = np.cos(t_phi), np.sin(t_phi)
    dr_true = x0 * uy - y0 * ux  # signed transverse distance, cm
    dz_true = z0 - (x0 * ux + y0 * uy) / np.tan(t_theta)
    dr = dr_true + det.dr_resolution_cm(t_p, t_beta, t_theta) * rng.standard_normal(len(t))
    dz = dz_true + det.dz_resolution_cm(t_p, t_beta, t_theta) * rng.standard_normal(len(t))

    t_apdg = apdg[t]
    muon_id = _pid_likelihood(rng, rng.random(len(t)) < muon_id_efficiency(t_apdg, t_p, t_theta))
    electron_id = _pid_likelihood(rng, rng.random(len(t)) < electron_id_efficiency(t_apdg, t_p, t_theta))

    track = {
        "px": (pt_meas * np.cos(phi_meas)).astype(np.float32),
        "py": (pt_meas * np.sin(phi_meas)).astype(np.float32),
        "pz": (pt_meas / np.tan(theta_meas)).astype(np.float32),
        "charge": charge[t].astype(np.int32),
        "muonID": muon_id,
        "electronID": electron_id,
        "dr": dr.astype(np.float32),
        "dz": dz.astype(np.float32),
    }

    # ---------------- ECL clusters ----------------
    in_ecl = det.in_ecl_acceptance(theta)
    is_photon = (visible.pdg == c.PDG_PHOTON) & in_ecl
    charged_unmatched = (charge != 0) & ~det.in_cdc_acceptance(theta) & in_ecl
    deposit = np.where(
        is_photon | (charged_unmatched & (apdg == c.PDG_ELECTRON)),
        visible.p4[:, 0],
        np.minimum(det.ECL_MIP_ENERGY_GEV * (1.0 + 0.1 * rng.standard_normal(len(visible))), visible.p4[:, 0]),
    )
    cl = np.flatnonzero(is_photon | charged_unmatched)
    cl_e_true = deposit[cl]
    cl_e = cl_e_true + det.ecl_energy_resolution_gev(cl_e_true) * rng.standard_normal(len(cl))
    b0, b1 = det.ECL_POSITION_RESOLUTION_RAD
    sigma_pos = np.hypot(b0, b1 / np.sqrt(np.maximum(cl_e_true, 1e-3)))
    cl_theta = theta[cl] + sigma_pos * rng.standard_normal(len(cl))
    cl_phi = phi[cl] + sigma_pos * rng.standard_normal(len(cl))
    cl_event = visible.event[cl]

    # beam background: Poisson number per event, energy exponential above threshold, flat in cos(theta) over the ECL
    n_bkg = rng.poisson(det.BEAM_BACKGROUND_CLUSTERS_MEAN, n_events)
    bkg_event = np.repeat(np.arange(n_events, dtype=np.int64), n_bkg)
    nb = len(bkg_event)
    lo, hi = det.ECL_REGIONS_RAD[0][0], det.ECL_REGIONS_RAD[-1][1]
    bkg_theta = np.arccos(rng.uniform(np.cos(hi), np.cos(lo), nb))
    bkg_keep = det.in_ecl_acceptance(bkg_theta)
    bkg_e = det.ECL_CLUSTER_E_MIN_GEV + rng.exponential(det.BEAM_BACKGROUND_CLUSTER_E_MEAN_GEV, nb)
    bkg_phi = rng.uniform(-np.pi, np.pi, nb)

    all_event = np.concatenate([cl_event, bkg_event[bkg_keep]])
    all_e = np.concatenate([cl_e, bkg_e[bkg_keep]])
    all_theta = np.concatenate([cl_theta, bkg_theta[bkg_keep]])
    all_phi = np.concatenate([cl_phi, bkg_phi[bkg_keep]])
    keep = all_e > det.ECL_CLUSTER_E_MIN_GEV
    order = np.argsort(all_event[keep], kind="stable")
    cluster = {
        "E": all_e[keep][order].astype(np.float32),
        "theta": np.clip(all_theta[keep][order], 0.0, np.pi).astype(np.float32),
        "phi": np.angle(np.exp(1j * all_phi[keep][order])).astype(np.float32),
    }
    n_cluster = np.bincount(all_event[keep], minlength=n_events).astype(np.int32)
    n_track = np.bincount(t_event, minlength=n_events).astype(np.int32)
    return DetectorEvents(n_events, n_track, track, n_cluster, cluster)
