#!/usr/bin/env python3
"""Stand-ins for the HTCondor, SLURM and LSF commands on one machine (tests only).

Called through the symlinks next to this file, exactly as dask-jobqueue (and
``execution.batch``) call the real commands. Every job runs as a detached local process
group in a fresh scratch directory; its record ``<id>.json`` (pid, process group, state)
lives in the state directory. A job submitted on hold is recorded but never started.

HTCondor (``condor_submit``, ``condor_q``, ``condor_rm``):

- ``condor_submit FILE`` reads a submit description with one ``Queue`` statement,
  expands ``$(macro)`` / ``$F(macro)`` (with ``ClusterId``/``ProcId``), and starts
  ``Executable`` with ``Arguments`` (HTCondor's double-quoted "new" syntax). Like a
  pool node, the job gets only the ``Environment`` of the submit file (the submitter's
  whole environment with ``GetEnv = True``) plus ``_CONDOR_SCRATCH_DIR``, ``TMPDIR``
  and ``BATCH_SYSTEM``; stdout and stderr go to ``Output`` and ``Error``. With
  ``should_transfer_files = YES``, ``transfer_input_files`` (comma-separated; ``dir/``
  transfers the directory's content) are copied into the scratch directory first;
  ``hold = True`` queues the job held. Prints "1 job(s) submitted to cluster N.". What it
  cannot honour fails the submission: ``transfer_output_files``, ``initialdir``, other
  ``Queue`` forms, old-syntax ``Arguments``, undefined macros.
- ``condor_rm ID...`` (``N`` or ``N.0``) sends SIGTERM to the job's process group,
  SIGKILL after 5 s, waits until no process of the group is left, and dequeues it.
- ``condor_q [ID...]`` lists the queued jobs (status R, H or C); with
  ``-af:j JobStatus HoldReason`` one line per job: id, status number, hold reason.

SLURM (``sbatch``, ``squeue``, ``scancel``): ``sbatch FILE`` honours the ``#SBATCH`` lines
``-J``, ``-o``, ``-e`` (``%j``/``%J`` = job id) and ``--hold`` (the resource lines are
accepted and ignored), runs the script with the submitter's environment (SLURM's
``--export=ALL``) plus ``SLURM_JOB_ID`` and ``TMPDIR``, and prints "Submitted batch job N".
``squeue -h -o "%i|%T|%r" -j IDS`` prints id|RUNNING or PENDING|reason (ended jobs are gone).

LSF (``bsub``, ``bjobs``, ``bkill``): ``bsub < FILE`` (the script on stdin, as dask-jobqueue
sends it) honours ``#BSUB -J/-o/-e`` (``%J`` = job id) and ``-H`` (hold), prints
"Job <N> is submitted to default queue <normal>."; ``bjobs -noheader -o "jobid stat
pend_reason delimiter='|'" IDS`` prints id|RUN, PSUSP or DONE|reason.

State directory: ``$CONDOR_STANDIN_STATE``, default ``<tmp>/condor-standin-<uid>``.
Linux only (process groups are read from /proc).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MACRO = re.compile(r"\$(F?)\(([A-Za-z0-9_.+]+)\)")
UNSUPPORTED = ("transfer_output_files", "initialdir")  # would change what or where it runs
TERM_GRACE_S = 5.0
KILL_GRACE_S = 2.0


class SubmitError(Exception):
    """A submit description the stand-in cannot run: reported on stderr, exit status 1."""


def state_dir() -> Path:
    """The directory of the job records (made if missing)."""
    path = Path(os.environ.get("CONDOR_STANDIN_STATE") or Path(tempfile.gettempdir()) / f"condor-standin-{os.getuid()}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def split_new_syntax(value: str) -> list[str]:
    """Split an Arguments or Environment value in HTCondor's new syntax.

    The value is enclosed in double quotes; inside, ``""`` is a literal double quote,
    whitespace separates items and ``'...'`` groups one item, in which ``''`` is a
    literal single quote.
    """
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        raise SubmitError(f"only the double-quoted (new) syntax is supported, got {value!r}")
    text, items, current, started, quoted, i = value[1:-1], [], [], False, False, 0
    while i < len(text):
        char = text[i]
        if char == '"':
            if text[i + 1 : i + 2] != '"':
                raise SubmitError(f"lone double quote at position {i + 1} of {value!r}")
            current.append('"')
            started, i = True, i + 2
        elif char == "'" and quoted and text[i + 1 : i + 2] == "'":
            current.append("'")
            i += 2
        elif char == "'":
            quoted, started, i = not quoted, True, i + 1
        elif char.isspace() and not quoted:
            if started:
                items.append("".join(current))
                current, started = [], False
            i += 1
        else:
            current.append(char)
            started, i = True, i + 1
    if quoted:
        raise SubmitError(f"unterminated single quote in {value!r}")
    if started:
        items.append("".join(current))
    return items


def expand(value: str, macros: dict[str, str], depth: int = 0) -> str:
    """``value`` with ``$(name)`` replaced by the macro's expansion and ``$F(name)`` by it without quotes."""
    if depth > 20:
        raise SubmitError(f"macro expansion loop in {value!r}")

    def substitute(match: re.Match) -> str:
        name = match.group(2).lower()
        if name not in macros:
            raise SubmitError(f"undefined macro $({match.group(2)})")
        text = expand(macros[name], macros, depth + 1)
        return text.strip().strip('"') if match.group(1) else text

    return MACRO.sub(substitute, value)


