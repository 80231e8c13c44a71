"""Fileset JSON (docs/fileset.md): reading and checking it for a run, writing it safely under concurrency.

The one fileset reader of the project: ``run.py``, the study pipeline and the tests all
load filesets through :func:`load_fileset` and check their files with :func:`check_files`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Iterator

import uproot

from core.channels import CHANNEL_ROLES
from core.ntuple_schema import branch_types

log = logging.getLogger(__name__)

FILESET_NAME = "fileset.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def update_fileset(directory: str | os.PathLike, dataset: str, entry: dict) -> Path:
    """Insert or replace one dataset in ``directory/fileset.json`` (created if missing)."""
    path = Path(directory) / FILESET_NAME
    with _locked(path):
        data = json.loads(path.read_text()) if path.exists() else {}
        data[dataset] = entry
        write_json_atomic(path, data)
    return path


class InputError(Exception):
    """Bad user input (a fileset, a file, a table, an option): reported as one line naming the thing at fault."""


def load_fileset(path: str | os.PathLike, known_channels: Iterable[str] | None = None) -> dict:
    """Read and check a fileset JSON; local paths become absolute (relative ones are relative to the JSON).

    ``known_channels`` restricts the accepted ``channel`` names (default: every channel of
    :data:`core.channels.CHANNEL_ROLES`). Raises :class:`InputError` naming the dataset at fault.
    """
    path = Path(path)
    known = tuple(CHANNEL_ROLES) if known_channels is None else tuple(known_channels)
    if not path.exists():
        raise InputError(f"fileset {path} does not exist")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"fileset {path} is not valid JSON: {err}") from None
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"fileset {path} holds no datasets")
    fileset = {}
    for name, entry in raw.items():
        meta = entry.get("metadata", {}) if isinstance(entry, dict) else {}
        channel = meta.get("channel")
        if channel not in known:
            raise InputError(f"dataset {name!r} in {path}: unknown channel {channel!r}")
        if "xsec_pb" in meta and not meta.get("n_generated"):
            raise InputError(f"dataset {name!r} in {path}: MC metadata needs n_generated")
        files = {}
        for f, tree in entry.get("files", {}).items():
            if "://" in f:  # a URL (root://, https://): read as given, through fsspec
                files[f] = tree
                continue
            fp = Path(f) if Path(f).is_absolute() else (path.parent / f)
            files[str(fp.resolve())] = tree
        if not files:
            raise InputError(f"dataset {name!r} in {path} lists no files")
        fileset[name] = {"files": files, "metadata": meta}
    return fileset


def check_files(fileset: dict, skip_bad_files: bool, branches: Iterable[str] | None = None) -> tuple[list[str], dict[str, int]]:
    """Open every file's header and check its tree, entries and the ``branches`` a search reads.

    ``branches`` defaults to every branch of the ntuple format. Returns the files skipped
    (removed from ``fileset``; only with ``skip_bad_files``, else the first bad file raises
    :class:`InputError`) and the number of entries of every file kept, against which a run's
    event count is checked at the end.
    """
    types = branch_types()
    needed = {b: types[b] for b in (types if branches is None else branches)}
    bad: list[str] = []
    entries: dict[str, int] = {}
    for entry in fileset.values():
        for path, tree in list(entry["files"].items()):
            try:
                entries[path] = _check_file(path, tree, needed)
            except InputError as err:
                if not skip_bad_files:
                    raise
                reason = str(err)
            except Exception as err:  # unreadable, truncated, not ROOT
                reason = f"{path}: cannot be read as ROOT ({type(err).__name__}: {err})"
                if not skip_bad_files:
                    raise InputError(reason) from None
            if path not in entries:
                bad.append(path)
                del entry["files"][path]
                log.warning("skipping bad file: %s", reason)
    return bad, entries


def _check_file(path: str, tree: str, needed: dict) -> int:
    """Entries of ``tree`` in ``path`` after checking its type and branches; InputError naming the fault."""
    with uproot.open(path) as f:
        if tree not in f:
            raise InputError(f"{path}: no tree {tree!r} (has {', '.join(f.keys()) or 'nothing'})")
        t = f[tree]
        if not isinstance(t, uproot.behaviors.TTree.TTree):
            raise InputError(f"{path}: {tree!r} is a {type(t).__name__}, not a TTree")
        if t.num_entries == 0:
            raise InputError(f"{path}: tree {tree!r} has no entries")
        for branch, (dtype, _jagged) in needed.items():
            if branch not in t:
                raise InputError(f"{path}: tree {tree!r} has no branch {branch!r}")
            interp = t[branch].interpretation
            content = getattr(interp, "content", interp)
            got = getattr(content, "from_dtype", None)
            if got is not None and got.newbyteorder("=") != dtype:
                raise InputError(f"{path}: branch {branch!r} has type {got}, expected {dtype}")
        return t.num_entries
