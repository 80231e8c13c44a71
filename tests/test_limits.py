"""Limits: window yields from the result dict (every search), pyhf workspaces, CLs limits, the one writer, the script."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyhf
import pytest

from core.scalar_model import branching_fraction
from core.zprime_model import branching_fraction_invisible, branching_fraction_mumu
from sensitivity.limits import (
    CountingExperiment,
    ResultFormatError,
    WindowYields,
    compute_limits,
    counting_workspace,
    exact_cls,
    pseudo_data,
    reference_coupling,
    upper_limits,
    window_yields,
    write_limits,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "limits.py"
POISSON_90_ZERO = -math.log(0.10)  # 2.3026 events: CLs = exp(-s) for n = 0, B = 0


def _dataset(channel, window_counts, xsec_pb=None, n_generated=None, mzp=None, legacy=False):
    meta = {"channel": channel}
    if xsec_pb is not None:
        meta |= {"xsec_pb": xsec_pb, "n_generated": n_generated}
    if mzp is not None:
        meta["mzp"] = mzp
    if legacy:  # outputs written before cutflow_hypotheses
        output = {"cutflow_mzp": {m: {"pt_mumu": 10 * n + 5, "recoil_mass_window": n} for m, n in window_counts.items()}}
    else:  # the contract of processors/base.py: both keys, same numbers
        output = {
            "cutflow_hypotheses": {m: {"pt_mumu": 10 * n + 5, "window": n} for m, n in window_counts.items()},
            "cutflow_mzp": {m: {"pt_mumu": 10 * n + 5, "recoil_mass_window": -1} for m, n in window_counts.items()},
        }
    return meta, output


def hand_made_result(lumi_fb=100.0, legacy=False):
    """Two signal masses (1 and 2 GeV), a hypothesis without signal (3 GeV), two backgrounds and data."""
    parts = {
        "signal_mzp_1p0": _dataset("signal", {1000: 500, 2000: 7, 3000: 0}, 100.0, 2000, mzp=1.0, legacy=legacy),
        "signal_mzp_2p0": _dataset("signal", {1000: 2, 2000: 300, 3000: 1}, 35.0, 1000, mzp=2.0, legacy=legacy),
        "bkg_a": _dataset("kkmc_tautau", {1000: 3, 2000: 0, 3000: 1}, 10.0, 1000, legacy=legacy),  # w = 1000
        "bkg_b": _dataset("aafh_eemumu", {1000: 10, 2000: 4, 3000: 0}, 2.0, 4000, legacy=legacy),  # w = 50
        "data": _dataset("data", {1000: 3400, 2000: 190, 3000: 1000}, legacy=legacy),
    }
    return {
        "metadata": {
            "lumi_fb": lumi_fb,
            "code_version": "test",
            "dataset_metadata": {k: m for k, (m, _) in parts.items()},
        },
        "datasets": {k: o for k, (_, o) in parts.items()},
    }


def toy_yields(background, background_stat, signal_yield_g1, mzp_mev=(2000, 5000), efficiency=0.5):
    """WindowYields with chosen B, sigma_B and S(g' = 1) (lumi 1 fb^-1; xsec set to match)."""
    m = np.asarray(mzp_mev, dtype=np.int64) / 1000.0
    br = branching_fraction_invisible(m)
    eps = np.broadcast_to(np.asarray(efficiency, dtype=float), m.shape)
    xsec = np.asarray(signal_yield_g1, dtype=float) / (br * 1000.0 * 0.5)
    return WindowYields(
        signal_channel="signal",
        mass_gev=m,
        lumi_fb=1.0,
        efficiency=eps,
        efficiency_stat=np.sqrt(eps * (1 - eps) / 100_000),
        signal_xsec_pb=xsec,
        branching_fraction=br,
        signal_yield=xsec * br * 1000.0 * eps,
        background=np.asarray(background, dtype=float),
        background_stat=np.asarray(background_stat, dtype=float),
        background_mc_count=np.zeros(len(m), dtype=np.int64),
    )


# --- efficiencies and backgrounds --------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["cutflow_hypotheses", "legacy_cutflow_mzp"])
def test_window_yields_of_a_hand_made_result(legacy):
    y = window_yields(hand_made_result(legacy=legacy), zero_event_estimate=False)
    np.testing.assert_array_equal(y.mzp_mev, [1000, 2000])
    assert y.skipped_mzp_mev == (3000,)
    np.testing.assert_allclose(y.efficiency, [500 / 2000, 300 / 1000])
    np.testing.assert_allclose(y.background, [3 * 1000 + 10 * 50, 4 * 50])  # signal of other masses is not background
    np.testing.assert_allclose(y.background_stat, [math.sqrt(3 * 1000**2 + 10 * 50**2), math.sqrt(4 * 50**2)])
    np.testing.assert_array_equal(y.background_mc_count, [13, 4])
    np.testing.assert_allclose(y.background_by_channel["kkmc_tautau"], [3000, 0])
    np.testing.assert_array_equal(y.background_mc_by_channel["kkmc_tautau"], [3, 0])
    np.testing.assert_array_equal(y.background_mc_by_channel["aafh_eemumu"], [10, 4])
    np.testing.assert_array_equal(y.observed_data, [3400, 190])
    # xsec x BR (about 1/2 at 1 and 2 GeV) x lumi x eps
    np.testing.assert_allclose(
        y.signal_yield_g1, [100.0 * 0.5 * 100 * 1000 * 0.25, 35.0 * 0.5 * 100 * 1000 * 0.3], rtol=5e-4
    )
    np.testing.assert_allclose(
        y.signal_yield_g1, y.signal_xsec_pb * branching_fraction_invisible([1.0, 2.0]) * 1e5 * y.efficiency
    )
    np.testing.assert_allclose(y.background_effective_mc_count, (y.background / y.background_stat) ** 2)
    # another luminosity scales signal, background and its uncertainty linearly
    y2 = window_yields(hand_made_result(), lumi_fb=200.0, zero_event_estimate=False)
    np.testing.assert_allclose(y2.background, 2 * y.background)
    np.testing.assert_allclose(y2.background_stat, 2 * y.background_stat)
    np.testing.assert_allclose(y2.signal_yield_g1, 2 * y.signal_yield_g1)


def test_a_channel_without_mc_events_in_the_window_gets_its_one_event_weight():
    """Zero-event rule: kkmc_tautau (w = 1000) has no MC event in the 2 GeV window -> B_c = w +- w, flagged."""
    y = window_yields(hand_made_result())
    w_tautau, w_eemumu = 1000.0, 50.0
    np.testing.assert_allclose(y.background, [3 * w_tautau + 10 * w_eemumu, 4 * w_eemumu + w_tautau])
    np.testing.assert_allclose(y.background_stat[1], math.sqrt(4 * w_eemumu**2 + w_tautau**2))
    np.testing.assert_allclose(y.background_by_channel["kkmc_tautau"], [3000, w_tautau])
    np.testing.assert_allclose(y.background_estimated, [0.0, w_tautau])
    np.testing.assert_array_equal(y.background_mc_count, [13, 4])  # raw MC counts stay raw
    assert y.background[1] > 0
    # both windows rest on < LOW_MC_EVENTS events of the channel that dominates them
    assert y.low_mc_channels() == [("kkmc_tautau",), ("aafh_eemumu", "kkmc_tautau")]
    np.testing.assert_array_equal(y.low_mc, [True, True])
    # a window whose dominant channel has many MC events is not flagged, even with a small low-MC channel beside it
    parts = {
        "signal_mzp_1p0": _dataset("signal", {1000: 500}, 100.0, 2000, mzp=1.0),
        "bkg_many": _dataset("kkmc_mumu", {1000: 400}, 10.0, 1000),  # w = 1000, B = 4e5
        "bkg_none": _dataset("kkmc_tautau", {1000: 0}, 1.0, 1000),  # w = 100: 100 +- 100, far below 10% of B
    }
    many = window_yields(_result(parts))
    np.testing.assert_allclose(many.background, [400_000 + 100])
    assert many.low_mc_channels() == [("kkmc_tautau",)]
    np.testing.assert_array_equal(many.low_mc, [False])
    table = compute_limits(y)
    rows = table.rows()
    assert [r["low_mc"] for r in rows] == [True, True]
    assert rows[1]["background_estimated"] == pytest.approx(w_tautau)
    assert rows[1]["low_mc_channels"] == "aafh_eemumu;kkmc_tautau"


def test_the_zero_event_rule_takes_the_weight_of_the_search_slices_not_of_a_complement():
    """A sliced channel: the complement slice (w = 5000, kept out of the windows by the cut floors) must not set the
    one-event weight of a window where the channel has no MC event; the windows slice (w = 10) does."""
    complement = _dataset("aafh_eemumu", {1000: 0, 2000: 0}, 50.0, 1000)  # w = 5000
    complement[0].update(generator_slice="aafh_eemumu_rest", generator_slice_role="complement")
    search = _dataset("aafh_eemumu", {1000: 3, 2000: 0}, 50.0, 500_000)  # w = 10
    search[0].update(generator_slice="aafh_eemumu_windows_hard_e", generator_slice_role="search")
    parts = {"signal_mzp_1p0": _dataset("signal", {1000: 500, 2000: 0}, 100.0, 2000, mzp=1.0),
             "signal_mzp_2p0": _dataset("signal", {1000: 0, 2000: 400}, 35.0, 1000, mzp=2.0),
             "aafh_eemumu_rest": complement, "aafh_eemumu_windows_hard_e": search}  # fmt: skip
    y = window_yields(_result(parts))
    np.testing.assert_allclose(y.background, [30.0, 10.0])
    np.testing.assert_allclose(y.background_stat, [math.sqrt(3) * 10.0, 10.0])
    np.testing.assert_allclose(y.background_estimated, [0.0, 10.0])
    # the same datasets without roles (a fileset from before the key, or unsliced datasets): the largest weight
    for meta, _ in (complement, search):
        del meta["generator_slice_role"]
    np.testing.assert_allclose(window_yields(_result(parts)).background, [30.0, 5000.0])


def _result(parts, lumi_fb=100.0):
    return {
        "metadata": {"lumi_fb": lumi_fb, "dataset_metadata": {k: m for k, (m, _) in parts.items()}},
        "datasets": {k: o for k, (_, o) in parts.items()},
    }


def test_window_yields_of_the_visible_search_take_one_signal_channel():
    """Two signal samples per mass (with and without ISR): each is the signal of its own table, never background."""
    parts = {
        "isr_1p0": _dataset("signal_visible_isr", {1000: 400, 2000: 0}, 50.0, 1000, mzp=1.0),
        "plain_1p0": _dataset("signal_visible", {1000: 600, 2000: 0}, 40.0, 1000, mzp=1.0),
        "plain_2p0": _dataset("signal_visible", {1000: 0, 2000: 700}, 20.0, 1000, mzp=2.0),
        "four_mu": _dataset("aafh_mumumumu", {1000: 8, 2000: 2}, 1.0, 1000),  # w = 100
    }
    isr = window_yields(_result(parts), signal_channel="signal_visible_isr")
    plain = window_yields(_result(parts), signal_channel="signal_visible")
    np.testing.assert_array_equal(isr.mass_mev, [1000])
    assert isr.skipped_mass_mev == (2000,)
    np.testing.assert_array_equal(plain.mass_mev, [1000, 2000])
    np.testing.assert_allclose(isr.efficiency, [0.4])
    np.testing.assert_allclose(plain.efficiency, [0.6, 0.7])
    np.testing.assert_allclose(plain.background, [800.0, 200.0])
    np.testing.assert_allclose(isr.background, [800.0])
    np.testing.assert_allclose(plain.branching_fraction, branching_fraction_mumu([1.0, 2.0]))
    np.testing.assert_allclose(plain.signal_yield, [40.0 * 1e5 * 0.6, 20.0 * 1e5 * 0.7] * plain.branching_fraction)
    assert isr.model.search == "zprime_visible_isr" and plain.model.coupling_name == "gprime"


def test_window_yields_of_the_scalar_search_from_a_legacy_output():
    """phi_L masses (``mphi``) from an output with only ``cutflow_mphi`` / ``pair_mass_window``."""
    def scalar(channel, counts, xsec, n_gen, mphi=None):
        meta = {"channel": channel, "xsec_pb": xsec, "n_generated": n_gen} | ({"mphi": mphi} if mphi else {})
        return meta, {"cutflow_mphi": {m: {"rectangular_cut": n + 1, "pair_mass_window": n} for m, n in counts.items()}}

    parts = {
        "phi_0p1": scalar("signal_ttphi", {100: 40, 1000: 0}, 0.01, 2000, mphi=0.1),
        "phi_1p0": scalar("signal_ttphi", {100: 0, 1000: 90}, 0.004, 2000, mphi=1.0),
        "tautau": scalar("kkmc_tautau", {100: 5, 1000: 3}, 1.0, 100_000),  # w = 1
    }
    y = window_yields(_result(parts), signal_channel="signal_ttphi")
    np.testing.assert_array_equal(y.mass_mev, [100, 1000])
    np.testing.assert_allclose(y.efficiency, [0.02, 0.045])
    np.testing.assert_allclose(y.background, [5.0, 3.0])
    np.testing.assert_allclose(y.branching_fraction, [branching_fraction(0.1, "ee"), branching_fraction(1.0, "mumu")])
    table = compute_limits(y)
    rows = table.rows()
    assert set(rows[0]) >= {"mphi_gev", "mphi_mev", "br_visible", "signal_yield_xi1_br", "xi_ref", "xi_exp", "mu_exp"}
    # the scalar tables' arithmetic: xi = xi_ref sqrt(mu_workspace)
    assert rows[1]["xi_exp"] == table.coupling_ref[1] * math.sqrt(table.mu_workspace["exp"][1])
    assert table.workspaces[1000]["channels"][0]["name"] == "pair_mass_window"
    assert table.workspaces[1000]["measurements"][0]["name"] == "leptophilic_scalar_mphi_1000MeV"


def test_window_yields_reject_an_inconsistent_signal_yield():
    y = toy_yields([10.0, 10.0], [1.0, 1.0], [1e4, 1e4])
    with pytest.raises(ValueError, match="signal_yield differs"):
        dataclasses.replace(y, signal_yield=y.signal_yield * 1.01)
    with pytest.raises(ValueError, match="no limits for signal channel 'kkmc_mumu'"):
        dataclasses.replace(y, signal_channel="kkmc_mumu")


def _drop(result, *names):
    for name in names:
        del result["metadata"]["dataset_metadata"][name], result["datasets"][name]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: r.pop("metadata"), "no 'metadata'"),
        (lambda r: r["metadata"]["dataset_metadata"].pop("bkg_a"), "'bkg_a'"),
        (lambda r: [r["datasets"]["bkg_b"].pop(k) for k in ("cutflow_hypotheses", "cutflow_mzp")], "cutflow_hypotheses"),
        (lambda r: r["datasets"]["bkg_b"]["cutflow_hypotheses"].pop(2000), r"\['cutflow_hypotheses'\] has no hypothesis 2000"),
        (lambda r: r["datasets"]["bkg_b"]["cutflow_hypotheses"][2000].pop("window"), r"\[2000\] has no 'window'"),
        (lambda r: r["metadata"]["dataset_metadata"]["bkg_a"].update(channel="nonsense"), "unknown channel 'nonsense'"),
        (lambda r: r["metadata"]["dataset_metadata"]["signal_mzp_1p0"].pop("mzp"), "no 'mzp'"),
        (lambda r: r["metadata"]["dataset_metadata"]["bkg_a"].pop("n_generated"), "n_generated"),
        (lambda r: _drop(r, "signal_mzp_1p0", "signal_mzp_2p0"), "no signal"),
    ],
)
def test_window_yields_says_what_is_wrong(damage, message):
    result = hand_made_result()
    damage(result)
    with pytest.raises(ResultFormatError, match=message):
        window_yields(result)


