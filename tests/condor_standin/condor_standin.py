#!/usr/bin/env python3
"""Stand-in for HTCondor's condor_submit, condor_rm and condor_q on one machine (tests only).

Called through the symlinks ``condor_submit``, ``condor_rm`` and ``condor_q`` next to
this file, exactly as dask-jobqueue calls the real commands:

- ``condor_submit FILE`` reads a submit description with one ``Queue`` statement,
  expands ``$(macro)`` / ``$F(macro)`` (with ``ClusterId``/``ProcId``), and starts
  ``Executable`` with ``Arguments`` (HTCondor's double-quoted "new" syntax) as a
  detached process in its own process group, in a fresh scratch directory. Like a
  pool node, the job gets only the ``Environment`` of the submit file (the submitter's
  whole environment with ``GetEnv = True``) plus ``_CONDOR_SCRATCH_DIR``, ``TMPDIR``
  and ``BATCH_SYSTEM``; stdout and stderr go to ``Output`` and ``Error``. Prints
  "1 job(s) submitted to cluster N." and records ``N.0.json`` (pid, process group)
  in the state directory. What it cannot honour fails the submission: file transfer,
  ``initialdir``, other ``Queue`` forms, old-syntax ``Arguments``, undefined macros.
- ``condor_rm ID...`` (``N`` or ``N.0``) sends SIGTERM to the job's process group,
  SIGKILL after 5 s, waits until no process of the group is left, and moves the
  job's record to ``removed/``.
- ``condor_q [ID...]`` exits 0 and lists the queued jobs (status R or C).

State directory: ``$CONDOR_STANDIN_STATE``, default ``<tmp>/condor-standin-<uid>``.
Linux only (process groups are read from /proc).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MACRO = re.compile(r"\$(F?)\(([A-Za-z0-9_.+]+)\)")
UNSUPPORTED = ("transfer_input_files", "transfer_output_files", "initialdir")  # would change what or where it runs
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


def is_true(value: str) -> bool:
    """A submit-file boolean."""
    lowered = value.strip().lower()
    if lowered not in ("true", "yes", "1", "false", "no", "0"):
        raise SubmitError(f"GetEnv must be true or false, got {value!r}")
    return lowered in ("true", "yes", "1")


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
    scratch = state / f"{job_id}.scratch"
    scratch.mkdir()
    environment.update(_CONDOR_SCRATCH_DIR=str(scratch), TMPDIR=str(scratch), BATCH_SYSTEM="HTCondor")

    with open(command("output") or os.devnull, "ab") as out, open(command("error") or os.devnull, "ab") as err:
        process = subprocess.Popen(
            [executable, *arguments], cwd=scratch, env=environment,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip
    record = {
        "job_id": job_id,
        "pid": process.pid,
        "pgid": process.pid,
        "cmd": [executable, *arguments],
        "scratch": str(scratch),
    }
    (state / f"{job_id}.json").write_text(json.dumps(record))
    print("Submitting job(s).")
    print(f"1 job(s) submitted to cluster {cluster_id}.")
    return 0


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies count as gone)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def kill_group(pgid: int) -> None:
    """SIGTERM to the group, SIGKILL if it outlives the grace time; returns when none of it runs."""
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


def jobs(state: Path, ids: list[str]) -> list[dict]:
    """Records of the queued jobs matching ``ids`` (``N`` or ``N.0``; all when empty)."""
    records = [json.loads(p.read_text()) for p in sorted(state.glob("*.json"))]
    return [r for r in records if not ids or r["job_id"] in ids or r["job_id"].split(".")[0] in ids]


def remove(argv: list[str]) -> int:
    """condor_rm ID...: kill the jobs' process groups and dequeue them; exit 1 if one is not queued."""
    if not argv or any(not re.fullmatch(r"\d+(\.\d+)?", a) for a in argv):
        raise SubmitError("usage: condor_rm ID... (cluster N or job N.0)")
    state = state_dir()
    found = jobs(state, argv)
    (state / "removed").mkdir(exist_ok=True)
    for record in found:
        kill_group(record["pgid"])
        (state / f"{record['job_id']}.json").rename(state / "removed" / f"{record['job_id']}.json")
        shutil.rmtree(record["scratch"], ignore_errors=True)
        print(f"Job {record['job_id']} marked for removal")
    missing = [a for a in argv if not any(r["job_id"] == a or r["job_id"].split(".")[0] == a for r in found)]
    if missing:
        print(f"Couldn't find/remove all jobs matching {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def queue(argv: list[str]) -> int:
    """condor_q [ID...]: list the queued jobs."""
    if any(not re.fullmatch(r"\d+(\.\d+)?", a) for a in argv):
        raise SubmitError("usage: condor_q [ID...]")
    listed = jobs(state_dir(), argv)
    print("-- Schedd: condor-standin")
    print(f"{'ID':<10} {'ST':<3} CMD")
    for record in listed:
        print(f"{record['job_id']:<10} {'R' if group_alive(record['pgid']) else 'C':<3} {' '.join(record['cmd'])[:80]}")
    print(f"{len(listed)} jobs")
    return 0


COMMANDS = {"condor_submit": submit, "condor_rm": remove, "condor_q": queue}


def main() -> int:
    """Dispatch on the name this file was called by; errors are one line on stderr, exit 1."""
    name = Path(sys.argv[0]).name
    if name not in COMMANDS:
        print(f"condor stand-in: call me as one of {', '.join(COMMANDS)}, not {name}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[name](sys.argv[1:])
    except (SubmitError, OSError) as err:
        print(f"{name} (stand-in): error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
