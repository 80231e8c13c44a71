"""Dask workers as HTCondor jobs: a dask-jobqueue ``HTCondorCluster`` configured from ``condor/``.

``python run.py --executor dask --cluster condor --workers N`` calls
:func:`make_htcondor_cluster` with N; ``--cluster`` defaults to ``condor`` when
:func:`condor_pool_available`. The settings live in ``condor/jobqueue.yaml``, in
dask-jobqueue's own ``jobqueue: htcondor:`` schema, plus a ``pool-node:`` section
telling where a pool node finds this checkout and its Python environment
(``condor/README.md``).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from dask.utils import parse_bytes

if TYPE_CHECKING:
    from dask_jobqueue import HTCondorCluster

CONDOR_DIR: Path = Path(__file__).resolve().parent.parent / "condor"
"""The directory holding the pool configuration (``jobqueue.yaml``) and its README."""

CHECKOUT: Path = CONDOR_DIR.parent

POOL_TIMEOUT_S = 5.0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_byte_size(value: Any) -> bool:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return False
    try:
        return parse_bytes(value) > 0
    except ValueError:
        return False


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (_is_count, "a positive integer"),
    "bytes": (_is_byte_size, "a size such as 2GiB"),
    "seconds": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
        "a positive number of seconds",
    ),
    "str": (lambda v: isinstance(v, str), "a string"),
    "strings": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "mapping": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a mapping with string keys"),
}

# dask-jobqueue's jobqueue.htcondor keys (its jobqueue.yaml) and the kind of value each takes.
HTCONDOR_KEYS: dict[str, str] = {
    "name": "str",
    "cores": "count",
    "memory": "bytes",
    "processes": "count",
    "python": "str",
    "interface": "str",
    "death-timeout": "seconds",
    "local-directory": "str",
    "shared-temp-directory": "str",
    "worker-command": "str",
    "worker-extra-args": "strings",
    "disk": "bytes",
    "job-script-prologue": "strings",
    "job-extra-directives": "mapping",
    "job-directives-skip": "strings",
    "submit-command-extra": "strings",
    "cancel-command-extra": "strings",
    "log-directory": "str",
    "shebang": "str",
    "scheduler-options": "mapping",
}
REQUIRED_KEYS = ("cores", "memory", "disk")
# keys dask-jobqueue still reads but has renamed
DEPRECATED_KEYS = {
    "extra": "worker-extra-args",
    "env-extra": "job-script-prologue",
    "job-extra": "job-extra-directives",
}
POOL_NODE_KEYS = ("checkout", "venv")


def condor_pool_available() -> bool:
    """True when ``condor_submit`` and ``condor_q`` are on PATH and ``condor_q`` answers (exit 0) within 5 s."""
    condor_q = shutil.which("condor_q")
    if shutil.which("condor_submit") is None or condor_q is None:
        return False
    try:
        done = subprocess.run(
            [condor_q], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=POOL_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _read(config_path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Validated ``HTCondorCluster`` keyword arguments of the file (placeholders not yet filled) and its pool node."""
    config_path = Path(config_path)
    try:
        document = yaml.safe_load(config_path.read_text())
    except OSError as err:
        raise ValueError(f"{config_path}: cannot read HTCondor configuration ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{config_path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{config_path}: expected a mapping with keys jobqueue and pool-node")
    unknown = set(document) - {"jobqueue", "pool-node"}
    if unknown:
        raise ValueError(f"{config_path}: unknown top-level key {min(unknown)!r} (expected jobqueue, pool-node)")
    jobqueue = document.get("jobqueue")
    settings = jobqueue.get("htcondor") if isinstance(jobqueue, dict) else None
    if not isinstance(settings, dict):
        raise ValueError(f"{config_path}: missing key jobqueue.htcondor (a mapping of dask-jobqueue settings)")

    kwargs: dict[str, Any] = {}
    for key, value in settings.items():
        where = f"{config_path}: jobqueue.htcondor.{key}"
        if key in DEPRECATED_KEYS:
            raise ValueError(f"{where} is deprecated by dask-jobqueue; use {DEPRECATED_KEYS[key]}")
        if key not in HTCONDOR_KEYS:
            raise ValueError(f"{where} is not a dask-jobqueue HTCondor setting")
        check, expected = _KINDS[HTCONDOR_KEYS[key]]
        if value is None and key not in REQUIRED_KEYS:
            continue
        if not check(value):
            raise ValueError(f"{where} must be {expected}, got {value!r}")
        kwargs["job_name" if key == "name" else key.replace("-", "_")] = value
    for key in REQUIRED_KEYS:
        if key not in settings:
            raise ValueError(f"{config_path}: missing key jobqueue.htcondor.{key}")
    log_directory = kwargs.get("log_directory")
    if log_directory is not None:
        kwargs["log_directory"] = str((config_path.parent / Path(log_directory).expanduser()).resolve())

    pool_node = document.get("pool-node") or {}
    if not isinstance(pool_node, dict):
        raise ValueError(f"{config_path}: pool-node must be a mapping with keys {', '.join(POOL_NODE_KEYS)}")
    for key, value in pool_node.items():
        if key not in POOL_NODE_KEYS:
            raise ValueError(f"{config_path}: pool-node.{key} is not a setting (expected {', '.join(POOL_NODE_KEYS)})")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{config_path}: pool-node.{key} must be a path or null, got {value!r}")
    paths = {
        "checkout": pool_node.get("checkout") or str(CHECKOUT),
        "venv": pool_node.get("venv") or sys.prefix,
    }
    return kwargs, paths


