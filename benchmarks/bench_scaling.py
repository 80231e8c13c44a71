#!/usr/bin/env python
"""Scaling of the Dask execution: 1 vs 2 local workers, worker memory, per-chunk overhead.

    python benchmarks/bench_scaling.py [--events 24000000] [--data benchmarks/out/scaling_sample]

1. Makes (once, kept under ``--data``) a kkmc_tautau fileset of at least 20M events in
   the files (24M generated; 85% pass the nTrack >= 2 skim), in files of 2M generated events.
2. Runs the full invisible-Z' processor through coffea's ``Runner`` with the
   ``DaskExecutor`` on a ``distributed.LocalCluster`` of 1 and of 2 single-threaded
   worker processes (as ``run.py --executor dask --cluster local --workers N``), chunk
   size 1M (best of 2): wall time, events/s, speed-up (target: 2 workers >= 1.7 x one).
3. Peak resident memory of each worker (sampled every 0.2 s with psutil), for a run
   over a quarter of the files and over all of them: the target is a peak that does
   not grow with the number of chunks (outputs are merged as they arrive).
4. Per-chunk overhead: the same events with chunks of 1M and of 50k events on 2
   workers; (t_small - t_large) / (n_small - n_large) is what one more chunk costs
   (scheduling, task transfer, file open, output transfer and merge).

Results go to ``benchmarks/out/bench_scaling.json``; README.md and
benchmarks/README.md quote them. Takes ~5 minutes the first time (generation).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 1.7
LARGE_CHUNK = 1_000_000
REPEATS = 2
"""Each timing is the best of this many runs (the VM's timings vary by ~10%)."""
SMALL_CHUNK = 50_000


def make_sample(directory: Path, events: int) -> Path:
    """The tau-pair fileset of the benchmark, generated with two processes unless already there."""
    fileset = directory / "fileset.json"
    if fileset.exists() and json.loads(fileset.read_text()).get("kkmc_tautau", {}).get("metadata", {}).get("n_generated") == events:
        return fileset
    directory.mkdir(parents=True, exist_ok=True)
    half = events // 2
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "datasets" / "generate.py"), "--channel", "kkmc_tautau", "--events", str(n),
             "--output", str(directory / part), "--seed", str(seed), "--events-per-file", "2000000", "--quiet"]
        )
        for part, n, seed in (("a", half, 1), ("b", events - half, 2))
    ]  # fmt: skip
    if any(p.wait() for p in procs):
        raise SystemExit("generation failed")
    # one dataset over both halves: n_generated adds up, the cross section is the same
    a = json.loads((directory / "a" / "fileset.json").read_text())["kkmc_tautau"]
    b = json.loads((directory / "b" / "fileset.json").read_text())["kkmc_tautau"]
    files = {f"a/{k}": v for k, v in a["files"].items()} | {f"b/{k}": v for k, v in b["files"].items()}
    meta = {**a["metadata"], "n_generated": a["metadata"]["n_generated"] + b["metadata"]["n_generated"]}
    fileset.write_text(json.dumps({"kkmc_tautau": {"files": files, "metadata": meta}}, indent=1))
    return fileset