def parse_submit(text: str) -> dict[str, str]:
    """Commands of a submit description (lower-case keys, ``+Attr`` as ``my.attr``); exactly one ``Queue``."""
    commands: dict[str, str] = {}
    queued = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().split()[0] == "queue":
            if line.lower() not in ("queue", "queue 1") or queued:
                raise SubmitError(f"line {number}: only one plain 'Queue' statement is supported")
            queued = True
            continue
        key, sep, value = line.partition("=")
        if not sep or queued:
            raise SubmitError(f"line {number}: expected 'key = value' before Queue, got {line!r}")
        key = key.strip().lower()
        commands["my." + key[1:] if key.startswith("+") else key] = value.strip()
    if not queued:
        raise SubmitError("no Queue statement")
    for key in UNSUPPORTED:
        if key in commands:
            raise SubmitError(f"{key} is not supported by the stand-in")
    return commands


def next_cluster_id(state: Path) -> int:
    """A new cluster id, from a counter file locked against concurrent submissions."""
    with open(state / "next_cluster_id", "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        cluster_id = int(counter.read() or 1)
        counter.seek(0)
        counter.truncate()
        counter.write(str(cluster_id + 1))
    return cluster_id


def is_true(value: str, key: str = "GetEnv") -> bool:
    """A submit-file boolean."""
    lowered = value.strip().lower()
    if lowered not in ("true", "yes", "1", "false", "no", "0"):
        raise SubmitError(f"{key} must be true or false, got {value!r}")
    return lowered in ("true", "yes", "1")


def start_job(
    system: str, job_id: str, command: list[str], environment: dict[str, str], cwd: Path | None,
    stdout: str | None, stderr: str | None, held: bool, hold_reason: str = "", transfer: list[str] = (),
) -> dict:
    """Start (or, held, only queue) one job as a detached process group; its record is written and returned."""
    state = state_dir()
    scratch = state / f"{job_id}.scratch"
    scratch.mkdir()
    for item in transfer:  # HTCondor file transfer: into the scratch directory
        source = Path(item)
        if not source.exists():
            raise SubmitError(f"transfer_input_files: {item} does not exist")
        if source.is_dir():
            target = scratch if item.endswith("/") else scratch / source.name
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, scratch / source.name)
    environment = {**environment, "TMPDIR": str(scratch)}
    record = {"system": system, "job_id": job_id, "pid": None, "pgid": None, "cmd": command, "scratch": str(scratch),
              "held": held, "hold_reason": hold_reason}  # fmt: skip
    if not held:
        with open(stdout or os.devnull, "ab") as out, open(stderr or os.devnull, "ab") as err:
            process = subprocess.Popen(
                command, cwd=cwd or scratch, env=environment,
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
            )  # fmt: skip
        record.update(pid=process.pid, pgid=process.pid)
    partial = state / f".{job_id}.json.part"  # written whole, then renamed: a reader never sees half a record
    partial.write_text(json.dumps(record))
    partial.rename(state / f"{job_id}.json")
    return record


