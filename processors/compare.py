"""Comparing run outputs (docs/output.md): every cutflow count and every histogram, exactly.

:func:`summary` reduces an output to its cutflows and histogram totals (JSON, small enough to
commit as a test reference, ``tests/reference/``); :func:`differences` lists, one line each,
where two outputs (or an output and a summary) differ. ``scripts/compare_outputs.py`` is the
command line.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import hist
import numpy as np


def load(path: Path) -> dict[str, Any]:
    """An output pickle or a summary JSON; ValueError with one line when unreadable."""
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        with path.open("rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot be read ({type(err).__name__}: {err})") from None


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _leaves(value, f"{prefix}/{key}")
    else:
        yield prefix, obj


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """Cutflows and histogram totals of every dataset (JSON-serialisable; keys as strings)."""
    out: dict[str, Any] = {}
    for name, dataset in result["datasets"].items():
        for path, value in _leaves(dataset):
            if isinstance(value, hist.Hist):
                total = value.sum(flow=True)
                out[f"{name}{path}"] = {"sum": float(total.value), "variance": float(total.variance)}
            elif isinstance(value, (int, np.integer)):
                out[f"{name}{path}"] = int(value)
    return out


def flatten(result: Mapping[str, Any]) -> dict[str, Any]:
    if "datasets" not in result:  # a summary JSON
        return dict(result)
    return {f"{name}{path}": value for name, dataset in result["datasets"].items() for path, value in _leaves(dataset)}


def _close(a: float, b: float, rtol: float) -> bool:
    return a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= rtol * max(abs(a), abs(b)))


def differences(reference: Mapping[str, Any], new: Mapping[str, Any], rtol: float = 0.0, allow_new_keys: bool = False) -> list[str]:
    """One line per difference between two outputs (or an output and a summary)."""
    ref, got = flatten(reference), flatten(new)
    if "datasets" not in reference:  # compare against a summary: summarise the new output the same way
        got = summary(new)
    lines = [f"missing in new: {k}" for k in ref if k not in got]
    if not allow_new_keys:
        lines += [f"only in new: {k}" for k in got if k not in ref]
    for key in ref.keys() & got.keys():
        a, b = ref[key], got[key]
        if isinstance(a, hist.Hist) and isinstance(b, hist.Hist):
            va, vb = a.view(flow=True), b.view(flow=True)
            for field in ("value", "variance"):
                x, y = np.asarray(va[field]), np.asarray(vb[field])
                if x.shape != y.shape or not np.allclose(x, y, rtol=rtol, atol=0.0):
                    lines.append(f"{key}: histogram {field}s differ")
        elif isinstance(a, dict) and isinstance(b, dict):  # summary histogram totals
            for field in ("sum", "variance"):
                if not _close(a[field], b[field], rtol):
                    lines.append(f"{key}: {field} {a[field]!r} != {b[field]!r}")
        elif isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
            if not _close(float(a), float(b), rtol):
                lines.append(f"{key}: {a!r} != {b!r}")
        elif type(a) is not type(b) and not (isinstance(a, list) and isinstance(b, list)):
            lines.append(f"{key}: {type(a).__name__} != {type(b).__name__}")
    return sorted(lines)