def test_pseudo_data_choices():
    y = window_yields(hand_made_result())
    np.testing.assert_array_equal(pseudo_data(y), np.rint(y.background))
    np.testing.assert_array_equal(pseudo_data(y, "data"), [3400, 190])
    np.testing.assert_array_equal(pseudo_data(y, "poisson", seed=3), pseudo_data(y, "poisson", seed=3))
    np.testing.assert_array_equal(
        pseudo_data(y, injected_gprime=0.01), np.rint(y.background + 1e-4 * y.signal_yield_g1)
    )
    with pytest.raises(ResultFormatError):
        pseudo_data(dataclasses.replace(y, observed_data=None), "data")


# --- workspaces and limits ---------------------------------------------------------------------


def test_workspace_is_valid_pyhf_and_round_trips():
    spec = counting_workspace(12.0, 50.0, 5.0, 52)
    ws = pyhf.Workspace(json.loads(json.dumps(spec)))
    model = ws.model()
    assert model.config.poi_name == "mu"
    assert ws.data(model)[0] == 52
    assert CountingExperiment.from_workspace(ws) == CountingExperiment(12.0, 50.0, 5.0, 52.0)
    # no MC-stat modifier without background or with a negligible uncertainty
    for b, sb in ((0.0, 0.0), (1e6, 1.0)):
        sample = counting_workspace(1.0, b, sb, 0)["channels"][0]["samples"][1]
        assert sample["modifiers"] == []
        pyhf.Workspace(counting_workspace(1.0, b, sb, 0)).model()


