"""Belle detector response: acceptance, resolution, identification, ECL clusters."""

import numpy as np
import pytest

from belle_mc import detector
from belle_mc.particles import ParticleTable
from core import belle_detector as det
from core import constants as c


def _single(pdg, p, theta, n=20_000, phi=0.3):
    mass = {c.PDG_MUON: c.MUON_MASS_GEV, c.PDG_ELECTRON: c.ELECTRON_MASS_GEV, c.PDG_PI_PLUS: c.CHARGED_PION_MASS_GEV}
    m = mass.get(abs(pdg), 0.0)
    mom = p * np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
    p4 = np.tile(np.concatenate([[np.hypot(p, m)], mom]), (n, 1))
    return ParticleTable.from_arrays(np.arange(n), pdg, p4)


def _no_beam_background(monkeypatch):
    monkeypatch.setattr(det, "BEAM_BACKGROUND_CLUSTERS_MEAN", 0.0)


def test_muons_in_acceptance_are_tracks_with_the_stated_pt_resolution(monkeypatch):
    _no_beam_background(monkeypatch)
    theta, p = np.radians(80), 3.0
    reco = detector.simulate(np.random.default_rng(1), _single(c.PDG_MUON, p, theta), 20_000)
    assert np.all(reco.n_track == 1)
    assert np.all(reco.track["charge"] == -1)
    pt_true = p * np.sin(theta)
    pt = np.hypot(reco.track["px"].astype(np.float64), reco.track["py"].astype(np.float64))
    beta = p / np.hypot(p, c.MUON_MASS_GEV)
    expected = det.pt_resolution_gev(pt_true, beta)
    assert np.std(pt) == pytest.approx(expected, rel=0.05)
    assert np.mean(pt) == pytest.approx(pt_true, abs=4 * expected / np.sqrt(len(pt)))
    # muon ID efficiency above the KLM threshold; no neutral cluster for a track
    assert np.mean(reco.track["muonID"] > det.PID_CUT) == pytest.approx(det.MUON_ID_EFFICIENCY, abs=0.01)
    assert np.mean(reco.track["electronID"] > det.PID_CUT) < 0.005
    assert np.all(reco.n_cluster == 0)


def test_soft_muons_do_not_reach_the_klm(monkeypatch):
    _no_beam_background(monkeypatch)
    reco = detector.simulate(np.random.default_rng(2), _single(c.PDG_MUON, 0.5, np.radians(80)), 20_000)
    assert np.mean(reco.track["muonID"] > det.PID_CUT) == 0.0


def test_pions_fake_muons_at_the_stated_rate(monkeypatch):
    _no_beam_background(monkeypatch)
    reco = detector.simulate(np.random.default_rng(3), _single(c.PDG_PI_PLUS, 2.0, np.radians(60), n=200_000), 200_000)
    assert np.mean(reco.track["muonID"] > det.PID_CUT) == pytest.approx(det.PION_MUON_FAKE_RATE, abs=0.002)


@pytest.mark.parametrize("theta_deg", [10.0, 155.0])
def test_tracks_outside_the_cdc_are_lost(monkeypatch, theta_deg):
    _no_beam_background(monkeypatch)
    reco = detector.simulate(np.random.default_rng(4), _single(c.PDG_MUON, 3.0, np.radians(theta_deg)), 1000)
    assert np.all(reco.n_track == 0)


@pytest.mark.parametrize("theta_deg,seen", [(20.0, True), (31.8, False), (90.0, True), (129.7, False), (140.0, True), (160.0, False), (5.0, False)])
def test_photons_in_ecl_gaps_or_the_beam_pipe_leave_no_cluster(monkeypatch, theta_deg, seen):
    _no_beam_background(monkeypatch)
    reco = detector.simulate(np.random.default_rng(5), _single(c.PDG_PHOTON, 2.0, np.radians(theta_deg), n=2000), 2000)
    assert np.all(reco.n_cluster == (1 if seen else 0))
    if seen:
        e = reco.cluster["E"]
        assert np.mean(e) == pytest.approx(2.0, rel=0.01)
        assert np.std(e) == pytest.approx(det.ecl_energy_resolution_gev(2.0), rel=0.1)


