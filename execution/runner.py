"""Running a processor over a fileset on any executor: the one execution path of the project.

``run.py``, the study pipeline (``scripts/study.py``) and the benchmarks all go through
:func:`run_processor`, with the executor options that :func:`add_executor_options` declares
(condor/README.md documents them). It checks every input file before any work starts, runs
coffea's ``Runner`` with per-chunk checkpoints (so an interrupted run resumes), and accounts
for every event: a run that read fewer events than its files hold fails, unless the user
allowed skipping, and then the metadata names every skipped file and every lost chunk
(file and entry range, with the error).

Local worker counts are bounded by the cores and the available memory (``--worker-memory``
per worker) unless ``--oversubscribe``; batch clusters (HTCondor, SLURM, LSF) come from
:mod:`execution.batch`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uproot

from core.fileset import InputError, check_files
from execution.checkpoints import ChunkCheckpointer

log = logging.getLogger(__name__)

EXECUTORS = ("iterative", "futures", "dask")
"""coffea executors: one process, local processes, a Dask cluster."""
CLUSTERS = ("local", "condor", "slurm", "lsf")
"""Dask clusters of ``--cluster``: a LocalCluster, or dask-jobqueue clusters of :mod:`execution.batch`."""
DEFAULT_CHUNKSIZE = 1_000_000
"""Events per chunk (condor/README.md: chunk size on large pools)."""
DEFAULT_WORKER_MEMORY = "2GiB"
"""Memory of one local worker process (its Dask memory limit), for bounding the number of workers."""
DASK_LOGGERS = {"distributed": logging.WARNING, "dask_jobqueue": logging.WARNING, "bokeh": logging.ERROR, "tornado": logging.WARNING}
"""Loggers of Dask's start-up chatter and their level unless ``--verbose`` (INFO then)."""


class ProcessingError(Exception):
    """The run did not process every event it should have: reported as one line, nonzero exit."""