def test_zero_background_zero_observed_gives_the_textbook_2p3_events():
    limit = upper_limits(counting_workspace(1.0, 0.0, 0.0, 0))
    assert limit.calculator == "exact"
    assert limit.observed == pytest.approx(POISSON_90_ZERO, rel=1e-6)
    np.testing.assert_allclose(limit.expected, POISSON_90_ZERO, rtol=1e-6)
    # a vanishing background, with or without its MC uncertainty, changes nothing for n = 0
    assert upper_limits(counting_workspace(1.0, 1e-9, 1e-9, 0)).observed == pytest.approx(POISSON_90_ZERO, rel=1e-4)
    assert upper_limits(counting_workspace(1.0, 3.0, 1.0, 0)).observed == pytest.approx(POISSON_90_ZERO, rel=1e-6)
    # the asymptotic formulae are wrong there (1.35 events): why small counts are computed exactly
    assert upper_limits(counting_workspace(1.0, 0.0, 0.0, 0), calculator="asymptotic").observed < 1.5


def test_exact_cls_agrees_with_pyhf_toys():
    """pyhf's own toy calculator at the exact limit, B = 0, n = 0: CLs = 0.10 within its precision."""
    spec = counting_workspace(1.0, 0.0, 0.0, 0)
    ws = pyhf.Workspace(spec)
    model = ws.model()
    experiment = CountingExperiment.from_workspace(ws)
    assert exact_cls(POISSON_90_ZERO, experiment) == pytest.approx(0.10, rel=1e-9)
    np.random.seed(20240601)  # pyhf's numpy backend samples toys with the global numpy generator
    ntoys = 1500
    calc = pyhf.infer.calculators.ToyCalculator(
        ws.data(model), model, ntoys=ntoys, test_stat="qtilde", track_progress=False
    )
    sig_plus_bkg, bkg_only = calc.distributions(POISSON_90_ZERO)
    _, _, cls = calc.pvalues(calc.teststatistic(POISSON_90_ZERO), sig_plus_bkg, bkg_only)
    assert float(cls) == pytest.approx(0.10, abs=3 * math.sqrt(0.1 * 0.9 / ntoys))


