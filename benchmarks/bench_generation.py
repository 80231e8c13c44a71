#!/usr/bin/env python
"""Generation speed and file size of the Belle-like generator (one process, one core).

    python benchmarks/bench_generation.py [--events N] [--output benchmarks/out]

1. Per channel: generated events/s for physics + detector (``generate_block``) and
   for the full ``produce`` with ROOT writing. Target: >= 300k generated
   events/s/core for the background channels.
2. For kkmc_tautau and kkmc_mumu: bytes per written event for each compression,
   and the uproot read rate of all branches, so compressions compare on the same events.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import uproot

from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate
from belle_mc.ntuple import COMPRESSION, NtupleWriter
from belle_mc.production import BLOCK_SIZE, EXPERIMENT_NUMBER, generate_block, produce

TARGET_EVENTS_PER_S = 300_000


def bench_channel(name: str, n_events: int, workdir: Path) -> dict:
    mass = 2.0 if CHANNELS[name].needs_mass else None
    channel = CHANNELS[name]
    process = channel.make_process(mass)
    xsec = integrate(process, 500_000)
    generate_block(channel, process, xsec, 1, name, 0, 2000)  # warm up numba and caches
    t0 = time.perf_counter()
    n_blocks = max(n_events // BLOCK_SIZE, 1)
    for b in range(n_blocks):
        generate_block(channel, process, xsec, 1, name, b, BLOCK_SIZE)
    physics = n_blocks * BLOCK_SIZE / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    produce(name, n_events, workdir / name, mass=mass, seed=1, progress=False)
    full = n_events / (time.perf_counter() - t0)
    return {"physics_and_detector_events_per_s": physics, "produce_events_per_s": full}


def bench_compression(name: str, n_events: int, workdir: Path) -> dict:
    channel = CHANNELS[name]
    process = channel.make_process(None)
    xsec = integrate(process, 500_000)
    blocks = [generate_block(channel, process, xsec, 1, name, b, BLOCK_SIZE) for b in range(max(n_events // BLOCK_SIZE, 1))]
    written = sum(b.detector_events.n_events for b in blocks)
    generated = sum(b.n_generated for b in blocks)
    out = {}
    for comp in COMPRESSION:
        path = workdir / f"{name}_{comp}.root"
        t0 = time.perf_counter()
        with NtupleWriter(path, compression=comp) as w:
            for b in blocks:
                w.extend(b.detector_events, EXPERIMENT_NUMBER, 1, b.event_numbers)
        write_s = time.perf_counter() - t0
        size = path.stat().st_size
        reads = []
        for _ in range(3):
            t0 = time.perf_counter()
            uproot.open(path)["events"].arrays()
            reads.append(time.perf_counter() - t0)
        read_s = min(reads)
        out[comp] = {
            "bytes_per_written_event": size / written,
            "bytes_per_generated_event": size / generated,
            "write_events_per_s": written / write_s,
            "read_events_per_s": written / read_s,
            "read_MB_per_s": size / read_s / 1e6,
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=300_000, help="generated events per channel")
    p.add_argument("--output", type=Path, default=Path(__file__).parent / "out")
    args = p.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    result = {"machine": {"cpu": cpu, "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"{'channel':18s} {'physics+detector ev/s':>22s} {'with ROOT writing ev/s':>24s}  target")
        result["generation"] = {}
        for name in CHANNELS:
            r = bench_channel(name, args.events, tmp)
            result["generation"][name] = r
            verdict = "-" if name == "signal" else ("PASS" if r["produce_events_per_s"] >= TARGET_EVENTS_PER_S else "FAIL")
            print(f"{name:18s} {r['physics_and_detector_events_per_s']:22,.0f} {r['produce_events_per_s']:24,.0f}  {verdict}")
        result["compression"] = {}
        for name in ("kkmc_tautau", "kkmc_mumu"):
            result["compression"][name] = r = bench_compression(name, args.events, tmp)
            print(f"\n{name}: {'compression':>11s} {'B/written ev':>13s} {'B/generated ev':>15s} {'read ev/s':>12s} {'read MB/s':>10s}")
            for comp, v in r.items():
                print(
                    f"{'':{len(name)}s}  {comp:>11s} {v['bytes_per_written_event']:13.1f} {v['bytes_per_generated_event']:15.1f}"
                    f" {v['read_events_per_s']:12,.0f} {v['read_MB_per_s']:10.1f}"
                )
    (args.output / "bench_generation.json").write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.output / 'bench_generation.json'}")


if __name__ == "__main__":
    main()
