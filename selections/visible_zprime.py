"""Per-event variables and selection of the visible-Z' search (e+e- -> mu+ mu- Z', Z' -> mu+ mu-).

:func:`four_muon_event_variables` reads the flat track buffers of the ntuple
(docs/ntuple-format.md) once, in one fused numba pass, and for every event with four
tracks of zero net charge fills one column of :data:`VARIABLES`: the total CM
energy and momentum of the four tracks (muon mass hypothesis), the number of
muon-identified tracks, the recoil mass squared against the four muons, and the
reduced mass

    m_R = sqrt(m_mumu^2 - 4 m_mu^2)   (GeV)

of each of the four opposite-sign pairs. With two mu- (a, b, in track order) and
two mu+ (c, d) there are exactly two pairings, and :data:`PAIRS` orders the four
pairs as pairing 0 = {(a, c), (b, d)}, pairing 1 = {(a, d), (b, c)}. The tracks of
each pair are also returned as a bit mask over the event's four tracks, so that a
generator truth convention can be compared with the choice made here.

Selection stages (:data:`STAGES`, the cutflow of the processor): four tracks, zero
net charge, at least :data:`MIN_IDENTIFIED_MUONS` tracks with muonID > ``PID_CUT``,
and |E*_4mu - sqrt(s)| < :data:`TOTAL_ENERGY_WINDOW_GEV` (no energy escapes: the
signal and the background are both mu+ mu- mu+ mu-).

Pairing rule (:func:`chosen_pair`): for a mass hypothesis m the Z' candidate is the
opposite-sign pair whose m_R is closest to m_R(m) = sqrt(m^2 - 4 m_mu^2); its
pairing partner is the recoiling pair. The event counts for m when that m_R lies
within +-k sigma(m_R) of m_R(m) (:func:`window_codes`), with sigma(m_R) the
resolution measured on signal (``scripts/measure_resolution.py --analysis visible --write``,
stored in :data:`DEFAULT_RESOLUTION_TABLE`). An event therefore counts once per
hypothesis at most, whichever of its pairs is near m.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from core import belle_detector as det
from core import constants as c
from core.beams import cms_frame
from selections.flat_buffers import check_counter
from selections.kinematics import energy, invariant_mass_squared, lorentz_transform, recoil_mass_squared

VARIABLES: tuple[str, ...] = (
    "e_total_cms",
    "p_total_cms",
    "recoil_mass2",
    "n_muon_id",
    "mr_pair0",
    "mr_pair1",
    "mr_pair2",
    "mr_pair3",
)
"""Rows of the variable table: total CM energy (GeV) and momentum (GeV) of the four tracks, recoil mass
squared against them (GeV^2), number of muon-identified tracks, and m_R (GeV) of the pairs of :data:`PAIRS`."""

COLUMN = {name: i for i, name in enumerate(VARIABLES)}
"""Row index of each variable."""

PAIRS: tuple[tuple[int, int], ...] = ((0, 2), (1, 3), (0, 3), (1, 2))
"""The four opposite-sign pairs as (mu- index, mu+ index) into (a, b, c, d) = (first mu-, second mu-,
first mu+, second mu+) in track order. Pairs 0 and 1 form pairing 0, pairs 2 and 3 pairing 1."""
PAIR_PARTNER = np.array([1, 0, 3, 2], dtype=np.int64)
"""The other pair of the same pairing, for each pair of :data:`PAIRS`."""
_PAIR_MINUS = np.array([p[0] for p in PAIRS], dtype=np.int64)
_PAIR_PLUS = np.array([p[1] - 2 for p in PAIRS], dtype=np.int64)
MR_ROWS = np.array([COLUMN[f"mr_pair{k}"] for k in range(len(PAIRS))], dtype=np.int64)
"""Rows of the four m_R values in the variable table."""

STAGES: tuple[str, ...] = ("four_tracks", "zero_net_charge", "muon_id", "total_energy")
"""Preselection stages in order (the cutflow after ``all``)."""
STAGE_NONE, STAGE_FOUR_TRACKS, STAGE_ZERO_NET_CHARGE, STAGE_MUON_ID, STAGE_TOTAL_ENERGY = 0, 1, 2, 3, 4
"""Values of the per-event stage: the last stage of :data:`STAGES` the event passed (0: none)."""

MIN_IDENTIFIED_MUONS = 2
"""Tracks of the four that must pass muonID > PID_CUT. Above m_Z' ~ 8 GeV the two recoiling muons share
less than 2.5 GeV and mostly stay below the KLM momentum threshold (0.6-0.8 GeV): on 20k generated events,
requiring 3 (4) identified muons keeps 0.53 (0.10) of the 9 GeV signal and nothing at 10 GeV; 2 keeps 0.70 and 0.48
(``scripts/validate_visible_signal.py``). With mu+ mu- mu+ mu- as the one background, zero net charge and the energy balance keep the
sample pure."""
TOTAL_ENERGY_WINDOW_GEV = 0.5
"""|E*_4mu - sqrt(s)| must be below this, GeV (the four-track energy resolution is ~0.03-0.05 GeV;
the window keeps events with soft ISR or FSR photons)."""
WINDOW_HALF_WIDTH_SIGMA = 2.0
"""Half-width of the m_R window of a mass hypothesis, in units of the measured sigma(m_R)."""

DEFAULT_RESOLUTION_TABLE = Path(__file__).with_name("visible_mr_resolution.json")
"""sigma(m_R) per Z' mass, written by ``scripts/measure_resolution.py --analysis visible --write``."""

