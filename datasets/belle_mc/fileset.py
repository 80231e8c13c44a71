"""Reading and updating fileset JSON files (interfaces.md §2), safely under concurrency."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Iterator

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
