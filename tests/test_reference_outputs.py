"""Numbers a refactor must not change: every search's cutflows and histogram totals on the seeded
small sample, compared exactly with the committed summaries in ``tests/reference/``.

A change that moves a number on purpose (new physics, a new cut value) rewrites the reference:
``python -m pytest tests/test_reference_outputs.py --update-reference`` (see conftest.py), and the
diff of the JSON shows what moved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.fileset import load_fileset
from execution.runner import ExecutionOptions, run_processor
from processors.compare import differences, summary
from processors.searches import SEARCHES

REFERENCE = Path(__file__).resolve().parent / "reference"
CHUNKSIZE = 7_000
"""Fixed: histogram sums are exact only for a fixed order of additions."""


@pytest.mark.parametrize("search_name", list(SEARCHES))
def test_outputs_equal_the_committed_reference(search_name, small_sample_dir, tmp_path, request):
    search = SEARCHES[search_name]
    fileset = load_fileset(small_sample_dir / "fileset.json", search.channels)
    processor = search.make_processor(626.0, search.load_table(None))
    options = ExecutionOptions(executor="iterative", chunksize=CHUNKSIZE)
    out, _ = run_processor(fileset, processor, list(search.branches), options, tmp_path / "chunks", {"search": search_name})
    result = {"datasets": out}
    path = REFERENCE / f"small_sample_{search_name}.json"
    if request.config.getoption("--update-reference"):
        path.write_text(json.dumps(summary(result), indent=1, sort_keys=True) + "\n")
    reference = json.loads(path.read_text())
    assert len(reference) > 50
    assert differences(reference, result) == []
