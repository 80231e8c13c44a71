"""Seeded, chunked production of Belle-like ntuples for one channel.

Events are made in blocks of ``BLOCK_SIZE``; block ``b`` of a dataset draws all
its random numbers from ``SeedSequence([seed, crc32(dataset), b])``. The events
of a given seed are therefore the same however they are split into files. Each
generated event passes through the detector response; events with fewer than
``SKIM_MIN_TRACKS`` tracks are not written (they are still counted in
``n_generated``, as interfaces.md §2 requires).
"""

from __future__ import annotations

import logging
import math
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from core import belle_detector as det
from core.beams import cms_frame

from . import detector
from .channels import CHANNELS, Channel
from core.fileset import update_fileset
from .montecarlo import CrossSection, UnweightingStats, integrate, sample_unweighted
from .ntuple import DEFAULT_COMPRESSION, NtupleWriter
from .particles import ParticleTable

log = logging.getLogger(__name__)

BLOCK_SIZE = 100_000
"""Generated events per random-number block (the unit of reproducibility)."""
SKIM_MIN_TRACKS = 2
"""Events with fewer reconstructed tracks are not written (no analysis here can use them)."""
EXPERIMENT_NUMBER = 65
"""Belle experiment number written to the ``exp`` branch of generated files."""
INTEGRATION_POINTS = 2_000_000
"""Weighted points used to integrate each process (cross section and maximum weight)."""

GENERATOR_VERSION = "belle_mc 0.1"
ZPRIME_CHANNELS = ("signal", "signal_visible", "signal_visible_isr")
"""Channels whose mass is m_Z' (fileset metadata key ``mzp``, dataset names ``<channel>_mzp_<mass>``)."""

def dataset_name(channel: str, mass: float | None = None) -> str:
    """Fileset dataset name: the channel, with the mass for signals (``signal_mzp_2p0``, ``signal_visible_mzp_2p0``)."""
    if mass is None:
        return channel
    text = f"{mass:g}" if "." in f"{mass:g}" else f"{mass:g}.0"
    return f"{channel}_{'mzp' if channel in ZPRIME_CHANNELS else 'mphi'}_{text.replace('.', 'p')}"


@numba.njit(cache=True, fastmath=True)
def _to_lab_kernel(lorentz, p4, x4, vertex, event, p4_out, x4_out):  # pragma: no cover - jitted
    """p4_out = L p4 and x4_out = L x4 + (0, primary vertex of the row's event), row by row."""
    for i in range(len(event)):
        for r in range(4):
            p = x = 0.0
            for col in range(4):
                p += lorentz[r, col] * p4[i, col]
                x += lorentz[r, col] * x4[i, col]
            p4_out[i, r] = p
            x4_out[i, r] = x if r == 0 else x + vertex[event[i], r - 1]


def to_lab(rng: np.random.Generator, particles: ParticleTable, n_events: int) -> ParticleTable:
    """Move particles from the generator's beam frame to the Belle lab frame.

    Rotate the e- beam axis onto its CM-frame direction, boost with the CM
    velocity, and place each event's primary vertex in the luminous region.
    """
    p4 = np.empty_like(particles.p4)
    x4 = np.empty_like(particles.x4)
    vertex = rng.standard_normal((n_events, 3)) * np.asarray(det.BEAM_SPOT_SIGMA_CM)
    # the generator's beam frame (e- along +z in the CM) is the analysis' _cms frame
    _to_lab_kernel(cms_frame()[2], particles.p4, particles.x4, vertex, particles.event, p4, x4)
    return ParticleTable(particles.event, particles.pdg, p4, x4)


@dataclass
class BlockResult:
    detector_events: detector.DetectorEvents
    event_numbers: np.ndarray
    n_generated: int


def generate_block(
    channel: Channel,
    process,
    xsec: CrossSection,
    seed: int,
    dataset: str,
    block: int,
    n_events: int,
    stats: UnweightingStats | None = None,
) -> BlockResult:
    """Generate, simulate and skim one block of ``n_events`` generated events."""
    ss = np.random.SeedSequence([seed, zlib.crc32(dataset.encode()), block])
    rng = np.random.default_rng(ss)
    events = sample_unweighted(process, rng, n_events, xsec.max_weight, stats)
    particles = channel.build_particles(rng, events)
    lab = to_lab(rng, particles, n_events)
    reco = detector.simulate(rng, lab, n_events)
    keep = reco.n_track >= SKIM_MIN_TRACKS
    numbers = block * BLOCK_SIZE + np.flatnonzero(keep).astype(np.int64) + 1
    return BlockResult(reco.select(keep), numbers, n_events)