def submit(argv: list[str]) -> int:
    """condor_submit FILE: start the job described in FILE and record it."""
    if len(argv) != 1 or argv[0].startswith("-"):
        raise SubmitError("usage: condor_submit FILE (no options)")
    commands = parse_submit(Path(argv[0]).read_text())
    state = state_dir()
    cluster_id = next_cluster_id(state)
    job_id = f"{cluster_id}.0"
    macros = {**commands, "clusterid": str(cluster_id), "cluster": str(cluster_id), "procid": "0", "process": "0"}

    def command(key: str) -> str | None:
        return expand(commands[key], macros) if key in commands else None

    executable = command("executable")
    if executable is None:
        raise SubmitError("no Executable")
    arguments = split_new_syntax(command("arguments")) if "arguments" in commands else []
    environment = dict(os.environ) if is_true(command("getenv") or "false") else {}
    for item in split_new_syntax(command("environment")) if "environment" in commands else []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SubmitError(f"Environment item {item!r} is not name=value")
        environment[name] = value
    transfer = []
    if "transfer_input_files" in commands:
        if (command("should_transfer_files") or "").strip().upper() != "YES":
            raise SubmitError("transfer_input_files needs should_transfer_files = YES in the stand-in")
        transfer = [f.strip() for f in command("transfer_input_files").split(",") if f.strip()]
    held = is_true(command("hold") or "false", "hold")
    scratch = state / f"{job_id}.scratch"
    environment.update(_CONDOR_SCRATCH_DIR=str(scratch), BATCH_SYSTEM="HTCondor")
    start_job(
        "condor", job_id, [executable, *arguments], environment, None, command("output"), command("error"),
        held, "submitted on hold at user's request" if held else "", transfer,
    )  # fmt: skip
    print("Submitting job(s).")
    print(f"1 job(s) submitted to cluster {cluster_id}.")
    return 0


def group_alive(pgid: int | None) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies count as gone)."""
    if pgid is None:
        return False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def kill_group(pgid: int | None) -> None:
    """SIGTERM to the group, SIGKILL if it outlives the grace time; returns when none of it runs."""
    if pgid is None:
        return
    for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.05)


def jobs(state: Path, ids: list[str], system: str = "condor") -> list[dict]:
    """Records of the queued jobs of ``system`` matching ``ids`` (``N`` or ``N.0``; all when empty)."""
    records = []
    for path in sorted(state.glob("*.json")):
        try:  # a concurrent condor_rm/scancel/bkill may move a record away between glob and read
            records.append(json.loads(path.read_text()))
        except FileNotFoundError:
            continue
    records = [r for r in records if r.get("system", "condor") == system]
    return [r for r in records if not ids or r["job_id"] in ids or r["job_id"].split(".")[0] in ids]


def status(record: dict) -> str:
    """R (running), H (held) or C (its processes have ended)."""
    if record.get("held"):
        return "H"
    return "R" if group_alive(record["pgid"]) else "C"


def dequeue(state: Path, record: dict) -> None:
    """Kill the job's processes and move its record to ``removed/``."""
    (state / "removed").mkdir(exist_ok=True)
    kill_group(record["pgid"])
    try:
        (state / f"{record['job_id']}.json").rename(state / "removed" / f"{record['job_id']}.json")
    except FileNotFoundError:  # removed at the same moment by another condor_rm/scancel/bkill
        pass
    shutil.rmtree(record["scratch"], ignore_errors=True)


