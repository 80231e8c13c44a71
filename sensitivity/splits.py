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

A part can be *thinned*: ``"<part>/K"`` (e.g. ``"train/10"``) holds every K-th generated event of
each of its splits, those with ((event - 1) // 3) mod K = 0, again with an exact generated count.
The cut optimisation and the network fit on a thinned ``fit`` / ``train`` / ``threshold`` when the
sample is too large for memory or time (``--thin``), while the evaluation keeps its whole split.
"""

from __future__ import annotations

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
Part = str
"""A part's name: a key of :data:`PARTS`, or ``"<key>/K"`` for every K-th of its events."""


def _parse(part: str) -> tuple[tuple[int, ...], int]:
    """(split indices, thinning K) of a part name ``"<part>"`` or ``"<part>/K"``."""
    name, _, thin = str(part).partition("/")
    if name not in PARTS or (thin and not (thin.isdigit() and int(thin) >= 1)):
        raise ValueError(f"part must be one of {', '.join(PARTS)}, optionally thinned as <part>/K with K >= 1, got {part!r}")
    return tuple(SPLITS.index(s) for s in PARTS[name]), int(thin or 1)


def thinned(part: str, thin: int) -> str:
    """The name of every ``thin``-th event of ``part`` (``part`` itself for 1)."""
    if int(thin) < 1:
        raise ValueError(f"thinning must be at least 1, got {thin}")
    _parse(part)
    return part if int(thin) == 1 else f"{part}/{int(thin)}"


def in_part(event: np.ndarray, part: str) -> np.ndarray:
    """bool per event: its generated event number (1-based) puts it in ``part``."""
    splits, thin = _parse(part)
    index = np.asarray(event, dtype=np.int64) - 1
    keep = np.isin(index % len(SPLITS), splits)
    return keep if thin == 1 else keep & ((index // len(SPLITS)) % thin == 0)


def generated_in_part(n_generated: int, part: str) -> int:
    """Generated events (numbers 1 ... ``n_generated``) of ``part``: exactly, not n_generated x fraction."""
    n = int(n_generated)
    splits, thin = _parse(part)
    per_split = [n // len(SPLITS) + (1 if k < n % len(SPLITS) else 0) for k in splits]
    return sum((j + thin - 1) // thin for j in per_split)  # j numbers 3i + k, i = 0 .. j-1: those with i mod thin = 0


def weight_scale(n_generated: int, part: str) -> float:
    """Factor on a dataset's MC weight for the events of ``part``: n_generated / generated_in_part."""
    n_part = generated_in_part(n_generated, part)
    if n_part <= 0:
        raise ValueError(f"a dataset of {n_generated} generated events has none in part {part!r}")
    return int(n_generated) / n_part
