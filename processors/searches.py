"""The registry of searches: ``--analysis`` name -> :class:`processors.search.Search`."""

from __future__ import annotations

from processors import invisible_zprime, leptophilic_scalar, visible_zprime
from processors.search import Search

SEARCHES: dict[str, Search] = {s.name: s for s in (invisible_zprime.SEARCH, visible_zprime.SEARCH, leptophilic_scalar.SEARCH)}
"""Every search, by its ``--analysis`` name; the first is the default."""
DEFAULT_SEARCH = "zprime"

LEGACY_HYPOTHESIS_CUTFLOWS: dict[str, tuple[str, ...]] = {}
"""Per-hypothesis keys of outputs written before ``cutflow_hypotheses`` -> their window names, from the processors."""
for _search in SEARCHES.values():
    _key = _search.processor.LEGACY_HYPOTHESIS_KEY
    LEGACY_HYPOTHESIS_CUTFLOWS[_key] = (*LEGACY_HYPOTHESIS_CUTFLOWS.get(_key, ()), _search.processor.LEGACY_WINDOW)
