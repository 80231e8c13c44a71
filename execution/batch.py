"""Dask workers as batch jobs (HTCondor, SLURM, LSF): dask-jobqueue clusters configured from ``condor/``.

``python run.py --executor dask --cluster {condor,slurm,lsf} --workers N`` (or ``--adapt MIN:MAX``)
calls :func:`make_batch_cluster`, then :func:`wait_for_first_workers`. Everything comes from
one configuration file (default ``condor/jobqueue.yaml``, ``condor/README.md``):

- ``jobqueue: {htcondor,slurm,lsf}:`` dask-jobqueue's own sections: the keys, their meaning
  and their defaults are dask-jobqueue's (the accepted keys are read from dask-jobqueue's
  own ``jobqueue.yaml``, so they cannot drift);
- ``pool-node:`` where a job finds the code and the Python environment: a shared
  filesystem (``checkout``/``venv``), or (HTCondor) files transferred with the job;
- ``cluster:`` this project's run settings: TLS, how long to wait for the first worker,
  worker lifetime and its stagger.

Security: with ``cluster: tls: true`` (the default) every run makes its own temporary CA and
certificate (``distributed.security.Security.temporary()``); the scheduler only accepts TLS
connections signed by it, the jobs receive it through a private (0700) directory that
dask-jobqueue writes (``shared_temp_directory``) and the client in ``run.py`` holds it. A Dask
client without the run's credentials is refused. The scheduler port is 0 (any free port) by
default and its actual address is printed; the dashboard listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dask.utils import parse_bytes, parse_timedelta

CONDOR_DIR: Path = Path(__file__).resolve().parent.parent / "condor"
"""The directory holding the batch configuration (``jobqueue.yaml``) and its README."""
DEFAULT_CONFIG: Path = CONDOR_DIR / "jobqueue.yaml"
CHECKOUT: Path = CONDOR_DIR.parent
QUERY_TIMEOUT_S = 10.0
"""Longest wait for a batch query command (condor_q, squeue, bjobs)."""
SUBMIT_TIMEOUT_S = 120.0
"""Longest wait for the submission commands of the initial jobs."""
CREDENTIALS_VARIABLE = "DASK_JOB_CREDENTIALS"
"""Without a shared filesystem: the job's directory holding the transferred TLS credentials."""


class WorkerStartError(RuntimeError):
    """No worker joined (jobs failed to submit, stayed idle or held, or died): one line naming what is known."""


# ---------------------------------------------------------------------------------------------
# batch systems


