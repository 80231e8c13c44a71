"""The independent splits of the Monte Carlo by generated event number (docs/searches.md, "Splits").

Every selection that is fitted or chosen on simulated events (the cut optimisation, the network's
weights, its output thresholds) must be measured on other events. The MC of every dataset is cut
into three splits by the ntuple's ``event`` number (generated files: the 1-based index of the
drawn event in its dataset, docs/ntuple-format.md): split k holds the events with
(event - 1) mod 3 = k,

- ``train``: the network's weights and input scaling;
- ``threshold``: the network's output cut per mass and its early stopping;
- ``evaluation``: every quoted figure of merit and the limits of both selections.

A *part* is a union of splits: the three above, ``fit`` (``train`` + ``threshold``, where the cut
values are optimised: the cuts have no separate threshold step) and ``all``. Because the split is
by *generated* number, the number of generated events of a dataset in a part is known exactly
(:func:`generated_in_part`), so the part's MC weight xsec L / n_part is exact, whatever the
preselection kept.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SPLITS: tuple[str, ...] = ("train", "threshold", "evaluation")
"""The three splits, in the order of (event - 1) mod 3."""
PARTS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "threshold": ("threshold",),
    "evaluation": ("evaluation",),
    "fit": ("train", "threshold"),
    "all": SPLITS,
}
"""Each part and the splits it is made of."""
Part = Literal["train", "threshold", "evaluation", "fit", "all"]


def _splits_of(part: str) -> tuple[int, ...]:
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    return tuple(SPLITS.index(s) for s in PARTS[part])


def in_part(event: np.ndarray, part: str) -> np.ndarray:
    """bool per event: its generated event number (1-based) puts it in ``part``."""
    split = (np.asarray(event, dtype=np.int64) - 1) % len(SPLITS)
    return np.isin(split, _splits_of(part))


def generated_in_part(n_generated: int, part: str) -> int:
    """Generated events (numbers 1 ... ``n_generated``) of ``part``: exactly, not n_generated x fraction."""
    n = int(n_generated)
    return sum(n // len(SPLITS) + (1 if k < n % len(SPLITS) else 0) for k in _splits_of(part))


def weight_scale(n_generated: int, part: str) -> float:
    """Factor on a dataset's MC weight for the events of ``part``: n_generated / generated_in_part."""
    n_part = generated_in_part(n_generated, part)
    if n_part <= 0:
        raise ValueError(f"a dataset of {n_generated} generated events has none in part {part!r}")
    return int(n_generated) / n_part
