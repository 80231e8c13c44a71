"""Per-event Monte Carlo weights (docs/conventions.md, "Weights")."""

from __future__ import annotations

from collections.abc import Mapping

PB_PER_FB_INVERSE = 1000.0
"""1 fb^-1 = 1000 pb^-1: events = xsec [pb] x lumi [fb^-1] x 1000."""


def event_weight(metadata: Mapping, lumi_fb: float) -> float:
    """Weight of one generated event, xsec_pb * lumi_fb * 1000 / n_generated, for MC; 1 for data.

    A dataset is data when its metadata has no ``xsec_pb``. ``n_generated`` counts every
    generated event, written or not, so the weight stays right under a generator skim.
    """
    if "xsec_pb" not in metadata:
        return 1.0
    return metadata["xsec_pb"] * lumi_fb * PB_PER_FB_INVERSE / metadata["n_generated"]


def is_data(metadata: Mapping) -> bool:
    """True for a dataset of recorded data (no cross section in its metadata)."""
    return "xsec_pb" not in metadata
