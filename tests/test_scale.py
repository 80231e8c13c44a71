"""A pool run in miniature (benchmarks/bench_pool.py on the small sample): adaptive batch workers join over
time through the stand-in SLURM commands, one job is cancelled mid-run, the pool scales down once the work
is done, and the output equals the iterative run. The 16-worker run on the default sample is the benchmark
itself (numbers in condor/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(150)
def test_adaptive_pool_with_a_removed_job_equals_the_iterative_run(small_sample_dir, tmp_path):
    out = tmp_path / "bench_pool.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_pool.py"), "--fileset", str(small_sample_dir / "fileset.json")]
    command += ["--system", "slurm", "--max-workers", "4", "--chunksize", "500", "--target-duration", "0.5s", "--json", str(out)]
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    res = subprocess.run(command, check=False, capture_output=True, text=True, timeout=140, env={**os.environ, "TMPDIR": str(temporary)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert not list(temporary.glob("bench_pool-*"))  # the pool's working directory is removed after a successful run
    result = json.loads(out.read_text())
    assert result["differences_from_iterative"] == []
    assert result["events"] > 0 and result["chunks"] > 60
    joins = [workers for _, _, workers in result["worker_joins"]]
    assert joins[0] <= 1 < result["max_workers_connected"]  # workers joined over time (how many at once depends on the load)
    assert result["removed_before_the_run_ended"]  # a job cancelled while chunks were running
    assert result["jobs_after_scale_down"] == 1  # adaptive minimum once the work is done
    assert result["jobs_left_after_close"] == 0
