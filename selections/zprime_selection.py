"""The ten-cut selection of the invisible-Z' search, for every mass hypothesis in one pass.

The cuts are those of the seed talk ("Z' invisible selection criteria list"), in
its order and under its names (:data:`CUTS`). Cut 1 (two oppositely charged
tracks, both muon-identified) is the mass-independent preselection of
:mod:`selections.zprime_variables`; cuts 2-10 act on the variable table and
take their values, per Z' mass hypothesis, from one table: the JSON file
:data:`DEFAULT_CUT_TABLE` (keys carry their units). The sensitivity study
rewrites that file; nothing else holds a cut value.

An event counts for hypothesis m when it passes every cut for m and its recoil
mass squared lies within ``window_n_sigma`` resolutions sigma(M^2)(m) of m^2
(sigma measured on the generated signal, see ``scripts/measure_resolution.py --analysis zprime``).
:func:`selection_codes` returns, per event and hypothesis, how far the event
got, from which every cutflow and every selected histogram follows.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numba
import numpy as np

from core import belle_detector as det
from core.beams import cms_frame
from selections.zprime_variables import COLUMN

PRESELECTION: tuple[str, ...] = ("two_opposite_charge_tracks", "two_muon_id")
"""Cut 1 of the talk in its two parts: exactly two tracks of opposite charge; both muon-identified."""

CUTS: tuple[str, ...] = (
    "vertex_fit_cl",  # 2. vertex fit of the two tracks, confidence-level cut
    "energy_conservation",  # 3. visible CM energy within what a recoil of mass m leaves
    "neutral_ecl_energy_sum",  # 4. energy sum of neutral ECL clusters
    "pt_mumu",  # 5. transverse momentum of the dimuon, dependent on m
    "mass_conservation",  # 6.1 recoil mass against everything seen stays near m
    "opening_angle",  # 6.2 opening angle between the tracks
    "recoil_polar_angle",  # 7. polar angle of the recoil in the CM frame
    "azimuth_recoil_neutral_clusters",  # 8. azimuthal difference final state - neutral clusters
    "missing_angle",  # 9. Z' missing angle: recoil into the instrumented ECL region
    "pt_projections_diagonal",  # 10. p_t*Z' projections on p_max and p_min muons
)
"""Cuts 2-10 of the talk, in order (cut 6 has the two parts 6.1 and 6.2)."""

WINDOW = "recoil_mass_window"
"""Name of the final requirement |M^2 - m^2| < n sigma(m), after all cuts."""

CUT_DEFINITIONS: dict[str, str] = {
    "vertex_fit_cl": "vertex_pvalue > vertex_pvalue_min",
    "energy_conservation": "e_visible_cms < sqrt(s) - m + visible_energy_slack_gev",
    "neutral_ecl_energy_sum": "e_neutral_lab < neutral_energy_max_gev",
    "pt_mumu": "pt_mumu_cms > pt_mumu_min_gev",
    "mass_conservation": "recoil_mass2_visible > m^2 - visible_recoil_mass2_slack_gev2",
    "opening_angle": "opening_angle_cms < opening_angle_max_rad",
    "recoil_polar_angle": "|cos_theta_recoil_cms| < cos_theta_recoil_max",
    "azimuth_recoil_neutral_clusters": "dphi_recoil_photon > dphi_recoil_photon_min_rad",
    "missing_angle": "missing_theta_lab_min_rad < theta_recoil_lab < missing_theta_lab_max_rad, not into an ECL gap",
    "pt_projections_diagonal": "pt_proj_max + pt_proj_min > pt_projection_sum_min_gev",
}
"""Each cut as a condition on the variables of :mod:`selections.zprime_variables` (kept to pass)."""

DEFAULT_CUT_TABLE = Path(__file__).with_name("zprime_cut_table.json")
"""The cut table used unless another is given."""


@dataclasses.dataclass(frozen=True)
class MassHypothesis:
    """Cut values of one Z' mass hypothesis (units in the names)."""

    mzp_gev: float
    sigma_recoil_mass2_gev2: float
    vertex_pvalue_min: float
    visible_energy_slack_gev: float
    neutral_energy_max_gev: float
    pt_mumu_min_gev: float
    visible_recoil_mass2_slack_gev2: float
    opening_angle_max_rad: float
    cos_theta_recoil_max: float
    dphi_recoil_photon_min_rad: float
    missing_theta_lab_min_rad: float
    missing_theta_lab_max_rad: float
    pt_projection_sum_min_gev: float

    @property
    def mzp_mev(self) -> int:
        """The mass in MeV, the integer label of the mass-hypothesis axes."""
        return round(self.mzp_gev * 1000)


