"""The Belle-like ntuple format of docs/ntuple-format.md: one TTree, one entry per event.

This table is the single definition of the input contract: the generator writes
exactly these branches and types, and the analysis checks every input file
against it before any kernel sees the data.
"""

from __future__ import annotations

from collections.abc import Callable

import awkward as ak
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
    """Every branch of the format -> (element type, jagged?), in the order of docs/ntuple-format.md."""
    out: dict[str, tuple[np.dtype, bool]] = {name: (dt, False) for name, dt in EVENT_BRANCHES.items()}
    for coll, fields in COLLECTIONS.items():
        out[counter_branch(coll)] = (np.dtype(np.int32), False)
        for field, dt in fields.items():
            out[f"{coll}_{field}"] = (dt, True)
    return out


# --- Flat buffers for the numba kernels ----------------------------------------------

DIMUON_TRACK_FIELDS = ("px", "py", "pz", "charge", "muonID", "dr", "dz")
"""Track fields the invisible-Z' kernels read."""
DIMUON_CLUSTER_FIELDS = ("E", "theta", "phi")
"""Cluster fields the invisible-Z' kernels read."""


def dimuon_branches() -> list[str]:
    """The branches the invisible-Z' analysis reads (and nothing else)."""
    return (
        [counter_branch("Track")]
        + [f"Track_{f}" for f in DIMUON_TRACK_FIELDS]
        + [counter_branch("Cluster")]
        + [f"Cluster_{f}" for f in DIMUON_CLUSTER_FIELDS]
    )


FlatBuffers = tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]


def flat_buffers(get: Callable[[str], ak.Array]) -> FlatBuffers:
    """(nTrack, {field: flat track buffer}, nCluster, {field: flat cluster buffer}) of a chunk.

    ``get(branch)`` returns the awkward array of a branch (``events[branch]`` of
    coffea NanoEvents, or an entry of ``tree.arrays(how=dict)``). Jagged branches
    are flattened over events, so each buffer holds the chunk's objects in event order.
    """

    def flat(branch: str) -> np.ndarray:
        # the content between the first and last offset is the flat buffer (no copy, unlike ak.flatten)
        layout = ak.materialize(get(branch)).layout
        if not isinstance(layout, ak.contents.ListOffsetArray):
            return ak.to_numpy(ak.flatten(get(branch), axis=1))
        offsets = np.asarray(layout.offsets)
        return ak.to_numpy(ak.Array(layout.content))[offsets[0] : offsets[-1]]

    return (
        ak.to_numpy(get(counter_branch("Track"))),
        {f: flat(f"Track_{f}") for f in DIMUON_TRACK_FIELDS},
        ak.to_numpy(get(counter_branch("Cluster"))),
        {f: flat(f"Cluster_{f}") for f in DIMUON_CLUSTER_FIELDS},
    )


def read_flat_buffers(tree, entry_start: int | None = None, entry_stop: int | None = None) -> FlatBuffers:
    """:func:`flat_buffers` of an uproot TTree (entries ``entry_start`` to ``entry_stop``)."""
    arrays = tree.arrays(dimuon_branches(), entry_start=entry_start, entry_stop=entry_stop, how=dict)
    return flat_buffers(arrays.__getitem__)
