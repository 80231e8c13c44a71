#!/usr/bin/env python
"""Wall time and peak memory of a whole command's process tree (e.g. run.py and its Dask workers).

    python benchmarks/measure_run.py [--json OUT.json] -- python run.py --executor dask --workers 200

Samples every process of the tree (the command and all its descendants) every 0.1 s with
psutil and reports the peak of the summed resident memory (RSS, counts shared pages once
per process), the peak of the summed proportional set size (PSS: shared pages split between
the processes that map them, the memory the run really takes from the machine), the
largest number of processes alive at once, and the wall time. ``/usr/bin/time -v`` reports
only the largest single process, which misses the workers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil


class TreeSampler:
    """Peak RSS, PSS and process count of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int, period_s: float = 0.1):
        self.root, self.period_s = psutil.Process(pid), period_s
        self.peak_rss = self.peak_pss = self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            rss = pss = 0
            alive = 0
            for p in processes:
                try:
                    info = p.memory_full_info()
                except psutil.Error:
                    continue
                rss, pss, alive = rss + info.rss, pss + getattr(info, "pss", info.rss), alive + 1
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, alive)
            time.sleep(self.period_s)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    t0 = time.perf_counter()
    proc = subprocess.Popen(command)
    sampler = TreeSampler(proc.pid).start()
    returncode = proc.wait()
    wall = time.perf_counter() - t0
    sampler.stop()
    result = {
        "command": command,
        "returncode": returncode,
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(sampler.peak_rss / 2**20),
        "peak_pss_mib": round(sampler.peak_pss / 2**20),
        "peak_processes": sampler.peak_processes,
    }
    print(json.dumps(result), file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