_PARAMETERS = tuple(f.name for f in dataclasses.fields(MassHypothesis))
"""Cut values in declaration order, which is the order the kernel indexes them (p[0] ... p[12])."""


@dataclasses.dataclass(frozen=True)
class CutTable:
    """Mass hypotheses (increasing mass) and the width of the recoil-mass window in resolutions."""

    hypotheses: tuple[MassHypothesis, ...]
    window_n_sigma: float = 3.0

    def __post_init__(self):
        masses = [h.mzp_gev for h in self.hypotheses]
        if not masses:
            raise ValueError("cut table has no mass hypothesis")
        if masses != sorted(set(masses)):
            raise ValueError(f"cut table masses must be distinct and increasing, got {masses}")

    @property
    def masses_gev(self) -> np.ndarray:
        return np.array([h.mzp_gev for h in self.hypotheses])

    @property
    def masses_mev(self) -> list[int]:
        return [h.mzp_mev for h in self.hypotheses]

    def in_window(self, recoil_mass2: np.ndarray, hypothesis: MassHypothesis) -> np.ndarray:
        """Where |M^2 - m^2| < window_n_sigma sigma(m): the recoil-mass window of ``hypothesis`` (GeV^2)."""
        return np.abs(recoil_mass2 - hypothesis.mzp_gev**2) < self.window_n_sigma * hypothesis.sigma_recoil_mass2_gev2

    def in_any_window(self, recoil_mass2: np.ndarray) -> np.ndarray:
        """Where M^2 (GeV^2) is inside the window of at least one hypothesis: the only events a selection of the
        table can keep (the rest can be left out of anything that fits or evaluates one)."""
        recoil_mass2 = np.asarray(recoil_mass2)
        inside = np.zeros(recoil_mass2.shape, dtype=bool)
        for h in self.hypotheses:
            inside |= self.in_window(recoil_mass2, h)
        return inside

    def parameter_matrix(self) -> np.ndarray:
        """Cut values as a float64 array [n_hypotheses, n_parameters] in the kernel's parameter order."""
        return np.array([[getattr(h, p) for p in _PARAMETERS] for h in self.hypotheses], dtype=np.float64)

    def to_json(self) -> dict:
        return {"window_n_sigma": self.window_n_sigma, "hypotheses": [dataclasses.asdict(h) for h in self.hypotheses]}

    def interpolated(self, mzp_gev: float) -> MassHypothesis:
        """The hypothesis of a mass between the table's: every cut value and the resolution linear in the mass
        between the two neighbouring hypotheses (GeV); a mass of the table gives its own hypothesis."""
        masses = self.masses_gev
        if not masses[0] <= mzp_gev <= masses[-1]:
            raise ValueError(f"mass {mzp_gev} GeV is outside the cut table's {masses[0]:g}-{masses[-1]:g} GeV")
        values = {p: float(np.interp(mzp_gev, masses, [getattr(h, p) for h in self.hypotheses])) for p in _PARAMETERS[1:]}
        return MassHypothesis(mzp_gev=float(mzp_gev), **values)

    def with_masses(self, masses_gev) -> CutTable:
        """This table with hypotheses added at ``masses_gev`` (interpolated, :meth:`interpolated`), in mass order."""
        known = {h.mzp_gev: h for h in self.hypotheses}
        extra = {float(m): self.interpolated(float(m)) for m in masses_gev if float(m) not in known}
        return CutTable(tuple(sorted({**known, **extra}.values(), key=lambda h: h.mzp_gev)), self.window_n_sigma)


