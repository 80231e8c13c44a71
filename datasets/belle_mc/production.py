"""Seeded, chunked production of Belle-like ntuples for one channel.

Events are made in blocks of ``BLOCK_SIZE``; block ``b`` of a dataset draws all
its random numbers from ``SeedSequence([seed, crc32(dataset), b])`` and nothing
else (since ``belle_mc 0.2`` each block also has its own unweighting statistics,
which size its proposal batches: in 0.1 they ran on from the blocks before, so
blocks >= 1 of the non-Pythia channels depended on the blocks made before them).
A block is therefore a pure function of (channel, mass, seed, block, size), and the
events of a given seed are the same however the dataset is split into files and
into :class:`GenerationTask` s, and wherever those run (:func:`produce` with an
executor). Each
generated event passes through the detector response; events with fewer than
``SKIM_MIN_TRACKS`` tracks are not written (they are still counted in
``n_generated``, as docs/fileset.md requires).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import re
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np

from core import belle_detector as det
from core.beams import cms_frame

from . import detector
from .channels import CHANNELS, Channel
from core.fileset import update_fileset, write_json_atomic  # noqa: I001
from .montecarlo import CrossSection, UnweightingStats, integrate, sample_unweighted, unweighted_states
from .ntuple import DEFAULT_COMPRESSION, NtupleWriter
from .particles import ParticleTable
from .slices import SLICES, GeneratorSlice, select_events, select_particles

log = logging.getLogger(__name__)

BLOCK_SIZE = 100_000
"""Generated events per random-number block (the unit of reproducibility)."""
SKIM_MIN_TRACKS = 2
"""Events with fewer reconstructed tracks are not written (no analysis here can use them)."""
EXPERIMENT_NUMBER = 65
"""Belle experiment number written to the ``exp`` branch of generated files."""
INTEGRATION_POINTS = 2_000_000
"""Weighted points used to integrate each process (cross section and maximum weight)."""

GENERATOR_VERSION = "belle_mc 0.3"
"""Fileset ``generator``: 0.2 made blocks independent (own unweighting statistics), see the module docstring."""
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
    passed_numbers: np.ndarray | None = None
    """Event numbers of the drawn events the generator slice's filter kept (all of them without a slice)."""


@dataclass
class SimulatedBlock:
    """One block before the skim: the truth events the slice kept, their particles and detector response."""

    events: dict
    """The event dict (generator beam frame) of the kept events."""
    particles: ParticleTable
    reco: detector.DetectorEvents
    drawn_index: np.ndarray
    """0-based index, among the block's drawn events, of each kept event."""
    n_drawn: int


def simulate_block(
    channel: Channel,
    process,
    xsec: CrossSection,
    seed: int,
    dataset: str,
    block: int,
    n_events: int,
    stats: UnweightingStats | None = None,
    generator_slice: GeneratorSlice | None = None,
) -> SimulatedBlock:
    """Draw ``n_events`` events of block ``block``, keep those of ``generator_slice`` (its truth filter right
    after the kinematics, then its forced tau decays, then its particle filter on the built particles),
    and simulate the detector for them. A slice with a pre-decay filter builds only the accepted proposals
    that pass it (the others are drawn, counted and dropped).

    Without a slice every drawn event is kept and the random numbers are those of a production without slices.
    """
    ss = np.random.SeedSequence([seed, zlib.crc32(dataset.encode()), block])
    rng = np.random.default_rng(ss)
    if generator_slice is not None and generator_slice.pre_decay_filter is not None:
        if not hasattr(process, "pre_decay_event"):
            raise ValueError(f"generator slice {generator_slice.name!r}: the process of {channel.name} has no pre-decay event")
        state = unweighted_states(process, rng, n_events, xsec.max_weight, stats)
        drawn = np.flatnonzero(np.asarray(generator_slice.pre_decay_filter(process.pre_decay_event(state)), bool))
        events = process.build(rng, {k: v[drawn] for k, v in state.items()})
    else:
        events = sample_unweighted(process, rng, n_events, xsec.max_weight, stats)
        drawn = np.arange(n_events, dtype=np.int64)
    if generator_slice is not None:
        keep = generator_slice.accept(events)
        drawn = drawn[keep]
        events = select_events(events, keep)
        generator_slice.force_decays(rng, events)
    particles = channel.build_particles(rng, events)
    if generator_slice is not None and generator_slice.particle_filter is not None:
        keep = np.asarray(generator_slice.particle_filter(particles, len(drawn)), bool)
        particles = select_particles(particles, keep)
        events = select_events(events, keep)
        drawn = drawn[keep]
    lab = to_lab(rng, particles, len(drawn))
    reco = detector.simulate(rng, lab, len(drawn))
    return SimulatedBlock(events, particles, reco, drawn, n_events)


