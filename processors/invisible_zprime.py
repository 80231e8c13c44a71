"""The invisible-Z' processor: Belle ntuple chunks -> cutflow and recoil-mass histograms.

Output per chunk (interfaces.md §4): ``{dataset: {"cutflow": {...}, "recoil_mass2": Hist}}``.
Accumulators merge with ``+`` (coffea's accumulate), so chunks, files and workers
add up to the same result however the work is split.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
from coffea import processor

from processors.histograms import make_recoil_mass2
from selections import constants as c
from selections.cuts import both_muon_identified, two_opposite_charge_tracks
from selections.kinematics import four_momenta_lab, recoil_mass_squared

BRANCHES = ("nTrack", "Track_px", "Track_py", "Track_pz", "Track_charge", "Track_muonID")


def event_weight(metadata: dict, lumi_fb: float) -> float:
    """Per-event weight xsec * lumi / n_generated for MC (xsec in pb, lumi in fb^-1); 1 for data."""
    if "xsec_pb" not in metadata:
        return 1.0
    return metadata["xsec_pb"] * lumi_fb * 1000.0 / metadata["n_generated"]


class InvisibleZPrimeProcessor(processor.ProcessorABC):
    """Dimuon recoil analysis; configuration is frozen at construction, ``process`` keeps no state."""

    def __init__(self, lumi_fb: float):
        self.lumi_fb = float(lumi_fb)

    def process(self, events):
        dataset = events.metadata["dataset"]
        pair = two_opposite_charge_tracks(events.nTrack, events.Track_charge)
        muons = pair & both_muon_identified(events.Track_muonID)

        sel = events[muons]
        p4 = four_momenta_lab(_pair(sel.Track_px), _pair(sel.Track_py), _pair(sel.Track_pz), c.MUON_MASS_GEV)
        m2 = recoil_mass_squared(p4.sum(axis=1))
        h = make_recoil_mass2()
        h.fill(mrecoil2=m2, weight=np.full(len(m2), event_weight(events.metadata, self.lumi_fb)))
        cutflow = {"all": len(events), "two_opposite_charge_tracks": int(pair.sum()), "two_muon_id": int(muons.sum())}
        return {dataset: {"cutflow": cutflow, "recoil_mass2": h}}

    def postprocess(self, accumulator):
        return accumulator


def _pair(jagged: ak.Array) -> np.ndarray:
    """A track field of two-track events as a dense [n, 2] float64 array."""
    return ak.to_numpy(ak.flatten(jagged, axis=1)).astype(np.float64).reshape(-1, 2)
