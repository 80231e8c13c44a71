"""Coffea processors that turn Belle ntuples into histograms, and what runs them.

:mod:`core.ntuple_schema` is the input contract (interfaces.md §1) shared
with the generator's writer and with input validation;
:mod:`processors.invisible_zprime` the processor, :mod:`processors.histograms`
its histogram declarations, :mod:`processors.plots` its figure;
:mod:`execution.checkpoints` (resumable runs) and :mod:`execution.htcondor`
(the HTCondor cluster) serve ``run.py``.
"""
