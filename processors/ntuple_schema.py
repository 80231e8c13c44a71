"""The Belle-like ntuple format of interfaces.md §1: one TTree, one entry per event.

This table is the single definition of the input contract: the generator writes
exactly these branches and types, and the analysis checks every input file
against it before any kernel sees the data.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TREE_NAME = "events"

EVENT_BRANCHES: dict[str, np.dtype] = {
    "exp": np.dtype(np.int32),
    "run": np.dtype(np.int32),
    "event": np.dtype(np.int64),
}
"""Per-event scalar branches and their types."""

COLLECTIONS: dict[str, dict[str, np.dtype]] = {
    "Track": {
        "px": np.dtype(np.float32),  # GeV, lab frame
        "py": np.dtype(np.float32),
        "pz": np.dtype(np.float32),
        "charge": np.dtype(np.int32),  # +1 / -1
        "muonID": np.dtype(np.float32),  # likelihood ratio in [0, 1]
        "electronID": np.dtype(np.float32),
        "dr": np.dtype(np.float32),  # cm, transverse distance of closest approach to the IP
        "dz": np.dtype(np.float32),  # cm, longitudinal
    },
    "Cluster": {
        "E": np.dtype(np.float32),  # GeV
        "theta": np.dtype(np.float32),  # rad, lab frame
        "phi": np.dtype(np.float32),  # rad, lab frame
    },
}
"""Jagged collections: counter branch ``n<Name>`` (int32) and ``<Name>_<field>`` branches."""


def counter_branch(collection: str) -> str:
    """Name of the counter branch of a collection (``nTrack`` for ``Track``)."""
    return f"n{collection}"


def branch_types() -> dict[str, tuple[np.dtype, bool]]:
    """Every branch of the format -> (element type, jagged?), in the order of interfaces.md §1."""
    out: dict[str, tuple[np.dtype, bool]] = {name: (dt, False) for name, dt in EVENT_BRANCHES.items()}
    for coll, fields in COLLECTIONS.items():
        out[counter_branch(coll)] = (np.dtype(np.int32), False)
        for field, dt in fields.items():
            out[f"{coll}_{field}"] = (dt, True)
    return out
