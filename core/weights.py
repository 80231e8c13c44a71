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


def is_complement_slice(metadata: Mapping) -> bool:
    """True for a generator slice that is the rest of its channel outside the search slices (fileset
    ``generator_slice_role`` = ``complement``, docs/fileset.md): the cut floors keep it out of every signal
    window, so it is left out wherever a window's background is estimated from a sample that has no MC event
    there (the zero-event rule of the limits, the one-event floor of B_eff in the figures of merit)."""
    return metadata.get("generator_slice_role") == "complement"