CODE_NOT_SELECTED, CODE_PRESELECTED, CODE_IN_WINDOW = 0, 1, 2
MR_WINDOW = "mr_window"
"""Name of the m_R window requirement (the last entry of a hypothesis' cutflow in ``cutflow_mzp``)."""
"""Per (hypothesis, event) codes of :func:`window_codes`."""

_NVAR = len(VARIABLES)
_E_TOTAL_CMS, _P_TOTAL_CMS, _RECOIL_MASS2, _N_MUON_ID = 0, 1, 2, 3
_MR0 = 4


def reduced_mass_gev(m_mumu_gev):
    """m_R = sqrt(m_mumu^2 - 4 m_mu^2) in GeV (0 below threshold); numbers or numpy arrays."""
    m = np.asarray(m_mumu_gev, dtype=float)
    return np.sqrt(np.clip(m * m - 4.0 * c.MUON_MASS_GEV**2, 0.0, None))


def mass_from_reduced_mass_gev(mr_gev):
    """The dimuon mass (GeV) of a reduced mass m_R (GeV): the inverse of :func:`reduced_mass_gev`."""
    mr = np.asarray(mr_gev, dtype=float)
    return np.sqrt(mr * mr + 4.0 * c.MUON_MASS_GEV**2)


@numba.njit(cache=True)
def _stage_kernel(n_track, t_charge, t_muid, pid_cut, min_muon_id, stage):  # pragma: no cover - jitted
    """Charge and muon-ID stages of every event; return the number of events with four tracks of zero charge."""
    n_sel = 0
    t0 = 0
    for i in range(n_track.shape[0]):
        nt = n_track[i]
        stage[i] = STAGE_NONE
        if nt == 4:
            stage[i] = STAGE_FOUR_TRACKS
            q = 0
            n_plus = 0
            n_id = 0
            for t in range(t0, t0 + 4):
                q += t_charge[t]
                n_plus += 1 if t_charge[t] > 0 else 0
                n_id += 1 if t_muid[t] > pid_cut else 0
            if q == 0 and n_plus == 2:
                stage[i] = STAGE_ZERO_NET_CHARGE
                n_sel += 1
                if n_id >= min_muon_id:
                    stage[i] = STAGE_MUON_ID
        t0 += nt
    return n_sel


