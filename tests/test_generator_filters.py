"""Generator slices (belle_mc.slices): the weights of filtered and forced-decay samples are exact.

The weight test: an unfiltered sample and the slices of the same channel (other seeds), each
weighted xsec_pb x lumi x 1000 / n_generated as the processors do, give the same weighted
recoil-mass distribution of preselected events where the slices are defined, within the MC
statistics (chi2 of the histograms, pull of the totals). A wrong n_generated (the events that
passed the filter instead of every draw) fails the same test, which shows it has the power to.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from belle_mc import production
from belle_mc.channels import CHANNELS, FORCED_TAU_MODES_KEY
from belle_mc.montecarlo import integrate
from belle_mc.slices import (
    SLICES,
    GeneratorSlice,
    MuonPairRegion,
    complementary_tau_pairs,
    select_events,
)
from belle_mc.tau_decays import BRANCHING_FRACTIONS, MODES
from scipy import stats

from core import constants as c
from selections.zprime_selection import load_cut_table
from selections.zprime_variables import COLUMN, dimuon_event_variables

LUMI_FB = 1.0
EDGES = np.linspace(-2.0, 82.0, 22)
"""Reco recoil M^2 bins of the comparison, GeV^2."""


def channel_xsec_pb(channel: str) -> tuple[object, object, float]:
    ch = CHANNELS[channel]
    process = ch.make_process(None)
    xsec = integrate(process, production.INTEGRATION_POINTS)
    return process, xsec, ch.fixed_xsec_pb if ch.fixed_xsec_pb is not None else xsec.xsec_pb


def weighted_recoil_histogram(channel, slice_name, n_drawn, seed, process, xsec, n_generated=None):
    """(sum w, sum w^2) per EDGES bin of the reco recoil M^2 of preselected events, and the n kept by the slice."""
    gen_slice = SLICES[slice_name] if slice_name else None
    process, xsec = production.slice_process(process, xsec, gen_slice)  # a phase-space region's own
    xsec_pb = (CHANNELS[channel].fixed_xsec_pb or xsec.xsec_pb) * (gen_slice.decay_fraction if gen_slice else 1.0)
    values, n_kept = [], 0
    for block in range((n_drawn + production.BLOCK_SIZE - 1) // production.BLOCK_SIZE):
        n_b = min(production.BLOCK_SIZE, n_drawn - block * production.BLOCK_SIZE)
        sim = production.simulate_block(CHANNELS[channel], process, xsec, seed, slice_name or channel, block, n_b, None, gen_slice)
        n_kept += len(sim.drawn_index)
        _stage, variables = dimuon_event_variables(sim.reco.n_track, sim.reco.track, sim.reco.n_cluster, sim.reco.cluster)
        values.append(variables[COLUMN["recoil_mass2"]])
    m2 = np.concatenate(values)
    w = xsec_pb * LUMI_FB * 1000.0 / (n_drawn if n_generated is None else n_generated(n_kept))
    counts, _ = np.histogram(m2, EDGES)
    return counts * w, counts * w * w, n_kept


def chi2_pvalue(a, b) -> tuple[float, int, float]:
    (s1, v1), (s2, v2) = a, b
    used = (v1 + v2) > 0
    chi2 = float(np.sum((s1[used] - s2[used]) ** 2 / (v1[used] + v2[used])))
    return chi2, int(used.sum()), float(stats.chi2.sf(chi2, int(used.sum())))


def total_pull(a, b) -> float:
    (s1, v1), (s2, v2) = a, b
    return float((s1.sum() - s2.sum()) / np.sqrt(v1.sum() + v2.sum()))


def add(*hists):
    return sum(h[0] for h in hists), sum(h[1] for h in hists)


@pytest.fixture(scope="module")
def mumu():
    return channel_xsec_pb("kkmc_mumu")


def test_filtered_mumu_tail_agrees_with_unfiltered_in_the_overlap(mumu):
    process, xsec, _ = mumu
    full = weighted_recoil_histogram("kkmc_mumu", None, 600_000, 31, process, xsec)
    tail = weighted_recoil_histogram("kkmc_mumu", "kkmc_mumu_tail", 600_000, 32, process, xsec)
    core = weighted_recoil_histogram("kkmc_mumu", "kkmc_mumu_core", 300_000, 33, process, xsec)
    # the overlap where the tail alone is complete: recoil M^2 > 2 GeV^2 (the tail holds truth M^2 > 1)
    hi = EDGES[:-1] >= 2.0
    restrict = lambda h: (h[0][hi], h[1][hi])
    chi2, ndf, p = chi2_pvalue(restrict(full[:2]), restrict(tail[:2]))
    assert ndf >= 15 and p > 1e-3, f"tail vs unfiltered above 2 GeV^2: chi2 {chi2:.1f} / {ndf}, p {p:.2g}"
    assert abs(total_pull(restrict(full[:2]), restrict(tail[:2]))) < 4
    assert restrict(core[:2])[0].sum() < 0.01 * restrict(tail[:2])[0].sum()  # the core barely reaches it
    # the whole preselected spectrum: tail + core = the channel
    chi2, ndf, p = chi2_pvalue(full[:2], add(tail[:2], core[:2]))
    assert p > 1e-3, f"tail + core vs unfiltered: chi2 {chi2:.1f} / {ndf}, p {p:.2g}"
    assert abs(total_pull(full[:2], add(tail[:2], core[:2]))) < 4
    # the test has power: n_generated = events kept by the filter (instead of every draw) is far off
    wrong = weighted_recoil_histogram("kkmc_mumu", "kkmc_mumu_tail", 600_000, 32, process, xsec, n_generated=lambda k: k)
    assert abs(total_pull(restrict(full[:2]), restrict(wrong[:2]))) > 10


def test_forced_tau_slices_add_up_to_the_unfiltered_channel():
    process, xsec, _ = channel_xsec_pb("kkmc_tautau")
    full = weighted_recoil_histogram("kkmc_tautau", None, 800_000, 41, process, xsec)
    parts = [
        weighted_recoil_histogram("kkmc_tautau", name, n, seed, process, xsec)
        for name, n, seed in (
            ("kkmc_tautau_mu_mu", 100_000, 42), ("kkmc_tautau_mu_other", 200_000, 43),
            ("kkmc_tautau_hadronic", 200_000, 45), ("kkmc_tautau_rest", 200_000, 44),
        )
    ]
    summed = add(*(h[:2] for h in parts))
    chi2, ndf, p = chi2_pvalue(full[:2], summed)
    assert ndf >= 15 and p > 1e-3, f"tau slices vs unfiltered: chi2 {chi2:.1f} / {ndf}, p {p:.2g}"
    assert abs(total_pull(full[:2], summed)) < 4
    # the mu mu slice alone carries most of the two-muon-identified events, with 8x fewer draws per weight
    assert parts[0][0].sum() > 0.6 * summed[0].sum()


def test_tau_slices_are_disjoint_cover_the_channel_and_scale_by_the_branching_fractions():
    names = ("kkmc_tautau_mu_mu", "kkmc_tautau_mu_other", "kkmc_tautau_hadronic", "kkmc_tautau_rest")
    pairs = [SLICES[n].tau_pair_modes for n in names]
    flat = [p for s in pairs for p in s]
    assert len(flat) == len(set(flat)) == len(MODES) ** 2
    assert sum(SLICES[n].decay_fraction for n in names) == pytest.approx(1.0, abs=1e-12)
    bf_mu = BRANCHING_FRACTIONS[MODES.index("mu_nu_nu")]
    assert SLICES["kkmc_tautau_mu_mu"].decay_fraction == pytest.approx(bf_mu**2, rel=1e-12)
    assert complementary_tau_pairs(*pairs) == ()


def test_forced_decays_draw_only_the_slice_modes_with_branching_fraction_odds():
    mixed = GeneratorSlice("test_mu_or_pi", "kkmc_tautau", tau_pair_modes=(("mu_nu_nu", "mu_nu_nu"), ("pi_nu", "pi_nu")))
    events = {"sqrt_s": np.full(200_000, 10.58)}
    mixed.force_decays(np.random.default_rng(5), events)
    modes = events[FORCED_TAU_MODES_KEY]
    mu, pi = MODES.index("mu_nu_nu"), MODES.index("pi_nu")
    assert np.all(modes[:, 0] == modes[:, 1]) and set(np.unique(modes)) == {mu, pi}
    expected = BRANCHING_FRACTIONS[mu] ** 2 / (BRANCHING_FRACTIONS[mu] ** 2 + BRANCHING_FRACTIONS[pi] ** 2)
    frac = np.mean(modes[:, 0] == mu)
    assert abs(frac - expected) < 4 * np.sqrt(expected * (1 - expected) / len(modes))


def test_forced_mu_mu_slice_has_two_muons_and_nothing_else_charged():
    process, xsec, _ = channel_xsec_pb("kkmc_tautau")
    sim = production.simulate_block(
        CHANNELS["kkmc_tautau"], process, xsec, 3, "kkmc_tautau_mu_mu", 0, 20_000, None, SLICES["kkmc_tautau_mu_mu"]
    )
    charged = sim.particles.charge != 0
    assert set(np.unique(np.abs(sim.particles.pdg[charged]))) == {c.PDG_MUON}
    assert np.all(np.bincount(sim.particles.event[charged], minlength=len(sim.drawn_index)) == 2)
    # the particle filter (two muon-identifiable tracks) keeps roughly the CDC and KLM acceptance above 0.6 GeV
    assert 0.3 < len(sim.drawn_index) / 20_000 < 0.95
    p = np.linalg.norm(sim.particles.p4[charged, 1:], axis=1)
    assert np.quantile(p, 0.001) > 0.4  # no muon far below the muon-ID turn-on (0.6 GeV in the lab)


def test_produce_records_every_draw_and_the_slice(tmp_path):
    entry = production.produce("kkmc_tautau", 30_000, tmp_path, seed=9, progress=False, generator_slice="kkmc_tautau_mu_mu")
    meta = entry["metadata"]
    assert meta["n_generated"] == 30_000
    assert meta["xsec_pb"] == pytest.approx(919.0 * BRANCHING_FRACTIONS[MODES.index("mu_nu_nu")] ** 2, rel=1e-12)
    assert meta["xsec_channel_pb"] == 919.0 and meta["generator_slice"] == "kkmc_tautau_mu_mu"
    assert meta["generator_slice_role"] == "search"
    assert "forced" in meta["generator_filter"] and meta["decay_fraction"] < 0.031
    assert 0 < meta["n_events_in_files"] <= meta["n_passed_filter"] < meta["n_generated"]
    fileset = json.loads((tmp_path / "fileset.json").read_text())
    assert list(fileset) == ["kkmc_tautau_mu_mu"]
    # the unfiltered channel in the same directory does not remove the slice's files (kkmc_tautau_* glob)
    production.produce("kkmc_tautau", 2_000, tmp_path, seed=9, progress=False)
    assert all((tmp_path / f).exists() for f in fileset["kkmc_tautau_mu_mu"]["files"])


def test_a_slice_drawn_in_a_region_records_the_region_cross_section(tmp_path):
    """A photon-virtuality region: xsec_pb is the region's integrated cross section (so every event keeps the weight
    of the channel's yield there), the channel's is kept beside it, and the fileset says where it was drawn."""
    entry = production.produce("aafh_eemumu", 200_000, tmp_path, seed=3, progress=False,
                               generator_slice="aafh_eemumu_windows_hard_p")  # fmt: skip
    meta = entry["metadata"]
    process, xsec, _ = channel_xsec_pb("aafh_eemumu")
    _, region = production.slice_process(process, xsec, SLICES["aafh_eemumu_windows_hard_p"])
    assert meta["xsec_pb"] == pytest.approx(region.xsec_pb) and meta["xsec_channel_pb"] == pytest.approx(xsec.xsec_pb)
    assert meta["phase_space_fraction"] == pytest.approx(region.xsec_pb / xsec.xsec_pb)
    assert 0.03 < meta["phase_space_fraction"] < 0.15
    assert "Q^2(e+ photon) > 0.1 GeV^2" in meta["generator_filter"] and meta["n_generated"] == 200_000
    assert 0 < meta["n_events_in_files"] < 0.05 * 200_000
    with pytest.raises(ValueError, match="fixed cross section"):
        GeneratorSlice("kkmc_mumu_z", "kkmc_mumu", phase_space=SLICES["aafh_eemumu_windows_soft"].phase_space)


def test_complement_slices_are_marked_and_an_old_fileset_entry_gets_the_role_without_regeneration(tmp_path):
    """The zero-event rule of the limits reads ``generator_slice_role``: the complements say so, the rest are search slices."""
    from belle_mc.catalog import ensure_default_sample

    complements = {n for n, s in SLICES.items() if s.role == "complement"}
    assert complements == {"kkmc_mumu_core", "aafh_eemumu_windows_soft", "aafh_eemumu_rest"}
    path = ensure_default_sample(tmp_path, progress=False, requests=[], slices={"kkmc_mumu_core": (20_000, 20_000)})
    fileset = json.loads(path.read_text())
    assert fileset["kkmc_mumu_core"]["metadata"]["generator_slice_role"] == "complement"
    # an entry written before the key existed: the next call adds it and leaves the files alone
    del fileset["kkmc_mumu_core"]["metadata"]["generator_slice_role"]
    path.write_text(json.dumps(fileset))
    files = [tmp_path / f for f in fileset["kkmc_mumu_core"]["files"]]
    stamps = [f.stat().st_mtime_ns for f in files]
    ensure_default_sample(tmp_path, progress=False, requests=[], slices={"kkmc_mumu_core": (20_000, 20_000)})
    refreshed = json.loads(path.read_text())["kkmc_mumu_core"]
    assert refreshed["metadata"]["generator_slice_role"] == "complement"
    assert refreshed["metadata"]["n_generated"] == 20_000 and [f.stat().st_mtime_ns for f in files] == stamps
    with pytest.raises(ValueError, match="role must be one of search, complement"):
        GeneratorSlice("kkmc_mumu_x", "kkmc_mumu", role="rest")


def test_produce_rejects_a_slice_of_another_channel(tmp_path):
    with pytest.raises(ValueError, match="is of channel"):
        production.produce("kkmc_mumu", 1_000, tmp_path, progress=False, generator_slice="kkmc_tautau_mu_mu")


def test_no_slice_keeps_the_unfiltered_random_stream(mumu):
    process, xsec, _ = mumu
    args = (CHANNELS["kkmc_mumu"], process, xsec, 4, "kkmc_mumu", 0, 5_000)
    plain = production.generate_block(*args)
    everything = GeneratorSlice("test_all", "kkmc_mumu")  # no filter, no forced decay: the same events
    sliced = production.generate_block(*args, None, everything)
    np.testing.assert_array_equal(plain.event_numbers, sliced.event_numbers)
    np.testing.assert_array_equal(plain.detector_events.track["px"], sliced.detector_events.track["px"])


def test_low_mass_windows_cut_harder_than_the_mumu_tail_filter():
    """The kkmc_mumu tail filter is complete only while every window that reaches truth recoil M^2 < 1 GeV^2
    (+ 1 GeV^2) cuts pt(mu mu) well above its 0.15 GeV (slices.pt_mumu_cut_floor_gev, which
    scripts/optimise_cuts.py respects on a filtered sample): the cut table must keep this (or the filter must
    change and scripts/generator_filter_study.py be rerun)."""
    from belle_mc.slices import MUMU_TAIL_M2_MIN_GEV2, MUMU_TAIL_PT_MIN_GEV, pt_mumu_cut_floor_gev

    table = load_cut_table()
    for h in table.hypotheses:
        low_edge = h.mzp_gev**2 - table.window_n_sigma * h.sigma_recoil_mass2_gev2
        high_edge = h.mzp_gev**2 + table.window_n_sigma * h.sigma_recoil_mass2_gev2
        if low_edge < MUMU_TAIL_M2_MIN_GEV2 + 1.0:
            assert h.pt_mumu_min_gev >= MUMU_TAIL_PT_MIN_GEV + 0.15, h
        assert h.pt_mumu_min_gev >= pt_mumu_cut_floor_gev(low_edge, high_edge), h
    assert any(h.mzp_gev**2 - table.window_n_sigma * h.sigma_recoil_mass2_gev2 < 0 for h in table.hypotheses)


def test_select_events_masks_per_event_arrays_only():
    ev = {"sqrt_s": np.arange(4.0), "p": np.ones((4, 4)), "m_scalar": 2.0}
    out = select_events(ev, np.array([True, False, True, False]))
    assert out["sqrt_s"].tolist() == [0.0, 2.0] and out["p"].shape == (2, 4) and out["m_scalar"] == 2.0


def test_muon_pair_region_is_the_truth_recoil_condition():
    e = 10.58 / 2
    ev = {  # back-to-back muons at 90 deg in the CM: recoil M^2 = 0, pt = 0
        "sqrt_s": np.array([10.58]),
        "lepton_minus": np.array([[e, e * 0.999, 0.0, 0.0]]),
        "lepton_plus": np.array([[e, -e * 0.999, 0.0, 0.0]]),
    }
    assert not MuonPairRegion(pt_min_gev=0.15, m2_above_gev2=1.0)(ev)[0]
    assert MuonPairRegion()(ev)[0]
    ev2 = select_events(ev, np.array([True]))
    ev2["lepton_plus"] = np.array([[e - 1.0, -(e - 1.0) * 0.999, 0.3, 0.0]])  # 1 GeV less: recoil M^2 > 1
    assert MuonPairRegion(pt_min_gev=0.15, m2_above_gev2=1.0)(ev2)[0]


EEMUMU_STRATA = ("aafh_eemumu_windows_hard_e", "aafh_eemumu_windows_hard_p", "aafh_eemumu_windows_soft")
"""The e e mu mu windows slices: the three photon-virtuality regions of the windows filter."""


def test_filtered_eemumu_agrees_with_unfiltered():
    """The e e mu mu windows filter, drawn in three photon-virtuality regions each weighted with its own
    integrated cross section, plus the rest slice, is the unfiltered channel."""
    process, xsec, _ = channel_xsec_pb("aafh_eemumu")
    full = weighted_recoil_histogram("aafh_eemumu", None, 1_500_000, 51, process, xsec)
    strata = [
        weighted_recoil_histogram("aafh_eemumu", name, n, 52 + k, process, xsec)
        for k, (name, n) in enumerate(zip(EEMUMU_STRATA, (300_000, 300_000, 1_500_000)))
    ]
    windows = (*add(*(h[:2] for h in strata)), sum(h[2] for h in strata[2:]))
    rest = weighted_recoil_histogram("aafh_eemumu", "aafh_eemumu_rest", 300_000, 55, process, xsec)
    # the two slices add up to the channel over the whole preselected spectrum
    chi2, ndf, p = chi2_pvalue(full[:2], add(windows[:2], rest[:2]))
    assert ndf >= 15 and p > 1e-3, f"eemumu slices vs unfiltered: chi2 {chi2:.1f} / {ndf}, p {p:.2g}"
    assert abs(total_pull(full[:2], add(windows[:2], rest[:2]))) < 4
    # below M^2 = 38 GeV^2 (truth M^2 < 42 is all in the windows slice) the windows slice alone is the channel
    low = EDGES[1:] <= 38.0
    restrict = lambda h: (h[0][low], h[1][low])
    assert restrict(full[:2])[0].sum() > 0
    assert abs(total_pull(restrict(full[:2]), restrict(windows[:2]))) < 4
    assert restrict(rest[:2])[0].sum() == 0
    assert windows[2] < 0.02 * 1_500_000  # the filter keeps < 2% of the soft draws


def test_photon_virtuality_strata_cover_the_channel_and_the_soft_one_is_out_of_reach_of_the_windows():
    """The three e e mu mu regions: their cross sections add up to the channel's (within the integration errors),
    each draws only inside its region, and the soft one (both Q^2 <= 0.1 GeV^2) has no scattered electron as a
    track and truth pt(mu mu) below its bound, so the pt(mu mu) cut floors keep it out of every window."""
    from belle_mc.montecarlo import unweighted_states
    from belle_mc.slices import EEMUMU_HARD_PHOTON_Q2_GEV2, EEMUMU_SOFT_PAIR_PT_MAX_GEV, AnyTrack

    process, xsec, _ = channel_xsec_pb("aafh_eemumu")
    regions = {name: production.slice_process(process, xsec, SLICES[name]) for name in EEMUMU_STRATA}
    parts = {name: p for name, (p, _) in regions.items()}
    xsecs = {name: x for name, (_, x) in regions.items()}
    total = sum(x.xsec_pb for x in xsecs.values())
    error = np.sqrt(xsec.error_pb**2 + sum(x.error_pb**2 for x in xsecs.values()))
    assert abs(total - xsec.xsec_pb) < 4 * error, (total, xsec.xsec_pb, error)
    assert all(x.xsec_pb > 0.05 * xsec.xsec_pb for x in xsecs.values())
    q0 = EEMUMU_HARD_PHOTON_Q2_GEV2
    rng = np.random.default_rng(29)
    hard_e, hard_p, soft = (unweighted_states(parts[n], rng, 200_000, xsecs[n].max_weight) for n in EEMUMU_STRATA)
    assert np.all(hard_e["q2_1"] >= q0)
    assert np.all(hard_p["q2_1"] <= q0) and np.all(hard_p["q2_2"] >= q0)
    assert np.all(soft["q2_1"] <= q0) and np.all(soft["q2_2"] <= q0)
    events = parts["aafh_eemumu_windows_soft"].build(rng, unweighted_states(
        parts["aafh_eemumu_windows_soft"], rng, 2_000_000, xsecs["aafh_eemumu_windows_soft"].max_weight))  # fmt: skip
    assert not AnyTrack(("electron", "positron"))(events).any()
    pair = events["lepton_minus"] + events["lepton_plus"]
    pt = np.hypot(pair[:, 1], pair[:, 2])
    assert pt.max() < EEMUMU_SOFT_PAIR_PT_MAX_GEV and pt.max() > 0.7 * EEMUMU_SOFT_PAIR_PT_MAX_GEV
    # which the optimiser keeps out of every window that its windows filter reaches (M^2 < 42 + 3 GeV^2)
    from belle_mc.slices import PT_CUT_MARGIN_GEV, pt_mumu_cut_floor_gev

    assert pt_mumu_cut_floor_gev(24.0, 26.0) == pytest.approx(EEMUMU_SOFT_PAIR_PT_MAX_GEV + PT_CUT_MARGIN_GEV)
    assert pt_mumu_cut_floor_gev(0.0, 0.5) == pytest.approx(EEMUMU_SOFT_PAIR_PT_MAX_GEV + PT_CUT_MARGIN_GEV)
    assert pt_mumu_cut_floor_gev(50.0, 52.0) == pytest.approx(0.95)
    # in the hard regions, scattered electrons are tracks: the soft region's bound is what removes them
    hard_events = parts["aafh_eemumu_windows_hard_e"].build(rng, hard_e)
    assert AnyTrack(("electron",))(hard_events).sum() > 100


def test_high_mass_windows_cut_harder_than_the_eemumu_filter():
    """The aafh_eemumu windows slice is complete only while every window reaching M^2 >= 42 GeV^2 (- 3 GeV^2)
    cuts pt(mu mu) well above its 0.8 GeV and ends below 90 GeV^2 (see the mu mu test above)."""
    from belle_mc.slices import EEMUMU_M2_LOW_GEV2, EEMUMU_M2_MAX_GEV2, EEMUMU_PT_MIN_GEV

    table = load_cut_table()
    for h in table.hypotheses:
        high_edge = h.mzp_gev**2 + table.window_n_sigma * h.sigma_recoil_mass2_gev2
        assert high_edge < EEMUMU_M2_MAX_GEV2 - 3.0, h
        if high_edge > EEMUMU_M2_LOW_GEV2 - 3.0:
            assert h.pt_mumu_min_gev >= EEMUMU_PT_MIN_GEV + 0.15, h


def test_equivalent_luminosity_of_slices_is_their_sample_luminosity():
    """N / B x lumi is n_generated / (xsec x 1000) for one dataset, the B-weighted mean over slices, and
    scales with the drawn events under --project-sensitivity-slices."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from equivalent_luminosity import equivalent_luminosity_table

    def dataset(window):
        return {"cutflow_hypotheses": {1000: {"two_muon_id": 100, "window": window}}}

    result = {
        "metadata": {
            "lumi_fb": 626.0,
            "dataset_metadata": {
                "a": {"channel": "kkmc_tautau", "xsec_pb": 30.0, "n_generated": 3_000_000},  # 100 fb^-1
                "b": {"channel": "kkmc_tautau", "xsec_pb": 200.0, "n_generated": 2_000_000},  # 10 fb^-1
                "c": {"channel": "kkmc_tautau", "xsec_pb": 200.0, "n_generated": 20_000,  # 0.1 fb^-1, out of windows
                      "generator_slice": "x", "generator_slice_role": "complement"},
                "s": {"channel": "signal", "mzp": 1.0, "xsec_pb": 1.0, "n_generated": 10},
            },
        },
        "datasets": {"a": dataset(50), "b": dataset(4), "c": dataset(0), "s": dataset(5)},
    }
    masses, channels = equivalent_luminosity_table(result)
    assert masses == [1000] and list(channels) == ["kkmc_tautau"]
    assert channels["kkmc_tautau"]["min_sample_lumi_fb"] == pytest.approx(10.0)  # not the complement's 0.1
    cell = channels["kkmc_tautau"]["windows"][1000]
    b_a, b_b = 50 * 30.0 * 626e3 / 3e6, 4 * 200.0 * 626e3 / 2e6
    assert cell["sum_w"] == pytest.approx(b_a + b_b)
    assert cell["lumi_eq_fb"] == pytest.approx((b_a * 100 + b_b * 10) / (b_a + b_b))
    _, projected = equivalent_luminosity_table(result, {"a": 30_000_000, "b": 200_000_000})
    assert projected["kkmc_tautau"]["windows"][1000]["lumi_eq_fb"] == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("channel", "pair", "inside"),
    [
        ("kkmc_mumu", ("kkmc_mumu_tail", "kkmc_mumu_core"), MuonPairRegion()),
        ("aafh_eemumu", ("aafh_eemumu_windows_hard_e", "aafh_eemumu_rest"), None),
    ],
)
def test_filter_slices_are_disjoint_and_cover_the_two_track_events(channel, pair, inside):
    process, xsec, _ = channel_xsec_pb(channel)
    from belle_mc.montecarlo import sample_unweighted
    from belle_mc.slices import _EEMUMU_TRACKS

    events = sample_unweighted(process, np.random.default_rng(8), 200_000, xsec.max_weight)
    a, b = (SLICES[name].accept(events) for name in pair)
    assert not np.any(a & b)
    covered = (inside or _EEMUMU_TRACKS)(events)
    np.testing.assert_array_equal(a | b, covered)
    assert a.any() and b.any()