def positive_int(text: str) -> int:
    """argparse type: a whole number > 0 (``1e6`` allowed)."""
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
        if "e" in text.lower() and float(text) != value:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def byte_size(text: str) -> str:
    """argparse type: a memory size such as 2GiB or 1500MB (returned as given)."""
    from dask.utils import parse_bytes

    try:
        value = parse_bytes(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"not a memory size: {text!r} (e.g. 2GiB)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return text


def adapt_range(text: str) -> tuple[int, int]:
    """argparse type: ``MIN:MAX`` workers (jobs) for adaptive scaling, 0 <= MIN <= MAX, MAX >= 1."""
    low, sep, high = text.partition(":")
    try:
        pair = (int(low), int(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX (two integers), got {text!r}") from None
    if not sep or pair[0] < 0 or pair[1] < max(1, pair[0]):
        raise argparse.ArgumentTypeError(f"expected MIN:MAX with 0 <= MIN <= MAX and MAX >= 1, got {text!r}")
    return pair


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """Declare the executor options shared by ``run.py`` and every study command (condor/README.md)."""
    g = parser.add_argument_group("execution")
    g.add_argument(
        "--executor", choices=EXECUTORS, default="futures",
        help="coffea executor: iterative (one process), futures (local processes), dask (a Dask cluster, see --cluster)",
    )  # fmt: skip
    g.add_argument(
        "--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
        help="worker processes (futures, dask local; at most the cores and what --worker-memory allows, "
        "unless --oversubscribe) or batch jobs (dask condor/slurm/lsf)",
    )  # fmt: skip
    g.add_argument(
        "--cluster", choices=CLUSTERS, default=None,
        help="Dask cluster: a LocalCluster, or HTCondor/SLURM/LSF jobs configured from --batch-config "
        "(default: condor where a pool answers and condor_submit is on PATH, else local)",
    )  # fmt: skip
    g.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler to join (implies --executor dask)")
    g.add_argument("--chunksize", type=positive_int, default=DEFAULT_CHUNKSIZE, help="events per chunk (default 1000000)")
    g.add_argument("--maxchunks", type=positive_int, help="process at most this many chunks per dataset (quick looks; a partial run)")
    g.add_argument(
        "--skip-bad-files", action="store_true",
        help="skip unreadable files and chunks; metadata.skipped_files and metadata.lost_chunks name them",
    )  # fmt: skip
    g.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted run: reuse the chunk results it saved next to the output (same options and inputs)",
    )  # fmt: skip
    g.add_argument(
        "--worker-memory", type=byte_size, default=DEFAULT_WORKER_MEMORY,
        help=f"memory limit of one local worker process (default {DEFAULT_WORKER_MEMORY}); bounds the local worker count",
    )  # fmt: skip
    g.add_argument(
        "--oversubscribe", action="store_true",
        help="start every requested local worker even beyond the cores or the available memory (one-line warning)",
    )  # fmt: skip
    g.add_argument(
        "--adapt", type=adapt_range, metavar="MIN:MAX",
        help="dask: scale adaptively between MIN and MAX workers (batch: jobs) instead of a fixed --workers",
    )  # fmt: skip
    g.add_argument(
        "--batch-config", type=Path, default=None,
        help="batch configuration for --cluster condor/slurm/lsf (default condor/jobqueue.yaml)",
    )  # fmt: skip
    g.add_argument(
        "--worker-timeout", type=positive_float, metavar="SECONDS",
        help="batch clusters: fail when no worker has joined after this long (default: cluster.worker-timeout of the batch configuration)",
    )  # fmt: skip
    g.add_argument(
        "--no-tls", dest="tls", action="store_false", default=None,
        help="batch clusters: plain TCP instead of TLS between scheduler, workers and client (default: cluster.tls of the batch configuration, true)",
    )  # fmt: skip
    g.add_argument(
        "--performance-report", type=Path, metavar="FILE.html",
        help="dask: write Dask's performance report (task stream, worker profiles, bandwidth) of the run to FILE.html",
    )  # fmt: skip
    with contextlib.suppress(argparse.ArgumentError):  # a command may declare its own --verbose
        g.add_argument("--verbose", action="store_true", help="show Dask's own INFO logs (scheduler, nanny, worker start-up)")


@dataclass
class ExecutionOptions:
    """The executor options of :func:`add_executor_options`, as one value to pass around."""

    executor: str = "futures"
    workers: int = 1
    cluster: str | None = None
    scheduler: str | None = None
    chunksize: int = DEFAULT_CHUNKSIZE
    maxchunks: int | None = None
    skip_bad_files: bool = False
    resume: bool = False
    worker_memory: str = DEFAULT_WORKER_MEMORY
    oversubscribe: bool = False
    adapt: tuple[int, int] | None = None
    batch_config: Path | None = None
    worker_timeout: float | None = None
    tls: bool | None = None
    """None: the batch configuration's ``cluster.tls``."""
    performance_report: Path | None = None
    verbose: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ExecutionOptions:
        """The options of parsed arguments (attributes the parser did not declare keep their defaults)."""
        names = cls.__dataclass_fields__
        return cls(**{k: getattr(args, k) for k in names if hasattr(args, k)})

    def as_arguments(self) -> list[str]:
        """The same options as command-line arguments (for a step run as its own command)."""
        out = ["--executor", self.executor, "--workers", str(self.workers), "--chunksize", str(self.chunksize)]
        out += ["--cluster", self.cluster] if self.cluster else []
        out += ["--scheduler", self.scheduler] if self.scheduler else []
        out += ["--maxchunks", str(self.maxchunks)] if self.maxchunks else []
        out += ["--skip-bad-files"] if self.skip_bad_files else []
        out += ["--resume"] if self.resume else []
        out += ["--worker-memory", self.worker_memory] if self.worker_memory != DEFAULT_WORKER_MEMORY else []
        out += ["--oversubscribe"] if self.oversubscribe else []
        out += ["--adapt", f"{self.adapt[0]}:{self.adapt[1]}"] if self.adapt else []
        out += ["--batch-config", str(self.batch_config)] if self.batch_config else []
        out += ["--worker-timeout", f"{self.worker_timeout:g}"] if self.worker_timeout else []
        out += ["--no-tls"] if self.tls is False else []
        out += ["--performance-report", str(self.performance_report)] if self.performance_report else []
        out += ["--verbose"] if self.verbose else []
        return out


def uproot_options(fileset: dict) -> dict:
    """Options for ``uproot.open`` in every chunk.

    No array or object cache: each chunk is read once, and uproot's per-file caches
    otherwise keep every chunk's arrays alive, so worker memory grew with the number of
    chunks (measured: 0.5 -> 1.2 GB over 36 chunks of 500k events; flat at 0.5 GB without).
    Memory-mapped reading when every file is local (faster than the default fsspec source).
    """
    local = all("://" not in path for entry in fileset.values() for path in entry["files"])
    return {"array_cache": None, "object_cache": None} | ({"handler": uproot.MemmapSource} if local else {})


def default_cluster() -> str:
    """``condor`` where an HTCondor pool answers and condor_submit is on PATH, ``local`` otherwise."""
    from execution.htcondor import condor_pool_available

    return "condor" if condor_pool_available() else "local"


# ---------------------------------------------------------------------------------------------
# local worker counts


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WorkerPlan:
    """How many local worker processes a run starts, and why when that is not what was asked."""

    requested: int
    started: int
    note: str | None = None
    """One line: what runs instead of the request and why, or the oversubscription warning."""


def plan_local_workers(
    requested: int,
    worker_memory: str = DEFAULT_WORKER_MEMORY,
    oversubscribe: bool = False,
    cores: int | None = None,
    available_bytes: int | None = None,
    what: str = "--workers",
) -> WorkerPlan:
    """At most one worker process per core and per ``worker_memory`` of available memory, unless ``oversubscribe``.

    ``cores`` and ``available_bytes`` default to this machine's (:func:`usable_cores`,
    ``psutil.virtual_memory().available``).
    """
    import psutil
    from dask.utils import format_bytes, parse_bytes

    cores = usable_cores() if cores is None else cores
    available = psutil.virtual_memory().available if available_bytes is None else available_bytes
    per_worker = parse_bytes(worker_memory)
    by_memory = max(1, available // per_worker)
    limit = max(1, min(cores, by_memory))
    if requested <= limit:
        return WorkerPlan(requested, requested)
    machine = f"{cores} cores and {format_bytes(available)} available memory ({by_memory} workers of {worker_memory})"
    if oversubscribe:
        return WorkerPlan(requested, requested, f"{what} {requested} --oversubscribe: {requested} worker processes share {machine}")
    return WorkerPlan(
        requested, limit, f"{what} {requested}: starting {limit} worker processes instead, this machine has {machine}; "
        f"--oversubscribe starts all {requested}",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the run's report


@dataclass
class RunReport:
    """What a run did, for the output's ``metadata`` (docs/output.md)."""

    executor: str
    chunksize: int
    maxchunks: int | None
    skipped_files: list[str] = field(default_factory=list)
    """Paths of the input files skipped as unreadable (public contract: a list of paths)."""
    resumed_chunks: int = 0
    """Chunks whose results an earlier run had saved and this one reused (``--resume``)."""
    events_read: int = 0
    wall_time_s: float = 0.0
    cluster: str | None = None
    workers_requested: int | None = None
    workers_started: int | None = None
    workers_note: str | None = None
    """Why ``workers_started`` differs from ``workers_requested`` (or the oversubscription warning)."""
    chunks: int = 0
    """Chunks the run had to process."""
    lost_chunks: list[dict[str, Any]] = field(default_factory=list)
    """Chunks that failed after their retries: dataset, file, tree, entrystart, entrystop, error."""
    scheduler: str | None = None
    performance_report: str | None = None
    bytes_read: int = 0
    """Bytes the chunks read from their files (coffea's metrics; chunks reused from checkpoints included)."""
    process_time_s: float = 0.0
    """Summed time of the processor's ``process`` over the chunks (worker CPU spent on the analysis)."""

    def metadata(self) -> dict[str, Any]:
        """The report as the output's ``metadata`` entries."""
        return {
            "executor": self.executor,
            "cluster": self.cluster,
            "workers_requested": self.workers_requested,
            "workers_started": self.workers_started,
            "workers_note": self.workers_note,
            "skipped_files": self.skipped_files,
            "lost_chunks": self.lost_chunks,
            "chunks": self.chunks,
            "resumed_chunks": self.resumed_chunks,
            "chunksize": self.chunksize,
            "maxchunks": self.maxchunks,
            "performance_report": self.performance_report,
            "bytes_read": self.bytes_read,
            "process_time_s": self.process_time_s,
        }

    def summary(self) -> str:
        """One line: events, time, and what was skipped, lost or reused (naming files and entry ranges)."""
        rate = self.events_read / max(self.wall_time_s, 1e-9)
        parts = [f"processed {self.events_read} events in {self.wall_time_s:.1f} s ({rate:.0f} events/s), {self.chunks} chunks"]
        if self.resumed_chunks:
            parts.append(f"{self.resumed_chunks} reused from the interrupted run")
        if self.skipped_files:
            parts.append(f"{len(self.skipped_files)} file(s) skipped: {', '.join(self.skipped_files)}")
        if self.lost_chunks:
            lost = ", ".join(f"{c['file']} entries {c['entrystart']}-{c['entrystop']} ({c['error']})" for c in self.lost_chunks)
            parts.append(f"{len(self.lost_chunks)} chunk(s) lost: {lost}")
        return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# executors


def _quiet_dask(verbose: bool) -> None:
    import distributed  # noqa: F401  (its import configures its loggers: set the levels after it)

    for name, level in DASK_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.INFO if verbose else level)


def _check_options(options: ExecutionOptions) -> None:
    if options.scheduler:
        options.executor = "dask"
    if options.executor != "dask":
        for name, value in (("--performance-report", options.performance_report), ("--adapt", options.adapt)):
            if value:
                raise InputError(f"{name} needs --executor dask (got --executor {options.executor})")
    if options.cluster in (None, "local") or options.executor != "dask":
        for name, value in (("--batch-config", options.batch_config), ("--worker-timeout", options.worker_timeout), ("--no-tls", options.tls is False)):
            if value:
                raise InputError(f"{name} applies to batch clusters (--executor dask --cluster condor/slurm/lsf)")


@contextlib.contextmanager
def open_executor(options: ExecutionOptions, report: RunReport | None = None) -> Iterator[Any]:
    """The coffea executor of ``options``; a Dask client and cluster are closed on exit.

    Local worker counts follow :func:`plan_local_workers` (the one-line note is logged and kept
    in ``report``). A batch cluster is waited for until its first worker joins
    (:func:`execution.batch.wait_for_first_workers`). With ``options.performance_report``
    the whole run is recorded in Dask's performance report.
    """
    from coffea import processor

    report = report if report is not None else RunReport(options.executor, options.chunksize, options.maxchunks)
    _check_options(options)
    _quiet_dask(options.verbose)
    if options.executor != "dask" or options.scheduler:
        report.cluster = None
    if options.executor == "iterative":
        yield processor.IterativeExecutor(status=True)
        return
    if options.executor == "futures":
        plan = plan_local_workers(options.workers, options.worker_memory, options.oversubscribe)
        _record_plan(report, plan)
        yield processor.FuturesExecutor(workers=plan.started, status=True)
        return
    from distributed import Client, performance_report

    cluster = None
    if options.scheduler:
        client = Client(options.scheduler)
    else:
        if options.cluster is None:
            options.cluster = default_cluster()
        report.cluster = options.cluster
        if options.cluster == "local":
            cluster = _local_cluster(options, report)
            client = Client(cluster)
            if not options.adapt:  # the worker processes that did start
                report.workers_started = len(client.scheduler_info()["workers"])
        else:
            cluster, client = _batch_cluster(options, report)
    report.scheduler = client.scheduler.address
    from execution.batch import dashboard_hint

    print(f"Dask dashboard: {client.dashboard_link}{dashboard_hint(client.dashboard_link) if report.cluster not in (None, 'local') else ''}", flush=True)
    try:
        if options.performance_report:
            options.performance_report.parent.mkdir(parents=True, exist_ok=True)
            report.performance_report = str(options.performance_report)
            with performance_report(filename=str(options.performance_report)):
                yield processor.DaskExecutor(client=client, status=True)
        else:
            yield processor.DaskExecutor(client=client, status=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _record_plan(report: RunReport, plan: WorkerPlan) -> None:
    report.workers_requested, report.workers_started, report.workers_note = plan.requested, plan.started, plan.note
    if plan.note:
        log.warning(plan.note)


def _local_cluster(options: ExecutionOptions, report: RunReport) -> Any:
    """A LocalCluster of single-threaded worker processes, as many as :func:`plan_local_workers` allows."""
    from distributed import LocalCluster

    if options.adapt:
        plan = plan_local_workers(options.adapt[1], options.worker_memory, options.oversubscribe, what="--adapt maximum")
        _record_plan(report, plan)
        cluster = LocalCluster(
            n_workers=min(options.adapt[0], plan.started), threads_per_worker=1, processes=True,
            memory_limit=options.worker_memory, dashboard_address="127.0.0.1:0", silence_logs=logging.INFO if options.verbose else logging.WARNING,
        )  # fmt: skip
        cluster.adapt(minimum=min(options.adapt[0], plan.started), maximum=plan.started)
        return cluster
    plan = plan_local_workers(options.workers, options.worker_memory, options.oversubscribe)
    _record_plan(report, plan)
    return LocalCluster(
        n_workers=plan.started, threads_per_worker=1, processes=True, memory_limit=options.worker_memory,
        dashboard_address="127.0.0.1:0", silence_logs=logging.INFO if options.verbose else logging.WARNING,
    )  # fmt: skip


def _batch_cluster(options: ExecutionOptions, report: RunReport) -> tuple[Any, Any]:
    """A dask-jobqueue cluster of ``options.cluster`` and its client, once its first worker has joined."""
    from distributed import Client

    from execution.batch import DEFAULT_CONFIG, WorkerStartError, make_batch_cluster, wait_for_first_workers

    config = options.batch_config or DEFAULT_CONFIG
    try:
        cluster = make_batch_cluster(options.cluster, 0 if options.adapt else options.workers, config, adapt=options.adapt, tls=options.tls)
    except ValueError as err:  # the configuration file
        raise InputError(str(err)) from None
    except RuntimeError as err:  # a submit command failed
        raise ProcessingError(" ".join(str(err).split())) from None
    report.workers_requested = options.adapt[1] if options.adapt else options.workers
    label = cluster.batch_config.system.label
    jobs = f"adaptive {options.adapt[0]}-{options.adapt[1]}" if options.adapt else str(options.workers)
    print(f"Dask scheduler: {cluster.scheduler_address} ({jobs} {label} jobs; logs in {cluster.batch_config.log_directory})", flush=True)
    client = None
    try:
        client = Client(cluster)
        timeout = options.worker_timeout or cluster.batch_config.worker_timeout_s
        wait_for_first_workers(cluster, client, timeout, n=1 if not options.adapt or options.adapt[0] > 0 else 0)
    except BaseException as err:
        if client is not None:
            client.close()
        cluster.close()
        if isinstance(err, WorkerStartError):
            raise ProcessingError(str(err)) from None
        raise
    report.workers_started = len(client.scheduler_info()["workers"])
    return cluster, client


def checkpoint_directory(output: Path) -> Path:
    """Where a run keeps its per-chunk results until its output is written (for ``--resume``)."""
    return output.with_name(f"{output.name}.chunks")


# ---------------------------------------------------------------------------------------------
# the run


def _chunk_key(item: Any) -> tuple:
    return (item.dataset, item.filename, item.treename, item.entrystart, item.entrystop)


def chunk_error(item: Any, branches: list[str], options: dict) -> str:
    """Why chunk ``item`` cannot be read: its read repeated here, as one line."""
    try:
        with uproot.open({item.filename: None}, **options) as f:
            f[item.treename].arrays(branches, entry_start=item.entrystart, entry_stop=item.entrystop, library="np")
    except Exception as err:  # noqa: BLE001  (whatever reading the range raises is the answer)
        return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]
    return "failed on the worker, reads here: a transient error"


def run_processor(
    fileset: dict,
    processor_instance: Any,
    branches: list[str],
    options: ExecutionOptions,
    checkpoints: Path,
    configuration: dict[str, Any],
) -> tuple[dict[str, Any], RunReport]:
    """Run ``processor_instance`` over ``fileset`` (from :func:`core.fileset.load_fileset`); (output, report).

    ``branches`` are bulk-preloaded per chunk. ``checkpoints`` is the directory of the
    per-chunk results (:func:`checkpoint_directory`), keyed by ``configuration`` (everything
    that changes a chunk's output). The chunks to process are listed first; afterwards the
    chunks without a result are the lost ones: without ``--skip-bad-files`` that raises
    :class:`ProcessingError` naming them, with it they are recorded in
    ``report.lost_chunks`` (file, entry range, error) and the files that could not be read at
    all in ``report.skipped_files``. Every dataset's ``cutflow["all"]`` must equal the entries
    of its processed chunks. The run ends with one log line, :meth:`RunReport.summary`.
    """
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    skipped, _entries = check_files(fileset, options.skip_bad_files)
    fileset = {k: {**v, "preload": list(branches)} for k, v in fileset.items() if v["files"]}
    if not fileset:
        raise ProcessingError(f"no readable input file: {len(skipped)} skipped ({', '.join(skipped)})")
    checkpointer = ChunkCheckpointer(checkpoints, {**configuration, "chunksize": options.chunksize})
    if not options.resume:
        checkpointer.clear()
    report = RunReport(options.executor, options.chunksize, options.maxchunks, skipped)
    read_options = uproot_options(fileset)
    t0 = time.perf_counter()
    with open_executor(options, report) as executor:
        report.executor = options.executor
        runner = processor.Runner(
            executor=executor,
            chunksize=options.chunksize,
            maxchunks=options.maxchunks,
            schema=BaseSchema,
            skipbadfiles=options.skip_bad_files,
            savemetrics=True,
            checkpointer=checkpointer,
        )
        chunks = list(runner.preprocess(fileset, uproot_options=read_options))
        if options.maxchunks is None:  # files coffea could not open for their metadata
            chunked = {c.filename for c in chunks}
            for entry in fileset.values():
                skipped += [f for f in entry["files"] if f not in chunked and f not in skipped]
        report.chunks = len(chunks)
        if options.resume:
            report.resumed_chunks = checkpointer.stored(chunks)
            log.info("resuming: %d of %d chunk results on disk in %s", report.resumed_chunks, len(chunks), checkpointer.directory)
        if not chunks:
            raise ProcessingError(f"no chunk to process: {len(skipped)} file(s) skipped ({', '.join(skipped)})")
        wrapped = runner.run(chunks, processor_instance, uproot_options=read_options)
    report.wall_time_s = time.perf_counter() - t0
    out = wrapped["out"]
    metrics = wrapped.get("metrics", {})
    report.bytes_read, report.process_time_s = int(metrics.get("bytesread", 0)), float(metrics.get("processtime", 0.0))
    processed = {_chunk_key(item) for item in wrapped.get("processed", ())}
    lost = [c for c in chunks if _chunk_key(c) not in processed]
    report.lost_chunks = [
        {
            "dataset": c.dataset, "file": c.filename, "tree": c.treename, "entrystart": c.entrystart,
            "entrystop": c.entrystop, "error": chunk_error(c, list(branches), read_options),
        }
        for c in lost
    ]  # fmt: skip
    if lost and not options.skip_bad_files:
        raise ProcessingError(
            "chunks without a result: " + ", ".join(f"{c['file']} entries {c['entrystart']}-{c['entrystop']}" for c in report.lost_chunks)
        )
    for name in fileset:
        expected = sum(c.entrystop - c.entrystart for c in chunks if c.dataset == name and _chunk_key(c) in processed)
        got = out[name]["cutflow"]["all"] if name in out else 0
        if got != expected:
            raise ProcessingError(f"dataset {name}: processed {got} events, its processed chunks hold {expected}")
    report.events_read = sum(d["cutflow"]["all"] for d in out.values())
    (log.warning if report.lost_chunks or report.skipped_files else log.info)(report.summary())
    return dict(out), report


def write_pickle_atomic(obj: Any, path: Path) -> None:
    """Pickle ``obj`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
