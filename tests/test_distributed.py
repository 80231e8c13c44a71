"""run.py on every executor: identical histograms, a killed worker, an interrupted and resumed run.

Real components only: coffea's executors, a distributed LocalCluster started by
run.py, worker processes killed with SIGKILL.
"""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np
import psutil
import pytest
import uproot
from standin import kill_leftovers, loopback_config, queued_jobs, standin_environment

ROOT = Path(__file__).resolve().parents[1]


def run_py(*args, timeout=600, env=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args, "--no-figures"], capture_output=True, text=True, timeout=timeout, env=env
    )


def load(path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def assert_same_histograms(a: dict, b: dict) -> None:
    """Counts exactly equal, sums of weights equal to 1e-12 relative, for every dataset and histogram."""
    assert a.keys() == b.keys()
    for name in a:
        da, db = a[name], b[name]
        assert da["cutflow"] == db["cutflow"], name
        assert da["cutflow_mzp"] == db["cutflow_mzp"], name
        pairs = [(da["recoil_mass2"], db["recoil_mass2"]), (da["recoil_mass2_selected"], db["recoil_mass2_selected"])]
        pairs += [(da[group][v], db[group][v]) for group in ("control_preselection", "control_selected") for v in da[group]]
        for ha, hb in pairs:
            assert ha.axes == hb.axes
            np.testing.assert_allclose(ha.values(flow=True), hb.values(flow=True), rtol=1e-12, atol=0)
            np.testing.assert_allclose(ha.variances(flow=True), hb.variances(flow=True), rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def fileset_path(small_sample_dir):
    return small_sample_dir / "fileset.json"


@pytest.fixture(scope="module")
def reference(fileset_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "ref.pkl"
    res = run_py("--fileset", str(fileset_path), "--executor", "iterative", "--chunksize", "1000000", "--output", str(out))
    assert res.returncode == 0, res.stderr
    return load(out)


EVEN_ENTRIES = 6000
"""Entries of every file of the ``even`` fileset, so that some chunk sizes divide every file exactly."""


def _copy_first_entries(source: Path, target: Path, n: int) -> None:
    """Write the first ``n`` events of an ntuple to a new TTree with the same branches and types."""
    arrays = uproot.open(source)["events"].arrays(entry_stop=n)
    data = {name: ak.to_numpy(arrays[name]) for name in ("exp", "run", "event")}
    for collection in ("Track", "Cluster"):
        prefix = f"{collection}_"
        data[collection] = ak.zip({f[len(prefix) :]: arrays[f] for f in arrays.fields if f.startswith(prefix)})
    with uproot.recreate(target) as f:
        types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
        f.mktree("events", types).extend(data)


@pytest.fixture(scope="module")
def even(small_sample_dir, tmp_path_factory):
    """(fileset path, iterative reference) for files of exactly EVEN_ENTRIES events each."""
    directory = tmp_path_factory.mktemp("even")
    fileset = json.loads((small_sample_dir / "fileset.json").read_text())
    for name, entry in fileset.items():
        files = {}
        for i, source in enumerate(f for f in entry["files"] if uproot.open(small_sample_dir / f)["events"].num_entries >= EVEN_ENTRIES):
            target = f"{name}_{i}.root"
            _copy_first_entries(small_sample_dir / source, directory / target, EVEN_ENTRIES)
            files[target] = "events"
        entry["files"] = files
    fileset = {name: entry for name, entry in fileset.items() if entry["files"]}
    path = directory / "fileset.json"
    path.write_text(json.dumps(fileset))
    out = directory / "ref.pkl"
    res = run_py("--fileset", str(path), "--executor", "iterative", "--chunksize", "1000000", "--output", str(out))
    assert res.returncode == 0, res.stderr
    return path, load(out)


@pytest.mark.parametrize(
    "options",
    [
        ["--executor", "iterative", "--chunksize", "2000"],  # divides every file (6000 entries)
        ["--executor", "iterative", "--chunksize", "2999"],  # does not
        ["--executor", "futures", "--workers", "2", "--chunksize", "1500"],
        ["--executor", "dask", "--cluster", "local", "--workers", "2", "--chunksize", "2999"],
        ["--executor", "dask", "--cluster", "local", "--adapt", "1:2", "--chunksize", "2999"],
        ["--executor", "dask", "--cluster", "condor", "--workers", "2", "--chunksize", "2999"],
        ["--executor", "dask", "--cluster", "slurm", "--workers", "2", "--chunksize", "2999"],
        ["--executor", "dask", "--cluster", "lsf", "--adapt", "1:2", "--chunksize", "2999"],
    ],
    ids=lambda o: f"{o[1]}{'-' + o[o.index('--cluster') + 1] if '--cluster' in o else ''}-{o[-1]}",
)
@pytest.mark.timeout(300)
def test_every_executor_and_chunking_gives_identical_histograms(even, tmp_path, options):
    fileset_path, reference = even
    out = tmp_path / "out.pkl"
    env = None
    batch = options[options.index("--cluster") + 1] in ("condor", "slurm", "lsf") if "--cluster" in options else False
    if batch:
        # stand-in batch commands run the submitted job scripts as local processes; everything on 127.0.0.1, TLS on
        env = {**os.environ, **standin_environment(tmp_path / "state")}
        options = [*options, "--batch-config", str(loopback_config(tmp_path))]
    try:
        res = run_py("--fileset", str(fileset_path), *options, "--output", str(out), env=env)
    finally:
        kill_leftovers(tmp_path / "state")
    assert res.returncode == 0, res.stderr[-3000:]
    if batch:
        assert "Dask scheduler: tls://127.0.0.1:" in res.stdout
        assert queued_jobs(tmp_path / "state") == []  # no job left behind
        assert list((tmp_path / "logs" / ".dask-credentials").iterdir()) == []  # the run's credentials went with it
    result = load(out)
    assert_same_histograms(reference["datasets"], result["datasets"])
    for name, entry in json.loads(fileset_path.read_text()).items():
        assert result["datasets"][name]["cutflow"]["all"] == EVEN_ENTRIES * len(entry["files"])
    if "dask" in options:
        assert "Dask dashboard: http" in res.stdout
    assert not (tmp_path / "out.pkl.chunks").exists()  # chunk results are removed once the output is written


def _wait_for_chunks(directory: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while sum(1 for _ in directory.rglob("*.pkl.lz4")) < n:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "run.py ended early"
        assert time.monotonic() - t0 < timeout, "no chunk results appeared"
        time.sleep(0.05)


@pytest.mark.timeout(300)
def test_a_killed_dask_worker_does_not_change_the_result(fileset_path, reference, tmp_path):
    out = tmp_path / "out.pkl"
    cmd = [sys.executable, str(ROOT / "run.py"), "--fileset", str(fileset_path), "--executor", "dask", "--cluster", "local"]
    cmd += ["--workers", "2", "--chunksize", "300", "--output", str(out), "--no-figures"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_chunks(tmp_path / "out.pkl.chunks", 20, proc)
        me = psutil.Process(proc.pid)
        # LocalCluster(processes=True): the nannies live in run.py and spawn one process per worker
        workers = [p for p in me.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
        assert workers, [p.cmdline() for p in me.children(recursive=True)]
        os.kill(workers[0].pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=280)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert "distributed.nanny: Restarting worker" in stderr  # a WARNING: shown without --verbose (the INFO start-up logs are not)
    assert "Start Nanny" not in stderr
    assert_same_histograms(reference["datasets"], load(out)["datasets"])


@pytest.mark.timeout(300)
def test_an_interrupted_run_resumes_from_its_chunks(fileset_path, reference, tmp_path):
    out = tmp_path / "out.pkl"
    args = ["--fileset", str(fileset_path), "--executor", "iterative", "--chunksize", "300", "--output", str(out)]
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, "--no-figures"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_chunks(tmp_path / "out.pkl.chunks", 30, proc)
    finally:
        proc.kill()  # SIGKILL: no cleanup, as when a batch job is evicted
        proc.wait()
    assert not out.exists()
    saved = sum(1 for _ in (tmp_path / "out.pkl.chunks").rglob("*.pkl.lz4"))

    res = run_py(*args, "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    result = load(out)
    assert result["metadata"]["resumed_chunks"] == saved > 0
    assert_same_histograms(reference["datasets"], result["datasets"])


def test_a_run_without_resume_ignores_old_chunks(fileset_path, reference, tmp_path):
    out = tmp_path / "out.pkl"
    stale = tmp_path / "out.pkl.chunks" / "0123456789abcdef" / "stale.pkl.lz4"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"not a chunk")
    res = run_py("--fileset", str(fileset_path), "--executor", "iterative", "--chunksize", "5000", "--output", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    assert load(out)["metadata"]["resumed_chunks"] == 0
    assert not stale.exists()
