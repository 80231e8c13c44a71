#!/usr/bin/env python
"""A pool run in miniature: adaptive batch workers joining over time, one removed mid-run, scale-down at the end.

    python benchmarks/bench_pool.py [--system slurm] [--max-workers 16] [--chunksize 20000]
                                    [--fileset data/default/fileset.json] [--json benchmarks/out/bench_pool.json]

Real components: a dask-jobqueue cluster of ``--system`` (HTCondor, SLURM or LSF) whose jobs go
through the stand-in batch commands of ``tests/condor_standin/`` and run as local processes (one
single-threaded worker each, TLS on, everything on 127.0.0.1), scaled by ``--adapt 1:MAX``:

1. the invisible-Z' processor over the fileset (default: run.py's default sample) on the pool
   (``execution.runner.open_executor``), while a monitor samples the queued jobs and the
   connected workers every 0.2 s and, once half of MAX workers have joined and chunks are
   running, removes one job with the batch system's cancel command (a preempted job);
2. after the last chunk, the adaptive cluster retires the idle workers: the run waits until the
   queue is back at the minimum (1 job);
3. the output must equal the iterative run's (counts exactly, weights to 1e-12);
4. per-chunk costs for planning a 200-worker pool (condor/README.md): worker time and bytes
   read per chunk and per event, scheduler throughput for no-op tasks on this pool (TLS),
   size of one chunk's output and the time to merge two outputs.

Prints and writes one JSON document. On a 2-core machine, 16 workers share the cores: the
timings measure overheads, not speed-up. ``tests/test_scale.py`` runs it on the small test sample.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the stand-in helpers (standin.py)

CANCEL = {"condor": "condor_rm", "slurm": "scancel", "lsf": "bkill"}


class PoolMonitor:
    """Samples queued jobs and connected workers; removes one job once ``remove_at`` workers have joined."""

    def __init__(self, state: Path, system: str, client, remove_at: int, period_s: float = 0.2):
        self.state, self.system, self.client, self.remove_at, self.period_s = state, system, client, remove_at, period_s
        self.samples: list[tuple[float, int, int]] = []  # (seconds, queued jobs, connected workers)
        self.joined: set[str] = set()  # every worker seen
        self.removed: tuple[float, str] | None = None
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def queued(self) -> list[str]:
        return sorted(p.stem for p in self.state.glob("*.json"))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                info = self.client.scheduler_info()
            except Exception:  # noqa: BLE001  (the client closed: the run is over)
                break
            workers = info["workers"]
            self.joined.update(workers)
            now = time.perf_counter() - self.t0
            jobs = self.queued()
            self.samples.append((round(now, 2), len(jobs), len(workers)))
            if self.removed is None and len(workers) >= self.remove_at:
                victim = jobs[0]
                subprocess.run([CANCEL[self.system], victim], capture_output=True, check=False)
                self.removed = (round(now, 2), victim)
            time.sleep(self.period_s)

    def __enter__(self) -> PoolMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def reference_output(fileset: dict, processor_instance, chunksize: int, maxchunks: int | None = None) -> tuple[dict, dict]:
    """(output, coffea metrics) of the iterative run of the same processor and chunking (at most ``maxchunks`` chunks per dataset)."""
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    from execution.runner import uproot_options

    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False), schema=BaseSchema, chunksize=chunksize, maxchunks=maxchunks, savemetrics=True
    )
    return runner(fileset, processor_instance=processor_instance, uproot_options=uproot_options(fileset))


def scheduler_throughput(client, n: int = 2000) -> float:
    """No-op tasks per second through this pool's scheduler (submission to results, TLS, all workers)."""
    t0 = time.perf_counter()
    client.gather(client.map(lambda x: x, range(n), pure=False))
    return n / (time.perf_counter() - t0)


