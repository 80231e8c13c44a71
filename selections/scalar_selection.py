"""Cut values and mass windows of the leptophilic-scalar search (e+e- -> tau+ tau- phi_L, phi_L -> l+ l-).

The one home of every cut value of the scalar analysis. The preselection and the
rectangular cut are those of the seed talk ("The leptophilic scalar search @ Belle"):

1. exactly four tracks;
2. every track with |dr| < 1 cm (transverse distance from the IP);
3. every track with |dz| < 5 cm (longitudinal distance from the IP);
4. zero net charge;
5. at least one track identified as a muon or an electron;
6. a phi_L candidate: an opposite-sign pair of two electrons or two muons
   (the reconstruction of :mod:`selections.scalar_variables`);

then the rectangular cut against radiative Bhabha and mu-pair events: missing mass
in [2, 6] GeV and CM polar angle of the missing momentum in [30, 150] degrees.

A candidate counts for the mass hypothesis m when its pair flavour is the one phi_L
decays to at m (e+e- for m <= 2 m_mu, mu+mu- above; the talk's signal decay modes)
and |m_ll - m| < ``window_n_sigma`` sigma(m_ll)(m), with the pair-mass resolution
sigma measured on the generated signal (``scripts/measure_resolution.py --analysis scalar --write``
writes :data:`DEFAULT_WINDOW_TABLE`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np

from core import belle_detector as det
from core import constants as c
from core.scalar_model import decay_lepton_pdg

# --- preselection (the talk's five requirements + the phi_L candidate) ------------------------
N_TRACKS = 4
"""Number of tracks of a preselected event."""
TRACK_DR_MAX_CM = 1.0
"""|dr| of every track below this, cm."""
TRACK_DZ_MAX_CM = 5.0
"""|dz| of every track below this, cm."""
LEPTON_ID_CUT = det.PID_CUT
"""A track is an electron (muon) candidate when electronID (muonID) exceeds this (the larger ID wins)."""

PRESELECTION: tuple[str, ...] = (
    "four_tracks",
    "impact_parameters",
    "zero_net_charge",
    "lepton_id",
    "phi_candidate",
)
"""Preselection requirements in order: cutflow names after ``"all"``."""

# --- rectangular cut ---------------------------------------------------------------------------
MISSING_MASS_RANGE_GEV = (2.0, 6.0)
"""Missing mass window of the rectangular cut (beams minus the four tracks), GeV."""
MISSING_THETA_CMS_RANGE_RAD = (math.radians(30.0), math.radians(150.0))
"""CM polar-angle window of the missing momentum of the rectangular cut, rad (30-150 degrees)."""

RECTANGULAR_CUT: tuple[str, ...] = ("missing_mass", "missing_polar_angle_cms")
"""The two parts of the rectangular cut, in order (cutflow names after the preselection)."""

WINDOW = "pair_mass_window"
"""Name of the per-hypothesis requirement: flavour of the hypothesis and |m_ll - m| < n sigma."""

FLAVOUR_ELECTRON = c.PDG_ELECTRON
FLAVOUR_MUON = c.PDG_MUON
FLAVOUR_NAMES = {FLAVOUR_ELECTRON: "ee", FLAVOUR_MUON: "mumu"}
"""Label of each pair flavour (the PDG code of the lepton)."""

DEFAULT_WINDOW_TABLE = Path(__file__).with_name("scalar_mass_windows.json")
"""Pair-mass resolution per phi_L mass, written by ``scripts/measure_resolution.py --analysis scalar --write``."""
DEFAULT_WINDOW_N_SIGMA = 3.0


# --- event classes of the multi-class BDT (the talk's five BDT scores) -----------------------------
CLASSES: tuple[str, ...] = ("signal", "tautau", "eemumu", "qqbar", "bbbar")
"""The five classes, in the order of the classifier's output columns."""
SIGNAL_CHANNEL = "signal_ttphi"
CHANNEL_CLASS: dict[str, int] = {
    SIGNAL_CHANNEL: 0,
    "kkmc_tautau": 1,
    "aafh_mumutautau": 1,
    "aafh_eetautau": 1,
    "bhwide_ee": 2,
    "kkmc_mumu": 2,
    "aafh_eemumu": 2,
    "aafh_mumumumu": 2,
    "pythia_uds": 3,
    "pythia_charm": 3,
    "pythia_bbbar": 4,
}
"""Class index of every generated channel (tau tau and two-photon tau tau l l; e e / mu mu and their
two-photon four-lepton final states; light and charm q qbar; B Bbar)."""
NO_CLASS = -1
"""Class label of a channel outside :data:`CHANNEL_CLASS` (e.g. data)."""


