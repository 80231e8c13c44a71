"""Hadronic channels by Pythia 8: cross sections, final states the detector understands, conservation laws."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import uproot

from belle_mc import detector
from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate, sample_unweighted
from belle_mc.particles import ParticleTable, charge_of_pdg
from belle_mc.production import produce
from belle_mc.pythia_channels import PDG_B_PLUS, PDG_B_ZERO, UPSILON_4S_BR_CHARGED
from core import belle_detector as det
from core import constants as c

N_EVENTS = 300
# the stable particles the hadronic channels may hand to the detector (absolute PDG codes)
STABLE_CODES = {
    c.PDG_ELECTRON, c.PDG_MUON, c.PDG_PHOTON, c.PDG_PI_PLUS, c.PDG_KAON_PLUS, c.PDG_PROTON,
    c.PDG_K_LONG, c.PDG_NEUTRON, c.PDG_NEUTRINO, c.PDG_NU_MU, c.PDG_NU_TAU,
}
CHARGED_CODES = {c.PDG_ELECTRON, c.PDG_MUON, c.PDG_PI_PLUS, c.PDG_KAON_PLUS, c.PDG_PROTON}


@pytest.fixture(scope="module", params=["pythia_uds", "pythia_charm", "pythia_bbbar"])
def hadronic_events(request):
    channel = CHANNELS[request.param]
    process = channel.make_process(None)
    rng = np.random.default_rng(5)
    events = sample_unweighted(process, rng, N_EVENTS, float("nan"))
    return request.param, events, channel.build_particles(rng, events)


# docs/physics.md / Belle: e+e- -> q qbar at 10.58 GeV, nb
@pytest.mark.parametrize(("channel", "xsec_nb"), [("pythia_uds", 2.09), ("pythia_charm", 1.30)])
def test_continuum_cross_section_from_pythia_matches_belle(channel, xsec_nb):
    xs = integrate(CHANNELS[channel].make_process(None))
    assert xs.error_pb / xs.xsec_pb < 0.01
    assert xs.xsec_pb / 1e3 == pytest.approx(xsec_nb, rel=0.05)


def test_only_stable_particles_reach_the_detector(hadronic_events):
    _, _, parts = hadronic_events
    assert set(np.unique(np.abs(parts.pdg))) <= STABLE_CODES
    charged = np.isin(np.abs(parts.pdg), list(CHARGED_CODES))
    np.testing.assert_array_equal(parts.charge != 0, charged)


def test_charge_and_four_momentum_are_conserved_event_by_event(hadronic_events):
    name, events, parts = hadronic_events
    charge = np.bincount(parts.event, weights=parts.charge, minlength=N_EVENTS)
    np.testing.assert_array_equal(charge, 0)
    total = np.stack([np.bincount(parts.event, weights=parts.p4[:, k], minlength=N_EVENTS) for k in range(4)], axis=1)
    np.testing.assert_allclose(total[:, 0], events["sqrt_s"], rtol=1e-6)
    np.testing.assert_allclose(total[:, 1:], 0.0, atol=1e-4)  # GeV


def test_ks_and_lambda_daughters_are_displaced(hadronic_events):
    _, _, parts = hadronic_events
    pions = np.abs(parts.pdg) == c.PDG_PI_PLUS
    r_cm = np.hypot(parts.x4[pions, 1], parts.x4[pions, 2])
    assert np.mean(r_cm > 0.5) > 0.01  # K_S (c tau = 2.7 cm) daughters
    assert np.median(r_cm) < 0.05  # most pions come from the primary vertex or short-lived decays


def test_b_events_have_more_charged_particles_than_light_quark_continuum():
    # the charged multiplicity of B Bbar events (~11) exceeds that of u d s continuum (~7) at the same energy
    mean_nch = {}
    for name in ("pythia_uds", "pythia_bbbar"):
        rng = np.random.default_rng(9)
        parts = CHANNELS[name].build_particles(rng, sample_unweighted(CHANNELS[name].make_process(None), rng, N_EVENTS, np.nan))
        mean_nch[name] = np.count_nonzero(parts.charge) / N_EVENTS
    assert 5.5 < mean_nch["pythia_uds"] < 9.0
    assert 9.5 < mean_nch["pythia_bbbar"] < 12.5


def test_same_seed_gives_the_same_events():
    process = CHANNELS["pythia_uds"].make_process(None)
    a = process.generate(np.random.default_rng(3), 20)["particles"]
    b = process.generate(np.random.default_rng(3), 20)["particles"]
    np.testing.assert_array_equal(a.pdg, b.pdg)
    np.testing.assert_array_equal(a.p4, b.p4)


def test_upsilon_4s_decays_to_charged_and_neutral_b_pairs_at_their_branching_fractions():
    process = CHANNELS["pythia_bbbar"].make_process(None)
    n = 4000
    masses = process.upsilon_masses(np.random.default_rng(4), n)
    with process.new_pythia(77, masses) as pythia:
        ids = pythia.nextBatch(n, 1.5)["prt"]["id"]
    charged = ak.to_numpy(ak.any(ids == PDG_B_PLUS, axis=1) & ak.any(ids == -PDG_B_PLUS, axis=1))
    neutral = ak.to_numpy(ak.any(np.abs(ids) == PDG_B_ZERO, axis=1))  # B0 may mix: count either sign
    np.testing.assert_array_equal(charged, ~neutral)  # every event is exactly one of the two
    sigma = np.sqrt(UPSILON_4S_BR_CHARGED * (1 - UPSILON_4S_BR_CHARGED) / n)
    assert abs(charged.mean() - UPSILON_4S_BR_CHARGED) < 3 * sigma


def test_upsilon_4s_events_carry_the_beam_energy_spread_and_the_same_seed_repeats_them():
    process = CHANNELS["pythia_bbbar"].make_process(None)
    a = process.generate(np.random.default_rng(8), 2000)
    b = process.generate(np.random.default_rng(8), 2000)
    np.testing.assert_array_equal(a["particles"].p4, b["particles"].p4)
    np.testing.assert_array_equal(a["sqrt_s"], b["sqrt_s"])
    assert np.mean(a["sqrt_s"]) == pytest.approx(process.sqrt_s, abs=5 * process.energy_spread / np.sqrt(2000))
    assert np.std(a["sqrt_s"]) == pytest.approx(process.energy_spread, rel=0.1)  # GeV


def test_hadronic_dataset_passes_through_production(tmp_path):
    entry = produce("pythia_bbbar", N_EVENTS, tmp_path, seed=2, progress=False)
    meta = entry["metadata"]
    assert meta["xsec_pb"] == 1050.0 and meta["n_generated"] == N_EVENTS
    tree = uproot.open(tmp_path / next(iter(entry["files"])))["events"]
    n_track = tree["nTrack"].array(library="np")
    assert len(n_track) == meta["n_events_in_files"] > 0.95 * N_EVENTS
    assert 6.0 < n_track.mean() < 11.0  # charged multiplicity after acceptance and pt > 0.1 GeV
    charge = tree["Track_charge"].array(library="np")
    assert set(np.unique(np.concatenate(charge))) <= {-1, 1}
    assert json.loads((tmp_path / "fileset.json").read_text())["pythia_bbbar"]["metadata"]["channel"] == "pythia_bbbar"


# ---------------------------------------------------------------------------------------------
# Detector response to the hadrons Pythia emits
# ---------------------------------------------------------------------------------------------
def _single(pdg, mass, p, theta, n):
    mom = p * np.array([np.sin(theta), 0.0, np.cos(theta)])
    return ParticleTable.from_arrays(np.arange(n), pdg, np.tile(np.concatenate([[np.hypot(p, mass)], mom]), (n, 1)))


@pytest.mark.parametrize(("pdg", "mass"), [(c.PDG_KAON_PLUS, 0.493677), (-c.PDG_PROTON, 0.938272)])
def test_kaons_and_protons_are_tracks_identified_like_pions(monkeypatch, pdg, mass):
    monkeypatch.setattr(det, "BEAM_BACKGROUND_CLUSTERS_MEAN", 0.0)
    n = 100_000
    reco = detector.simulate(np.random.default_rng(1), _single(pdg, mass, 2.0, np.radians(60), n), n)
    assert np.all(reco.n_track == 1)
    np.testing.assert_array_equal(reco.track["charge"], charge_of_pdg(pdg))
    assert np.mean(reco.track["muonID"] > det.PID_CUT) == pytest.approx(det.PION_MUON_FAKE_RATE, abs=0.002)
    assert np.mean(reco.track["electronID"] > det.PID_CUT) == pytest.approx(det.PION_ELECTRON_FAKE_RATE, abs=0.002)


@pytest.mark.parametrize(("pdg", "mass"), [(c.PDG_K_LONG, 0.497611), (c.PDG_NEUTRON, 0.939565)])
def test_neutral_hadrons_leave_no_track_and_a_partial_cluster(monkeypatch, pdg, mass):
    monkeypatch.setattr(det, "BEAM_BACKGROUND_CLUSTERS_MEAN", 0.0)
    n, p = 20_000, 1.5
    reco = detector.simulate(np.random.default_rng(2), _single(pdg, mass, p, np.radians(80), n), n)
    assert np.all(reco.n_track == 0)
    assert np.all(reco.n_cluster == 1)
    kinetic = np.hypot(p, mass) - mass
    assert np.mean(reco.cluster["E"]) == pytest.approx(detector.NEUTRAL_HADRON_ECL_FRACTION * kinetic, rel=0.02)
