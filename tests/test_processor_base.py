"""The shared processor pieces: the cutflow helpers and the output contract every search follows."""

from __future__ import annotations

import numpy as np

from core.fileset import load_fileset
from execution.runner import ExecutionOptions, run_processor
from processors.base import HYPOTHESIS_CUTFLOW, WINDOW, cutflow_from_stages, hypothesis_cutflows
from processors.searches import SEARCHES


def test_cutflow_counts_events_reaching_each_stage():
    stage = np.array([0, 1, 2, 2, 3, 1, 0, 3])
    assert cutflow_from_stages(stage, ("a", "b", "c")) == {"all": 8, "a": 6, "b": 4, "c": 2}
    assert cutflow_from_stages(np.array([], dtype=np.int64), ("a",)) == {"all": 0, "a": 0}


def test_hypothesis_cutflow_counts_codes_at_least_each_requirement():
    codes = np.array([[0, 1, 2, 2, 3], [3, 3, 0, 1, 0]])  # hypotheses x candidate events
    out = hypothesis_cutflows(codes, [100, 2000], ("pre", "cut1", "cut2", WINDOW))
    assert out == {100: {"pre": 5, "cut1": 4, "cut2": 3, WINDOW: 1}, 2000: {"pre": 5, "cut1": 3, "cut2": 2, WINDOW: 2}}
    assert list(out[100]) == ["pre", "cut1", "cut2", WINDOW]  # in order, the window last


def test_every_search_follows_one_output_contract(small_sample_dir, tmp_path):
    for name, search in SEARCHES.items():
        fileset = load_fileset(small_sample_dir / "fileset.json", search.channels)
        processor = search.make_processor(626.0, search.load_table(None))
        out, _ = run_processor(fileset, processor, list(search.branches), ExecutionOptions(executor="iterative"), tmp_path / name, {})
        for dataset, output in out.items():
            assert list(output["cutflow"])[0] == "all", (name, dataset)
            counts = list(output["cutflow"].values())
            assert counts == sorted(counts, reverse=True), (name, dataset)  # a cutflow never grows
            assert output["recoil_mass2"].axes[0].name == "mrecoil2"
            assert sorted(output[HYPOTHESIS_CUTFLOW]) == processor.masses_mev
            legacy = output[processor.LEGACY_HYPOTHESIS_KEY]
            for mass, stages in output[HYPOTHESIS_CUTFLOW].items():
                assert list(stages)[-1] == WINDOW
                # the search-specific key holds the same numbers under its older window name
                assert list(legacy[mass].values()) == list(stages.values())
                assert list(legacy[mass])[-1] == processor.LEGACY_WINDOW