def remove(argv: list[str], system: str = "condor", usage: str = "condor_rm ID... (cluster N or job N.0)") -> int:
    """condor_rm / scancel / bkill ID...: kill the jobs' process groups and dequeue them; exit 1 if one is not queued."""
    if not argv or any(not re.fullmatch(r"\d+(\.\d+)?", a) for a in argv):
        raise SubmitError(f"usage: {usage}")
    state = state_dir()
    found = jobs(state, argv, system)
    for record in found:
        dequeue(state, record)
        print(f"Job {record['job_id']} marked for removal")
    missing = [a for a in argv if not any(r["job_id"] == a or r["job_id"].split(".")[0] == a for r in found)]
    if missing:
        print(f"Couldn't find/remove all jobs matching {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


CONDOR_STATUS = {"R": 2, "H": 5, "C": 4}


def queue(argv: list[str]) -> int:
    """condor_q [ID...] [-af:j JobStatus HoldReason]: list the queued jobs."""
    autoformat = None
    if "-af:j" in argv:
        i = argv.index("-af:j")
        argv, autoformat = argv[:i], argv[i + 1 :]
        if autoformat != ["JobStatus", "HoldReason"]:
            raise SubmitError("the stand-in's -af:j prints only JobStatus HoldReason")
    if any(not re.fullmatch(r"\d+(\.\d+)?", a) for a in argv):
        raise SubmitError("usage: condor_q [ID...] [-af:j JobStatus HoldReason]")
    listed = jobs(state_dir(), argv)
    if autoformat:
        for record in listed:
            print(f"{record['job_id']} {CONDOR_STATUS[status(record)]} {record.get('hold_reason') or 'undefined'}")
        return 0
    print("-- Schedd: condor-standin")
    print(f"{'ID':<10} {'ST':<3} CMD")
    for record in listed:
        print(f"{record['job_id']:<10} {status(record):<3} {' '.join(record['cmd'])[:80]}")
    print(f"{len(listed)} jobs")
    return 0


def _directives(text: str, prefix: str) -> list[list[str]]:
    """The option words of the script's ``#SBATCH`` / ``#BSUB`` lines."""
    return [shlex.split(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix + " ")]


def _batch_script(system: str, text: str, prefix: str, name_option: str, hold_option: str) -> dict:
    """Start a SLURM or LSF job script; its record."""
    options: dict[str, str] = {}
    held = False
    for words in _directives(text, prefix):
        if words == [hold_option]:
            held = True
        elif len(words) == 2:
            options[words[0]] = words[1]
        elif len(words) == 1 and "=" in words[0]:
            key, _, value = words[0].partition("=")
            options[key] = value
        else:
            raise SubmitError(f"cannot read the directive {prefix} {' '.join(words)}")
    state = state_dir()
    job_id = str(next_cluster_id(state))
    script = state / f"{job_id}.sh"
    script.write_text(text)

    def path(option: str) -> str | None:
        value = options.get(option)
        return value.replace("%J", job_id).replace("%j", job_id) if value else None

    environment = dict(os.environ)  # SLURM --export=ALL, LSF: the submission environment
    environment.update({"SLURM_JOB_ID" if system == "slurm" else "LSB_JOBID": job_id, "BATCH_SYSTEM": system})
    reason = {"slurm": "JobHeldUser", "lsf": "Job was suspended by the user while pending"}[system] if held else ""
    return start_job(system, job_id, ["/bin/bash", str(script)], environment, Path.cwd(), path("-o"), path("-e"), held, reason)


def sbatch(argv: list[str]) -> int:
    """sbatch FILE: start the job script and record it."""
    if len(argv) != 1 or argv[0].startswith("-"):
        raise SubmitError("usage: sbatch FILE (no options)")
    record = _batch_script("slurm", Path(argv[0]).read_text(), "#SBATCH", "-J", "--hold")
    print(f"Submitted batch job {record['job_id']}")
    return 0


def squeue(argv: list[str]) -> int:
    """squeue [-h] [-o FORMAT] [-j IDS]: the jobs still queued (ended jobs leave the queue)."""
    ids: list[str] = []
    fmt = None
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "-h":
            continue
        if word in ("-o", "-j") and words:
            value = words.pop(0)
            if word == "-o":
                fmt = value
            else:
                ids = value.split(",")
            continue
        raise SubmitError("usage: squeue [-h] [-o '%i|%T|%r'] [-j IDS]")
    if fmt not in (None, "%i|%T|%r"):
        raise SubmitError("the stand-in's squeue prints only -o '%i|%T|%r'")
    for record in jobs(state_dir(), ids, "slurm"):
        st = status(record)
        if st == "C":
            continue
        print(f"{record['job_id']}|{'PENDING' if st == 'H' else 'RUNNING'}|{record.get('hold_reason') or 'None'}")
    return 0


def bsub(argv: list[str]) -> int:
    """bsub < FILE: start the job script read from stdin and record it."""
    if argv:
        raise SubmitError("usage: bsub < FILE (the stand-in reads the script from stdin)")
    record = _batch_script("lsf", sys.stdin.read(), "#BSUB", "-J", "-H")
    print(f"Job <{record['job_id']}> is submitted to default queue <normal>.")
    return 0


def bjobs(argv: list[str]) -> int:
    """bjobs [-noheader] [-o "jobid stat pend_reason delimiter='|'"] [IDS]: the jobs, finished ones as DONE."""
    words = list(argv)
    fmt = None
    ids = []
    while words:
        word = words.pop(0)
        if word == "-noheader":
            continue
        if word == "-o" and words:
            fmt = words.pop(0)
            continue
        ids.append(word)
    if fmt not in (None, "jobid stat pend_reason delimiter='|'"):
        raise SubmitError("the stand-in's bjobs prints only -o \"jobid stat pend_reason delimiter='|'\"")
    for record in jobs(state_dir(), ids, "lsf"):
        st = {"R": "RUN", "H": "PSUSP", "C": "DONE"}[status(record)]
        print(f"{record['job_id']}|{st}|{record.get('hold_reason') or '-'}")
    return 0


COMMANDS = {
    "condor_submit": submit,
    "condor_rm": remove,
    "condor_q": queue,
    "sbatch": sbatch,
    "squeue": squeue,
    "scancel": lambda argv: remove(argv, "slurm", "scancel ID..."),
    "bsub": bsub,
    "bjobs": bjobs,
    "bkill": lambda argv: remove(argv, "lsf", "bkill ID..."),
}


def main() -> int:
    """Dispatch on the name this file was called by; errors are one line on stderr, exit 1."""
    name = Path(sys.argv[0]).name
    if name not in COMMANDS:
        print(f"batch stand-in: call me as one of {', '.join(COMMANDS)}, not {name}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[name](sys.argv[1:])
    except (SubmitError, OSError) as err:
        print(f"{name} (stand-in): error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
