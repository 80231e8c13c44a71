"""Cuts of the invisible-Z' search as pure functions of awkward arrays and cut values."""

from __future__ import annotations

import awkward as ak
import numpy as np

from selections import belle_detector as det


def two_opposite_charge_tracks(n_track: ak.Array, charge: ak.Array) -> np.ndarray:
    """Exactly two tracks, of opposite charge (cut 1 of the talk, charge part)."""
    two = ak.to_numpy(n_track == 2)
    net = ak.to_numpy(ak.fill_none(ak.sum(charge, axis=1), 1))
    return two & (net == 0)


def both_muon_identified(muon_id: ak.Array, pid_cut: float = det.PID_CUT) -> np.ndarray:
    """Every track passes muonID > ``pid_cut`` (cut 1 of the talk, identification part)."""
    return ak.to_numpy(ak.all(muon_id > pid_cut, axis=1))
