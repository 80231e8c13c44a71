"""The study command on a real Dask cluster gives the limits of the iterative run.

The executor only runs the processing step (the one pass over the ntuples); every later step
reads its products. So: the whole invisible-Z' study (features, cut optimisation, network,
limits) is run on Dask and its processing products compared with those of the iterative
executor; for the visible and scalar searches the processing products (pickle and exported
features) of both executors are compared, which is what their limits are computed from.
"""

from __future__ import annotations

import json
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


def _processing_products(out: Path) -> tuple[dict, object]:
    with (out / "zprime_invisible.pkl").open("rb") as fh:
        return pickle.load(fh), load_features(out / "features")


@pytest.mark.slow
def test_zprime_study_on_dask_gives_the_iterative_products_and_its_limits(small_sample_dir, tmp_path):
    """The whole study on a local Dask cluster; the iterative executor only for the processing step, the one step an
    executor runs (every later step reads its products, so equal products give equal limits)."""
    fileset = str(small_sample_dir / "fileset.json")
    study, results = tmp_path / "study", tmp_path / "results.md"
    _run(str(ROOT / "scripts" / "study.py"), "--analysis", "zprime", "--fileset", fileset, "--output", str(study),
         "--results", str(results), "--chunksize", "5000", "--punzi-epochs", "1", "--bce-epochs", "1", "--thin", "2", *EXECUTORS[1])  # fmt: skip
    iterative = tmp_path / "iterative"
    _run(str(ROOT / "run.py"), "--analysis", "zprime", "--fileset", fileset, "--output", str(iterative / "zprime_invisible.pkl"),
         "--features", str(iterative / "features"), "--chunksize", "5000", "--no-figures", *EXECUTORS[0])  # fmt: skip
    (result_dask, features_dask), (result_iterative, features_iterative) = map(_processing_products, (study, iterative))
    assert result_dask["metadata"]["executor"] == "dask" and result_iterative["metadata"]["executor"] == "iterative"
    assert differences(result_dask, result_iterative) == []
    assert len(features_dask) > 0 and features_dask.equals(features_iterative)
    for selection in ("cuts", "network"):
        assert any(float(r["gprime_exp"]) > 0 for r in read_csv(study / "limits" / selection / "limits.csv"))
    # --thin 2: the cuts are fitted, and reported, on every second event of their parts
    assert json.loads((study / "cut_optimisation.json").read_text())["parts"] == {"fit": "fit/2", "evaluation": "evaluation/2"}
    # the results section quotes the limits of the CSV, and names the executor that made them
    text = results.read_text()
    two_gev = next(r for r in read_csv(study / "limits" / "cuts" / "limits.csv") if float(r["mzp_gev"]) == 2.0)
    assert f"| 2 | {float(two_gev['efficiency']):.4f} |" in text
    assert "executor dask" in text and text.count("<!-- study:zprime -->") == 1


@pytest.mark.slow
@pytest.mark.parametrize("analysis", ["visible", "scalar"])
def test_processing_products_do_not_depend_on_the_executor(analysis, small_sample_dir, tmp_path):
    products = []
    for k, executor in enumerate(EXECUTORS):
        out = tmp_path / f"run{k}"
        _run(str(ROOT / "run.py"), "--analysis", analysis, "--fileset", str(small_sample_dir / "fileset.json"),
             "--output", str(out / "out.pkl"), "--features", str(out / "features"), "--chunksize", "5000", "--no-figures", *executor)  # fmt: skip
        with (out / "out.pkl").open("rb") as fh:
            products.append((pickle.load(fh), load_features(out / "features")))
    (result_a, features_a), (result_b, features_b) = products
    assert differences(result_a, result_b) == []
    assert len(features_a) > 0
    assert features_a.equals(features_b)


def test_limit_plot_leaves_out_masses_where_a_selection_selects_nothing(tmp_path):
    """A selection that keeps no event at some mass has an empty limit there; the plot draws the other masses."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from study import plot_limit_comparison

    for name, limit_at_1_gev in (("cuts", "0.003"), ("cuts_evaluation", "0.0037"), ("network", "")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "limits.csv").write_text(f"mzp_gev,gprime_exp\n0.1,0.001\n1,{limit_at_1_gev}\n5,0.02\n")
    figure = tmp_path / "limits.png"
    plot_limit_comparison(tmp_path, figure, 626.0)
    assert figure.stat().st_size > 0
