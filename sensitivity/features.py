"""The feature tables the processors export (``run.py --features DIR``): the one reader.

Every chunk writes ``DIR/<dataset>/<file stem>_<entry start>_<entry stop>.parquet``
(:func:`processors.base.write_chunk_parquet`). :func:`load_features` puts them back together
in (dataset, file, entry) order, so a table read here holds the events in the order the
processor saw them, whatever the chunk size or executor; the network, the cut optimisation and
the BDT all read their inputs through it (no second pass over the ROOT files).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _chunk_key(path: Path) -> tuple[str, int, int]:
    """(source file stem, first entry, end entry) from a chunk file name ``<stem>_<entrystart>_<entrystop>.parquet``."""
    try:
        stem, start, stop = path.stem.rsplit("_", 2)
        return stem, int(start), int(stop)
    except ValueError:
        raise ValueError(
            f"{path}: not a feature chunk file name <file stem>_<entry start>_<entry stop>.parquet"
        ) from None


def _check_chunks(dataset: str, files: Sequence[Path]) -> None:
    """Chunks of one source file must not overlap (left-over files of a run with another chunk size would)."""
    keys = [_chunk_key(f) for f in files]
    for (stem, _, stop), (next_stem, next_start, _) in itertools.pairwise(keys):
        if stem == next_stem and next_start < stop:
            raise ValueError(
                f"feature files of {dataset} overlap ({stem} entries {next_start} < {stop}): "
                "files of several runs in one directory? remove it and rerun run.py --features"
            )


def load_features(directory: str | Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """All chunk files that ``run.py --features DIR`` wrote under ``directory``/<dataset>/, as one table.

    Columns: those the processor exported (invisible Z': every variable of
    :data:`selections.zprime_variables.VARIABLES`, ``weight``, ``mzp_true_gev``; scalar: the BDT
    features and labels), ``dataset`` (categorical) and ``event_index``, the position of the
    event among its dataset's exported events in (file, entry) order, whose parity defines the
    training and validation halves of the invisible-Z' study. ``required`` columns must be
    there (ValueError naming the missing ones).
    """
    directory = Path(directory)
    datasets = sorted(p for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []
    frames = []
    for d in datasets:
        files = sorted(d.glob("*.parquet"), key=_chunk_key)
        if not files:
            continue
        _check_chunks(d.name, files)
        table = pa.concat_tables([pq.read_table(f) for f in files])
        frame = table.drop_columns(["dataset"]).to_pandas()
        frame["dataset"] = d.name
        frame["event_index"] = np.arange(len(frame), dtype=np.int64)
        frames.append(frame)
    if not frames:
        raise ValueError(f"no feature files (<dataset>/*.parquet) under {directory}")
    out = pd.concat(frames, ignore_index=True)
    out["dataset"] = out["dataset"].astype("category")
    missing = set(required) - set(out.columns)
    if missing:
        raise ValueError(f"feature files under {directory} lack the columns {sorted(missing)}")
    return out
