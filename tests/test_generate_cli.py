"""The datasets/generate.py command line (docs/command-line.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "datasets" / "generate.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_generate_writes_files_and_fileset(tmp_path):
    res = run("--channel", "signal", "--mass", "1", "--events", "3000", "--output", str(tmp_path), "--seed", "4", "--quiet")
    assert res.returncode == 0, res.stderr
    fileset = json.loads((tmp_path / "fileset.json").read_text())
    meta = fileset["signal_mzp_1p0"]["metadata"]
    assert meta == {**meta, "channel": "signal", "mzp": 1.0, "n_generated": 3000}
    assert meta["xsec_pb"] == pytest.approx(100.0, rel=0.05)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--channel", "kkmc_ee", "--events", "10"], "kkmc_ee"),
        (["--channel", "signal", "--events", "10"], "--mass"),
        (["--channel", "kkmc_mumu", "--mass", "1", "--events", "10"], "--mass"),
        (["--channel", "kkmc_mumu", "--events", "-5"], "-5"),
        (["--channel", "kkmc_mumu", "--events", "ten"], "ten"),
        (["--channel", "signal", "--mass", "11", "--events", "10"], "mass"),
        (["--channel", "signal", "--mass", "-1", "--events", "10"], "-1"),
    ],
)
def test_bad_options_fail_with_one_clear_line(tmp_path, args, needle):
    res = run(*args, "--output", str(tmp_path), "--quiet")
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "error" in last and needle in last
    assert "Traceback" not in res.stderr