def _fill_placeholders(kwargs: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """``kwargs`` with {checkout}, {venv} (shell-quoted) and {cores} filled in ``python`` and the prologue."""
    values = {
        "{checkout}": shlex.quote(paths["checkout"]),
        "{venv}": shlex.quote(paths["venv"]),
        "{cores}": str(kwargs["cores"]),
    }

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


def htcondor_config(config_path: Path = CONDOR_DIR / "jobqueue.yaml") -> dict[str, Any]:
    """The ``jobqueue.htcondor`` settings of ``config_path`` as ``HTCondorCluster`` keyword arguments.

    Keys become argument names (``-`` -> ``_``, ``name`` -> ``job_name``); null values are
    left out (dask-jobqueue's defaults apply); placeholders are filled; a relative
    ``log_directory`` is made absolute against the file's directory.
    Raises ValueError, naming the file and key, for an unreadable file, bad YAML, or an
    unknown, deprecated, missing or ill-typed key.
    """
    kwargs, paths = _read(config_path)
    return _fill_placeholders(kwargs, paths)


def make_htcondor_cluster(
    n_jobs: int, config_path: Path = CONDOR_DIR / "jobqueue.yaml", **overrides: Any
) -> HTCondorCluster:
    """Start an ``HTCondorCluster`` configured from ``config_path`` and submit ``n_jobs`` worker jobs.

    ``overrides`` are ``HTCondorCluster`` keyword arguments that replace the file's
    values whole (e.g. ``log_directory=..., scheduler_options={...}``); the
    placeholders are filled after they are applied. The jobs are submitted before
    returning, so a failing ``condor_submit`` raises here (RuntimeError with its
    output, the cluster closed) instead of leaving the caller waiting for workers;
    the workers join once HTCondor runs the jobs. The caller closes the cluster.
    """
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 0:
        raise ValueError(f"n_jobs must be a non-negative integer, got {n_jobs!r}")
    kwargs, paths = _read(config_path)
    from dask_jobqueue import HTCondorCluster
    from distributed.core import Status

    cluster = HTCondorCluster(**_fill_placeholders({**kwargs, **overrides}, paths))

    async def submit() -> None:
        # scale() only schedules SpecCluster's state correction (which runs condor_submit) on the
        # event loop; starting it here, before the loop gets to it, lets its errors reach us
        cluster.scale(jobs=n_jobs)
        await cluster._correct_state()

    try:
        cluster.sync(submit)
    except BaseException:
        for job in cluster.workers.values():
            if job.status == Status.created:  # never submitted; SpecCluster.close() insists jobs have ended
                job.status = Status.failed
        cluster.close()
        raise
    return cluster
