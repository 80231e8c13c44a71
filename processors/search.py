"""A search is a declaration: processor, branches, channels, default sample, table, summary, figures.

``run.py`` and the study pipeline know nothing of a search's physics: they look the search up
in :data:`processors.searches.SEARCHES` by its ``--analysis`` name and use what it declares.
Adding a search is one module (its processor and its :class:`Search`) plus its tables, and one
line in :mod:`processors.searches`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.base import SearchProcessor


@dataclass(frozen=True)
class SearchTable:
    """The one table a search's selection reads (cuts, windows or resolutions).

    ``option`` is its ``run.py`` flag, ``metadata_key`` the key of its JSON in the output
    metadata, ``default`` the file used without the flag and ``load`` reads a file into the
    object the processor takes (raising ValueError/KeyError/OSError on a bad file).
    """

    option: str
    metadata_key: str
    default: Path
    load: Callable[[Path], Any]

    @property
    def dest(self) -> str:
        """The attribute argparse gives :attr:`option` (``--cut-table`` -> ``cut_table``)."""
        return self.option.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Search:
    """Everything ``run.py`` and the study pipeline need to know about one search."""

    name: str
    """The ``--analysis`` name."""
    title: str
    processor: type[SearchProcessor]
    branches: tuple[str, ...]
    """The branches the processor reads (bulk-preloaded per chunk)."""
    channels: tuple[str, ...]
    """Fileset channels the search accepts (core.channels names)."""
    output_name: str
    """File name of the output pickle under ``results/``."""
    table: SearchTable

    @property
    def exports_features(self) -> bool:
        return self.processor.EXPORTS_FEATURES

    def load_table(self, path: Path | None) -> Any:
        """The search's table from ``path`` (default: :attr:`SearchTable.default`); ValueError naming the file when bad."""
        path = Path(path) if path is not None else self.table.default
        try:
            return self.table.load(path)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{self.table.option.lstrip('-').replace('-', ' ')} {path}: {err}") from None

    def default_sample(self) -> Path:
        """The fileset of the search's default sample (``belle_mc.catalog.SEARCH_SAMPLES``), made first if missing."""
        from belle_mc.catalog import ensure_search_sample

        return ensure_search_sample(self.name)

    def figures(self, result: dict, output: Path, images: bool = True) -> list[Path]:
        """Write the search's figures (unless ``images`` is False) and cutflow CSVs next to the output pickle
        ``output``; return their paths."""
        from processors.plots import search_figures

        return search_figures(result, output.with_suffix(""), self.name, images)

    def make_processor(self, lumi_fb: float, table: Any, features_dir: Path | None = None) -> SearchProcessor:
        """The search's processor for a run."""
        return self.processor(lumi_fb, table, features_dir=features_dir)