def test_electron_below_cdc_but_in_ecl_leaves_an_unmatched_cluster(monkeypatch):
    _no_beam_background(monkeypatch)
    reco = detector.simulate(np.random.default_rng(6), _single(c.PDG_ELECTRON, 4.0, np.radians(14.0), n=1000), 1000)
    assert np.all(reco.n_track == 0) and np.all(reco.n_cluster == 1)
    assert np.mean(reco.cluster["E"]) == pytest.approx(4.0, rel=0.02)


def test_beam_background_clusters_are_poisson_and_soft():
    n = 50_000
    empty = ParticleTable.empty()
    reco = detector.simulate(np.random.default_rng(7), empty, n)
    acceptance = np.mean(det.in_ecl_acceptance(np.arccos(np.random.default_rng(0).uniform(np.cos(np.radians(155.1)), np.cos(np.radians(12.4)), 100_000))))
    assert np.mean(reco.n_cluster) == pytest.approx(det.BEAM_BACKGROUND_CLUSTERS_MEAN * acceptance, rel=0.03)
    assert np.var(reco.n_cluster) == pytest.approx(np.mean(reco.n_cluster), rel=0.05)
    assert np.median(reco.cluster["E"]) < 0.1


def test_impact_parameters_of_a_prompt_track_follow_the_beam_spot_and_resolution(monkeypatch):
    _no_beam_background(monkeypatch)
    n = 50_000
    parts = _single(c.PDG_MUON, 3.0, np.radians(90), n=n, phi=np.pi / 2)  # track along +y: dr measures x
    x = np.random.default_rng(0).normal(0, 0.01, n)
    parts.x4[:, 1] = x
    reco = detector.simulate(np.random.default_rng(8), parts, n)
    sigma = det.dr_resolution_cm(3.0, 1.0, np.pi / 2)
    assert np.std(reco.track["dr"] - x) == pytest.approx(sigma, rel=0.05)
    assert abs(np.mean(reco.track["dr"] - x)) < 5 * sigma / np.sqrt(n)
    assert np.std(reco.track["dz"]) == pytest.approx(det.dz_resolution_cm(3.0, 1.0, np.pi / 2), rel=0.05)


def test_cosine_acceptance_helpers_agree_with_the_angle_definitions():
    theta = np.linspace(0.0, np.pi, 200_001)
    theta = theta[np.abs(theta[:, None] - np.array([det.CDC_THETA_MIN_RAD, det.CDC_THETA_MAX_RAD])).min(1) > 1e-9]
    np.testing.assert_array_equal(det.in_cdc_acceptance(theta), det.in_cdc_acceptance_cos(np.cos(theta)))
    np.testing.assert_array_equal(det.in_ecl_acceptance(theta), det.in_ecl_acceptance_cos(np.cos(theta)))


_PID_CASES = [  # (true pdg, lab momentum GeV, polar angle deg): plateau, KLM turn-on, ECL threshold
    (c.PDG_MUON, 2.0, 60.0), (c.PDG_MUON, 0.7, 80.0), (c.PDG_PI_PLUS, 2.0, 60.0), (c.PDG_PI_PLUS, 0.7, 80.0),
    (c.PDG_ELECTRON, 2.0, 60.0), (c.PDG_ELECTRON, 0.3, 80.0),
]


@pytest.fixture(scope="module")
def pid_samples():
    """200k single tracks per case of _PID_CASES: true pdg, p, theta and the simulated muonID, electronID."""
    out = {}
    for i, (pdg, p, theta_deg) in enumerate(_PID_CASES):
        n = 200_000
        reco = detector.simulate(np.random.default_rng(100 + i), _single(pdg, p, np.radians(theta_deg), n=n), n)
        assert len(reco.track["muonID"]) == n
        out[(pdg, p, theta_deg)] = reco.track
    return out