@numba.njit(cache=True)
def _variables_kernel(
    stage, n_track, t_px, t_py, t_pz, t_charge, t_muid, pid_cut, sqrt_s, to_cms, muon_mass, energy_window,
    out, pair_bits, rows,
):  # fmt: skip  # pragma: no cover - jitted
    """One column of ``out`` per event at or beyond :data:`STAGE_ZERO_NET_CHARGE`; promotes the stage of
    muon-identified events that conserve energy to :data:`STAGE_TOTAL_ENERGY`."""
    n = 0
    t0 = 0
    e4 = np.empty(4)
    x4 = np.empty(4)
    y4 = np.empty(4)
    z4 = np.empty(4)
    minus = np.empty(2, dtype=np.int64)
    plus = np.empty(2, dtype=np.int64)
    for i in range(stage.shape[0]):
        nt = n_track[i]
        if stage[i] >= STAGE_ZERO_NET_CHARGE:
            k_minus = 0
            k_plus = 0
            n_id = 0
            e_tot, x_tot, y_tot, z_tot = 0.0, 0.0, 0.0, 0.0
            for j in range(4):
                t = t0 + j
                # float32 buffers: convert so that the arithmetic is float64
                px, py, pz = np.float64(t_px[t]), np.float64(t_py[t]), np.float64(t_pz[t])
                e, x, y, z = lorentz_transform(energy(px, py, pz, muon_mass), px, py, pz, to_cms)
                e4[j], x4[j], y4[j], z4[j] = e, x, y, z
                e_tot += e
                x_tot += x
                y_tot += y
                z_tot += z
                n_id += 1 if t_muid[t] > pid_cut else 0
                if t_charge[t] < 0:
                    minus[k_minus] = j
                    k_minus += 1
                else:
                    plus[k_plus] = j
                    k_plus += 1
            out[_E_TOTAL_CMS, n] = e_tot
            out[_P_TOTAL_CMS, n] = math.sqrt(x_tot * x_tot + y_tot * y_tot + z_tot * z_tot)
            out[_RECOIL_MASS2, n] = recoil_mass_squared(sqrt_s, e_tot, x_tot, y_tot, z_tot)
            out[_N_MUON_ID, n] = n_id
            for k in range(4):
                a = minus[_PAIR_MINUS[k]]
                b = plus[_PAIR_PLUS[k]]
                m2 = invariant_mass_squared(e4[a] + e4[b], x4[a] + x4[b], y4[a] + y4[b], z4[a] + z4[b])
                out[_MR0 + k, n] = math.sqrt(max(m2 - 4.0 * muon_mass * muon_mass, 0.0))
                pair_bits[k, n] = (1 << a) | (1 << b)
            rows[n] = i
            if stage[i] == STAGE_MUON_ID and abs(e_tot - sqrt_s) < energy_window:
                stage[i] = STAGE_TOTAL_ENERGY
            n += 1
        t0 += nt


