"""The dask-awkward notebook path gives the Runner's histograms and cutflows, for every search."""

from __future__ import annotations

import warnings

import dask
import pytest

from core.fileset import load_fileset
from execution.notebook import lazy_search_output
from execution.runner import ExecutionOptions, run_processor
from processors.compare import differences
from processors.searches import SEARCHES


@pytest.mark.parametrize("search_name", list(SEARCHES))
def test_lazy_output_equals_the_runner_output(search_name, small_sample_dir, tmp_path):
    search = SEARCHES[search_name]
    fileset_path = small_sample_dir / "fileset.json"
    runner_out, _ = run_processor(
        load_fileset(fileset_path, search.channels),
        search.make_processor(626.0, search.load_table(None)),
        list(search.branches),
        ExecutionOptions(executor="iterative", chunksize=1_000_000),
        tmp_path / "chunks",
        {},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coffea warns that steps_per_file is for exploratory use
        lazy = lazy_search_output(search_name, fileset_path)
        (notebook_out,) = dask.compute(lazy, scheduler="sync")
    assert sorted(notebook_out) == sorted(runner_out)
    assert differences({"datasets": runner_out}, {"datasets": dict(notebook_out)}, rtol=1e-12) == []
    assert sum(d["cutflow"]["all"] for d in notebook_out.values()) > 10_000
