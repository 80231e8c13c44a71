"""HTCondor execution (execution/htcondor.py, execution/batch.py, condor/jobqueue.yaml).

The submit description dask-jobqueue generates from the configuration, the
configuration's validation, and a real ``HTCondorCluster`` whose jobs go through the
stand-in ``condor_submit``/``condor_rm``/``condor_q`` of tests/condor_standin/ and run
as local processes. What only a real pool can show is listed in condor/README.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dask_jobqueue.htcondor import quote_arguments
from distributed import Client

from execution.htcondor import (
    CONDOR_DIR,
    condor_pool_available,
    htcondor_config,
    make_htcondor_cluster,
)

STANDIN = Path(__file__).resolve().parent / "condor_standin"
_spec = importlib.util.spec_from_file_location("condor_standin", STANDIN / "condor_standin.py")
condor_standin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(condor_standin)

CHECKOUT = "/srv/belle analysis/checkout"  # a space, to exercise shell and HTCondor quoting
VENV = "/srv/belle/venv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_ports() -> dict:
    """Overrides putting the scheduler, dashboard, workers and nannies on free local ports."""
    low = random.randrange(20000, 30000, 40)  # dask takes the first free port of each range
    return {
        "scheduler_options": {
            "host": "127.0.0.1",
            "port": free_port(),
            "dashboard_address": f"127.0.0.1:{free_port()}",
        },
        "worker_extra_args": ["--worker-port", f"{low}:{low + 19}", "--nanny-port", f"{low + 20}:{low + 39}"],
    }


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (independently of the stand-in)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def write_config(path: Path, settings: dict, pool_node: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump({"pool-node": pool_node or {}, "jobqueue": {"htcondor": settings}}))
    return path


@pytest.fixture
def standin_pool(tmp_path, monkeypatch):
    """Stand-in commands first on PATH, with their own state directory; kills what is left of any job."""
    state = tmp_path / "condor-state"
    monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CONDOR_STANDIN_STATE", str(state))
    yield state
    for record in state.rglob("*.json"):
        pgid = json.loads(record.read_text())["pgid"]
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.timeout(30)
def test_job_script_from_configuration(tmp_path):
    scheduler_port, dashboard_port = free_port(), free_port()
    config = write_config(
        tmp_path / "jobqueue.yaml",
        {
            "cores": 4,
            "processes": 1,
            "memory": "8GiB",
            "disk": "5GiB",
            "python": "{venv}/bin/python3",
            "death-timeout": 30,
            "local-directory": "$_CONDOR_SCRATCH_DIR",
            "log-directory": "logs",
            "job-extra-directives": {
                "requirements": '(OpSysAndVer == "AlmaLinux9")',
                "accounting_group": "group_belle.analysis",
                "+MaxRuntime": 7200,
                "should_transfer_files": "IF_NEEDED",
            },
            "job-script-prologue": [
                "cd {checkout} || exit 1",
                "export VIRTUAL_ENV={venv} PATH={venv}/bin:$PATH",
                "export OMP_NUM_THREADS={cores} NUMBA_NUM_THREADS={cores}",
            ],
            "worker-extra-args": ["--worker-port", "10000:10099", "--nanny-port", "10100:10199"],
            "scheduler-options": {
                "host": "127.0.0.1",
                "port": scheduler_port,
                "dashboard_address": f"127.0.0.1:{dashboard_port}",
            },
        },
        {"checkout": CHECKOUT, "venv": VENV},
    )
    cluster = make_htcondor_cluster(0, config)
    try:
        script = cluster.job_script()
        scheduler = cluster.scheduler_address
        dashboard = cluster.dashboard_link
    finally:
        cluster.close()
    assert scheduler == f"tls://127.0.0.1:{scheduler_port}"  # TLS by default
    assert f"127.0.0.1:{dashboard_port}" in dashboard

    lines = script.splitlines()
    assert lines[0] == "#!/usr/bin/env condor_submit" and lines[-1] == "Queue"
    header = dict(line.split(" = ", 1) for line in lines[1:-1] if line)
    assert header["RequestCpus"] == "MY.DaskWorkerCores" and header["MY.DaskWorkerCores"] == "4"
    assert header["RequestMemory"] == "floor(MY.DaskWorkerMemory / 1048576)"
    assert int(header["MY.DaskWorkerMemory"]) // 1048576 == 8192  # MB
    assert header["RequestDisk"] == "floor(MY.DaskWorkerDisk / 1024)"
    assert int(header["MY.DaskWorkerDisk"]) // 1024 == 5 * 1024 * 1024  # KiB
    assert header["requirements"] == '(OpSysAndVer == "AlmaLinux9")'
    assert header["accounting_group"] == "group_belle.analysis"
    assert header["+MaxRuntime"] == "7200"
    assert header["should_transfer_files"] == "IF_NEEDED"
    assert header["Executable"] == "/bin/sh"
    logs = tmp_path / "logs"  # relative to the configuration file
    assert logs.is_dir()
    assert header["LogDirectory"] == str(logs)
    assert header["Output"] == "$(LogDirectory)/worker-$F(MY.JobId).out"
    assert header["Error"] == "$(LogDirectory)/worker-$F(MY.JobId).err"
    assert header["Log"] == "$(LogDirectory)/worker-$(ClusterId).log"
    assert header["Stream_Output"] == header["Stream_Error"] == "True"

    # Arguments in HTCondor's quoting: exactly `sh -c <prologue; worker command>`
    arguments = condor_standin.split_new_syntax(header["Arguments"])
    assert arguments[0] == "-c" and len(arguments) == 2
    command = arguments[1]
    assert subprocess.run(["/bin/sh", "-n", "-c", command], check=False).returncode == 0  # valid shell
    *prologue, worker = command.split("; ")
    assert prologue == [
        "cd '/srv/belle analysis/checkout' || exit 1",
        "export VIRTUAL_ENV=/srv/belle/venv PATH=/srv/belle/venv/bin:$PATH",
        "export OMP_NUM_THREADS=4 NUMBA_NUM_THREADS=4",
    ]
    words = shlex.split(worker)
    assert words[:4] == ["/srv/belle/venv/bin/python3", "-m", "distributed.cli.dask_worker", scheduler]
    flags = {
        w for i, w in enumerate(words) if w.startswith("--") and (i + 1 == len(words) or words[i + 1].startswith("--"))
    }
    options = {w: words[i + 1] for i, w in enumerate(words) if w.startswith("--") and w not in flags}
    assert flags == {"--nanny"} and "--nworkers" not in options
    credentials = tmp_path / "logs" / ".dask-credentials"  # the run's TLS files, for the worker
    assert options["--protocol"] == "tls://"
    assert all(Path(options[f"--tls-{k}"]).parent == credentials for k in ("ca-file", "cert", "key"))
    assert options["--nthreads"] == "4"
    assert options["--memory-limit"] == "8.00GiB"
    assert options["--death-timeout"] == "30"
    assert options["--local-directory"] == "$_CONDOR_SCRATCH_DIR"
    assert options["--worker-port"] == "10000:10099"
    assert options["--nanny-port"] == "10100:10199"


def test_shipped_configuration_defaults():
    """condor/jobqueue.yaml: this checkout, the submitting Python's environment, logs under condor/."""
    kwargs = htcondor_config()
    assert kwargs["python"] == shlex.quote(f"{sys.prefix}/bin/python3")
    assert kwargs["job_script_prologue"][0] == f"cd {shlex.quote(str(CONDOR_DIR.parent))} || exit 1"
    assert f"OMP_NUM_THREADS={kwargs['cores']}" in kwargs["job_script_prologue"][2]
    assert kwargs["log_directory"] == str(CONDOR_DIR / "logs")
    assert kwargs["scheduler_options"] == {"port": 0, "dashboard_address": "127.0.0.1:0"}  # any free port; local dashboard


