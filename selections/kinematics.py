"""Event kinematics of the dimuon recoil analysis (flat numpy arrays, GeV).

Frames are explicit in the names: ``_lab`` in the Belle lab frame, ``_cms`` in
the e+e- centre-of-mass frame.
"""

from __future__ import annotations

import numpy as np

from selections.beams import beam_four_momenta_lab


def four_momenta_lab(px: np.ndarray, py: np.ndarray, pz: np.ndarray, mass: float) -> np.ndarray:
    """Four-momenta [..., 4] of tracks with lab momentum components (GeV) under a mass hypothesis (GeV)."""
    p = np.stack([px, py, pz], axis=-1).astype(np.float64)
    energy = np.sqrt(np.sum(p * p, axis=-1) + mass * mass)
    return np.concatenate([energy[..., None], p], axis=-1)


def recoil_mass_squared(p4_system_lab: np.ndarray) -> np.ndarray:
    """Mass squared recoiling against a visible system, (p_beams - p_system)^2, GeV^2.

    Uses the full beam four-vectors (crossing angle included), so it equals
    s + m^2 - 2 E* sqrt(s) with E* the system's CM energy.
    """
    total = np.add(*beam_four_momenta_lab())
    recoil = total - p4_system_lab
    return recoil[..., 0] ** 2 - np.sum(recoil[..., 1:] ** 2, axis=-1)
