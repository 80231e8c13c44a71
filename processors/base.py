"""What every search's processor shares: one cutflow helper, one output contract, one feature writer.

A search's processor subclasses :class:`SearchProcessor` and implements
:meth:`SearchProcessor.process_chunk`, which returns a :class:`ChunkOutput`. The base class
turns it into the output of docs/output.md, the same for every search::

    {dataset: {
        "cutflow": {"all": n, <preselection stage>: n, ...},          # raw events, in order
        "cutflow_hypotheses": {mass_mev: {<stage>: n, ..., "window": n}},
        <legacy key>: {mass_mev: {<stage>: n, ..., <legacy window name>: n}},  # cutflow_mzp / cutflow_mphi
        "recoil_mass2": Hist(mrecoil2),                               # after the preselection
        <search histograms>: ...,
        "features_files": [parquet paths],                            # only with features_dir
    }}

``cutflow_hypotheses`` is the one per-hypothesis contract (every search ends it with
``"window"``, the raw count in the mass window of the hypothesis); the search-specific key
(``cutflow_mzp`` with ``recoil_mass_window`` / ``mr_window``, ``cutflow_mphi`` with
``pair_mass_window``) holds the same numbers under the names earlier outputs used, kept so
that existing downstream code keeps working. Counts are raw events; histograms carry the
weight xsec * lumi / n_generated (:func:`core.weights.event_weight`; 1 for data).
Everything merges with ``+``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from coffea import processor

from core.weights import event_weight

WINDOW = "window"
"""Last key of every ``cutflow_hypotheses`` entry: raw events in the hypothesis' mass window."""
HYPOTHESIS_CUTFLOW = "cutflow_hypotheses"
"""Output key of the per-hypothesis cutflows, common to every search."""


def cutflow_from_stages(stage: np.ndarray, names: Sequence[str]) -> dict[str, int]:
    """Ordered cutflow of a chunk from each event's preselection stage.

    ``stage[i]`` is the number of preselection requirements event i passed in order
    (0 = none); ``names[k]`` names requirement k + 1. Returns ``{"all": n, names[0]: n_1, ...}``
    with n_k the events that passed at least the first k requirements.
    """
    counts = np.bincount(np.asarray(stage, dtype=np.int64), minlength=len(names) + 1)[: len(names) + 1]
    passed = counts[::-1].cumsum()[::-1]
    return {"all": int(len(stage)), **{name: int(passed[k + 1]) for k, name in enumerate(names)}}


def hypothesis_cutflows(codes: np.ndarray, masses_mev: Sequence[int], names: Sequence[str]) -> dict[int, dict[str, int]]:
    """Per-hypothesis cutflows from a code matrix ``codes[h, i]`` (hypothesis h, candidate event i).

    ``codes[h, i]`` is the number of the hypothesis' requirements event i passed in order;
    every event in ``codes`` passed ``names[0]`` (the stage it entered with), and ``names[j]``
    counts the events with code >= j. The last name is the window. Returns
    ``{mass_mev: {names[0]: n, ..., names[-1]: n}}``.
    """
    out = {}
    n_events = codes.shape[1]
    for h, mass in enumerate(masses_mev):
        counts = np.bincount(np.asarray(codes[h], dtype=np.int64), minlength=len(names))[: len(names)]
        passed = counts[::-1].cumsum()[::-1]
        passed[0] = n_events
        out[int(mass)] = {name: int(passed[j]) for j, name in enumerate(names)}
    return out


def write_chunk_parquet(table: pa.Table, features_dir: str | os.PathLike, meta: Mapping) -> str:
    """Write one chunk's feature table atomically to ``<features_dir>/<dataset>/<file stem>_<start>_<stop>.parquet``.

    ``meta`` is the chunk's coffea metadata (dataset, filename, entrystart, entrystop); the
    name makes a rerun of the chunk overwrite, not duplicate, its rows. Returns the path.
    """
    directory = Path(features_dir) / meta["dataset"]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{Path(meta['filename']).stem}_{meta['entrystart']}_{meta['entrystop']}.parquet"
    tmp = path.with_suffix(f".parquet.{os.getpid()}.part")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return str(path)


