#!/usr/bin/env python
"""Generation speed and file size of the Belle-like generator, on one core.

    python benchmarks/bench_generation.py [--events N] [--channels NAME ...] [--output benchmarks/out]

1. Per channel (signal at m_Z' = 2 GeV), generated events/s for
   a. physics sampling + particles + lab transform + detector response
      (``generate_block``, timed block by block), and
   b. the full ``produce`` with ROOT writing at the default compression, with and
      without its fixed setup cost (integrating the process once).
   Target: >= 300k generated events/s/core for the background channels, judged
   on (b) without setup, i.e. the rate of a long production.
2. For kkmc_tautau and kkmc_mumu: the same generated events written once per
   compression; bytes per written/generated event, write rate, and the read rate
   of all branches with ``uproot.open(f)["events"].arrays()`` (best of 3).

The process is pinned to one CPU and BLAS/OpenMP/numba run one thread. Wall and
CPU time are both recorded; the load average is recorded too, because on a
shared machine other processes slow the run even on a different core.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: must be set before numpy and numba are imported

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import uproot  # noqa: E402

from belle_mc.channels import CHANNELS  # noqa: E402
from machine import machine_info  # noqa: E402
from belle_mc.montecarlo import integrate  # noqa: E402
from belle_mc.ntuple import COMPRESSION, DEFAULT_COMPRESSION, NtupleWriter  # noqa: E402
from belle_mc.production import (  # noqa: E402
    BLOCK_SIZE, EXPERIMENT_NUMBER, INTEGRATION_POINTS, dataset_name, generate_block, produce,
)

TARGET_EVENTS_PER_S = 300_000
"""Issue target: generated events per second per core, background channels."""
SIGNAL_MASS_GEV = 2.0
COMPRESSION_SAMPLES = ("kkmc_tautau", "kkmc_mumu")
SEED = 1
READ_REPEATS = 3


class Clock:
    """Wall and CPU seconds since creation."""

    def __init__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def block_sizes(n_events: int) -> list[int]:
    return [min(BLOCK_SIZE, n_events - start) for start in range(0, n_events, BLOCK_SIZE)]


def setup(name: str):
    """Channel, process and cross section exactly as ``produce`` makes them; returns also the setup time."""
    channel = CHANNELS[name]
    mass = SIGNAL_MASS_GEV if channel.needs_mass else None
    clock = Clock()
    process = channel.make_process(mass)
    xsec = integrate(process, INTEGRATION_POINTS)
    return channel, mass, process, xsec, clock.stop()[0]


def bench_generation(name: str, n_events: int, workdir: Path) -> dict:
    channel, mass, process, xsec, setup_s = setup(name)
    dataset = dataset_name(name, mass)
    sizes = block_sizes(n_events)
    # warm-up with a full block: numba compilation, and the first large allocations (a first
    # block is 10-30% slower than the next ones even after a small warm-up)
    generate_block(channel, process, xsec, SEED, dataset, len(sizes), sizes[0])
    walls, cpus = [], []
    for b, n in enumerate(sizes):
        clock = Clock()
        generate_block(channel, process, xsec, SEED, dataset, b, n)
        wall, cpu = clock.stop()
        walls.append(wall)
        cpus.append(cpu)
    clock = Clock()
    produce(name, n_events, workdir / name, mass=mass, seed=SEED, progress=False)
    produce_wall, produce_cpu = clock.stop()
    # marginal rate: a one-block production subtracted from the full one removes every fixed cost
    n_short = BLOCK_SIZE
    clock = Clock()
    produce(name, n_short, workdir / f"{name}_short", mass=mass, seed=SEED, progress=False)
    short_wall = clock.stop()[0]
    return {
        "n_events": n_events,
        "setup_s": setup_s,
        "physics_detector_events_per_s": n_events / sum(walls),
        "physics_detector_events_per_cpu_s": n_events / sum(cpus),
        "physics_detector_block_events_per_s": [n / w for n, w in zip(sizes, walls)],
        "produce_s": produce_wall,
        "produce_events_per_s": n_events / produce_wall,
        "produce_events_per_cpu_s": n_events / produce_cpu,
        "produce_events_per_s_without_setup": (n_events - n_short) / max(produce_wall - short_wall, 1e-9),
    }


def bench_compression(name: str, n_events: int, workdir: Path) -> dict:
    channel, mass, process, xsec, _ = setup(name)
    dataset = dataset_name(name, mass)
    blocks = [generate_block(channel, process, xsec, SEED, dataset, b, n) for b, n in enumerate(block_sizes(n_events))]
    written = sum(b.detector_events.n_events for b in blocks)
    result = {}
    for comp in COMPRESSION:
        path = workdir / f"{name}_{comp}.root"
        clock = Clock()
        with NtupleWriter(path, compression=comp) as writer:
            for b in blocks:
                writer.extend(b.detector_events, EXPERIMENT_NUMBER, SEED, b.event_numbers)
        write_s = clock.stop()[0]
        size = path.stat().st_size
        reads = []
        for _ in range(READ_REPEATS):
            clock = Clock()
            uproot.open(path)["events"].arrays()
            reads.append(clock.stop()[0])
        read_s = min(reads)
        result[comp] = {
            "file_bytes": size,
            "n_written": written,
            "n_generated": n_events,
            "bytes_per_written_event": size / written,
            "bytes_per_generated_event": size / n_events,
            "write_events_per_s": written / write_s,
            "read_events_per_s": written / read_s,
            "read_MB_per_s": size / read_s / 1e6,
        }
    for comp in result:
        result[comp]["read_speed_vs_zlib"] = result[comp]["read_events_per_s"] / result["zlib"]["read_events_per_s"]
    return result


def print_tables(result: dict) -> None:
    print(f"\ngenerated events/s on one core ({result['config']['events']:,} events per channel)")
    print(f"{'channel':16s} {'phys+det':>10s} {'produce':>10s} {'w/o setup':>10s} {'setup s':>8s}  target")
    for name, r in result["generation"].items():
        print(
            f"{name:16s} {r['physics_detector_events_per_s']:10,.0f} {r['produce_events_per_s']:10,.0f}"
            f" {r['produce_events_per_s_without_setup']:10,.0f} {r['setup_s']:8.2f}  {r['verdict']}"
        )
    for name, rows in result["compression"].items():
        print(f"\n{name}: same events for each compression")
        print(f"{'compression':>11s} {'B/written':>10s} {'B/generated':>12s} {'write ev/s':>11s} {'read ev/s':>11s} {'read MB/s':>10s} {'vs zlib':>8s}")
        for comp, v in rows.items():
            print(
                f"{comp:>11s} {v['bytes_per_written_event']:10.1f} {v['bytes_per_generated_event']:12.1f} {v['write_events_per_s']:11,.0f}"
                f" {v['read_events_per_s']:11,.0f} {v['read_MB_per_s']:10.1f} {v['read_speed_vs_zlib']:7.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000, help="generated events per channel (default 300000)")
    parser.add_argument("--channels", nargs="+", choices=list(CHANNELS), default=list(CHANNELS), metavar="NAME",
                        help=f"channels to time (default all: {', '.join(CHANNELS)}); the compression study runs for "
                             f"those of {', '.join(COMPRESSION_SAMPLES)} among them")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "out", help="directory for bench_generation.json")
    args = parser.parse_args()
    if args.events < 2 * BLOCK_SIZE:
        parser.error(f"--events must be at least {2 * BLOCK_SIZE} (the marginal rate subtracts a one-block run)")
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    args.output.mkdir(parents=True, exist_ok=True)
    start = Clock()
    result = {
        "machine": machine_info(cpu),
        "config": {"events": args.events, "channels": args.channels, "block_size": BLOCK_SIZE,
                   "integration_points": INTEGRATION_POINTS,
                   "default_compression": DEFAULT_COMPRESSION, "target_events_per_s": TARGET_EVENTS_PER_S,
                   "signal_mass_gev": SIGNAL_MASS_GEV, "seed": SEED},
        "generation": {},
        "compression": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.channels:
            r = bench_generation(name, args.events, Path(tmp))
            passed = r["produce_events_per_s_without_setup"] >= TARGET_EVENTS_PER_S
            r["verdict"] = "-" if name == "signal" else ("PASS" if passed else "FAIL")
            result["generation"][name] = r
            print(f"{name}: done", flush=True)
        for name in (n for n in COMPRESSION_SAMPLES if n in args.channels):
            result["compression"][name] = bench_compression(name, args.events, Path(tmp))
    result["machine"]["load_average_at_end"] = os.getloadavg()
    result["runtime_s"] = start.stop()[0]
    print_tables(result)
    out = args.output / "bench_generation.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"\nbenchmark took {result['runtime_s']:.0f} s; load average start/end "
          f"{result['machine']['load_average_at_start'][0]:.2f}/{result['machine']['load_average_at_end'][0]:.2f}; wrote {out}")


if __name__ == "__main__":
    main()
