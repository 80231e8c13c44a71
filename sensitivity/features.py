"""The feature tables the processors export (``run.py --features DIR``): the one reader.

Every chunk writes ``DIR/<dataset>/<file stem>_<entry start>_<entry stop>.parquet``
(:func:`processors.base.write_chunk_parquet`). :func:`load_features` puts them back together
in (dataset, file, entry) order, so a table read here holds the events in the order the
processor saw them, whatever the chunk size or executor; the network, the cut optimisation and
the BDT all read their inputs through it (no second pass over the ROOT files).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
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


RowFilter = Callable[[pd.DataFrame], np.ndarray]
"""Rows to keep of one chunk file's table: (frame) -> bool [rows]."""


def load_features(
    directory: str | Path,
    required: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    keep_rows: RowFilter | None = None,
    datasets: Iterable[str] | None = None,
) -> pd.DataFrame:
    """All chunk files that ``run.py --features DIR`` wrote under ``directory``/<dataset>/, as one table.

    Columns: those the processor exported (invisible Z': every variable of
    :data:`selections.zprime_variables.VARIABLES`, ``weight``, ``mzp_true_gev``, ``event``; scalar: the
    BDT features and labels), ``dataset`` (categorical) and ``event_index``, the position of the
    event among its dataset's exported events in (file, entry) order. ``required`` columns must be
    there (ValueError naming the missing ones).

    For samples larger than memory, a table can be read in part, file by file, so that the whole
    never sits in memory: ``columns`` only these exported columns; ``keep_rows`` only the rows for
    which it returns True (it sees each file's columns); ``datasets`` only these datasets (a
    dataset without feature files is skipped, as always).
    """
    directory = Path(directory)
    present = sorted(p for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []
    if datasets is not None:
        wanted = set(datasets)
        present = [d for d in present if d.name in wanted]
    chunk_files = {d.name: sorted(d.glob("*.parquet"), key=_chunk_key) for d in present}
    chunk_files = {name: files for name, files in chunk_files.items() if files}
    if not chunk_files:
        raise ValueError(f"no feature files (<dataset>/*.parquet) under {directory}")
    first = next(iter(chunk_files.values()))[0]
    available = [n for n in pq.read_schema(first).names if n != "dataset"]
    missing = sorted((set(required) | set(columns or ())) - set(available))
    if missing:
        raise ValueError(f"feature files under {directory} lack the columns {missing}")
    read = [n for n in available if columns is None or n in set(columns)]
    names = pd.CategoricalDtype(sorted(chunk_files))
    frames = []
    for name, files in chunk_files.items():
        _check_chunks(name, files)
        offset = 0
        for f in files:
            frame = pq.read_table(f, columns=read).to_pandas()
            frame["dataset"] = pd.Series(name, index=frame.index, dtype=names)
            frame["event_index"] = np.arange(offset, offset + len(frame), dtype=np.int64)
            offset += len(frame)
            if keep_rows is not None:
                frame = frame.loc[np.asarray(keep_rows(frame), bool)]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)