GOOD = {"cores": 1, "memory": "2GiB", "disk": "1GiB"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            yaml.safe_dump({"jobqueue": {"htcondor": {**GOOD, "cores": "four"}}}),
            "jobqueue.htcondor.cores must be a positive integer",
        ),
        (
            yaml.safe_dump({"jobqueue": {"htcondor": {**GOOD, "memory": "lots"}}}),
            "jobqueue.htcondor.memory must be a size",
        ),
        (
            yaml.safe_dump({"jobqueue": {"htcondor": {"cores": 1, "memory": "2GiB"}}}),
            "missing key jobqueue.htcondor.disk",
        ),
        (
            yaml.safe_dump({"jobqueue": {"htcondor": {**GOOD, "job-extra-directive": {}}}}),
            "jobqueue.htcondor.job-extra-directive is not a dask-jobqueue HTCondor setting",
        ),
        (
            yaml.safe_dump({"jobqueue": {"htcondor": {**GOOD, "env-extra": []}}}),
            "env-extra is deprecated by dask-jobqueue; use job-script-prologue",
        ),
        (
            yaml.safe_dump({"jobqueue": {"htcondor": {**GOOD, "job-script-prologue": "cd /x"}}}),
            "job-script-prologue must be a list of strings",
        ),
        (
            yaml.safe_dump({"jobqueue": {"htcondor": GOOD}, "pool-node": {"virtualenv": "/x"}}),
            "pool-node.virtualenv is not a setting",
        ),
        (yaml.safe_dump({"jobqueue": {"slurm": GOOD}}), "missing key jobqueue.htcondor"),
        ("jobqueue:\n  htcondor: {cores: 1\n", "not valid YAML"),
    ],
)
def test_bad_configuration_is_one_line_naming_file_and_key(tmp_path, text, message):
    config = tmp_path / "jobqueue.yaml"
    config.write_text(text)
    with pytest.raises(ValueError) as err:
        htcondor_config(config)
    assert message in str(err.value)
    assert str(config) in str(err.value) and "\n" not in str(err.value)


