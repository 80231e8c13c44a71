"""Dask workers as HTCondor jobs: the HTCondor case of :mod:`execution.batch`.

``python run.py --executor dask --cluster condor --workers N`` submits N jobs; ``--cluster``
defaults to ``condor`` when :func:`condor_pool_available`. The settings live in
``condor/jobqueue.yaml`` (``jobqueue: htcondor:``, dask-jobqueue's own schema, plus
``pool-node:`` and ``cluster:``; ``condor/README.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from execution.batch import (
    BATCH_SYSTEMS,
    CHECKOUT,
    CONDOR_DIR,
    DEFAULT_CONFIG,
    DEPRECATED_KEYS,
    jobqueue_schema,
    make_batch_cluster,
    read_batch_config,
)

__all__ = ["CHECKOUT", "CONDOR_DIR", "DEPRECATED_KEYS", "HTCONDOR_KEYS", "condor_pool_available", "htcondor_config", "make_htcondor_cluster"]

HTCONDOR_KEYS: tuple[str, ...] = tuple(k for k in jobqueue_schema("htcondor") if k not in DEPRECATED_KEYS)
"""dask-jobqueue's ``jobqueue.htcondor`` keys accepted in the configuration (read from dask-jobqueue itself)."""


def condor_pool_available() -> bool:
    """True when ``condor_submit``, ``condor_q`` and ``condor_rm`` are on PATH and ``condor_q`` answers (exit 0) within 5 s."""
    return BATCH_SYSTEMS["condor"].available()


def htcondor_config(config_path: Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The ``jobqueue.htcondor`` settings of ``config_path`` as ``HTCondorCluster`` keyword arguments (:func:`execution.batch.read_batch_config`)."""
    return read_batch_config("condor", config_path).kwargs


def make_htcondor_cluster(n_jobs: int, config_path: Path = DEFAULT_CONFIG, **overrides: Any) -> Any:
    """An ``HTCondorCluster`` from ``config_path`` with ``n_jobs`` jobs submitted (:func:`execution.batch.make_batch_cluster`)."""
    return make_batch_cluster("condor", n_jobs, config_path, **overrides)
