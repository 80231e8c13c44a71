#!/usr/bin/env python
"""Throughput of the invisible-Z' processor next to the raw uproot read rate, on one core.

    python benchmarks/bench_processor.py [--fileset F.json] [--chunksize N] [--repeats 3]

Measured in the same run, on the same files (default: the embedded default
sample, ~2.1M events), best of ``--repeats`` with the files in the page cache:

1. raw read: ``uproot.iterate`` over every file with the twelve branches the
   analysis reads, ``step_size`` = chunk size; nothing else.
2. processor: coffea ``processor.Runner`` with the iterative executor (no
   progress bar), ``BaseSchema``, the same chunk size, the full
   ``InvisibleZPrimeProcessor`` (all mass hypotheses, all histograms). Once
   with the twelve branches preloaded in bulk (what ``run.py`` does) and once
   with coffea's lazy per-branch reading.
3. coffea's Runner with a processor that only reads the branches (the ceiling
   of any processor run through the Runner), and the processor's own work on already-read chunks (variables kernel, cut
   kernel, histogram filling), to show where the time goes.
4. recoil mass and dimuon CM energy of preselected events with the ``vector``
   library versus the numba kernel (the issue asks to measure before choosing).

Target (issue 4): processor rate >= 0.7 x raw read rate.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: must be set before numpy and numba are imported

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402
import uproot  # noqa: E402
import vector  # noqa: E402
from coffea import processor  # noqa: E402
from coffea.nanoevents import BaseSchema  # noqa: E402

from machine import machine_info  # noqa: E402
from core.constants import DATA_LUMI_FB  # noqa: E402
from core.fileset import load_fileset  # noqa: E402
from processors.invisible_zprime import InvisibleZPrimeProcessor  # noqa: E402
from core.ntuple_schema import dimuon_branches, flat_buffers  # noqa: E402
from core.beams import beam_four_momenta_lab  # noqa: E402
from core.constants import MUON_MASS_GEV  # noqa: E402
from selections.zprime_selection import load_cut_table  # noqa: E402
from selections.zprime_variables import COLUMN, STAGE_TWO_MUON_ID, dimuon_event_variables  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from execution.runner import uproot_options  # noqa: E402  (run.py's options: memory-mapped local files, no uproot caches)

TARGET_RATIO = 0.7


def files_of(fileset_path: Path) -> tuple[dict, list[tuple[str, str]]]:
    fileset = load_fileset(fileset_path)
    return fileset, [(f, t) for entry in fileset.values() for f, t in entry["files"].items()]


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out




def raw_read(files, chunksize: int) -> int:
    n = 0
    for path, tree in files:
        for arrays in uproot.iterate({path: tree}, dimuon_branches(), step_size=chunksize, how=dict, handler=uproot.MemmapSource):
            n += len(arrays["nTrack"])
    return n


class ReadOnlyProcessor(processor.ProcessorABC):
    """Reads the analysis branches as flat buffers, like the real processor, and does nothing else."""

    def process(self, events):
        n_track, _, _, _ = flat_buffers(events.__getitem__)
        return {"n": len(n_track)}

    def postprocess(self, accumulator):
        return accumulator


def run_processor(fileset: dict, chunksize: int, preload: bool, instance=None) -> int:
    fs = {name: {**entry, **({"preload": dimuon_branches()} if preload else {})} for name, entry in fileset.items()}
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False), schema=BaseSchema, chunksize=chunksize)
    out = runner(fs, processor_instance=instance or InvisibleZPrimeProcessor(DATA_LUMI_FB), uproot_options=uproot_options(fs))
    return out["n"] if "n" in out else sum(d["cutflow"]["all"] for d in out.values())


def processor_work_only(chunks, table) -> int:
    """Variables + cuts + histogram filling on chunks already in memory (the processor minus reading)."""
    proc = InvisibleZPrimeProcessor(DATA_LUMI_FB, table)
    n = 0
    for arrays, meta in chunks:
        events = _DictEvents(arrays, meta)
        proc.process(events)
        n += len(arrays["nTrack"])
    return n


class _DictEvents(dict):
    """The two things the processor uses of coffea events: ``events[branch]`` and ``events.metadata``."""

    def __init__(self, arrays, metadata):
        super().__init__(arrays)
        self.metadata = metadata


def vector_vs_kernel(files) -> dict:
    """Recoil M^2 and E*_mumu of preselected events: vector (awkward records) vs the fused kernel."""
    arrays = uproot.concatenate([{p: t} for p, t in files[:8]], dimuon_branches(), how=dict)
    n_track, tracks, n_cluster, clusters = flat_buffers(arrays.__getitem__)
    stage, variables = dimuon_event_variables(n_track, tracks, n_cluster, clusters)
    sel = stage == STAGE_TWO_MUON_ID
    two = {k: ak.to_numpy(ak.flatten(arrays[f"Track_{k}"][sel])).reshape(-1, 2).astype(np.float64) for k in ("px", "py", "pz")}
    electron, positron = beam_four_momenta_lab()
    beams = electron + positron

    def with_vector():
        mu = vector.array({"px": two["px"].ravel(), "py": two["py"].ravel(), "pz": two["pz"].ravel(), "mass": np.full(two["px"].size, MUON_MASS_GEV)})
        pair = mu[0::2] + mu[1::2]
        total = vector.obj(px=beams[1], py=beams[2], pz=beams[3], E=beams[0])
        recoil_m2 = (total - pair).mass2
        e_cms = pair.boostCM_of(total).E
        return recoil_m2, e_cms

    def with_kernel():
        return dimuon_event_variables(n_track, tracks, n_cluster, clusters)

    t_vec, (m2_vec, e_vec) = best_of(3, with_vector)
    t_ker, _ = best_of(3, with_kernel)
    return {
        "preselected_events": int(sel.sum()),
        "vector_s": t_vec,
        "kernel_all_variables_s": t_ker,
        "events_in_kernel_call": int(len(n_track)),
        "max_abs_diff_recoil_mass2_gev2": float(np.max(np.abs(m2_vec - variables[COLUMN["recoil_mass2"]]))),
        "max_abs_diff_e_mumu_cms_gev": float(np.max(np.abs(e_vec - variables[COLUMN["e_mumu_cms"]]))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fileset", type=Path, default=None, help="fileset JSON (default: the embedded default sample)")
    parser.add_argument("--chunksize", type=int, default=200_000, help="entries per chunk (default 200000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings (default 3)")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "out", help="directory for bench_processor.json")
    args = parser.parse_args()
    if args.fileset is None:
        from belle_mc.catalog import ensure_default_sample

        args.fileset = ensure_default_sample()
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    warnings.filterwarnings("ignore")
    fileset, files = files_of(Path(args.fileset))
    table = load_cut_table()

    n_events = raw_read(files, args.chunksize)  # warm the page cache
    run_processor(fileset, args.chunksize, preload=True)  # compile / load the numba kernels
    t_raw, _ = best_of(args.repeats, lambda: raw_read(files, args.chunksize))
    t_pre, n_pre = best_of(args.repeats, lambda: run_processor(fileset, args.chunksize, preload=True))
    t_lazy, n_lazy = best_of(args.repeats, lambda: run_processor(fileset, args.chunksize, preload=False))
    t_read, n_read = best_of(args.repeats, lambda: run_processor(fileset, args.chunksize, True, ReadOnlyProcessor()))
    assert n_pre == n_lazy == n_read == n_events, (n_pre, n_lazy, n_read, n_events)

    chunks = []
    for name, entry in fileset.items():
        for path, tree in entry["files"].items():
            for arrays in uproot.iterate({path: tree}, dimuon_branches(), step_size=args.chunksize, how=dict):
                chunks.append((arrays, {"dataset": name, **entry["metadata"]}))
    t_work, _ = best_of(args.repeats, lambda: processor_work_only(chunks, table))

    result = {
        "machine": machine_info(cpu),
        "config": {"fileset": str(args.fileset), "files": len(files), "events": n_events, "chunksize": args.chunksize,
                   "repeats": args.repeats, "mass_hypotheses": len(table.hypotheses), "target_ratio": TARGET_RATIO},
        "raw_read_events_per_s": n_events / t_raw,
        "processor_preload_events_per_s": n_events / t_pre,
        "processor_lazy_events_per_s": n_events / t_lazy,
        "runner_read_only_events_per_s": n_events / t_read,
        "ratio_runner_read_only": t_raw / t_read,
        "processor_work_only_events_per_s": n_events / t_work,
        "ratio_preload": t_raw / t_pre,
        "ratio_lazy": t_raw / t_lazy,
        "vector_vs_kernel": vector_vs_kernel(files),
    }  # fmt: skip
    result["verdict"] = "PASS" if result["ratio_preload"] >= TARGET_RATIO else "FAIL"
    result["machine"]["load_average_at_end"] = os.getloadavg()

    print(f"\n{n_events:,} events in {len(files)} files, chunk size {args.chunksize:,}, one core, best of {args.repeats}")
    print(f"{'raw uproot read (12 branches)':42s} {result['raw_read_events_per_s']:12,.0f} ev/s")
    print(f"{'processor, preloaded branches (run.py)':42s} {result['processor_preload_events_per_s']:12,.0f} ev/s"
          f"  ratio {result['ratio_preload']:.2f}  target {TARGET_RATIO}: {result['verdict']}")
    print(f"{'processor, lazy per-branch reading':42s} {result['processor_lazy_events_per_s']:12,.0f} ev/s  ratio {result['ratio_lazy']:.2f}")
    print(f"{'coffea Runner, read-only processor':42s} {result['runner_read_only_events_per_s']:12,.0f} ev/s"
          f"  ratio {result['ratio_runner_read_only']:.2f} (ceiling for any processor)")
    print(f"{'processor work only (no reading)':42s} {result['processor_work_only_events_per_s']:12,.0f} ev/s")
    vk = result["vector_vs_kernel"]
    print(f"vector (recoil M2 + E*_mumu, {vk['preselected_events']:,} events): {vk['vector_s'] * 1e3:.1f} ms; "
          f"fused kernel (all 22 variables, {vk['events_in_kernel_call']:,} events): {vk['kernel_all_variables_s'] * 1e3:.1f} ms; "
          f"max |diff| M2 {vk['max_abs_diff_recoil_mass2_gev2']:.1e} GeV^2")
    args.output.mkdir(parents=True, exist_ok=True)
    out = args.output / "bench_processor.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"load average start/end {result['machine']['load_average_at_start'][0]:.2f}/"
          f"{result['machine']['load_average_at_end'][0]:.2f}; wrote {out}")


if __name__ == "__main__":
    main()