def test_missing_configuration_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read the batch configuration"):
        htcondor_config(tmp_path / "absent.yaml")
    with pytest.raises(ValueError, match="jobs must be a non-negative integer"):
        make_htcondor_cluster(-1)


def test_pool_available_only_with_condor_commands(tmp_path, monkeypatch):
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path))  # no condor commands at all
    assert not condor_pool_available()
    monkeypatch.setenv("CONDOR_STANDIN_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{path}")
    assert condor_pool_available()
    silent = tmp_path / "silent_pool"  # condor_submit there, but the pool does not answer
    silent.mkdir()
    (silent / "condor_submit").symlink_to(STANDIN / "condor_submit")
    (silent / "condor_q").write_text("#!/bin/sh\nexit 1\n")
    (silent / "condor_q").chmod(0o755)
    monkeypatch.setenv("PATH", f"{silent}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert not condor_pool_available()


@pytest.mark.timeout(60)
def test_cluster_runs_workers_as_condor_jobs(standin_pool, tmp_path):
    logs = tmp_path / "logs"
    cluster = make_htcondor_cluster(2, log_directory=str(logs), **local_ports())
    try:
        jobs = sorted(standin_pool.glob("*.json"))
        assert len(jobs) == 2  # submitted before make_htcondor_cluster returned
        records = [json.loads(p.read_text()) for p in jobs]
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=45)
            squares = client.gather(client.map(lambda x: x * x, range(100)))
            assert sum(squares) == 328350

            def probe() -> dict:
                import selections.zprime_selection as selection

                return {
                    "cwd": os.getcwd(),
                    "prefix": sys.prefix,
                    "omp": os.environ.get("OMP_NUM_THREADS"),
                    "numba": os.environ.get("NUMBA_NUM_THREADS"),
                    "scratch": os.environ.get("_CONDOR_SCRATCH_DIR"),
                    "project": selection.__file__,
                    "pid": os.getpid(),
                    "nanny": os.getppid(),
                    "pgid": os.getpgid(0),
                }

            seen = list(client.run(probe).values())
        queue = subprocess.run(["condor_q"], capture_output=True, text=True, check=True).stdout
        assert all(f"{r['job_id']:<10} R" in queue for r in records)
    finally:
        cluster.close()

    checkout = str(CONDOR_DIR.parent)
    assert {s["pgid"] for s in seen} == {r["pgid"] for r in records}  # one worker per job
    for s in seen:
        assert s["cwd"] == checkout and s["prefix"] == sys.prefix
        assert s["omp"] == s["numba"] == "1"  # the configured cores
        assert s["scratch"].startswith(str(standin_pool)) and s["project"].startswith(checkout)
    for r in records:
        assert "distributed.worker" in (logs / f"worker-{r['job_id']}.err").read_text()  # Error = LogDirectory file
    # condor_rm on close: every process of the jobs is gone
    pids = [r["pid"] for r in records] + [s["pid"] for s in seen] + [s["nanny"] for s in seen]
    deadline = time.monotonic() + 10
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if running(p)]
    assert not list(standin_pool.glob("*.json"))


