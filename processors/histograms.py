"""Histogram declarations: each histogram is defined once here; ``make_*`` return fresh objects."""

from __future__ import annotations

import hist

RECOIL_MASS2_AXIS = dict(bins=240, start=-4.0, stop=116.0, name="mrecoil2", label=r"$M^2_{\mathrm{recoil}}$ [GeV$^2$]")


def make_recoil_mass2() -> hist.Hist:
    """Recoil mass squared of the dimuon pair (interfaces.md §4), weighted."""
    return hist.Hist(hist.axis.Regular(**RECOIL_MASS2_AXIS), storage=hist.storage.Weight())