@pytest.mark.parametrize(("background", "background_stat"), [(1000.0, 0.0), (1000.0, 50.0), (400.0, 40.0)])
def test_exact_and_asymptotic_agree_for_large_counts(background, background_stat):
    spec = counting_workspace(30.0, background, background_stat, round(background))
    exact = upper_limits(spec, calculator="exact")
    asymptotic = upper_limits(spec, calculator="asymptotic")
    assert asymptotic.calculator == "asymptotic"
    assert asymptotic.observed == pytest.approx(exact.observed, rel=0.02)
    assert asymptotic.expected[2] == pytest.approx(exact.expected[2], rel=0.02)
    np.testing.assert_allclose(asymptotic.expected[1:4], exact.expected[1:4], rtol=0.06)
    for limit in (exact, asymptotic):
        assert np.all(np.diff(limit.expected) > 0)


def test_asymptotic_limits_with_a_million_background_events():
    """pyhf's default SLSQP fits stop at their start here and give false CLs zeros; bands must stay Gaussian-like."""
    b, sb = 1e6, 5e4
    total = math.sqrt(b + sb**2)
    limit = upper_limits(counting_workspace(10 * total, b, sb, b), calculator="asymptotic")
    assert limit.expected[2] == pytest.approx(1.645 / 10, rel=0.03)  # median: 1.645 sigma for CLs = 0.1
    assert np.all(np.diff(limit.expected) > 0)
    assert limit.expected[4] / limit.expected[2] == pytest.approx(2.0, rel=0.08)  # Gaussian: 3.30 / 1.645


