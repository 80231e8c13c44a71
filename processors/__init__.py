"""Coffea processors that turn Belle ntuples into histograms: one per search, one contract.

- :mod:`processors.base`: the processor base of every search, the output contract
  (``cutflow``, ``cutflow_hypotheses`` ending in ``window``, docs/output.md) and the feature writer;
- :mod:`processors.search` and :mod:`processors.searches`: a search as a declaration, and the registry
  ``run.py`` and the study pipeline use;
- the searches: :mod:`processors.invisible_zprime`, :mod:`processors.visible_zprime`,
  :mod:`processors.leptophilic_scalar`;
- :mod:`processors.histograms` (every histogram declared once), :mod:`processors.summary` (the terminal
  summary), :mod:`processors.plots` (figures and cutflow CSVs), :mod:`processors.compare` (comparing outputs).
"""
