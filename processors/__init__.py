"""Coffea processors that turn Belle ntuples into histograms.

:mod:`processors.ntuple_schema` is the input contract (interfaces.md §1) shared
with the generator's writer and with input validation.
"""