def produce(
    channel_name: str,
    n_events: int,
    output_dir: str | os.PathLike,
    mass: float | None = None,
    seed: int = 1,
    events_per_file: int = 1_000_000,
    compression: str = DEFAULT_COMPRESSION,
    progress: bool = True,
) -> dict:
    """Generate ``n_events`` events of a channel into ROOT files and record them in ``fileset.json``.

    Returns the dataset's fileset entry.
    """
    if channel_name not in CHANNELS:
        raise ValueError(f"unknown channel {channel_name!r}; choose one of {', '.join(CHANNELS)}")
    channel = CHANNELS[channel_name]
    if channel.needs_mass and mass is None:
        raise ValueError(f"channel {channel_name!r} needs --mass")
    if not channel.needs_mass and mass is not None:
        raise ValueError(f"channel {channel_name!r} takes no --mass")
    if n_events <= 0:
        raise ValueError(f"number of events must be positive, got {n_events}")
    if events_per_file <= 0:
        raise ValueError(f"events per file must be positive, got {events_per_file}")

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = dataset_name(channel_name, mass)
    process = channel.make_process(mass)
    t0 = time.perf_counter()
    xsec = integrate(process, INTEGRATION_POINTS)
    log.info("%s: model cross section %.6g +- %.2g pb", dataset, xsec.xsec_pb, xsec.error_pb)

    for old in out.glob(f"{dataset}_*.root"):
        old.unlink()

    n_blocks = math.ceil(n_events / BLOCK_SIZE)
    stats = UnweightingStats()
    files: list[str] = []
    writer: NtupleWriter | None = None
    current_file = -1
    n_written = 0
    bar = _progress(n_events, dataset, progress)
    try:
        for b in range(n_blocks):
            n_b = min(BLOCK_SIZE, n_events - b * BLOCK_SIZE)
            res = generate_block(channel, process, xsec, seed, dataset, b, n_b, stats)
            # file boundaries fall every `events_per_file` generated events, independent of the blocks;
            # the event numbers increase, so each file takes a contiguous range of the block's events
            file_index = (res.event_numbers - 1) // events_per_file
            starts = np.flatnonzero(np.diff(file_index, prepend=-1))
            for lo, hi in zip(starts, [*starts[1:], len(file_index)]):
                if file_index[lo] != current_file:
                    if writer is not None:
                        writer.close()
                    name = f"{dataset}_{len(files):04d}.root"
                    writer = NtupleWriter(out / name, compression=compression)
                    files.append(name)
                    current_file = file_index[lo]
                events = res.detector_events.event_range(lo, hi)
                writer.extend(events, EXPERIMENT_NUMBER, seed & 0x7FFFFFFF, res.event_numbers[lo:hi])
            n_written += res.detector_events.n_events
            bar.update(n_b)
        if writer is not None:
            writer.close()
            writer = None
    finally:
        bar.close()
        if writer is not None:
            writer.__exit__(RuntimeError, None, None)

    elapsed = time.perf_counter() - t0
    metadata = {
        "channel": channel_name,
        "xsec_pb": channel.fixed_xsec_pb if channel.fixed_xsec_pb is not None else xsec.xsec_pb,
        "n_generated": int(n_events),
    }
    if channel_name in ZPRIME_CHANNELS:
        metadata["mzp"] = float(mass)
    elif channel_name == "signal_ttphi":
        metadata["mphi"] = float(mass)
    metadata.update(
        {
            "xsec_model_pb": xsec.xsec_pb,
            "xsec_model_error_pb": xsec.error_pb,
            "n_events_in_files": int(n_written),
            "skim": f"nTrack >= {SKIM_MIN_TRACKS}",
            "seed": int(seed),
            "generator": GENERATOR_VERSION,
            "model_version": channel.model_version,
            "description": channel.description,
        }
    )
    entry = {"files": {name: "events" for name in files}, "metadata": metadata}
    update_fileset(out, dataset, entry)
    log.info(
        "%s: %d generated, %d written in %d files, %.1f s (%.0f events/s)%s",
        dataset, n_events, n_written, len(files), elapsed, n_events / elapsed,
        f"; unweighting efficiency {stats.n_accepted / stats.n_proposed:.3f}" if stats.n_proposed else "",
    )
    return entry


def _progress(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="ev", unit_scale=True, disable=not enabled, leave=False)
