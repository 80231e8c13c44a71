"""The figure-of-merit optimisation of the cuts, and the processor reproducing its eps and B."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
from coffea import processor
from coffea.nanoevents import BaseSchema

from belle_mc.production import produce
from core.fileset import load_fileset
from core.weights import event_weight
from execution.runner import ExecutionOptions, run_processor
from processors.invisible_zprime import SEARCH as ZPRIME_SEARCH
from processors.invisible_zprime import InvisibleZPrimeProcessor
from selections.zprime_selection import WINDOW, CutTable, load_cut_table
from sensitivity.cut_optimisation import FIT_PART, HypothesisProblem, load_samples, optimise_table
from sensitivity.features import load_features

LUMI_FB = 626.0
MASSES = (1.0, 4.0)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("optimisation_sample")
    for m in MASSES:
        produce("signal", 20_000, out, mass=m, seed=5, progress=False)
    for channel, n in (("kkmc_mumu", 100_000), ("kkmc_tautau", 300_000), ("aafh_eemumu", 100_000)):
        produce(channel, n, out, seed=5, progress=False)
    return out / "fileset.json"


def processor_features(fileset_path, directory):
    """(features table, dataset metadata) of a processor pass with the feature export, as the study makes them."""
    fileset = load_fileset(fileset_path)
    options = ExecutionOptions(executor="iterative", chunksize=60_000)
    run_processor(fileset, InvisibleZPrimeProcessor(LUMI_FB, None, directory), list(ZPRIME_SEARCH.branches), options, directory / "chunks", {})
    return load_features(directory), {name: entry["metadata"] for name, entry in fileset.items()}


@pytest.fixture(scope="module")
def samples(sample, tmp_path_factory):
    return load_samples(*processor_features(sample, tmp_path_factory.mktemp("features")), LUMI_FB)


@pytest.fixture(scope="module")
def optimised(samples):
    table = load_cut_table()
    start = CutTable(tuple(h for h in table.hypotheses if h.mzp_gev in MASSES), table.window_n_sigma)
    new, report = optimise_table(start, samples)
    return start, new, report


def test_lower_bounds_keep_the_cuts_above_them_and_cost_figure_of_merit(samples, optimised):
    """A lower bound on a cut (as on a sample with generator filters) is respected from the start, the ascent inside
    it only raises the figure of merit above that of the start raised to the bound, and an unknown parameter is
    refused. (Against the free optimisation it can go either way: both are local ascents from different starts.)"""
    start, free, free_report = optimised
    floor = max(h.pt_mumu_min_gev for h in free.hypotheses) + 0.3
    seen = []

    def bounds(m2_low, m2_high):
        seen.append((m2_low, m2_high))
        return {"pt_mumu_min_gev": floor}

    bounded, report = optimise_table(start, samples, bounds)
    assert len(seen) == len(start.hypotheses) and all(lo < hi for lo, hi in seen)
    for start_h, h, row in zip(start.hypotheses, bounded.hypotheses, report):
        assert h.pt_mumu_min_gev >= floor
        raised = dataclasses.replace(start_h, pt_mumu_min_gev=max(floor, start_h.pt_mumu_min_gev))
        problem = HypothesisProblem(start_h, samples, start.window_n_sigma, FIT_PART)
        assert row["fit_after"]["fom"] >= problem.yields(raised).fom
        assert row["fit_after"]["fom"] == pytest.approx(problem.yields(h).fom, rel=1e-12)
    with pytest.raises(ValueError, match="unknown cut parameters"):
        optimise_table(start, samples, lambda lo, hi: {"pt_mumu_max_gev": 1.0})


def test_optimisation_raises_the_figure_of_merit_it_maximises(optimised):
    start, new, report = optimised
    for before, after, row in zip(start.hypotheses, new.hypotheses, report):
        assert after.mzp_gev == before.mzp_gev and after.sigma_recoil_mass2_gev2 == before.sigma_recoil_mass2_gev2
        assert row["fit_after"]["fom"] >= row["fit_before"]["fom"]
        assert row["fit_after"]["punzi"] > 0


def test_processor_with_the_new_table_reproduces_eps_and_background(sample, optimised):
    _, new, report = optimised
    fileset = json.loads(sample.read_text())
    for entry in fileset.values():
        entry["files"] = {str(sample.parent / f): t for f, t in entry["files"].items()}
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False), schema=BaseSchema, chunksize=50_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = runner(fileset, processor_instance=InvisibleZPrimeProcessor(LUMI_FB, new))
    for h, row in zip(new.hypotheses, report):
        signal = next(n for n, e in fileset.items() if e["metadata"].get("mzp") == h.mzp_gev)
        eps = out[signal]["cutflow_mzp"][h.mzp_mev][WINDOW] / fileset[signal]["metadata"]["n_generated"]
        background = sum(
            out[n]["cutflow_mzp"][h.mzp_mev][WINDOW] * event_weight(e["metadata"], LUMI_FB)
            for n, e in fileset.items()
            if e["metadata"]["channel"] != "signal"
        )
        assert eps == pytest.approx(row["all_after"]["eps"], rel=1e-12)
        assert background == pytest.approx(row["all_after"]["background"], rel=1e-12, abs=1e-9)
        assert np.isfinite(row["evaluation_after"]["fom"])


def test_window_events_alone_and_a_thinned_fit_part_give_the_same_yields(samples, optimised):
    """What optimise_cuts.py reads on a sample larger than memory: only the events inside some window (the others
    change no yield), and with --thin K every K-th fit event, whose yields are those of that part."""
    from selections.zprime_variables import COLUMN

    start, new, _ = optimised
    windowed = []
    for s in samples:
        keep = start.in_any_window(s.variables[COLUMN["recoil_mass2"]])
        windowed.append(dataclasses.replace(s, variables=s.variables[:, keep], event=s.event[keep]))
    assert sum(s.variables.shape[1] for s in windowed) < sum(s.variables.shape[1] for s in samples)
    for h in new.hypotheses:
        for part in (FIT_PART, "evaluation", "fit/3"):
            full = HypothesisProblem(h, samples, start.window_n_sigma, part).yields(h)
            assert HypothesisProblem(h, windowed, start.window_n_sigma, part).yields(h) == full
    thin_table, report = optimise_table(start, windowed, None, "fit/3", "evaluation/3")
    for h, row in zip(thin_table.hypotheses, report):
        assert "all_after" not in row and np.isfinite(row["evaluation_after"]["fom"])
        assert row["fit_after"]["fom"] >= row["fit_before"]["fom"]
        assert row["fit_after"]["fom"] == pytest.approx(HypothesisProblem(h, samples, start.window_n_sigma, "fit/3").yields(h).fom, rel=1e-12)
        # the report on the evaluation split is thinned like the fit (what optimise_cuts.py --thin 3 reads)
        thin_evaluation = HypothesisProblem(h, samples, start.window_n_sigma, "evaluation/3").yields(h)
        assert row["evaluation_after"]["background"] == pytest.approx(thin_evaluation.background, rel=1e-12, abs=1e-9)
        assert row["evaluation_after"]["eps"] == pytest.approx(thin_evaluation.eps, rel=1e-12)