@pytest.mark.parametrize("case", _PID_CASES)
def test_pid_at_the_cut_equals_the_calibration(pid_samples, case):
    """P(LR > 0.9) is muon_id_efficiency / electron_id_efficiency, on the plateau and at the thresholds."""
    pdg, p, theta_deg = case
    track = pid_samples[case]
    for branch, calibration in (("muonID", detector.muon_id_efficiency), ("electronID", detector.electron_id_efficiency)):
        # the kernel evaluates the calibration at the true momentum and angle
        eff = calibration(abs(pdg), p, np.radians(theta_deg))
        measured = np.mean(track[branch] > det.PID_CUT)
        n = len(track[branch])
        assert measured == pytest.approx(eff, abs=4 * np.sqrt(max(eff * (1 - eff), 1.0 / n) / n))


@pytest.mark.parametrize("case", [k for k in _PID_CASES if abs(k[0]) != c.PDG_MUON])
def test_non_muons_rarely_have_an_intermediate_muon_id(pid_samples, case):
    """Measured: 0.55% of 2 GeV pions and 0.03% of 2 GeV electrons have 0.5 < muonID < 0.9 (the old u^3 shape: ~18%)."""
    mu_id = pid_samples[case]["muonID"]
    assert np.mean((mu_id > 0.5) & (mu_id < det.PID_CUT)) < 0.03


@pytest.mark.parametrize("case", [k for k in _PID_CASES if abs(k[0]) != c.PDG_ELECTRON])
def test_non_electrons_rarely_have_an_intermediate_electron_id(pid_samples, case):
    """Measured: 0.11% of 2 GeV pions, 0.05% of 2 GeV muons have 0.5 < electronID < 0.9."""
    e_id = pid_samples[case]["electronID"]
    assert np.mean((e_id > 0.5) & (e_id < det.PID_CUT)) < 0.03


def test_fake_rates_grow_slowly_when_the_cut_is_loosened(pid_samples):
    """Measured for 2 GeV pions: muon fake rate 2.02% at 0.5 vs 1.48% at 0.9 (x1.4); electron fake 0.39% vs 0.29% (x1.3)."""
    pions = pid_samples[(c.PDG_PI_PLUS, 2.0, 60.0)]
    for branch in ("muonID", "electronID"):
        fake_09 = np.mean(pions[branch] > det.PID_CUT)
        fake_05 = np.mean(pions[branch] > 0.5)
        assert 0 < fake_09 < fake_05 < 2.0 * fake_09


def test_identified_leptons_sit_near_one(pid_samples):
    """2 GeV muons: most have muonID above 0.99 (measured 68%, median 0.9992), few in 0.1-0.9 (3.5%); electrons alike."""
    for case, branch in (((c.PDG_MUON, 2.0, 60.0), "muonID"), ((c.PDG_ELECTRON, 2.0, 60.0), "electronID")):
        lr = pid_samples[case][branch]
        assert np.mean(lr > 0.99) > 0.6
        assert np.median(lr) > 0.995
        assert np.mean((lr > 0.1) & (lr < det.PID_CUT)) < 0.05


def test_tracks_that_cannot_be_identified_have_a_likelihood_ratio_near_zero(pid_samples):
    """Soft muons below the KLM turn-on (here 0.3 GeV electrons for electronID) never exceed 0.5; most are below 0.01."""
    soft = detector.simulate(np.random.default_rng(7), _single(c.PDG_MUON, 0.5, np.radians(80), n=50_000), 50_000)
    for lr in (soft.track["muonID"], pid_samples[(c.PDG_ELECTRON, 0.3, 80.0)]["electronID"]):
        assert np.max(lr) < 0.5
        assert np.mean(lr < 0.01) > 0.75