def test_our_optimizer_reproduces_pyhf_on_its_own_example():
    """The pyhf docstring example of toms748_scan (SLSQP there) comes out the same with L-BFGS-B."""
    from pyhf.infer.intervals.upper_limits import toms748_scan

    from sensitivity.limits import BoundedQuasiNewtonOptimizer, _pyhf_optimizer

    before = pyhf.get_backend()[1]
    model = pyhf.simplemodels.uncorrelated_background(signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0])
    data = pyhf.tensorlib.astensor([51, 48] + model.config.auxdata)
    with _pyhf_optimizer(BoundedQuasiNewtonOptimizer()):
        observed, expected = toms748_scan(data, model, 0.01, 5.0, rtol=0.01)
    assert pyhf.get_backend()[1] is before  # restored
    assert float(observed) == pytest.approx(1.01156939, rel=2e-3)
    np.testing.assert_allclose(
        [float(e) for e in expected], [0.5600747, 0.75702605, 1.06234693, 1.50116923, 2.05078912], rtol=3e-3
    )


def test_memoised_fits_give_the_same_limits_with_fewer_fits(monkeypatch):
    """The optimizer runs each fit of a CLs scan once (the mu-independent ones repeat at every mu): the limits are
    bit for bit those of the scan that refits everything, with well under half of its fits."""
    from pyhf.optimize.mixins import OptimizerMixin

    from sensitivity import limits

    made = {}

    class Counted(limits.BoundedQuasiNewtonOptimizer):
        def minimize(self, *args, **kwargs):
            result = super().minimize(*args, **kwargs)
            made["memoised"] = self.fits_made
            return result

    class Refitting(limits.BoundedQuasiNewtonOptimizer):
        def minimize(self, *args, **kwargs):
            made["all"] = made.get("all", 0) + 1
            return OptimizerMixin.minimize(self, *args, **kwargs)

    workspace = counting_workspace(12.0, 150.0, 25.0, 160)
    monkeypatch.setattr(limits, "BoundedQuasiNewtonOptimizer", Counted)
    memoised = limits.upper_limits(workspace, calculator="asymptotic")
    monkeypatch.setattr(limits, "BoundedQuasiNewtonOptimizer", Refitting)
    refitted = limits.upper_limits(workspace, calculator="asymptotic")
    assert memoised.observed == refitted.observed
    np.testing.assert_array_equal(memoised.expected, refitted.expected)
    assert made["memoised"] < 0.5 * made["all"], made


def test_limit_does_not_depend_on_the_signal_normalisation():
    a = upper_limits(counting_workspace(10.0, 200.0, 20.0, 210))
    b = upper_limits(counting_workspace(40.0, 200.0, 20.0, 210))
    assert b.observed == pytest.approx(a.observed / 4, rel=1e-3)
    np.testing.assert_allclose(b.expected, a.expected / 4, rtol=1e-3)


@pytest.mark.parametrize(
    ("signal_yield_g1", "background", "expected"),
    # rough limit 2.3 + 2 sqrt(B) events; g'_ref = next of 1, 2, 5 x 10^k above sqrt(rough / S1)
    [(3e5, 0.0, 0.005), (2.3 / 0.04, 0.0, 0.2), (2e6, 5e5, 0.05), (7.0, 2.0, 1.0)],
)
def test_reference_coupling_is_a_round_number_near_the_sensitivity(signal_yield_g1, background, expected):
    assert reference_coupling(signal_yield_g1, background, 0.0, background) == pytest.approx(expected, rel=1e-9)