def decay_flavour(mphi_gev: float) -> int:
    """PDG code of the lepton phi_L is reconstructed in at mass ``mphi_gev`` (GeV): :func:`core.scalar_model.decay_lepton_pdg`."""
    return decay_lepton_pdg(mphi_gev)


def passes_rectangular_cut(missing_mass_gev: np.ndarray, missing_theta_cms_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(passes the missing-mass part, passes both parts) of the rectangular cut, per candidate."""
    low, high = MISSING_MASS_RANGE_GEV
    mass_ok = (missing_mass_gev > low) & (missing_mass_gev < high)
    t_low, t_high = MISSING_THETA_CMS_RANGE_RAD
    angle_ok = (missing_theta_cms_rad > t_low) & (missing_theta_cms_rad < t_high)
    return mass_ok, mass_ok & angle_ok


@dataclasses.dataclass(frozen=True)
class PairMassWindow:
    """Pair-mass window of one phi_L mass hypothesis (GeV)."""

    mphi_gev: float
    sigma_pair_mass_gev: float

    @property
    def mphi_mev(self) -> int:
        """The mass in MeV, the integer label of the mass-hypothesis axes."""
        return round(self.mphi_gev * 1000)

    @property
    def flavour(self) -> int:
        return decay_flavour(self.mphi_gev)


@dataclasses.dataclass(frozen=True)
class WindowTable:
    """Mass hypotheses (increasing mass) and the half-width of the pair-mass window in resolutions."""

    windows: tuple[PairMassWindow, ...]
    window_n_sigma: float = DEFAULT_WINDOW_N_SIGMA

    def __post_init__(self):
        masses = [w.mphi_gev for w in self.windows]
        if not masses:
            raise ValueError("window table has no mass hypothesis")
        if masses != sorted(set(masses)):
            raise ValueError(f"window table masses must be distinct and increasing, got {masses}")
        if any(not w.sigma_pair_mass_gev > 0 for w in self.windows):
            raise ValueError("window table: every sigma_pair_mass_gev must be positive")

    @property
    def masses_gev(self) -> np.ndarray:
        return np.array([w.mphi_gev for w in self.windows])

    @property
    def masses_mev(self) -> list[int]:
        return [w.mphi_mev for w in self.windows]

    def in_window(self, pair_mass_gev: np.ndarray, flavour: np.ndarray, window: PairMassWindow) -> np.ndarray:
        """Where the candidate has the flavour of ``window`` and |m_ll - m| < n sigma (the one window test)."""
        half = self.window_n_sigma * window.sigma_pair_mass_gev
        return (np.asarray(flavour) == window.flavour) & (np.abs(np.asarray(pair_mass_gev) - window.mphi_gev) < half)

    def window_matrix(self, pair_mass_gev: np.ndarray, flavour: np.ndarray) -> np.ndarray:
        """Boolean [n_hypotheses, n_candidates]: :meth:`in_window` for every hypothesis."""
        return np.array([self.in_window(pair_mass_gev, flavour, w) for w in self.windows]).reshape(
            len(self.windows), len(pair_mass_gev)
        )

    def to_json(self) -> dict:
        return {"window_n_sigma": self.window_n_sigma, "windows": [dataclasses.asdict(w) for w in self.windows]}


def load_window_table(path: str | os.PathLike = DEFAULT_WINDOW_TABLE) -> WindowTable:
    """Read a window table JSON file; a missing or unknown key is a ValueError naming it and the file."""
    path = Path(path)
    raw = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(PairMassWindow)}
    windows = []
    for i, row in enumerate(raw.get("windows", [])):
        if set(row) != fields:
            raise ValueError(f"{path}: window {i}: keys {sorted(row)}, expected {sorted(fields)}")
        windows.append(PairMassWindow(**{k: float(row[k]) for k in fields}))
    return WindowTable(tuple(windows), float(raw.get("window_n_sigma", DEFAULT_WINDOW_N_SIGMA)))


__all__ = [
    "CHANNEL_CLASS",
    "CLASSES",
    "NO_CLASS",
    "SIGNAL_CHANNEL",
    "DEFAULT_WINDOW_TABLE",
    "FLAVOUR_ELECTRON",
    "FLAVOUR_MUON",
    "FLAVOUR_NAMES",
    "LEPTON_ID_CUT",
    "MISSING_MASS_RANGE_GEV",
    "MISSING_THETA_CMS_RANGE_RAD",
    "N_TRACKS",
    "PRESELECTION",
    "PairMassWindow",
    "RECTANGULAR_CUT",
    "TRACK_DR_MAX_CM",
    "TRACK_DZ_MAX_CM",
    "WINDOW",
    "WindowTable",
    "decay_flavour",
    "load_window_table",
    "passes_rectangular_cut",
]