def generate_block(
    channel: Channel,
    process,
    xsec: CrossSection,
    seed: int,
    dataset: str,
    block: int,
    n_events: int,
    stats: UnweightingStats | None = None,
    generator_slice: GeneratorSlice | None = None,
) -> BlockResult:
    """Generate, simulate and skim one block of ``n_events`` drawn (generated) events.

    Event numbers are 1-based over the drawn events, so a filtered-out event leaves a gap.
    """
    sim = simulate_block(channel, process, xsec, seed, dataset, block, n_events, stats, generator_slice)
    keep = sim.reco.n_track >= SKIM_MIN_TRACKS
    numbers = block * BLOCK_SIZE + sim.drawn_index[keep] + 1
    return BlockResult(sim.reco.select(keep), numbers, n_events, block * BLOCK_SIZE + sim.drawn_index + 1)


class GenerationError(RuntimeError):
    """A production failed (a block, a file or the executor): one line naming what failed; nothing is registered."""


TASK_MAX_UNALIGNED_EVENTS = 10 * BLOCK_SIZE
"""A task ends at a file boundary inside a block only once it holds this many generated events.

A task regenerates the block it shares with its neighbour (blocks are the unit of
reproducibility), so cutting there is limited to once per ten blocks (<= 10% extra work)."""


