"""Helpers of the batch tests: the stand-in batch commands (tests/condor_standin/) and loopback configurations."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import yaml

STANDIN = Path(__file__).resolve().parent / "condor_standin"
"""Stand-ins of condor_submit/condor_q/condor_rm, sbatch/squeue/scancel, bsub/bjobs/bkill."""
SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "condor" / "jobqueue.yaml"
SECTIONS = {"condor": "htcondor", "slurm": "slurm", "lsf": "lsf"}


def standin_environment(state: Path) -> dict[str, str]:
    """Environment variables putting the stand-ins first on PATH with their own state directory."""
    return {"PATH": f"{STANDIN}{os.pathsep}{os.environ['PATH']}", "CONDOR_STANDIN_STATE": str(state)}


def kill_leftovers(state: Path) -> None:
    """SIGKILL the process group of every job record still in the state directory (after a failed test)."""
    for record in state.glob("*.json"):
        pgid = json.loads(record.read_text()).get("pgid")
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def queued_jobs(state: Path) -> list[str]:
    """Job ids still queued in the stand-in (none once a cluster has been closed properly)."""
    return sorted(p.stem for p in state.glob("*.json"))


def loopback_config(directory: Path, cluster: dict | None = None, pool_node: dict | None = None, **jobqueue: dict) -> Path:
    """The shipped configuration, with the scheduler, workers and nannies on 127.0.0.1 only, logs under ``directory``.

    ``cluster`` and ``pool_node`` update those sections; ``jobqueue`` maps a section
    (htcondor, slurm, lsf) to settings that update it.
    """
    document = yaml.safe_load(SHIPPED_CONFIG.read_text())
    for section, settings in document["jobqueue"].items():
        settings["log-directory"] = str(directory / "logs")
        settings["scheduler-options"] = {**settings.get("scheduler-options", {}), "host": "127.0.0.1"}
        settings["worker-extra-args"] = ["--host", "127.0.0.1"]
        settings["death-timeout"] = 20
        settings.update(jobqueue.get(section, {}))
    document["cluster"].update(cluster or {})
    document["pool-node"].update(pool_node or {})
    path = directory / "jobqueue.yaml"
    path.write_text(yaml.safe_dump(document))
    return path
