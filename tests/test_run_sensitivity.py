"""The one-command sensitivity study on the small sample: every step runs and the summary is written."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_the_study_runs_end_to_end(small_sample_dir, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "study"
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_sensitivity.py"), "--fileset", str(small_sample_dir / "fileset.json"),
         "--output", str(out), "--bce-epochs", "1", "--punzi-epochs", "1"],
        capture_output=True, text=True, timeout=590,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    for product in ("zprime_invisible.pkl", "cut_optimisation.json", "punzi_net/model.pt", "limits/cuts/limits.csv",
                    "limits/network/limits.csv", "sensitivity_summary.csv"):  # fmt: skip
        assert (out / product).exists(), product
    with open(out / "sensitivity_summary.csv", newline="") as fh:
        rows = {float(r["mzp_gev"]): r for r in csv.DictReader(fh)}
    # the small sample has signal only at 2 GeV: there both selections give a finite, positive g' limit
    assert 0 < float(rows[2.0]["gprime_expected_cuts"]) < float("inf")
    assert 0 < float(rows[2.0]["gprime_expected_network"]) < float("inf")
