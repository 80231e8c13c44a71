"""The flat-buffer layout the per-event kernels read: a counter per event and the jagged values concatenated."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def check_counter(counter: np.ndarray, buffers: Mapping[str, np.ndarray], counter_name: str) -> None:
    """Raise ValueError unless every buffer holds ``counter.sum()`` entries (one per object of every event).

    ``counter`` is the per-event count (e.g. ``nTrack``), ``buffers`` the flat buffers of that
    collection by field name; the message names the counter and the buffer at fault.
    """
    total = int(counter.sum())
    for name, buffer in buffers.items():
        if len(buffer) != total:
            raise ValueError(f"{counter_name} sums to {total} but the {name} buffer has {len(buffer)} entries")