@dataclass(frozen=True)
class GenerationTask:
    """One independent piece of a production: the whole output files of generated events
    ``first_event + 1 .. first_event + n_events`` (1-based event numbers) of a dataset.

    A task is a pure function of its fields (and of the process and cross section
    computed once by :func:`produce`): it draws block ``b`` from
    ``SeedSequence([seed, crc32(dataset), b])`` like any other split of the dataset.
    """

    channel: str
    mass: float | None
    dataset: str
    seed: int
    n_total: int
    """Generated events of the whole dataset (it fixes the size of the last block)."""
    first_event: int
    """Generated events before this task (a multiple of ``events_per_file``)."""
    n_events: int
    events_per_file: int
    output_dir: str
    compression: str = DEFAULT_COMPRESSION
    generator_slice: str | None = None
    """Name of the dataset's :class:`~belle_mc.slices.GeneratorSlice` (``slices.SLICES``), None for the whole channel."""

    @property
    def blocks(self) -> range:
        """The random-number blocks this task generates (a shared edge block is regenerated by both tasks)."""
        return range(self.first_event // BLOCK_SIZE, (self.first_event + self.n_events - 1) // BLOCK_SIZE + 1)

    @property
    def file_indices(self) -> range:
        """Indices of the files of this task: file k holds generated events ``k * events_per_file + 1 ..``."""
        stop = (self.first_event + self.n_events - 1) // self.events_per_file + 1
        return range(self.first_event // self.events_per_file, stop)


def task_file_name(dataset: str, file_index: int) -> str:
    """Name under which a task writes file ``file_index`` of ``dataset`` (before :func:`produce` renumbers)."""
    return f"{dataset}_{file_index:04d}.root"


@dataclass
class TaskResult:
    """What a finished task hands back to :func:`produce` for the fileset."""

    first_event: int
    n_generated: int
    files: list[tuple[int, str, int]]
    """(file index, file name, events written) of every file written, in order; a file range
    whose events were all skimmed away writes no file."""
    n_proposed: int = 0
    n_accepted: int = 0
    n_overweight: int = 0
    n_passed_filter: int = 0
    """Drawn events of the task's range that the generator slice's filter kept."""
    error: str | None = None
    """One line naming the block and the file that failed (then nothing of the task is kept)."""

    @property
    def n_written(self) -> int:
        return sum(n for _, _, n in self.files)


def check_request(channel_name: str, n_events: int, mass: float | None = None, events_per_file: int = 1) -> None:
    """ValueError naming what is wrong with a production request (channel, mass, event counts)."""
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


def plan_tasks(
    channel_name: str,
    n_events: int,
    output_dir: str | os.PathLike,
    mass: float | None = None,
    seed: int = 1,
    events_per_file: int = 1_000_000,
    compression: str = DEFAULT_COMPRESSION,
    generator_slice: str | None = None,
) -> list[GenerationTask]:
    """Split a production into tasks of whole files, cut where a file boundary is also a block boundary.

    Files of ``events_per_file`` >= ``BLOCK_SIZE`` that are a multiple of it give one task per
    file; smaller files are grouped until a block boundary. Where file and block boundaries
    never meet, a task is cut at a file boundary once it holds :data:`TASK_MAX_UNALIGNED_EVENTS`.
    """
    check_request(channel_name, n_events, mass, events_per_file)
    dataset = slice_dataset_name(channel_name, mass, generator_slice)
    output_dir = Path(output_dir).resolve()  # workers may run in another directory
    cuts = [0]
    for edge in range(events_per_file, n_events, events_per_file):
        if edge % BLOCK_SIZE == 0 or edge - cuts[-1] >= TASK_MAX_UNALIGNED_EVENTS:
            cuts.append(edge)
    cuts.append(n_events)
    return [
        GenerationTask(
            channel_name, mass, dataset, int(seed), int(n_events), lo, hi - lo, events_per_file, str(output_dir),
            compression, generator_slice,
        )  # fmt: skip
        for lo, hi in itertools.pairwise(cuts)
    ]


def run_task(
    task: GenerationTask,
    process,
    xsec: CrossSection,
    progress: Callable[[int], None] | None = None,
) -> TaskResult:
    """Generate, simulate, skim and write the files of ``task``; never raises for a failed block.

    ``process`` and ``xsec`` are the channel's process and its cross section, made once for the
    whole production. Each file is written atomically (``NtupleWriter``: a ``.part`` file renamed
    when complete). A failure removes the task's files and is returned as ``TaskResult.error``
    (one line naming the block and the file), so that the driver reports it without a traceback.
    ``progress(n)`` is called with the generated events of the task after each block.
    """
    channel = CHANNELS[task.channel]
    generator_slice = None if task.generator_slice is None else SLICES[task.generator_slice]
    out = Path(task.output_dir)
    lo_event, hi_event = task.first_event, task.first_event + task.n_events
    result = TaskResult(task.first_event, task.n_events, [])
    writer: NtupleWriter | None = None
    current_file = -1
    name = ""
    block = task.blocks[0]
    try:  # a worker of a stopped production may still be writing these files
        lock = _lock(receipt_path(task).with_suffix(".lock"), f"{task.dataset}: the task of generated events {lo_event + 1}-{hi_event}")
    except GenerationError as err:
        result.error = str(err)
        return result
    try:
        for block in task.blocks:
            n_b = min(BLOCK_SIZE, task.n_total - block * BLOCK_SIZE)
            stats = UnweightingStats()
            res = generate_block(channel, process, xsec, task.seed, task.dataset, block, n_b, stats, generator_slice)
            result.n_proposed += stats.n_proposed
            result.n_accepted += stats.n_accepted
            result.n_overweight += stats.n_overweight
            passed = res.passed_numbers - 1
            result.n_passed_filter += int(np.count_nonzero((passed >= lo_event) & (passed < hi_event)))
            index = res.event_numbers - 1  # 0-based generated-event index
            inside = np.flatnonzero((index >= lo_event) & (index < hi_event))
            # file boundaries fall every `events_per_file` generated events, independent of the blocks;
            # the event numbers increase, so each file takes a contiguous range of the block's events
            file_index = index[inside] // task.events_per_file
            starts = np.flatnonzero(np.diff(file_index, prepend=-1))
            for lo, hi in zip(starts, [*starts[1:], len(file_index)]):
                if file_index[lo] != current_file:
                    if writer is not None:
                        writer.close()
                        result.files.append((current_file, name, writer.n_entries))
                    current_file = int(file_index[lo])
                    name = task_file_name(task.dataset, current_file)
                    writer = NtupleWriter(out / name, compression=task.compression)
                rows = inside[lo:hi]
                events = res.detector_events.event_range(int(rows[0]), int(rows[-1]) + 1)
                numbers = res.event_numbers[rows[0] : rows[-1] + 1]
                writer.extend(events, EXPERIMENT_NUMBER, task.seed & 0x7FFFFFFF, numbers)
            if progress is not None:
                progress(min((block + 1) * BLOCK_SIZE, hi_event) - max(block * BLOCK_SIZE, lo_event))
        if writer is not None:
            writer.close()
            result.files.append((current_file, name, writer.n_entries))
            writer = None
        write_json_atomic(receipt_path(task), {"task": task_fingerprint(task), "result": asdict(result)})
    except Exception as err:  # reported by the driver as one line; the task leaves no file behind
        if writer is not None:
            writer.__exit__(type(err), err, None)
        for _, done, _ in result.files:
            (out / done).unlink(missing_ok=True)
        result.files = []
        first, last = block * BLOCK_SIZE + 1, min((block + 1) * BLOCK_SIZE, task.n_total)
        file_of_block = task_file_name(task.dataset, max(first - 1, lo_event) // task.events_per_file)
        text = " ".join(str(err).split()) or "no message"
        result.error = (
            f"{task.dataset}: block {block} (generated events {first}-{last}) for file {out / file_of_block} "
            f"failed: {type(err).__name__}: {text}"
        )
    except BaseException:  # interrupted: no half-written file either
        if writer is not None:
            writer.__exit__(KeyboardInterrupt, None, None)
        raise
    finally:
        if lock is not None:
            lock.close()
    return result


def task_fingerprint(task: GenerationTask) -> dict:
    """Everything that fixes a task's files (not where they are), with the generator and model versions."""
    fields = {k: v for k, v in asdict(task).items() if k != "output_dir"}
    fingerprint = {**fields, "generator": GENERATOR_VERSION, "model_version": CHANNELS[task.channel].model_version}
    if task.generator_slice is not None:  # a changed filter draws other events
        fingerprint["generator_filter"] = SLICES[task.generator_slice].describe()
    return fingerprint


def receipt_directory(output_dir: str | os.PathLike, dataset: str) -> Path:
    """Where the tasks of a production of ``dataset`` leave their receipts until the fileset is written."""
    return Path(output_dir) / f".{dataset}.tasks"


def receipt_path(task: GenerationTask) -> Path:
    """The receipt of ``task``: written (atomically) once all its files are complete, read by ``resume``."""
    return receipt_directory(task.output_dir, task.dataset) / f"{task.first_event:012d}.json"


def _lock(path: Path, what: str):
    """An open file holding an exclusive lock on ``path`` (released when closed, or when its process ends).

    GenerationError when another process holds it: two productions writing the same files would
    corrupt them silently. On a file system without locks the work goes on unlocked (None)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise GenerationError(f"{what} is being made by another process ({path} is locked): wait for it or stop it") from None
    except OSError as err:  # e.g. ENOLCK on a network file system without locks
        handle.close()
        log.warning("cannot lock %s (%s): no protection against a concurrent production", path, err)
        return None
    return handle


def finished_tasks(tasks: list[GenerationTask]) -> list[TaskResult]:
    """Results of the ``tasks`` that a previous run finished: a receipt with the same fingerprint, files present."""
    done = []
    for task in tasks:
        path = receipt_path(task)
        try:
            receipt = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if receipt.get("task") != task_fingerprint(task):
            continue
        result = TaskResult(**receipt["result"])
        result.files = [tuple(f) for f in result.files]
        if result.error is None and all((path.parents[1] / name).is_file() for _, name, _ in result.files):
            done.append(result)
    return done


@dataclass
class TaskRunner:
    """``run_task`` with the production's process and cross section: the one-argument function
    handed to an executor (picklable, so it runs in other processes and on Dask workers)."""

    process: object
    xsec: CrossSection

    def __call__(self, task: GenerationTask) -> list[TaskResult]:
        return [run_task(task, self.process, self.xsec)]


Executor = Callable[[list, Callable, list], object]
"""A coffea-style executor: ``executor(items, function, accumulator)`` returns the accumulated
outputs, or ``(accumulated, status)``; outputs are lists here, accumulated by concatenation."""


def produce(
    channel_name: str,
    n_events: int,
    output_dir: str | os.PathLike,
    mass: float | None = None,
    seed: int = 1,
    events_per_file: int = 1_000_000,
    compression: str = DEFAULT_COMPRESSION,
    progress: bool = True,
    executor: Executor | None = None,
    resume: bool = False,
    generator_slice: str | None = None,
) -> dict:
    """Generate ``n_events`` events of a channel into ROOT files and record them in ``fileset.json``.

    With ``generator_slice`` (a name of ``slices.SLICES`` of this channel) the dataset is that slice:
    ``n_events`` events are drawn, only those of the slice are simulated and written, and the
    fileset records ``n_generated = n_events`` (every draw) and ``xsec_pb`` = the channel's cross
    section (that of the slice's ``phase_space`` region, if it has one, integrated like the channel's)
    times the slice's exact ``decay_fraction``, plus what the slice is (docs/fileset.md).

    The production is split into :class:`GenerationTask` s (:func:`plan_tasks`); the process and
    its cross section are made once here and handed to every task. Without ``executor`` the tasks
    run one after the other in this process (with a progress bar if ``progress``); with one (a
    coffea executor, e.g. from ``execution.runner.open_executor``), they run where it runs them.
    Either way a seed gives the same files. The fileset entry is written once, after every task
    has finished; a failed task raises :class:`GenerationError` naming its block and file, and
    nothing is registered. Every finished task leaves a receipt (:func:`receipt_path`) next to
    its files until then: with ``resume``, the tasks of an interrupted or failed production of the
    same dataset, seed and split whose receipts and files are there are not made again. Without
    it, every file and receipt of the dataset in ``output_dir`` is removed first. A production
    and each of its tasks hold a lock (:func:`_lock`) in the receipts' directory: a second
    production of the dataset in the same directory, or a task whose files a worker of a stopped
    production is still writing, fails with a GenerationError instead of corrupting the files.
    Returns the dataset's fileset entry.
    """
    check_request(channel_name, n_events, mass, events_per_file)
    channel = CHANNELS[channel_name]
    gen_slice = check_slice(channel_name, generator_slice)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = slice_dataset_name(channel_name, mass, generator_slice)
    lock = _lock(receipt_directory(out, dataset) / "production.lock", f"{dataset} in {out}")
    try:
        process = channel.make_process(mass)
        t0 = time.perf_counter()
        channel_xsec = integrate(process, INTEGRATION_POINTS)
        process, xsec = slice_process(process, channel_xsec, gen_slice)
        log.info("%s: model cross section %.6g +- %.2g pb", dataset, xsec.xsec_pb, xsec.error_pb)

        tasks = plan_tasks(channel_name, n_events, out, mass, seed, events_per_file, compression, generator_slice)
        receipts = receipt_directory(out, dataset)
        done = finished_tasks(tasks) if resume else []
        if resume:
            log.info("%s: resuming, %d of %d tasks already made", dataset, len(done), len(tasks))
        else:  # the receipts go; the locks stay, this production and its tasks hold them
            for old_receipt in receipts.glob("*.json"):
                old_receipt.unlink()
        kept = {name for r in done for _, name, _ in r.files}
        for old in out.glob(f"{dataset}_*.root"):
            if old.name not in kept and _is_dataset_file(old.name, dataset):
                old.unlink()
        started = {r.first_event for r in done}
        todo = [t for t in tasks if t.first_event not in started]

        results = done + _run_tasks(todo, process, xsec, executor, dataset, n_events, progress, done)
        failed = [r.error for r in results if r.error is not None]
        if failed:
            more = f" (and {len(failed) - 1} more failed task(s))" if len(failed) > 1 else ""
            finished = len(results) - len(failed)
            raise GenerationError(f"{failed[0]}{more}; {finished} of {len(tasks)} tasks done, --resume makes the rest")
        results.sort(key=lambda r: r.first_event)
        covered = [(r.first_event, r.n_generated) for r in results]
        if covered != [(t.first_event, t.n_events) for t in tasks]:
            raise GenerationError(f"{dataset}: the executor returned results of {len(results)} of {len(tasks)} tasks")
        files = _number_files([f for r in results for f in r.files], out, dataset)
        n_written = sum(r.n_written for r in results)
        stats = UnweightingStats(
            sum(r.n_proposed for r in results), sum(r.n_accepted for r in results), sum(r.n_overweight for r in results)
        )

        elapsed = time.perf_counter() - t0
        channel_xsec_pb = channel.fixed_xsec_pb if channel.fixed_xsec_pb is not None else channel_xsec.xsec_pb
        region_xsec_pb = channel_xsec_pb if xsec is channel_xsec else xsec.xsec_pb  # a slice's phase-space region
        metadata = {
            "channel": channel_name,
            "xsec_pb": region_xsec_pb * (1.0 if gen_slice is None else gen_slice.decay_fraction),
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
        if gen_slice is not None:
            metadata.update(
                {
                    "generator_slice": gen_slice.name,
                    "generator_slice_role": gen_slice.role,
                    "generator_filter": gen_slice.describe(),
                    "xsec_channel_pb": channel_xsec_pb,
                    "phase_space_fraction": region_xsec_pb / channel_xsec_pb,
                    "decay_fraction": gen_slice.decay_fraction,
                    "n_passed_filter": int(sum(r.n_passed_filter for r in results)),
                }
            )
        entry = {"files": {name: "events" for name in files}, "metadata": metadata}
        update_fileset(out, dataset, entry)
        shutil.rmtree(receipts, ignore_errors=True)
        log.info(
            "%s: %d generated, %d written in %d files, %.1f s (%.0f events/s)%s",
            dataset, n_events, n_written, len(files), elapsed, n_events / elapsed,
            f"; unweighting efficiency {stats.n_accepted / stats.n_proposed:.3f}" if stats.n_proposed else "",
        )
        return entry
    finally:
        if lock is not None:
            lock.close()


def slice_process(process, channel_xsec: CrossSection, gen_slice: GeneratorSlice | None) -> tuple[object, CrossSection]:
    """The process a dataset draws from and its cross section: the channel's ``process`` and ``channel_xsec``, or,
    for a slice with a ``phase_space`` region, the process restricted to it and the region's cross section
    (integrated like the channel's)."""
    if gen_slice is None or gen_slice.phase_space is None:
        return process, channel_xsec
    region = gen_slice.phase_space.restrict(process)
    return region, integrate(region, INTEGRATION_POINTS)


def check_slice(channel_name: str, generator_slice: str | None) -> GeneratorSlice | None:
    """The named slice of ``slices.SLICES`` (None for None); ValueError if unknown or of another channel."""
    if generator_slice is None:
        return None
    if generator_slice not in SLICES:
        raise ValueError(f"unknown generator slice {generator_slice!r}; choose one of {', '.join(SLICES) or 'none'}")
    found = SLICES[generator_slice]
    if found.channel != channel_name:
        raise ValueError(f"generator slice {generator_slice!r} is of channel {found.channel!r}, not {channel_name!r}")
    return found


def slice_dataset_name(channel: str, mass: float | None = None, generator_slice: str | None = None) -> str:
    """Dataset name of a production: the slice's name for a generator slice, else :func:`dataset_name`."""
    return dataset_name(channel, mass) if generator_slice is None else generator_slice


def _is_dataset_file(name: str, dataset: str) -> bool:
    """True for ``<dataset>_<digits>.root`` (not a file of another dataset whose name starts with ``<dataset>_``)."""
    return re.fullmatch(re.escape(dataset) + r"_\d+\.root", name) is not None


def _run_tasks(tasks, process, xsec, executor, dataset, n_events, progress, done) -> list[TaskResult]:
    if not tasks:
        return []
    if executor is None:
        bar = _progress(n_events, dataset, progress)
        bar.update(sum(r.n_generated for r in done))
        try:
            results = []
            for task in tasks:
                results.append(run_task(task, process, xsec, bar.update))
                if results[-1].error is not None:
                    break  # in one process, the first failure ends the production
            return results
        finally:
            bar.close()
    try:
        output = executor(tasks, TaskRunner(process, xsec), [])
    except Exception as err:  # a lost worker, a task that could not be shipped
        text = " ".join(str(err).split()) or "no message"
        raise GenerationError(f"{dataset}: the executor failed: {type(err).__name__}: {text}") from None
    return list(output[0] if isinstance(output, tuple) else output)


def _number_files(files: list[tuple[int, str, int]], out: Path, dataset: str) -> list[str]:
    """Final names ``<dataset>_0000.root``, ``_0001``, ... of the written files, in event order.

    Tasks name file k after its index; a file range whose events were all skimmed writes no
    file, and the files after it move down one number (as when one process wrote them all).
    """
    names = []
    for number, (_, written, _) in enumerate(files):
        final = task_file_name(dataset, number)
        if final != written:
            os.replace(out / written, out / final)
        names.append(final)
    return names


def _progress(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="ev", unit_scale=True, disable=not enabled, leave=False)