def merge_costs(out: dict, chunks: int) -> dict:
    """Size of one chunk's output (as coffea ships it: cloudpickle + lz4) and the time to merge two outputs."""
    import cloudpickle
    import lz4.frame
    from coffea.processor import accumulate

    blob = lz4.frame.compress(cloudpickle.dumps(out), compression_level=1)
    t0 = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        accumulate([out, out])
    return {
        "output_bytes_compressed": len(blob),
        "output_bytes_pickled": len(pickle.dumps(out)),
        "merge_two_outputs_s": round((time.perf_counter() - t0) / repeats, 4),
        "chunks": chunks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=tuple(CANCEL), default="slurm")
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--chunksize", type=int, default=20_000)
    parser.add_argument("--fileset", type=Path, help="fileset JSON (default: run.py's default sample, made if missing)")
    parser.add_argument(
        "--target-duration", default="5s",
        help="dask's adaptive target duration: the pool asks for as many workers as finish the queued work in this time",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=HERE / "out" / "bench_pool.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import dask

    dask.config.set({"distributed.adaptive.target-duration": args.target_duration})
    from coffea import processor
    from coffea.nanoevents import BaseSchema
    from standin import kill_leftovers, loopback_config, standin_environment

    from core.fileset import load_fileset
    from execution.runner import ExecutionOptions, RunReport, open_executor, uproot_options
    from processors.compare import differences
    from processors.searches import SEARCHES

    search = SEARCHES["zprime"]
    fileset_path = args.fileset or search.default_sample()
    fileset = {k: {**v, "preload": list(search.branches)} for k, v in load_fileset(fileset_path, search.channels).items()}
    processor_instance = search.make_processor(626.0, search.load_table(None), None)

    work = Path(tempfile.mkdtemp(prefix="bench_pool-"))
    state = work / "state"
    os.environ.update(standin_environment(state))
    config = loopback_config(work, cluster={"worker-timeout": 120})
    options = ExecutionOptions(executor="dask", cluster=args.system, adapt=(1, args.max_workers), chunksize=args.chunksize, batch_config=config)
    report = RunReport("dask", args.chunksize, None)
    result: dict = {"system": args.system, "max_workers": args.max_workers, "chunksize": args.chunksize, "fileset": str(fileset_path),
                    "target_duration": args.target_duration,
                    "cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}  # fmt: skip
    finished = False
    try:
        t0 = time.perf_counter()
        with open_executor(options, report) as executor:
            client = executor.client
            runner = processor.Runner(executor=executor, chunksize=args.chunksize, schema=BaseSchema, savemetrics=True)
            with PoolMonitor(state, args.system, client, remove_at=max(2, args.max_workers // 2)) as monitor:
                t_run = time.perf_counter()
                out, metrics = runner(fileset, processor_instance=processor_instance, uproot_options=uproot_options(fileset))
                run_s = time.perf_counter() - t_run
                result["scheduler_noop_tasks_per_s"] = round(scheduler_throughput(client))
                # the work is done: adaptive scaling retires the idle workers down to the minimum
                t_idle = time.perf_counter()
                while len(monitor.queued()) > options.adapt[0] and time.perf_counter() - t_idle < 60:
                    time.sleep(0.2)
                result["scale_down_s"] = round(time.perf_counter() - t_idle, 1)
            result["jobs_after_scale_down"] = len(monitor.queued())
        result["pool_wall_s"] = round(time.perf_counter() - t0, 1)
        finished = True
    finally:
        kill_leftovers(state)
        result["jobs_left_after_close"] = len(list(state.glob("*.json")))
        if finished:  # the stand-in pool's state, configuration and job logs; kept to read when the pool failed
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"bench_pool.py: the pool's job logs are kept in {work / 'logs'}", file=sys.stderr)
    result["run_s"] = round(run_s, 1)
    result["removed_job"] = monitor.removed
    result["max_workers_connected"] = max(s[2] for s in monitor.samples)
    result["workers_joined"] = len(monitor.joined)
    result["removed_before_the_run_ended"] = monitor.removed is not None and monitor.removed[0] < run_s
    result["worker_joins"] = [s for i, s in enumerate(monitor.samples) if i == 0 or s[2] != monitor.samples[i - 1][2]]
    events = sum(d["cutflow"]["all"] for d in out.values())
    result["events"] = events
    result["chunks"] = metrics["chunks"]
    result["worker_process_s_per_chunk"] = round(metrics["processtime"] / metrics["chunks"], 3)
    result["events_per_core_s"] = round(events / metrics["processtime"])
    result["bytes_read_per_event"] = round(metrics["bytesread"] / events, 1)
    one_chunk, _ = reference_output({k: v for k, v in list(fileset.items())[:1]}, processor_instance, args.chunksize, maxchunks=1)
    result["merge"] = merge_costs(one_chunk, metrics["chunks"])
    t_ref = time.perf_counter()
    reference, ref_metrics = reference_output(fileset, processor_instance, args.chunksize)
    ref_wall = time.perf_counter() - t_ref
    # one process alone: the per-core rate (the pool's 16 workers time-share the cores, their process time is inflated)
    result["iterative"] = {
        "wall_s": round(ref_wall, 1),
        "events_per_s": round(events / ref_wall),
        "process_s_per_chunk": round(ref_metrics["processtime"] / ref_metrics["chunks"], 4),
        "overhead_s_per_chunk": round((ref_wall - ref_metrics["processtime"]) / ref_metrics["chunks"], 4),
        "bytes_read_per_event": round(ref_metrics["bytesread"] / events, 1),
    }
    result["differences_from_iterative"] = differences({"datasets": reference}, {"datasets": out}, rtol=1e-12)
    text = json.dumps(result, indent=1)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(text + "\n")
    return 0 if not result["differences_from_iterative"] else 1


if __name__ == "__main__":
    sys.exit(main())
