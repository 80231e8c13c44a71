"""The execution layer through run.py: dashboard, performance report, bounded local workers, lost chunks named.

Real components: run.py as a subprocess, distributed LocalClusters, HTTP requests to the
dashboard it prints, ROOT files written with uproot and truncated mid-way.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import awkward as ak
import pytest
import uproot

from execution.runner import plan_local_workers, usable_cores

ROOT = Path(__file__).resolve().parents[1]


def run_py(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args, "--no-figures"], check=False, capture_output=True, text=True, timeout=timeout)


def load(path: Path) -> dict:
    return pickle.loads(path.read_bytes())


def one_dataset_fileset(small_sample_dir: Path, directory: Path, files: list[Path], name: str = "kkmc_mumu") -> Path:
    """A fileset of dataset ``name`` (the small sample's metadata) over ``files``."""
    entry = json.loads((small_sample_dir / "fileset.json").read_text())[name]
    path = directory / "fileset.json"
    path.write_text(json.dumps({name: {"files": {str(f): "events" for f in files}, "metadata": entry["metadata"]}}))
    return path


@pytest.mark.timeout(180)
def test_dashboard_serves_bokeh_plots_during_a_run_and_performance_report(small_sample_dir, tmp_path):
    out, report = tmp_path / "out.pkl", tmp_path / "report" / "dask.html"
    command = [sys.executable, str(ROOT / "run.py"), "--fileset", str(small_sample_dir / "fileset.json"), "--executor", "dask"]
    command += ["--cluster", "local", "--workers", "1", "--chunksize", "400", "--performance-report", str(report), "--output", str(out), "--no-figures"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        link = None
        for line in proc.stdout:
            if line.startswith("Dask dashboard: "):
                link = line.split()[2]
                break
        assert link is not None and link.startswith("http://127.0.0.1:") and link.endswith("/status")
        status = urllib.request.urlopen(link, timeout=20).read().decode()
        plot = urllib.request.urlopen(link.replace("/status", "/individual-task-stream"), timeout=20).read().decode()
        script = re.search(r'src="(static/js/bokeh\.min\.js[^"]*)"', plot)
        assert script, plot[:2000]
        library = urllib.request.urlopen(link.replace("status", script.group(1)), timeout=20).read()
        _, stderr = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Dask needs bokeh" not in status
    assert "<title>Dask Diagnostic UI</title>" in status and "bokeh" in status.lower()  # the real dashboard
    assert "<title>Dask: TaskStream</title>" in plot and "Bokeh.embed" in plot  # a Bokeh document of one plot
    assert len(library) > 100_000 and b"Bokeh" in library  # BokehJS itself is served
    assert proc.returncode == 0, stderr[-3000:]
    html = report.read_text()
    assert "Dask Performance Report" in html and "Bokeh" in html and "Task Stream" in html
    assert load(out)["metadata"]["performance_report"] == str(report)
    # Dask's own start-up chatter stays out of the terminal without --verbose
    assert "Start Nanny" not in stderr and "Scheduler at" not in stderr and "Register worker" not in stderr


@pytest.mark.timeout(180)
def test_two_hundred_local_workers_are_bounded_with_one_line(small_sample_dir, tmp_path):
    out = tmp_path / "out.pkl"
    res = run_py(
        "--fileset", str(small_sample_dir / "fileset.json"), "--executor", "dask", "--cluster", "local",
        "--workers", "200", "--chunksize", "20000", "--output", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    meta = load(out)["metadata"]
    assert meta["workers_requested"] == 200 and 1 <= meta["workers_started"] <= usable_cores()
    notes = [line for line in res.stderr.splitlines() if "--workers 200" in line]
    assert len(notes) == 1
    assert f"starting {meta['workers_started']} worker processes instead" in notes[0] and "--oversubscribe" in notes[0]
    assert meta["workers_note"] in notes[0]


@pytest.mark.timeout(180)
def test_oversubscribe_starts_every_worker_with_a_one_line_warning(small_sample_dir, tmp_path):
    out, n = tmp_path / "out.pkl", usable_cores() + 1
    res = run_py(
        "--fileset", str(small_sample_dir / "fileset.json"), "--executor", "futures", "--workers", str(n),
        "--oversubscribe", "--chunksize", "20000", "--output", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    meta = load(out)["metadata"]
    assert meta["workers_requested"] == meta["workers_started"] == n
    warnings = [line for line in res.stderr.splitlines() if "--oversubscribe" in line]
    assert len(warnings) == 1 and f"--workers {n} --oversubscribe: {n} worker processes share {usable_cores()} cores" in warnings[0]


def test_worker_plan_bounds_by_cores_and_memory_unless_oversubscribed():
    gib = 1024**3
    assert plan_local_workers(2, "2GiB", cores=4, available_bytes=64 * gib) == plan_local_workers(2, cores=4, available_bytes=64 * gib)
    assert plan_local_workers(2, "2GiB", cores=4, available_bytes=64 * gib).started == 2  # within bounds: no note
    assert plan_local_workers(2, "2GiB", cores=4, available_bytes=64 * gib).note is None
    by_cores = plan_local_workers(200, "2GiB", cores=2, available_bytes=22 * gib)
    assert (by_cores.started, by_cores.requested) == (2, 200) and "2 cores" in by_cores.note
    by_memory = plan_local_workers(200, "4GiB", cores=64, available_bytes=10 * gib)
    assert by_memory.started == 2 and "(2 workers of 4GiB)" in by_memory.note
    forced = plan_local_workers(200, "2GiB", oversubscribe=True, cores=2, available_bytes=22 * gib)
    assert forced.started == 200 and forced.note.startswith("--workers 200 --oversubscribe: 200 worker processes share 2 cores")


def _write_in_baskets(source: Path, target: Path, n: int, per_basket: int) -> None:
    """The first ``n`` events of an ntuple, rewritten as a TTree filled ``per_basket`` events at a time."""
    arrays = uproot.open(source)["events"].arrays(entry_stop=n)
    data = {name: ak.to_numpy(arrays[name]) for name in ("exp", "run", "event")}
    for collection in ("Track", "Cluster"):
        prefix = f"{collection}_"
        data[collection] = ak.zip({f[len(prefix) :]: arrays[f] for f in arrays.fields if f.startswith(prefix)})
    with uproot.recreate(target) as f:
        tree = f.mktree("events", {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in data.items()})
        for start in range(0, n, per_basket):
            tree.extend({k: v[start : start + per_basket] for k, v in data.items()})


@pytest.mark.timeout(120)
def test_truncated_file_names_its_lost_entry_range(small_sample_dir, tmp_path):
    source = next(Path(p) for p in (small_sample_dir / f for f in json.loads((small_sample_dir / "fileset.json").read_text())["kkmc_mumu"]["files"]))
    truncated, unreadable = tmp_path / "truncated.root", tmp_path / "unreadable.root"
    _write_in_baskets(source, truncated, 4000, 1000)
    with uproot.open(truncated) as f:
        # the file's metadata (streamers, tree) stays; baskets of entries 2000+ written after it are cut off
        # (uproot puts some small baskets into early gaps of the file: those survive)
        metadata_end = max(f.file.fSeekInfo, f.key("events").data_cursor.index)
        seeks = [int(branch.member("fBasketSeek")[2]) for branch in f["events"].branches]
        assert [int(b.member("fBasketEntry")[2]) for b in f["events"].branches] == [2000] * len(seeks)
    cut = min(s for s in seeks if s > metadata_end)
    with open(truncated, "r+b") as fh:
        fh.truncate(cut)
    unreadable.write_bytes(b"root" * 100)
    fileset = one_dataset_fileset(small_sample_dir, tmp_path, [truncated, unreadable])
    out = tmp_path / "out.pkl"
    res = run_py("--fileset", str(fileset), "--executor", "iterative", "--chunksize", "1000", "--skip-bad-files", "--output", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    meta = load(out)["metadata"]
    assert meta["skipped_files"] == [str(unreadable)]  # a list of paths
    assert [(c["file"], c["entrystart"], c["entrystop"]) for c in meta["lost_chunks"]] == [(str(truncated), 2000, 3000), (str(truncated), 3000, 4000)]
    assert all(c["dataset"] == "kkmc_mumu" and c["error"].startswith("OSError: ") for c in meta["lost_chunks"])
    assert meta["chunks"] == 4 and load(out)["datasets"]["kkmc_mumu"]["cutflow"]["all"] == 2000
    summary = [line for line in res.stderr.splitlines() if line.startswith("execution.runner: processed")]
    assert len(summary) == 1
    assert f"2 chunk(s) lost: {truncated} entries 2000-3000 (OSError" in summary[0]
    assert f"1 file(s) skipped: {unreadable}" in summary[0]

    # without --skip-bad-files the run stops, naming the file
    res = run_py("--fileset", str(fileset), "--executor", "iterative", "--chunksize", "1000", "--output", str(tmp_path / "o2.pkl"))
    assert res.returncode != 0 and str(unreadable) in res.stderr.strip().splitlines()[-1]