def test_compute_limits_converts_mu_to_events_xsec_and_gprime():
    y = toy_yields([400.0, 2.0], [20.0, 0.5], [1e6, 1e5])
    table = compute_limits(y)
    assert table.calculator == ("asymptotic", "exact")
    for key in ("obs", "exp"):
        np.testing.assert_allclose(table.gprime[key], np.sqrt(table.mu[key]))
        np.testing.assert_allclose(table.events[key], table.mu[key] * y.signal_yield_g1)
        np.testing.assert_allclose(table.xsec_br_pb[key], table.events[key] / (y.lumi_fb * 1000 * y.efficiency))
    # the table's workspaces give the same limit, in units of the reference coupling
    for i, m in enumerate(y.mzp_mev):
        limit = upper_limits(table.workspaces[int(m)])
        assert limit.expected[2] * table.gprime_ref[i] ** 2 == pytest.approx(table.mu["exp"][i], rel=1e-4)
    rows = table.rows()
    assert rows[1]["calculator"] == "exact" and rows[1]["gprime_exp"] == pytest.approx(table.gprime["exp"][1])
    # the workspace limits are what the table's limits are made of
    np.testing.assert_allclose(table.mu["exp"], table.mu_workspace["exp"] * table.coupling_ref**2, rtol=1e-12)


def test_zero_efficiency_gives_no_limit():
    y = toy_yields([10.0, 10.0], [1.0, 1.0], [0.0, 1e4], efficiency=[0.0, 0.5])
    table = compute_limits(y)
    assert np.isnan(table.gprime["obs"][0]) and np.isfinite(table.gprime["obs"][1])
    assert list(table.workspaces) == [5000]
    assert table.calculator[0] == "none"


@pytest.mark.parametrize("observation", ["asimov", "poisson"])
def test_injected_signal_is_not_excluded_at_its_true_coupling(observation):
    """Pseudo-data = B + S(g0): the observed limit lies above g0, though the median expected one is below it."""
    g0 = 0.01
    y = toy_yields([400.0, 2.0], [20.0, 0.5], [1e6, 2e5])  # S(g0) = 100 (5 sigma) and 20 events
    observed = pseudo_data(y, observation, seed=11, injected_gprime=g0)
    table = compute_limits(y, observed, observation=observation)
    assert np.all(table.gprime["exp"] < g0)
    assert np.all(table.gprime["obs"] > g0)


# --- the script --------------------------------------------------------------------------------


