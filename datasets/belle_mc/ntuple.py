"""Writing Belle-like ntuples (docs/ntuple-format.md) as ROOT TTrees with uproot."""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from core.ntuple_schema import COLLECTIONS, DEFAULT_TREE_NAME, EVENT_BRANCHES, counter_branch

from .detector import DetectorEvents

COMPRESSION = {
    "lz4": lambda: uproot.LZ4(1),
    "zstd": lambda: uproot.ZSTD(1),
    "zlib": lambda: uproot.ZLIB(1),
    "none": lambda: None,
}
DEFAULT_COMPRESSION = "lz4"


def _tree_types() -> dict:
    types: dict = {name: dt for name, dt in EVENT_BRANCHES.items()}
    for coll, fields in COLLECTIONS.items():
        record = ", ".join(f"{f}: {np.dtype(dt).name}" for f, dt in fields.items())
        types[coll] = ak.types.from_datashape(f"var * {{{record}}}", highlevel=False)
    return types


def _jagged_records(counts: np.ndarray, fields: dict[str, np.ndarray]) -> ak.Array:
    """Jagged array of records from per-event counts and flat field arrays, built directly from its layout
    (one offsets array shared by all fields; ``ak.unflatten`` + ``ak.zip`` would make and check one per field)."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    content = ak.contents.RecordArray([ak.contents.NumpyArray(v) for v in fields.values()], list(fields))
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), content))


class NtupleWriter:
    """Append detector-level events to one ROOT file holding one TTree (not RNTuple).

    Writes to ``path + '.part'`` and renames on :meth:`close`, so a crash never
    leaves a half-written file under the final name.
    """

    def __init__(self, path: str | os.PathLike, tree_name: str = DEFAULT_TREE_NAME, compression: str = DEFAULT_COMPRESSION):
        if compression not in COMPRESSION:
            raise ValueError(f"unknown compression {compression!r}; choose one of {sorted(COMPRESSION)}")
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".part")
        self._file = uproot.recreate(self._tmp, compression=COMPRESSION[compression]())
        self._tree = self._file.mktree(
            tree_name,
            _tree_types(),
            counter_name=counter_branch,
            field_name=lambda coll, field: f"{coll}_{field}",
        )
        self.n_entries = 0

    def extend(self, events: DetectorEvents, exp: int, run: int, event_numbers: np.ndarray) -> None:
        data = {
            "exp": np.full(events.n_events, exp, dtype=np.int32),
            "run": np.full(events.n_events, run, dtype=np.int32),
            "event": np.asarray(event_numbers, dtype=np.int64),
        }
        for coll, counts, flat in (("Track", events.n_track, events.track), ("Cluster", events.n_cluster, events.cluster)):
            fields = {f: flat[f].astype(dt, copy=False) for f, dt in COLLECTIONS[coll].items()}
            data[coll] = _jagged_records(counts, fields)
        self._tree.extend(data)
        self.n_entries += events.n_events

    def close(self) -> None:
        self._file.close()
        os.replace(self._tmp, self.path)

    def __enter__(self) -> NtupleWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()
            self._tmp.unlink(missing_ok=True)
