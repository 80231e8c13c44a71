"""The registry of searches: ``--analysis`` name -> :class:`processors.search.Search`."""

from __future__ import annotations

from processors import invisible_zprime, leptophilic_scalar, visible_zprime
from processors.search import Search

SEARCHES: dict[str, Search] = {s.name: s for s in (invisible_zprime.SEARCH, visible_zprime.SEARCH, leptophilic_scalar.SEARCH)}
"""Every search, by its ``--analysis`` name; the first is the default."""
DEFAULT_SEARCH = "zprime"