def four_muon_event_variables(
    n_track: np.ndarray,
    tracks: dict[str, np.ndarray],
    pid_cut: float = det.PID_CUT,
    min_muon_id: int = MIN_IDENTIFIED_MUONS,
    energy_window_gev: float = TOTAL_ENERGY_WINDOW_GEV,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stage of every event and the variables of the events with four tracks of zero net charge.

    ``n_track`` is the per-event track counter and ``tracks`` the flat buffers ``px, py, pz``
    (GeV, lab), ``charge`` and ``muonID`` of all events concatenated. Returns

    - ``stage`` (int8 per event, :data:`STAGE_NONE` .. :data:`STAGE_TOTAL_ENERGY`),
    - ``variables`` float64 ``[len(VARIABLES), n]`` for the n events with stage >= :data:`STAGE_ZERO_NET_CHARGE`
      (columns in event order),
    - ``pair_bits`` int8 ``[4, n]``: bit j set when track j of the event (0-3, file order) is in pair k,
    - ``rows`` int64 ``[n]``: the event index of each column.

    Raises ValueError when the counter disagrees with the length of the flat buffers.
    """
    n_track = np.ascontiguousarray(n_track)
    check_counter(n_track, {name: tracks[name] for name in ("px", "py", "pz", "charge", "muonID")}, "nTrack")
    stage = np.empty(len(n_track), dtype=np.int8)
    n_sel = _stage_kernel(n_track, tracks["charge"], tracks["muonID"], pid_cut, int(min_muon_id), stage)
    sqrt_s, to_cms, _ = cms_frame()
    out = np.empty((_NVAR, n_sel))
    pair_bits = np.empty((len(PAIRS), n_sel), dtype=np.int8)
    rows = np.empty(n_sel, dtype=np.int64)
    _variables_kernel(
        stage, n_track, tracks["px"], tracks["py"], tracks["pz"], tracks["charge"], tracks["muonID"], pid_cut,
        sqrt_s, to_cms, c.MUON_MASS_GEV, float(energy_window_gev), out, pair_bits, rows,
    )  # fmt: skip
    return stage, out, pair_bits, rows


def chosen_pair(variables: np.ndarray, mr_hypotheses_gev: np.ndarray) -> np.ndarray:
    """Index (into :data:`PAIRS`) of the Z' candidate pair per (hypothesis, event): m_R closest to the hypothesis.

    ``variables`` is the table of :func:`four_muon_event_variables`; ``mr_hypotheses_gev`` the m_R of each
    hypothesis (GeV). Returns int64 ``[n_hypotheses, n_events]``.
    """
    mr = variables[MR_ROWS]  # [4, n]
    distance = np.abs(mr[None, :, :] - np.asarray(mr_hypotheses_gev, dtype=float)[:, None, None])
    return np.argmin(distance, axis=1)


@dataclass(frozen=True)
class ResolutionTable:
    """sigma(m_R) in GeV measured on signal at Z' masses ``mzp_gev`` (GeV), and the window half-width in sigma."""

    mzp_gev: np.ndarray
    sigma_mr_gev: np.ndarray
    window_half_width_sigma: float = WINDOW_HALF_WIDTH_SIGMA

    @property
    def masses_mev(self) -> list[int]:
        """The Z' masses of the table (those with signal samples), MeV: the hypotheses of the processor."""
        return [round(1000 * float(m)) for m in self.mzp_gev]

    def sigma_at(self, mzp_gev) -> np.ndarray:
        """sigma(m_R) at the masses ``mzp_gev`` (GeV): interpolated linearly in mass, constant beyond the ends."""
        return np.interp(np.asarray(mzp_gev, dtype=float), self.mzp_gev, self.sigma_mr_gev)

    def to_json(self) -> dict:
        return {
            "window_half_width_sigma": self.window_half_width_sigma,
            "resolution": [
                {"mzp_gev": float(m), "sigma_mr_gev": float(s)} for m, s in zip(self.mzp_gev, self.sigma_mr_gev)
            ],
        }


def load_resolution_table(path: str | os.PathLike = DEFAULT_RESOLUTION_TABLE) -> ResolutionTable:
    """Read a sigma(m_R) table (keys carry units); raises ValueError naming what is wrong."""
    raw = json.loads(Path(path).read_text())
    rows = raw.get("resolution") if isinstance(raw, dict) else None
    if not rows:
        raise ValueError(f"{path}: no 'resolution' rows")
    masses = np.array([float(r["mzp_gev"]) for r in rows])
    sigmas = np.array([float(r["sigma_mr_gev"]) for r in rows])
    if np.any(np.diff(masses) <= 0) or np.any(sigmas <= 0):
        raise ValueError(f"{path}: masses must increase and every sigma_mr_gev be positive")
    return ResolutionTable(masses, sigmas, float(raw.get("window_half_width_sigma", WINDOW_HALF_WIDTH_SIGMA)))


def window_codes(
    stage_of_column: np.ndarray, variables: np.ndarray, mzp_gev: np.ndarray, resolution: ResolutionTable
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, chosen) per (hypothesis, column) for Z' masses ``mzp_gev`` (GeV).

    ``codes`` is :data:`CODE_IN_WINDOW` when the column passed every stage and its chosen pair's m_R lies
    within +-k sigma(m_R) of m_R(m), :data:`CODE_PRESELECTED` when it passed every stage only, else
    :data:`CODE_NOT_SELECTED`; ``chosen`` is the pair index of :func:`chosen_pair`.
    """
    mr_hyp = reduced_mass_gev(mzp_gev)
    chosen = chosen_pair(variables, mr_hyp)
    mr = variables[MR_ROWS]
    mr_chosen = np.take_along_axis(mr, chosen, axis=0) if chosen.size else np.empty(chosen.shape)
    half_width = resolution.window_half_width_sigma * resolution.sigma_at(mzp_gev)
    preselected = stage_of_column == STAGE_TOTAL_ENERGY
    in_window = np.abs(mr_chosen - mr_hyp[:, None]) < half_width[:, None]
    codes = np.where(preselected[None, :], np.where(in_window, CODE_IN_WINDOW, CODE_PRESELECTED), CODE_NOT_SELECTED)
    return codes.astype(np.int8), chosen


# --- the fine m_R scan ----------------------------------------------------------------------------

SCAN_STEP_SIGMA = 2.0
"""Spacing of neighbouring hypotheses of the m_R scan, in units of sigma(m_R) (windows of +-2 sigma overlap by half)."""
SCAN_MASS_RANGE_GEV = (0.212, 10.0)
"""First and last Z' mass of the scan, GeV (the dimuon-mass range of the Belle search)."""


def scan_masses_gev(
    resolution: ResolutionTable,
    step_sigma: float = SCAN_STEP_SIGMA,
    mass_range_gev: tuple[float, float] = SCAN_MASS_RANGE_GEV,
) -> np.ndarray:
    """Z' masses (GeV) of the m_R scan: m_R steps of ``step_sigma`` x sigma(m_R) from the first to the last mass."""
    m_lo, m_hi = mass_range_gev
    if not 2.0 * c.MUON_MASS_GEV < m_lo < m_hi:
        raise ValueError(f"scan range {mass_range_gev} GeV must start above 2 m_mu and increase")
    masses = [m_lo]
    while masses[-1] < m_hi:
        mr = float(reduced_mass_gev(masses[-1])) + step_sigma * float(resolution.sigma_at(masses[-1]))
        masses.append(float(mass_from_reduced_mass_gev(mr)))
    masses[-1] = m_hi
    return np.array(masses)


@numba.njit(cache=True)
def _scan_kernel(mr, selected, window_lo, window_hi, hyp_out, col_out):  # pragma: no cover - jitted
    """(hypothesis, column) of every selected column with a pair inside a window; returns how many.

    ``window_lo`` and ``window_hi`` increase with the hypothesis; a column counts once per hypothesis.
    Returns -1 when the outputs are too short.
    """
    n_hyp = len(window_lo)
    last_counted = np.full(n_hyp, -1, dtype=np.int64)
    k = 0
    for col in range(mr.shape[1]):
        if not selected[col]:
            continue
        for j in range(mr.shape[0]):
            x = mr[j, col]
            # hypotheses with window_hi > x start at h0; those with window_lo < x end before h1
            h0 = np.searchsorted(window_hi, x, side="right")
            h1 = np.searchsorted(window_lo, x, side="left")
            for h in range(h0, h1):
                if last_counted[h] != col:
                    if k == len(hyp_out):
                        return -1
                    last_counted[h] = col
                    hyp_out[k] = h
                    col_out[k] = col
                    k += 1
    return k


def scan_window_hits(
    variables: np.ndarray, selected: np.ndarray, mzp_gev: np.ndarray, resolution: ResolutionTable
) -> tuple[np.ndarray, np.ndarray]:
    """(hypothesis index, column) pairs of the m_R scan: the selected columns with a pair in the window of ``mzp_gev``.

    A column with a pair inside the window of m is exactly a column whose chosen pair for m (closest m_R)
    is inside it, so this counts what :func:`window_codes` counts, for many hypotheses at once.
    """
    mr_hyp = reduced_mass_gev(mzp_gev)
    half_width = resolution.window_half_width_sigma * resolution.sigma_at(mzp_gev)
    lo, hi = np.ascontiguousarray(mr_hyp - half_width), np.ascontiguousarray(mr_hyp + half_width)
    if np.any(np.diff(lo) < 0) or np.any(np.diff(hi) < 0):
        raise ValueError("scan windows must move up with the mass")
    mr = np.ascontiguousarray(variables[MR_ROWS])
    capacity = int(mr.shape[1]) * mr.shape[0] * 8 + 16
    hyp, col = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
    k = _scan_kernel(mr, np.ascontiguousarray(selected), lo, hi, hyp, col)
    if k < 0:  # windows overlapping more than 8 deep: count again with room for every hypothesis
        capacity = int(mr.shape[1]) * len(lo) + 16
        hyp, col = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
        k = _scan_kernel(mr, np.ascontiguousarray(selected), lo, hi, hyp, col)
    return hyp[:k], col[:k]