class PeakMemory:
    """Samples the resident memory of every worker process (children of this process) in a thread."""

    def __init__(self, period_s: float = 0.2):
        self.period_s, self.peak, self._stop = period_s, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    if "spawn_main" in " ".join(child.cmdline()):
                        self.peak[child.pid] = max(self.peak.get(child.pid, 0), child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(self.period_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_dask(fileset: dict, workers: int, chunksize: int) -> tuple[float, int, float]:
    """(wall seconds, events, peak worker RSS in MB) of the processor on a fresh LocalCluster."""
    from coffea import processor
    from coffea.nanoevents import BaseSchema
    from distributed import Client, LocalCluster

    from processors.invisible_zprime import InvisibleZPrimeProcessor
    from execution.runner import uproot_options

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(_warm_up)  # imports and numba kernels loaded in every worker: a fixed cost of any run
        runner = processor.Runner(executor=processor.DaskExecutor(client=client, status=False), schema=BaseSchema, chunksize=chunksize)
        with PeakMemory() as memory:
            t0 = time.perf_counter()
            out = runner(fileset, processor_instance=InvisibleZPrimeProcessor(626.0), uproot_options=uproot_options(fileset))
            wall = time.perf_counter() - t0
    events = sum(d["cutflow"]["all"] for d in out.values())
    return wall, events, max(memory.peak.values(), default=0) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=24_000_000, help="generated tau-pair events (default 24M -> >20M in files)")
    parser.add_argument("--data", type=Path, default=HERE / "out" / "scaling_sample", help="where the sample is made and kept")
    parser.add_argument("--output", type=Path, default=HERE / "out", help="directory for bench_scaling.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from core.ntuple_schema import dimuon_branches

    path = make_sample(args.data, args.events)
    raw = json.loads(path.read_text())
    entry = raw["kkmc_tautau"]
    files = {str((path.parent / f).resolve()): t for f, t in entry["files"].items()}
    full = {"kkmc_tautau": {"files": files, "metadata": entry["metadata"], "preload": dimuon_branches()}}
    quarter_files = dict(list(files.items())[: max(1, len(files) // 4)])
    quarter = {"kkmc_tautau": {**full["kkmc_tautau"], "files": quarter_files}}

    run_dask(quarter, 1, LARGE_CHUNK)  # warm the page cache and the numba caches
    result: dict = {"config": {"generated_events": args.events, "files": len(files), "large_chunk": LARGE_CHUNK, "small_chunk": SMALL_CHUNK},
                    "load_average_at_start": os.getloadavg()}  # fmt: skip
    for workers in (1, 2):
        runs = [run_dask(full, workers, LARGE_CHUNK) for _ in range(REPEATS)]
        wall, events, peak = min(r[0] for r in runs), runs[0][1], max(r[2] for r in runs)
        result[f"workers_{workers}"] = {"wall_s": wall, "events": events, "events_per_s": events / wall, "peak_worker_rss_mb": peak}
        print(f"{workers} worker(s): {events:,} events in {wall:.1f} s = {events / wall:,.0f} ev/s; peak worker RSS {peak:.0f} MB", flush=True)
    result["speedup_2_vs_1"] = result["workers_1"]["wall_s"] / result["workers_2"]["wall_s"]
    result["speedup_verdict"] = "PASS" if result["speedup_2_vs_1"] >= TARGET_SPEEDUP else "FAIL"

    wall_q, events_q, peak_q = run_dask(quarter, 2, LARGE_CHUNK)
    result["memory"] = {
        "chunks_quarter": -(-events_q // LARGE_CHUNK), "peak_worker_rss_mb_quarter": peak_q,
        "chunks_full": -(-result["workers_2"]["events"] // LARGE_CHUNK), "peak_worker_rss_mb_full": result["workers_2"]["peak_worker_rss_mb"],
    }  # fmt: skip
    wall_small = min(run_dask(full, 2, SMALL_CHUNK)[0] for _ in range(REPEATS))
    n_large = sum(-(-n // LARGE_CHUNK) for n in _entries(files))
    n_small = sum(-(-n // SMALL_CHUNK) for n in _entries(files))
    result["per_chunk_overhead_s"] = (wall_small - result["workers_2"]["wall_s"]) * 2 / (n_small - n_large)  # 2 workers in parallel
    result["chunks"] = {"large": n_large, "small": n_small, "wall_small_s": wall_small}
    result["load_average_at_end"] = os.getloadavg()

    print(f"speed-up 2 vs 1 worker: {result['speedup_2_vs_1']:.2f} (target {TARGET_SPEEDUP}): {result['speedup_verdict']}")
    m = result["memory"]
    print(f"peak worker RSS: {m['peak_worker_rss_mb_quarter']:.0f} MB over {m['chunks_quarter']} chunks, "
          f"{m['peak_worker_rss_mb_full']:.0f} MB over {m['chunks_full']} chunks")
    print(f"per-chunk overhead: {result['per_chunk_overhead_s'] * 1e3:.0f} ms of worker time "
          f"({n_small} chunks of {SMALL_CHUNK:,} vs {n_large} of {LARGE_CHUNK:,}: {wall_small:.1f} s vs {result['workers_2']['wall_s']:.1f} s)")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "bench_scaling.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output / 'bench_scaling.json'}")


def _warm_up() -> None:
    """Import the processor and run its kernels once on an empty chunk (loads the numba caches)."""
    import numpy as np

    from core.ntuple_schema import DIMUON_CLUSTER_FIELDS, DIMUON_TRACK_FIELDS
    from selections.zprime_selection import load_cut_table, selection_codes
    from selections.zprime_variables import dimuon_event_variables

    empty = np.zeros(0, np.float32)
    tracks = {f: (np.zeros(0, np.int32) if f == "charge" else empty) for f in DIMUON_TRACK_FIELDS}
    _, variables = dimuon_event_variables(np.zeros(0, np.int32), tracks, np.zeros(0, np.int32), dict.fromkeys(DIMUON_CLUSTER_FIELDS, empty))
    selection_codes(variables, load_cut_table())


def _entries(files: dict) -> list[int]:
    import uproot

    out = []
    for path, tree in files.items():
        with uproot.open(path) as f:
            out.append(f[tree].num_entries)
    return out


if __name__ == "__main__":
    main()
