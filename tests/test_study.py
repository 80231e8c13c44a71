"""The study command on a real Dask cluster gives the limits of the iterative run.

The executor only runs the processing step (the one pass over the ntuples); every later step
reads its products. So: the whole invisible-Z' study (features, cut optimisation, network,
limits) is run with both executors and its limits compared; for the visible and scalar searches
the processing products (pickle and exported features) are compared, which is what their
limits are computed from.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from processors.compare import differences
from sensitivity.features import load_features
from sensitivity.report import read_csv

ROOT = Path(__file__).resolve().parents[1]
EXECUTORS = (["--executor", "iterative"], ["--executor", "dask", "--cluster", "local", "--workers", "2"])


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_zprime_study_on_dask_gives_the_iterative_limits(small_sample_dir, tmp_path):
    outputs = []
    for k, executor in enumerate(EXECUTORS):
        out, results = tmp_path / f"study{k}", tmp_path / f"results{k}.md"
        _run(str(ROOT / "scripts" / "study.py"), "--analysis", "zprime", "--fileset", str(small_sample_dir / "fileset.json"),
             "--output", str(out), "--results", str(results), "--chunksize", "5000", "--punzi-epochs", "1",
             "--bce-epochs", "1", *executor)  # fmt: skip
        outputs.append((out, results.read_text()))
    (iterative, text_iterative), (dask, text_dask) = outputs
    for selection in ("cuts", "network"):
        rows = read_csv(iterative / "limits" / selection / "limits.csv")
        assert rows == read_csv(dask / "limits" / selection / "limits.csv")
        assert any(float(r["gprime_exp"]) > 0 for r in rows)
    # the results section quotes the limits of the CSV, and names the executor that made them
    two_gev = next(r for r in read_csv(iterative / "limits" / "cuts" / "limits.csv") if float(r["mzp_gev"]) == 2.0)
    assert f"| 2 | {float(two_gev['efficiency']):.4f} |" in text_iterative
    assert "executor iterative" in text_iterative and "executor dask" in text_dask
    assert text_iterative.count("<!-- study:zprime -->") == 1


@pytest.mark.slow
@pytest.mark.parametrize("analysis", ["visible", "scalar"])
def test_processing_products_do_not_depend_on_the_executor(analysis, small_sample_dir, tmp_path):
    products = []
    for k, executor in enumerate(EXECUTORS):
        out = tmp_path / f"run{k}"
        _run(str(ROOT / "run.py"), "--analysis", analysis, "--fileset", str(small_sample_dir / "fileset.json"),
             "--output", str(out / "out.pkl"), "--features", str(out / "features"), "--chunksize", "5000", *executor)  # fmt: skip
        with (out / "out.pkl").open("rb") as fh:
            products.append((pickle.load(fh), load_features(out / "features")))
    (result_a, features_a), (result_b, features_b) = products
    assert differences(result_a, result_b) == []
    assert len(features_a) > 0
    assert features_a.equals(features_b)