def _run_query(command: list[str]) -> str:
    """Output of a batch query command; '' when it cannot run or fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


CONDOR_STATES = {"1": "idle", "2": "running", "3": "removed", "4": "completed", "5": "held", "6": "transferring output", "7": "suspended"}


def _condor_states(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    out = _run_query(["condor_q", *job_ids, "-af:j", "JobStatus", "HoldReason"])
    states = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            reason = parts[2] if len(parts) > 2 and parts[2] != "undefined" else ""
            states[parts[0]] = (CONDOR_STATES.get(parts[1], f"status {parts[1]}"), reason)
    return states


SLURM_STATES = {"PENDING": "idle", "RUNNING": "running", "COMPLETING": "completed", "COMPLETED": "completed", "FAILED": "failed"}


def _slurm_states(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    out = _run_query(["squeue", "-h", "-o", "%i|%T|%r", "-j", ",".join(job_ids)])
    states = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            state = SLURM_STATES.get(parts[1], parts[1].lower())
            reason = parts[2] if parts[2] not in ("None", "(null)") else ""
            if state == "idle" and reason.startswith("JobHeld"):
                state = "held"
            states[parts[0]] = (state, reason)
    return states


LSF_STATES = {"PEND": "idle", "RUN": "running", "DONE": "completed", "EXIT": "failed", "PSUSP": "held", "USUSP": "suspended", "SSUSP": "suspended"}


def _lsf_states(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    out = _run_query(["bjobs", "-noheader", "-o", "jobid stat pend_reason delimiter='|'", *job_ids])
    states = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            reason = parts[2].strip() if parts[2].strip() != "-" else ""
            states[parts[0]] = (LSF_STATES.get(parts[1], parts[1].lower()), reason)
    return states


@dataclass(frozen=True)
class BatchSystem:
    """A batch system of ``--cluster``: its dask-jobqueue cluster and how to ask it about jobs."""

    name: str
    """The ``--cluster`` value."""
    label: str
    section: str
    """The ``jobqueue:`` section of the configuration (dask-jobqueue's config name)."""
    cluster_class: str
    """The dask-jobqueue cluster class, by name."""
    commands: tuple[str, ...]
    """Submit, query and cancel commands, in that order."""
    states: Callable[[list[str]], dict[str, tuple[str, str]]]
    """Job id -> (state, reason) of the listed jobs still known to the batch system."""
    transfers_files: bool = False
    """Whether the batch system can ship files with the job (no shared filesystem needed)."""
    required: tuple[str, ...] = ("cores", "memory")
    """Keys its section must set (dask-jobqueue has no default for them)."""

    def job_cluster_class(self) -> type:
        import dask_jobqueue

        return getattr(dask_jobqueue, self.cluster_class)

    def available(self) -> bool:
        """Its commands are on PATH and the query command answers (exit 0) within 5 s."""
        if any(shutil.which(c) is None for c in self.commands):
            return False
        try:
            done = subprocess.run(
                [self.commands[1]], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5.0
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


BATCH_SYSTEMS: dict[str, BatchSystem] = {
    "condor": BatchSystem(
        "condor", "HTCondor", "htcondor", "HTCondorCluster", ("condor_submit", "condor_q", "condor_rm"), _condor_states, True,
        ("cores", "memory", "disk"),
    ),
    "slurm": BatchSystem("slurm", "SLURM", "slurm", "SLURMCluster", ("sbatch", "squeue", "scancel"), _slurm_states),
    "lsf": BatchSystem("lsf", "LSF", "lsf", "LSFCluster", ("bsub", "bjobs", "bkill"), _lsf_states),
}
"""The batch systems of ``--cluster`` (besides ``local``)."""


# ---------------------------------------------------------------------------------------------
# configuration


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_byte_size(value: Any) -> bool:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return False
    try:
        return parse_bytes(value) > 0
    except ValueError:
        return False


def _is_duration(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return False
    try:
        return parse_timedelta(value) > 0
    except (ValueError, KeyError, TypeError):
        return False


KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (_is_count, "a positive integer"),
    "bytes": (_is_byte_size, "a size such as 2GiB"),
    "seconds": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "a positive number of seconds"),
    "duration": (_is_duration, "a duration such as 90m or 3600"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "strings": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "mapping": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a mapping with string keys"),
}
SCALAR_KINDS: dict[str, str] = {
    "cores": "count", "memory": "bytes", "processes": "count", "death-timeout": "seconds", "disk": "bytes",
    "job-cpu": "count", "job-mem": "str", "ncpus": "count", "mem": "bytes", "use-stdin": "bool",
}  # fmt: skip
"""Kinds of dask-jobqueue's scalar keys; list and mapping keys take the kind of their default, the rest are strings."""
DEPRECATED_KEYS = {
    "extra": "worker-extra-args",
    "env-extra": "job-script-prologue",
    "job-extra": "job-extra-directives",
}
"""Keys dask-jobqueue still reads but has renamed."""
POOL_NODE_KEYS = {"checkout": "str", "venv": "str", "shared-filesystem": "bool", "transfer-input-files": "strings"}
CLUSTER_KEYS = {"tls": "bool", "worker-timeout": "seconds", "lifetime": "duration", "lifetime-stagger": "duration"}
CLUSTER_DEFAULTS: dict[str, Any] = {"tls": True, "worker-timeout": 600, "lifetime": None, "lifetime-stagger": None}


def jobqueue_schema(section: str) -> dict[str, Any]:
    """dask-jobqueue's own defaults of ``jobqueue.<section>`` (its shipped jobqueue.yaml): the accepted keys."""
    import dask_jobqueue

    document = yaml.safe_load((Path(dask_jobqueue.__file__).parent / "jobqueue.yaml").read_text())
    return document["jobqueue"][section]


def key_kind(key: str, default: Any) -> str:
    """The kind of value a dask-jobqueue key takes (:data:`KINDS`)."""
    if key in SCALAR_KINDS:
        return SCALAR_KINDS[key]
    if isinstance(default, dict) or key == "scheduler-options":
        return "mapping"
    if isinstance(default, list):
        return "strings"
    return "str"


@dataclass
class BatchConfig:
    """One batch system's settings from the configuration file."""

    system: BatchSystem
    path: Path
    kwargs: dict[str, Any]
    """dask-jobqueue cluster keyword arguments (placeholders filled)."""
    shared_filesystem: bool = True
    transfer_input_files: list[str] = field(default_factory=list)
    tls: bool = True
    worker_timeout_s: float = 600.0
    lifetime: str | None = None
    lifetime_stagger: str | None = None

    @property
    def log_directory(self) -> str | None:
        return self.kwargs.get("log_directory")


def _check(where: str, value: Any, kind: str) -> None:
    check, expected = KINDS[kind]
    if not check(value):
        raise ValueError(f"{where} must be {expected}, got {value!r}")


def _mapping(config_path: Path, document: dict, key: str, expected: str) -> dict:
    value = document.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{config_path}: {key} must be a mapping with keys {expected}")
    return value


def read_batch_config(system: str, config_path: Path = DEFAULT_CONFIG) -> BatchConfig:
    """The settings of batch system ``system`` (``condor``, ``slurm``, ``lsf``) in ``config_path``.

    ``jobqueue.<section>`` keys become dask-jobqueue keyword arguments (``-`` -> ``_``,
    ``name`` -> ``job_name``); null values are left out (dask-jobqueue's defaults apply);
    ``{checkout}``, ``{venv}`` (shell-quoted) and ``{cores}`` are filled in ``python`` and
    ``job-script-prologue``; a relative ``log-directory`` is relative to the file's directory.
    Raises ValueError, naming the file and key, for an unreadable file, bad YAML, or an
    unknown, deprecated, missing or ill-typed key.
    """
    if system not in BATCH_SYSTEMS:
        raise ValueError(f"unknown batch system {system!r} (expected {', '.join(BATCH_SYSTEMS)})")
    batch = BATCH_SYSTEMS[system]
    config_path = Path(config_path)
    try:
        document = yaml.safe_load(config_path.read_text())
    except OSError as err:
        raise ValueError(f"{config_path}: cannot read the batch configuration ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{config_path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{config_path}: expected a mapping with keys jobqueue, pool-node, cluster")
    unknown = set(document) - {"jobqueue", "pool-node", "cluster"}
    if unknown:
        raise ValueError(f"{config_path}: unknown top-level key {min(unknown)!r} (expected jobqueue, pool-node, cluster)")
    jobqueue = document.get("jobqueue")
    settings = jobqueue.get(batch.section) if isinstance(jobqueue, dict) else None
    if not isinstance(settings, dict):
        raise ValueError(f"{config_path}: missing key jobqueue.{batch.section} (a mapping of dask-jobqueue settings)")

    schema = jobqueue_schema(batch.section)
    kwargs: dict[str, Any] = {}
    for key, value in settings.items():
        where = f"{config_path}: jobqueue.{batch.section}.{key}"
        if key in DEPRECATED_KEYS:
            raise ValueError(f"{where} is deprecated by dask-jobqueue; use {DEPRECATED_KEYS[key]}")
        if key not in schema:
            raise ValueError(f"{where} is not a dask-jobqueue {batch.label} setting")
        if value is None and key not in batch.required:
            continue
        _check(where, value, key_kind(key, schema[key]))
        kwargs["job_name" if key == "name" else key.replace("-", "_")] = value
    for key in batch.required:
        if key not in settings:
            raise ValueError(f"{config_path}: missing key jobqueue.{batch.section}.{key}")
    if kwargs.get("log_directory") is not None:
        kwargs["log_directory"] = str((config_path.parent / Path(kwargs["log_directory"]).expanduser()).resolve())

    pool_node = _mapping(config_path, document, "pool-node", ", ".join(POOL_NODE_KEYS))
    cluster = _mapping(config_path, document, "cluster", ", ".join(CLUSTER_KEYS))
    for section, keys, values in (("pool-node", POOL_NODE_KEYS, pool_node), ("cluster", CLUSTER_KEYS, cluster)):
        for key, value in values.items():
            if key not in keys:
                raise ValueError(f"{config_path}: {section}.{key} is not a setting (expected {', '.join(keys)})")
            if value is not None:
                _check(f"{config_path}: {section}.{key}", value, keys[key])
    shared = pool_node.get("shared-filesystem", True) is not False
    if not shared and not batch.transfers_files:
        raise ValueError(
            f"{config_path}: pool-node.shared-filesystem: false needs a batch system that transfers files "
            f"(HTCondor); {batch.label} jobs read the code and credentials from a shared filesystem"
        )
    paths = {"checkout": pool_node.get("checkout") or str(CHECKOUT), "venv": pool_node.get("venv") or sys.prefix}
    settings_cluster = {**CLUSTER_DEFAULTS, **{k: v for k, v in cluster.items() if v is not None}}
    return BatchConfig(
        system=batch,
        path=config_path,
        kwargs=_fill_placeholders(kwargs, paths),
        shared_filesystem=shared,
        transfer_input_files=[str((config_path.parent / p).resolve()) for p in pool_node.get("transfer-input-files") or []],
        tls=settings_cluster["tls"],
        worker_timeout_s=float(settings_cluster["worker-timeout"]),
        lifetime=None if settings_cluster["lifetime"] is None else str(settings_cluster["lifetime"]),
        lifetime_stagger=None if settings_cluster["lifetime-stagger"] is None else str(settings_cluster["lifetime-stagger"]),
    )


def _fill_placeholders(kwargs: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """``kwargs`` with {checkout}, {venv} (shell-quoted) and {cores} filled in ``python`` and the prologue."""
    values = {"{checkout}": shlex.quote(paths["checkout"]), "{venv}": shlex.quote(paths["venv"]), "{cores}": str(kwargs["cores"])}

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    filled = dict(kwargs)
    if "python" in filled:
        filled["python"] = fill(filled["python"])
    if "job_script_prologue" in filled:
        filled["job_script_prologue"] = [fill(line) for line in filled["job_script_prologue"]]
    return filled


# ---------------------------------------------------------------------------------------------
# the cluster


def _recording_job_class(job_cls: type) -> type:
    """``job_cls`` (a dask-jobqueue Job) that keeps the error of a failed submission in ``submit_error``.

    dask-jobqueue runs the submit command on the event loop when the cluster scales; the job
    class is its documented extension point (``job_cls=``), so this is where the error is kept
    for :func:`wait_for_first_workers` to report.
    """
    from distributed.core import Status

    class RecordingJob(job_cls):  # type: ignore[misc, valid-type]
        submit_error: str | None = None

        async def start(self) -> None:
            try:
                await super().start()
            except Exception as err:
                self.submit_error = " ".join(str(err).split())
                self.status = Status.failed  # never submitted: nothing to remove when the cluster closes
                raise

    RecordingJob.__name__ = RecordingJob.__qualname__ = job_cls.__name__
    return RecordingJob


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def make_batch_cluster(
    system: str,
    jobs: int = 0,
    config_path: Path = DEFAULT_CONFIG,
    *,
    adapt: tuple[int, int] | None = None,
    tls: bool | None = None,
    **overrides: Any,
) -> Any:
    """Start a dask-jobqueue cluster of ``system`` configured from ``config_path``; submit ``jobs`` jobs.

    ``adapt=(MIN, MAX)`` scales adaptively between MIN and MAX jobs instead (``cluster.adapt``).
    ``tls`` overrides the file's ``cluster.tls``. ``overrides`` are cluster keyword arguments
    that replace the file's values whole (e.g. ``log_directory=``, ``scheduler_options=``).
    With a fixed number of jobs, the submissions are done before returning, so a failing
    submit command raises here (RuntimeError naming the command's error, the cluster
    closed); the workers join once the batch system runs the jobs
    (:func:`wait_for_first_workers`). The caller closes the cluster. The settings read are
    in ``cluster.batch_config`` (:class:`BatchConfig`).
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 0:
        raise ValueError(f"jobs must be a non-negative integer, got {jobs!r}")
    config = read_batch_config(system, config_path)
    if tls is not None:
        config.tls = tls
    kwargs = {**config.kwargs, **overrides}
    if "log_directory" not in kwargs:
        kwargs["log_directory"] = str(config.path.parent / "logs")
    Path(kwargs["log_directory"]).mkdir(parents=True, exist_ok=True)
    extra = list(kwargs.get("worker_extra_args") or [])
    if config.lifetime:
        extra += ["--lifetime", config.lifetime]
        if config.lifetime_stagger:
            extra += ["--lifetime-stagger", config.lifetime_stagger]
    kwargs["worker_extra_args"] = extra
    kwargs["scheduler_options"] = {"port": 0, "dashboard_address": "127.0.0.1:0", **(kwargs.get("scheduler_options") or {})}

    credentials = None
    setting = contextlib.nullcontext()
    if config.tls:
        from distributed.security import Security

        # the run's own CA and certificate; dask-jobqueue writes the workers' copy as 0600 files
        # (removed when the cluster is released) into this 0700 directory and passes their paths
        credentials = credentials_directory(kwargs["log_directory"])
        kwargs["security"] = Security.temporary()
        if config.shared_filesystem:
            kwargs["shared_temp_directory"] = str(credentials)
        else:  # written here, referred to as $DASK_JOB_CREDENTIALS/<file> in the job (its scratch directory)
            kwargs["shared_temp_directory"] = f"${CREDENTIALS_VARIABLE}"
            setting = _environment(CREDENTIALS_VARIABLE, str(credentials))
    if not config.shared_filesystem:
        kwargs = _transfer_settings(kwargs, config.transfer_input_files, None if credentials is None else str(credentials))

    cluster_class = config.system.job_cluster_class()
    with setting:
        cluster = cluster_class(job_cls=_recording_job_class(cluster_class.job_cls), **kwargs)
    cluster.batch_config = config
    try:
        if adapt is not None:
            cluster.adapt(minimum_jobs=adapt[0], maximum_jobs=adapt[1])
        elif jobs:
            cluster.scale(jobs=jobs)
            _wait_for_submissions(cluster, jobs)
    except BaseException:
        cluster.close()
        raise
    return cluster


def credentials_directory(log_directory: str | os.PathLike) -> Path:
    """``<log directory>/.dask-credentials``, readable by this user only: where the jobs' TLS files are written."""
    path = Path(log_directory) / ".dask-credentials"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _transfer_settings(kwargs: dict[str, Any], files: list[str], credentials: str | None) -> dict[str, Any]:
    """HTCondor directives that ship ``files`` and the credentials' directory with every job."""
    transfer = list(files) + ([credentials.rstrip("/") + "/"] if credentials else [])  # trailing /: its content
    directives = dict(kwargs.get("job_extra_directives") or {})
    directives.update(should_transfer_files="YES", when_to_transfer_output="ON_EXIT")
    if transfer:
        directives["transfer_input_files"] = ",".join(transfer)
    prologue = list(kwargs.get("job_script_prologue") or [])
    if credentials:
        prologue.insert(0, f"export {CREDENTIALS_VARIABLE}=$_CONDOR_SCRATCH_DIR")
    return {**kwargs, "job_extra_directives": directives, "job_script_prologue": prologue}


def _wait_for_submissions(cluster: Any, jobs: int) -> None:
    """Return once every one of ``jobs`` jobs was handed to the batch system; raise on a failed submission."""
    deadline = time.monotonic() + SUBMIT_TIMEOUT_S
    while len(cluster.workers) < jobs and time.monotonic() < deadline:
        time.sleep(0.05)
    failed = [job for job in cluster.workers.values() if getattr(job, "submit_error", None)]
    if failed:
        label = cluster.batch_config.system.label
        raise RuntimeError(f"submitting a job to {label} failed: {failed[0].submit_error}")


def job_ids(cluster: Any) -> list[str]:
    """Batch job ids of the cluster's submitted jobs."""
    return [str(job.job_id) for job in list(cluster.workers.values()) if getattr(job, "job_id", None)]


def _last_lines(path: Path, n: int = 3) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def describe_jobs(cluster: Any) -> str:
    """One line on the cluster's jobs: how many are idle, held (with the reason), running or gone; a failed worker's last log lines."""
    config: BatchConfig = cluster.batch_config
    submitted = [job for job in list(cluster.workers.values())]
    failed = [job.submit_error for job in submitted if getattr(job, "submit_error", None)]
    ids = job_ids(cluster)
    states = config.system.states(ids) if ids else {}
    counts: dict[str, int] = {}
    reasons: dict[str, str] = {}
    gone = []
    for job_id in ids:
        state, reason = states.get(job_id, ("ended", ""))
        counts[state] = counts.get(state, 0) + 1
        if reason:
            reasons.setdefault(state, reason)
        if state in ("ended", "completed", "failed", "removed"):
            gone.append(job_id)
    parts = [f"{len(ids)} {config.system.label} job(s) submitted"]
    parts += [f"{n} {state}" + (f" ({reasons[state]})" if state in reasons else "") for state, n in sorted(counts.items())]
    if failed:
        parts.append(f"{len(failed)} submission(s) failed: {failed[0]}")
    log_directory = Path(config.log_directory or ".")
    parts.append(f"job logs in {log_directory}")
    for job_id in gone + [i for i in ids if i not in gone]:
        logs = sorted(log_directory.glob(f"*-{job_id}.err"), key=lambda p: p.stat().st_mtime)
        tail = _last_lines(logs[-1]) if logs else ""
        if tail:
            parts.append(f"last lines of {logs[-1].name}: {tail}")
            break
    return "; ".join(parts)


def wait_for_first_workers(cluster: Any, client: Any, timeout_s: float, n: int = 1) -> None:
    """Wait until ``n`` workers have joined; :class:`WorkerStartError` (one line) at a failed submission or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if len(client.scheduler_info()["workers"]) >= n:
            return
        failed = [job for job in list(cluster.workers.values()) if getattr(job, "submit_error", None)]
        if failed and not job_ids(cluster):
            raise WorkerStartError(f"no Dask worker can join: {describe_jobs(cluster)}")
        if time.monotonic() >= deadline:
            raise WorkerStartError(f"no Dask worker joined within {timeout_s:g} s: {describe_jobs(cluster)}")
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def dashboard_hint(link: str) -> str:
    """How to open a dashboard that listens on 127.0.0.1 of this machine from elsewhere."""
    match = re.match(r"https?://(127\.0\.0\.1|localhost):(\d+)", link or "")
    if not match:
        return ""
    port = match.group(2)
    return f" (from another machine: ssh -L {port}:127.0.0.1:{port} {os.uname().nodename})"