def clear_feature_files(features_dir: str | os.PathLike, datasets: Iterable[str]) -> int:
    """Remove the feature files of ``datasets`` under ``features_dir`` (a new, not resumed, run: files of a run with
    other chunk boundaries would be read back as overlapping chunks); the number removed."""
    removed = 0
    for dataset in datasets:
        for path in (Path(features_dir) / dataset).glob("*.parquet"):
            path.unlink()
            removed += 1
    return removed


def dataset_column(name: str, n: int) -> pa.Array:
    """A dictionary-encoded string column holding ``name`` n times (compact in parquet)."""
    return pa.array([name] * n, type=pa.dictionary(pa.int32(), pa.string()))


@dataclass
class ChunkOutput:
    """What a search computes from one chunk, before the base class shapes it into the output contract.

    ``hypotheses`` are the per-hypothesis cutflows of :func:`hypothesis_cutflows` (last entry:
    the window); ``histograms`` must hold ``recoil_mass2``; ``features`` are the columns to export.
    """

    cutflow: dict[str, int]
    hypotheses: dict[int, dict[str, int]]
    histograms: dict[str, Any]
    features: dict[str, np.ndarray] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class SearchProcessor(processor.ProcessorABC):
    """Base of the three searches' processors (docs/output.md).

    Configuration is frozen at construction; ``process`` keeps no chunk state on ``self``.

    Parameters
    ----------
    lumi_fb:
        Integrated luminosity (fb^-1) the MC weights are normalised to.
    table:
        The search's table (cut table, window table or resolution table); None = its default.
    features_dir:
        If given (and the search exports features), every chunk writes its feature table there.
    """

    LEGACY_HYPOTHESIS_KEY: ClassVar[str]
    """The search-specific per-hypothesis key kept from earlier outputs (``cutflow_mzp`` or ``cutflow_mphi``)."""
    LEGACY_WINDOW: ClassVar[str]
    """The window name of the legacy key (``recoil_mass_window``, ``mr_window``, ``pair_mass_window``)."""
    EXPORTS_FEATURES: ClassVar[bool] = False

    def __init__(self, lumi_fb: float, table: Any = None, features_dir: str | os.PathLike | None = None):
        if features_dir is not None and not self.EXPORTS_FEATURES:
            raise ValueError(f"{type(self).__name__} exports no features")
        self.lumi_fb = float(lumi_fb)
        self.table = self.default_table() if table is None else table
        self.features_dir = None if features_dir is None else str(features_dir)

    @classmethod
    def default_table(cls) -> Any:
        """The search's table when none is given."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The selection configuration (tables) recorded in the output metadata."""
        raise NotImplementedError

    @property
    def masses_mev(self) -> list[int]:
        """The mass hypotheses (MeV) of the per-hypothesis cutflows."""
        return list(self.table.masses_mev)

    def process_chunk(self, events: Any, weight: float) -> ChunkOutput:
        """The search's work on one chunk (``events`` with bulk-preloaded branches; MC ``weight``)."""
        raise NotImplementedError

    def process(self, events):
        meta = events.metadata
        chunk = self.process_chunk(events, event_weight(meta, self.lumi_fb))
        legacy = {
            mass: {(self.LEGACY_WINDOW if k == WINDOW else k): n for k, n in stages.items()}
            for mass, stages in chunk.hypotheses.items()
        }
        out = {
            "cutflow": chunk.cutflow,
            HYPOTHESIS_CUTFLOW: chunk.hypotheses,
            self.LEGACY_HYPOTHESIS_KEY: legacy,
            **chunk.histograms,
            **chunk.extra,
        }
        if self.features_dir is not None and chunk.features is not None:
            n = len(next(iter(chunk.features.values())))
            table = pa.table({**chunk.features, "dataset": dataset_column(meta["dataset"], n)})
            out["features_files"] = [write_chunk_parquet(table, self.features_dir, meta)]
        return {meta["dataset"]: out}

    def postprocess(self, accumulator):
        return accumulator
