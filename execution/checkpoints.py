"""Per-chunk results on disk, so that an interrupted run can be resumed (``run.py --resume``).

coffea's ``Runner`` asks a checkpointer, before processing a chunk, whether its
output is already stored, and stores every output it computes. This one keeps
each chunk's output as an lz4-compressed pickle under

    <directory>/<configuration key>/<dataset>/<file uuid>/<tree>/<entry start>-<entry stop>.pkl.lz4

written atomically (temporary file + rename), so a worker killed while writing
never leaves a half file that a later run would trust. The configuration key is
a hash of everything that changes a chunk's output (processor class, luminosity,
cut table, feature output), so results made with other settings are never reused.
The directory must be visible to every worker (shared filesystem).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lz4.frame
from coffea.processor import CheckpointerABC


class ChunkCheckpointer(CheckpointerABC):
    """Stores and reloads chunk outputs of one run configuration under ``directory``."""

    def __init__(self, directory: str | os.PathLike, configuration: dict):
        self.root = Path(directory)
        key = hashlib.sha256(json.dumps(configuration, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.directory = self.root / key

    def _path(self, metadata: dict) -> Path:
        return (
            self.directory
            / metadata["dataset"]
            / (metadata["fileuuid"] or Path(metadata["filename"]).name)
            / metadata["treename"].replace("/", "_")
            / f"{metadata['entrystart']}-{metadata['entrystop']}.pkl.lz4"
        )

    def load(self, metadata: Any, processor_instance) -> Any | None:
        path = self._path(metadata)
        try:
            with lz4.frame.open(path, "rb") as fh:
                return pickle.load(fh)
        except FileNotFoundError:
            return None

    def save(self, output: Any, metadata: Any, processor_instance) -> None:
        path = self._path(metadata)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with lz4.frame.open(tmp, "wb") as fh:
            pickle.dump(output, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def stored(self, chunks: Iterable[Any]) -> int:
        r"""How many of ``chunks`` (coffea WorkItems) have a stored output: what a resumed run reuses."""
        n = 0
        for item in chunks:
            metadata = {
                "dataset": item.dataset,
                "filename": item.filename,
                "treename": item.treename,
                "entrystart": item.entrystart,
                "entrystop": item.entrystop,
                "fileuuid": str(uuid.UUID(bytes=item.fileuuid)) if len(item.fileuuid) > 0 else "",
            }
            n += self._path(metadata).exists()
        return n

    def stored_chunks(self) -> int:
        """Number of chunk outputs stored for this configuration."""
        return sum(1 for _ in self.directory.rglob("*.pkl.lz4")) if self.directory.exists() else 0

    def clear(self) -> None:
        """Remove every stored chunk output (of every configuration) under the root directory."""
        shutil.rmtree(self.root, ignore_errors=True)