def test_a_block_whose_events_are_all_filtered_out_writes_nothing():
    process, xsec, _ = channel_xsec_pb("kkmc_mumu")
    res = production.generate_block(CHANNELS["kkmc_mumu"], process, xsec, 1, "z", 0, 3, None, SLICES["kkmc_mumu_tail"])
    assert res.n_generated == 3 and res.detector_events.n_events == len(res.event_numbers) <= 3


@pytest.mark.parametrize(
    "slice_name", sorted({s.pre_decay_filter: name for name, s in SLICES.items() if s.pre_decay_filter is not None}.values())
)  # one slice per distinct pre-decay filter (the three e e mu mu windows regions share theirs)
def test_pre_decay_filter_keeps_every_event_the_slice_keeps(slice_name):
    """A pre-decay filter drops draws before they are built: it must be a necessary condition of the slice's
    event filter. Built from the same accepted proposals, every event the slice keeps passes it, and it drops
    most of the draws (else it would not be worth having)."""
    from belle_mc.montecarlo import unweighted_states

    gen_slice = SLICES[slice_name]
    process, xsec, _ = channel_xsec_pb(gen_slice.channel)
    rng = np.random.default_rng(17)
    state = unweighted_states(process, rng, 1_500_000, xsec.max_weight)
    before = np.asarray(gen_slice.pre_decay_filter(process.pre_decay_event(state)), bool)
    kept = gen_slice.accept(process.build(rng, state))
    assert kept.sum() > 1000
    assert not np.any(kept & ~before), f"{np.count_nonzero(kept & ~before)} kept events fail the pre-decay filter"
    assert before.mean() < 0.25
    assert "pre-decay filter" in gen_slice.describe()


def test_pre_decay_filter_changes_the_slice_fingerprint():
    """Receipts and fileset entries of a slice made with other filters are not reused (other random stream)."""
    from dataclasses import replace

    name = "aafh_eemumu_windows_hard_e"
    task = production.GenerationTask("aafh_eemumu", None, name, 1, 10, 0, 10, 10, "/tmp", generator_slice=name)
    fingerprint = production.task_fingerprint(task)
    assert fingerprint["generator_filter"] == SLICES[name].describe()
    assert replace(SLICES[name], pre_decay_filter=None).describe() != fingerprint["generator_filter"]
    assert replace(SLICES[name], phase_space=None).describe() != fingerprint["generator_filter"]
    assert SLICES["aafh_eemumu_windows_hard_p"].describe() != fingerprint["generator_filter"]
    with pytest.raises(ValueError, match="needs the event filter"):
        GeneratorSlice("kkmc_mumu_y", "kkmc_mumu", pre_decay_filter=SLICES[name].pre_decay_filter)