def _load_script():
    spec = importlib.util.spec_from_file_location("limits_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_table_workspaces_and_plot(tmp_path, capsys):
    pickle_path = tmp_path / "tiny.pkl"
    pickle_path.write_bytes(pickle.dumps(hand_made_result(lumi_fb=1.0)))  # B = 35 (pyhf asymptotic) and 2 (exact)
    out = tmp_path / "limits"
    assert _load_script().main([str(pickle_path), "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out

    lines = (out / "limits.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 and lines[0].startswith("mzp_gev,mzp_mev,")
    document = json.loads((out / "limits.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert document["skipped_mzp_mev"] == [3000] and document["cl"] == 0.9
    rows = {row["mzp_mev"]: row for row in document["limits"]}
    assert set(rows) == {1000, 2000}
    assert rows[1000]["background"] == pytest.approx(35.0) and rows[1000]["efficiency"] == pytest.approx(0.25)
    assert rows[2000]["background_aafh_eemumu"] == pytest.approx(2.0)
    assert (rows[1000]["calculator"], rows[2000]["calculator"]) == ("asymptotic", "exact")
    settings = json.loads((out / "workspaces" / "fit_settings.json").read_text())
    assert settings["asymptotic"]["optimizer"] == "minuit" and "pyhf[minuit]" in settings["asymptotic"]["requires"]
    for m, row in rows.items():
        assert row["gprime_exp_m2"] < row["gprime_exp"] < row["gprime_exp_p2"]
        entry = settings["workspaces"][f"mzp_{m}.json"]
        assert entry["calculator"] == row["calculator"] and entry["coupling_ref"] == row["gprime_ref"]
        assert entry["mu_workspace"]["exp"] * row["gprime_ref"] ** 2 == pytest.approx(row["mu_exp"], rel=1e-12)
        ws = pyhf.Workspace(json.loads((out / row["workspace"]).read_text()))
        assert row["workspace"] == f"workspaces/mzp_{m}.json"
        model = ws.model()
        assert ws.data(model)[0] == row["observed_count"]
        assert upper_limits(ws).expected[2] * row["gprime_ref"] ** 2 == pytest.approx(row["mu_exp"], rel=1e-4)
    png = out / "gprime_limit.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_script_fails_with_one_line_on_a_bad_input(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "missing.pkl")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "missing.pkl: no such file" in proc.stderr

    main = _load_script().main
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle")
    not_a_dict = tmp_path / "list.pkl"
    not_a_dict.write_bytes(pickle.dumps([1, 2, 3]))
    no_metadata = tmp_path / "nometa.pkl"
    no_metadata.write_bytes(pickle.dumps({"datasets": {}}))
    for path in (garbage, not_a_dict, no_metadata):
        assert main([str(path), "--output", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_write_limits_of_two_signal_channels(tmp_path):
    """The visible search writes one table of two signal samples: rows of both, prefixed workspaces, one figure."""
    parts = {
        "isr_1p0": _dataset("signal_visible_isr", {1000: 400}, 50.0, 1000, mzp=1.0),
        "plain_1p0": _dataset("signal_visible", {1000: 600}, 40.0, 1000, mzp=1.0),
        "four_mu": _dataset("aafh_mumumumu", {1000: 3}, 1.0, 1000),  # B = 3 (exact) at 1 fb^-1
    }
    result = _result(parts, lumi_fb=1.0)
    tables = [compute_limits(window_yields(result, signal_channel=c)) for c in ("signal_visible_isr", "signal_visible")]
    written = write_limits(tables, tmp_path, {"description": "test"}, coupling_name="gprime", plot_name="g.png")
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert names == {
        "workspaces/zprime_visible_isr_mzp_1000.json", "workspaces/zprime_visible_noisr_mzp_1000.json",
        "workspaces/fit_settings.json", "workspaces/README.md", "limits.csv", "limits.json", "g.png",
    }  # fmt: skip
    lines = (tmp_path / "limits.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert len(lines) == 3 and {"mzp_gev", "signal_channel", "br_mumu", "gprime_exp", "workspace"} <= set(header)
    document = json.loads((tmp_path / "limits.json").read_text())
    assert document["description"] == "test" and document["skipped_mzp_mev"] == []
    assert [r["signal_channel"] for r in document["limits"]] == ["signal_visible_isr", "signal_visible"]
    assert document["limits"][0]["background_aafh_mumumumu"] == pytest.approx(3.0)
    settings = json.loads((tmp_path / "workspaces" / "fit_settings.json").read_text())
    for table, row in zip(tables, document["limits"], strict=True):
        entry = settings["workspaces"][row["workspace"].removeprefix("workspaces/")]
        assert entry["signal_channel"] == table.yields.signal_channel and entry["calculator"] == "exact"
        assert entry["coupling_ref"] * math.sqrt(entry["mu_workspace"]["exp"]) == pytest.approx(row["gprime_exp"], rel=1e-12)
    with pytest.raises(ValueError, match="several tables of one signal channel"):
        write_limits([tables[0], tables[0]], tmp_path / "again", {})


# --- systematic uncertainties as normsys modifiers ----------------------------------------------


def _with_channel(yields, channel="kkmc_mumu"):
    """``yields`` with all of its background in one fileset channel (for the per-channel normalisation)."""
    return dataclasses.replace(yields, background_by_channel={channel: np.asarray(yields.background, dtype=float)})


def test_systematics_sizes_zero_give_todays_limits_and_workspaces():
    from sensitivity.systematics import load_systematics

    y = _with_channel(toy_yields([3.0, 40.0], [1.0, 5.0], [50.0, 50.0]))
    today = compute_limits(y)
    off = compute_limits(y, systematics=load_systematics().disabled())
    assert off.workspaces == today.workspaces
    for key in today.mu:
        np.testing.assert_array_equal(off.mu[key], today.mu[key])


@pytest.mark.parametrize("kind", ["signal", "background"])
def test_a_normsys_weakens_the_expected_limit_monotonically_in_its_size(kind):
    from sensitivity.systematics import SystematicsTable

    y = _with_channel(toy_yields([12.0], [2.0], [30.0], mzp_mev=(2000,)))
    limits = []
    for size in (0.0, 0.1, 0.3, 0.6):
        table = SystematicsTable(signal={"trigger": size}) if kind == "signal" else SystematicsTable(background={"kkmc_mumu": size})
        t = compute_limits(y, calculator="exact", systematics=table)
        limits.append(float(t.mu["exp"][0]))
        spec = t.workspaces[2000]
        pyhf.Workspace(spec).model()  # valid against pyhf's schema, and a model builds
        names = {m["name"] for s in spec["channels"][0]["samples"] for m in s["modifiers"]}
        assert (("sig_trigger" in names) if kind == "signal" else ("bkg_norm_kkmc_mumu" in names)) == (size > 0)
    assert all(b > a for a, b in zip(limits, limits[1:], strict=False)), limits  # noqa: RUF007
    # the asymptotic path (pyhf profiles the normsys) agrees on the direction
    sizes = (0.0, 0.3)
    asym = []
    for size in sizes:
        table = SystematicsTable(signal={"trigger": size}) if kind == "signal" else SystematicsTable(background={"kkmc_mumu": size})
        asym.append(float(compute_limits(y, calculator="asymptotic", systematics=table).mu["exp"][0]))
    assert asym[1] > asym[0]


def test_background_normsys_is_the_channel_share_of_its_size():
    from sensitivity.systematics import SystematicsTable, normsys_modifiers

    _, bkg = normsys_modifiers(SystematicsTable(background={"a": 0.2, "b": 0.05}), {"a": 25.0, "b": 75.0}, 100.0)
    sizes = {m["name"]: m["data"]["hi"] - 1.0 for m in bkg}
    assert sizes == pytest.approx({"bkg_norm_a": 0.2 * 0.25, "bkg_norm_b": 0.05 * 0.75})


def test_signal_shape_size_is_the_gaussian_window_acceptance_loss():
    from sensitivity.systematics import window_acceptance_shift

    assert window_acceptance_shift(3.0, 0.0) == 0.0
    # +-3 sigma window, width 10% larger: erf(3 / 1.1 / sqrt 2) / erf(3 / sqrt 2) = 0.99361 / 0.99730
    assert window_acceptance_shift(3.0, 0.10) == pytest.approx(1 - 0.993614 / 0.997300, rel=1e-3)
    assert window_acceptance_shift(2.0, 0.10) > window_acceptance_shift(3.0, 0.10)


def test_limit_from_workspace_reproduces_the_written_limits_with_systematics(tmp_path):
    from sensitivity.limits import limit_from_workspace
    from sensitivity.systematics import load_systematics

    y = _with_channel(toy_yields([4.0, 900.0], [1.0, 60.0], [40.0, 400.0]))
    table = compute_limits(y, systematics=load_systematics())
    assert table.calculator == ("exact", "asymptotic")
    assert np.all(table.background_syst > 0) and np.all(table.signal_syst > 0)
    write_limits(table, tmp_path, {"description": "test"})
    for i, mass_mev in enumerate(y.mass_mev):
        again = limit_from_workspace(tmp_path / "workspaces" / f"mzp_{mass_mev}.json")
        for key, value in again["mu"].items():
            assert value == pytest.approx(table.mu_workspace[key][i], rel=2e-3), (mass_mev, key)


def test_one_normsys_per_sample_has_the_profile_likelihood_of_all_of_them():
    """The asymptotic limits fit one combined normsys per sample (systematics.profile_equivalent_workspace).
    The CLs of the asymptotic calculator is a function of the test statistic q~_mu only: from mu = 1 to 10
    (q~ = 0.004 to 6.7, across the 90% CL value ~2.7) it stays within 0.01 of the workspace with one normsys
    per source (measured: 0.0065 at most; pyhf's code-4 interpolation makes it close, not exact), where
    adding the sizes linearly moves it by up to 2.5; the fitted -2 ln L differs by the ln(2 pi) of each
    constraint removed (to 1e-3)."""
    from sensitivity.limits import BoundedQuasiNewtonOptimizer, _pyhf_optimizer
    from sensitivity.systematics import profile_equivalent_workspace

    sig = [{"name": f"s{k}", "type": "normsys", "data": {"hi": 1 + d, "lo": 1 - d}} for k, d in enumerate((0.03, 0.05, 0.1))]
    bkg = [{"name": f"b{k}", "type": "normsys", "data": {"hi": 1 + d, "lo": 1 - d}} for k, d in enumerate((0.04, 0.15))]
    spec = counting_workspace(40.0, 900.0, 60.0, 930.0, signal_modifiers=sig, background_modifiers=bkg)
    reduced = profile_equivalent_workspace(spec)
    assert [len([m for m in s["modifiers"] if m["type"] == "normsys"]) for s in reduced["channels"][0]["samples"]] == [1, 1]
    linear = json.loads(json.dumps(reduced))
    for sample, mods in zip(linear["channels"][0]["samples"], (sig, bkg), strict=True):
        total = sum(m["data"]["hi"] - 1 for m in mods)
        sample["modifiers"][-1]["data"] = {"hi": 1 + total, "lo": 1 - total}

    def fitted(s, mu):
        ws = pyhf.Workspace(s)
        model, data = ws.model(), ws.data(ws.model())
        with _pyhf_optimizer(BoundedQuasiNewtonOptimizer()):
            nll = float(pyhf.infer.mle.fixed_poi_fit(mu, data, model, return_fitted_val=True)[1])
            q = float(pyhf.infer.test_statistics.qmu_tilde(mu, data, model, model.config.suggested_init(),
                                                           model.config.suggested_bounds(), model.config.suggested_fixed()))  # fmt: skip
        return nll, q

    offset = 3 * math.log(2 * math.pi)  # 5 constraints -> 2
    assert fitted(reduced, 0.0)[0] + offset == pytest.approx(fitted(spec, 0.0)[0], abs=1e-3)
    worst_linear = 0.0
    for mu in (1.0, 2.5, 5.0, 10.0):
        q_full, q_reduced, q_linear = (fitted(s, mu)[1] for s in (spec, reduced, linear))
        assert q_reduced == pytest.approx(q_full, abs=0.01), mu
        worst_linear = max(worst_linear, abs(q_linear - q_full))
    assert worst_linear > 0.5
