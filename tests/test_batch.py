"""Batch clusters (execution/batch.py): real dask-jobqueue HTCondor, SLURM and LSF clusters.

Their jobs go through the stand-in batch commands of tests/condor_standin/ and run as local
processes; the scheduler, workers and nannies listen on 127.0.0.1 only. TLS is on (the
default): the workers join over tls://, a client without the run's credentials is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from distributed import Client
from distributed.security import Security
from standin import jobs_left_after_close, kill_leftovers, loopback_config, queued_jobs, standin_environment

from execution.batch import (
    BATCH_SYSTEMS,
    WorkerStartError,
    make_batch_cluster,
    read_batch_config,
    wait_for_first_workers,
)
from execution.runner import ExecutionOptions, ProcessingError, open_executor

ROOT = Path(__file__).resolve().parents[1]
BATCH_SYSTEM_VARIABLE = {"condor": "HTCondor", "slurm": "slurm", "lsf": "lsf"}
"""What each stand-in sets BATCH_SYSTEM to in its jobs."""


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """Stand-in batch commands first on PATH, with their own state directory; kills what is left of any job."""
    state = tmp_path / "state"
    for name, value in standin_environment(state).items():
        monkeypatch.setenv(name, value)
    yield state
    kill_leftovers(state)


@pytest.mark.parametrize("system", list(BATCH_SYSTEMS))
@pytest.mark.timeout(90)
def test_jobs_become_workers_over_tls_and_a_stranger_is_refused(system, standin, tmp_path):
    config = loopback_config(tmp_path, cluster={"lifetime": "1h", "lifetime-stagger": "5m"})
    cluster = make_batch_cluster(system, 2, config)
    credentials = tmp_path / "logs" / ".dask-credentials"
    try:
        assert len(queued_jobs(standin)) == 2  # submitted before make_batch_cluster returned
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        script = cluster.job_script()
        assert "--lifetime 1h --lifetime-stagger 5m" in script and f"--tls-ca-file {credentials}/" in script
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in credentials.iterdir()} == {0o600}
        with Client(cluster) as client:  # the cluster's credentials
            wait_for_first_workers(cluster, client, 60, n=2)
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2 and all(address.startswith("tls://127.0.0.1:") for address in workers)
            assert set(client.run(lambda: os.environ["BATCH_SYSTEM"]).values()) == {BATCH_SYSTEM_VARIABLE[system]}
            assert sum(client.gather(client.map(lambda x: x * x, range(100)))) == 328350
            with pytest.raises(OSError, match="TLS certificate does not match"):  # another CA's certificate
                Client(cluster.scheduler_address, security=Security.temporary(), timeout=5)
            with pytest.raises(OSError):  # no TLS at all
                Client(cluster.scheduler_address.replace("tls://", "tcp://"), timeout=3)
    finally:
        cluster.close()
    assert jobs_left_after_close(standin) == []  # every job removed


@pytest.mark.timeout(60)
def test_plain_tcp_when_tls_is_turned_off(standin, tmp_path):
    config = loopback_config(tmp_path, cluster={"tls": False})
    cluster = make_batch_cluster("slurm", 1, config)
    try:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:") and "--tls" not in cluster.job_script()
        with Client(cluster.scheduler_address, timeout=10) as client:  # anyone may connect: why TLS is the default
            client.wait_for_workers(1, timeout=45)
    finally:
        cluster.close()
    assert jobs_left_after_close(standin) == []


@pytest.mark.timeout(60)
def test_dead_jobs_end_the_wait_with_their_log(standin, tmp_path):
    """Every job dies at once (its checkout is missing): the wait ends after worker-timeout, naming the log."""
    config = loopback_config(tmp_path, pool_node={"checkout": "/nonexistent/belle checkout"}, cluster={"worker-timeout": 6})
    options = ExecutionOptions(executor="dask", cluster="condor", workers=2, batch_config=config)
    with pytest.raises(ProcessingError) as err, open_executor(options):
        pass
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("no Dask worker joined within 6 s: 2 HTCondor job(s) submitted; 2 completed")
    assert f"job logs in {tmp_path / 'logs'}" in message
    assert "last lines of worker-" in message and "can't cd to /nonexistent/belle checkout" in message
    assert jobs_left_after_close(standin) == []


HOLD = {
    "condor": ({"htcondor": {"job-extra-directives": {"hold": True}}}, "2 held (submitted on hold at user's request)"),
    "slurm": ({"slurm": {"job-extra-directives": ["--hold"]}}, "2 held (JobHeldUser)"),
    "lsf": ({"lsf": {"job-extra-directives": ["-H"]}}, "2 held (Job was suspended by the user while pending)"),
}


@pytest.mark.parametrize("system", list(BATCH_SYSTEMS))
@pytest.mark.timeout(60)
def test_held_jobs_are_named_with_their_reason(system, standin, tmp_path):
    settings, expected = HOLD[system]
    config = loopback_config(tmp_path, **settings)
    cluster = make_batch_cluster(system, 2, config)
    try:
        with Client(cluster) as client, pytest.raises(WorkerStartError) as err:
            wait_for_first_workers(cluster, client, 2)
    finally:
        cluster.close()
    assert f"no Dask worker joined within 2 s: 2 {BATCH_SYSTEMS[system].label} job(s) submitted; {expected}" in str(err.value)
    assert jobs_left_after_close(standin) == []


@pytest.mark.timeout(60)
def test_without_a_shared_filesystem_the_job_carries_code_and_credentials(standin, tmp_path):
    """HTCondor file transfer: the project's code (a tarball) and the TLS credentials travel with the job."""
    packed = tmp_path / "pack" / "code"
    for package in ("core", "selections"):
        shutil.copytree(ROOT / package, packed / package, ignore=shutil.ignore_patterns("__pycache__"))
    archive = shutil.make_archive(str(tmp_path / "code"), "gztar", root_dir=packed.parent, base_dir="code")
    config = loopback_config(
        tmp_path,
        pool_node={"shared-filesystem": False, "transfer-input-files": [archive]},
        htcondor={"python": sys.executable, "job-script-prologue": ["tar xzf code.tar.gz", "export PYTHONPATH=$_CONDOR_SCRATCH_DIR/code"]},
    )
    cluster = make_batch_cluster("condor", 1, config)
    try:
        script = cluster.job_script()
        assert "should_transfer_files = YES" in script and f"transfer_input_files = {archive}," in script
        assert "--tls-ca-file $DASK_JOB_CREDENTIALS/" in script
        with Client(cluster) as client:
            wait_for_first_workers(cluster, client, 45)

            def probe() -> dict:
                import psutil

                import selections

                return {
                    "scratch": os.environ["_CONDOR_SCRATCH_DIR"],
                    "selections": selections.__file__,
                    "worker_command": psutil.Process(os.getppid()).cmdline(),  # the nanny: python -m distributed.cli.dask_worker ...
                }

            (seen,) = client.run(probe).values()
    finally:
        cluster.close()
    assert seen["selections"].startswith(seen["scratch"] + "/code/")  # not this checkout
    command = seen["worker_command"]
    ca_file = command[command.index("--tls-ca-file") + 1]
    assert Path(ca_file).parent == Path(seen["scratch"])  # the transferred copy of the credentials
    assert jobs_left_after_close(standin) == []