@pytest.mark.timeout(30)
def test_failed_submission_raises_and_closes(standin_pool, tmp_path):
    ports = local_ports()
    with pytest.raises(RuntimeError, match="submitting a job to HTCondor failed: .*initialdir is not supported"):
        make_htcondor_cluster(1, log_directory=str(tmp_path / "logs"), job_extra_directives={"initialdir": "/tmp"}, **ports)
    with socket.socket() as s:  # the scheduler was closed: nothing listens on its port (TIME_WAIT allowed)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", ports["scheduler_options"]["port"]))
        s.listen()


@pytest.mark.timeout(30)
def test_standin_runs_and_removes_a_job(standin_pool, tmp_path):
    """The stand-in itself: new-syntax quoting, Environment without GetEnv, Output macros, condor_rm."""
    script = 'echo "$GREETING" $ANSWER ${HOME:-nohome}; sleep 600 & echo $!; wait'
    submit = tmp_path / "job.sub"
    submit.write_text(
        f"""# a comment
MY.JobId = "$(ClusterId).$(ProcId)"
LogDirectory = {tmp_path}
Output = $(LogDirectory)/job-$F(MY.JobId).out
Environment = "GREETING='it''s ""quoted""' ANSWER=42"
GetEnv = False
Arguments = "{quote_arguments(["-c", script])}"
Executable = /bin/sh
Queue
"""
    )
    out = subprocess.run(["condor_submit", str(submit)], capture_output=True, text=True, check=True).stdout
    job_id = re.search(r"1 job\(s\) submitted to cluster (\d+)\.", out).group(1) + ".0"
    record = json.loads((standin_pool / f"{job_id}.json").read_text())
    output = tmp_path / f"job-{job_id}.out"
    deadline = time.monotonic() + 10
    while output.read_text().count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    greeting, sleeper = output.read_text().splitlines()
    assert greeting == 'it\'s "quoted" 42 nohome'  # only the submit file's environment
    assert running(record["pid"]) and running(int(sleeper)) and os.getpgid(int(sleeper)) == record["pgid"]
    assert f"{job_id:<10} R" in subprocess.run(["condor_q", job_id], capture_output=True, text=True, check=True).stdout
    subprocess.run(["condor_rm", job_id], capture_output=True, check=True)
    assert not running(record["pid"]) and not running(int(sleeper))
    assert subprocess.run(["condor_rm", job_id], capture_output=True, check=False).returncode == 1  # no longer queued