def load_cut_table(path: str | os.PathLike = DEFAULT_CUT_TABLE) -> CutTable:
    """Read a cut table JSON file; a missing or unknown key is a ValueError naming it and the file."""
    path = Path(path)
    raw = json.loads(path.read_text())
    hypotheses = []
    for i, row in enumerate(raw.get("hypotheses", [])):
        missing = set(_PARAMETERS) - set(row)
        unknown = set(row) - set(_PARAMETERS)
        if missing or unknown:
            raise ValueError(f"{path}: hypothesis {i}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
        hypotheses.append(MassHypothesis(**{k: float(row[k]) for k in _PARAMETERS}))
    return CutTable(tuple(hypotheses), float(raw.get("window_n_sigma", 3.0)))


# ----------------------------------------------------------------------------------
# The kernel: per (event, hypothesis) the number of requirements passed, in order.
# codes[h, i] for hypothesis h and event i:
# code = j (0 <= j < len(CUTS)) : failed cut CUTS[j]
# code = len(CUTS)              : passed every cut, M^2 outside the window
# code = len(CUTS) + 1          : passed every cut, M^2 inside the window (selected)

N_CUTS = len(CUTS)
CODE_ALL_CUTS = N_CUTS
CODE_IN_WINDOW = N_CUTS + 1

_ECL_MIN_RAD = det.ECL_REGIONS_RAD[0][0]
_ECL_MAX_RAD = det.ECL_REGIONS_RAD[-1][1]


@numba.njit(cache=True)
def _codes_kernel(values, params, n_sigma, sqrt_s, cols, out):  # pragma: no cover - jitted
    (
        c_m2, c_pval, c_evis, c_eneu, c_pt, c_m2vis, c_open, c_cos, c_dphi, c_theta, c_pmax, c_pmin,
    ) = cols  # fmt: skip
    for h in range(params.shape[0]):
        p = params[h]
        m = p[0]
        m2 = m * m
        half_window = n_sigma * p[1]
        for i in range(values.shape[1]):
            theta = values[c_theta, i]
            if not values[c_pval, i] > p[2]:
                code = 0
            elif not values[c_evis, i] < sqrt_s - m + p[3]:
                code = 1
            elif not values[c_eneu, i] < p[4]:
                code = 2
            elif not values[c_pt, i] > p[5]:
                code = 3
            elif not values[c_m2vis, i] > m2 - p[6]:
                code = 4
            elif not values[c_open, i] < p[7]:
                code = 5
            elif not abs(values[c_cos, i]) < p[8]:
                code = 6
            elif not values[c_dphi, i] > p[9]:
                code = 7
            elif not (p[10] < theta < p[11]) or (
                _ECL_MIN_RAD < theta < _ECL_MAX_RAD and not det.in_ecl_acceptance(theta)
            ):
                code = 8
            elif not values[c_pmax, i] + values[c_pmin, i] > p[12]:
                code = 9
            elif abs(values[c_m2, i] - m2) < half_window:
                code = 11
            else:
                code = 10
            out[h, i] = code


_KERNEL_COLUMNS = tuple(
    COLUMN[name]
    for name in (
        "recoil_mass2", "vertex_pvalue", "e_visible_cms", "e_neutral_lab", "pt_mumu_cms", "recoil_mass2_visible",
        "opening_angle_cms", "cos_theta_recoil_cms", "dphi_recoil_photon", "theta_recoil_lab", "pt_proj_max",
        "pt_proj_min",
    )
)  # fmt: skip


def selection_codes(variables: np.ndarray, table: CutTable) -> np.ndarray:
    """How far each preselected event gets under each hypothesis: int8 array [n_hypotheses, n_events].

    ``variables`` is the table of :func:`selections.zprime_variables.dimuon_event_variables`.
    A code j < len(CUTS) means the event fails ``CUTS[j]`` (and passed the cuts before it);
    :data:`CODE_ALL_CUTS` means it passes every cut but lies outside the recoil-mass window;
    :data:`CODE_IN_WINDOW` means it is selected for that hypothesis.
    """
    out = np.empty((len(table.hypotheses), variables.shape[1]), dtype=np.int8)
    sqrt_s = cms_frame()[0]
    _codes_kernel(variables, table.parameter_matrix(), table.window_n_sigma, sqrt_s, _KERNEL_COLUMNS, out)
    return out


def cutflow_from_codes(codes: np.ndarray) -> np.ndarray:
    """Events remaining after each requirement, per hypothesis: int64 [n_hypotheses, len(CUTS) + 1].

    Column j < len(CUTS) counts events passing CUTS[0..j]; the last column counts those
    also inside the recoil-mass window.
    """
    n_hyp = codes.shape[0]
    counts = np.zeros((n_hyp, CODE_IN_WINDOW + 1), dtype=np.int64)
    for h in range(n_hyp):
        counts[h] = np.bincount(codes[h], minlength=CODE_IN_WINDOW + 1)
    # events with code > j passed requirement j
    return counts[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]


__all__ = [
    "CUTS",
    "CUT_DEFINITIONS",
    "CODE_ALL_CUTS",
    "CODE_IN_WINDOW",
    "CutTable",
    "DEFAULT_CUT_TABLE",
    "MassHypothesis",
    "PRESELECTION",
    "WINDOW",
    "cutflow_from_codes",
    "load_cut_table",
    "selection_codes",
]