def test_shipped_configuration_has_every_batch_system_with_tls_and_free_ports():
    for system in BATCH_SYSTEMS:
        config = read_batch_config(system)
        assert config.tls and config.shared_filesystem
        assert config.kwargs["scheduler_options"] == {"port": 0, "dashboard_address": "127.0.0.1:0"}
        assert config.log_directory == str(ROOT / "condor" / "logs")


@pytest.mark.parametrize(
    ("system", "settings", "message"),
    [
        ("slurm", {"slurm": {"cores": 1, "memory": "2GiB", "disk": "1GiB"}}, "jobqueue.slurm.disk is not a dask-jobqueue SLURM setting"),
        ("lsf", {"lsf": {"cores": 1, "memory": "2GiB", "use-stdin": "yes"}}, "jobqueue.lsf.use-stdin must be true or false"),
        ("slurm", {"slurm": {"cores": 1}}, "missing key jobqueue.slurm.memory"),
    ],
)
def test_bad_batch_settings_are_one_line_naming_file_and_key(tmp_path, system, settings, message):
    import yaml

    path = tmp_path / "jobqueue.yaml"
    path.write_text(yaml.safe_dump({"jobqueue": settings}))
    with pytest.raises(ValueError) as err:
        read_batch_config(system, path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_no_shared_filesystem_needs_file_transfer(tmp_path):
    config = loopback_config(tmp_path, pool_node={"shared-filesystem": False})
    with pytest.raises(ValueError, match="shared-filesystem: false needs a batch system that transfers files"):
        read_batch_config("slurm", config)
    assert not read_batch_config("condor", config).shared_filesystem


@pytest.mark.parametrize("system", list(BATCH_SYSTEMS))
@pytest.mark.timeout(60)
def test_concurrent_cancellations_remove_every_job(system, standin, tmp_path):
    """A cluster closes its jobs with one cancel command each, all at once: none may be left queued."""
    import subprocess

    submit, _, cancel = BATCH_SYSTEMS[system].commands
    hold = {"condor": "hold = True\n", "slurm": "#SBATCH --hold\n", "lsf": "#BSUB -H\n"}[system]
    description = tmp_path / "job"
    if system == "condor":
        description.write_text(f"Executable = /bin/true\n{hold}Queue\n")
    else:
        description.write_text(f"#!/bin/bash\n{hold}true\n")
    for _ in range(12):
        subprocess.run(
            [submit] if system == "lsf" else [submit, str(description)], check=True, capture_output=True,
            stdin=description.open() if system == "lsf" else None,
        )  # fmt: skip
    ids = [job.split(".")[0] for job in queued_jobs(standin)]
    assert len(ids) == 12
    cancels = [subprocess.Popen([cancel, job], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for job in ids]
    errors = [p.communicate()[1].decode().strip() for p in cancels]
    assert errors == [""] * 12
    assert queued_jobs(standin) == []
