"""Mass resolutions of the three searches, measured one way from the processor's feature export.

One definition of the width for every search: sigma is 1.4826 times the median absolute
deviation from the median of the reconstructed mass variable of signal events generated at one
mass (:func:`robust_sigma`): a Gaussian's sigma for a Gaussian peak, and robust both against the
radiative tail (invisible Z') and against the candidates that pair a signal lepton with a tau
daughter (scalar: up to half of them at low mass, where half the central 68% interval measures
the combinatorics, 0.5-0.9 GeV, instead of the 3 MeV peak). The variable is the one each
selection windows on:

=========  ====================  ==========================================  ==================================
search     signal channel        variable (feature column)                   table entry it sets
=========  ====================  ==========================================  ==================================
zprime     ``signal``            recoil M^2 (``recoil_mass2``), GeV^2        ``sigma_recoil_mass2_gev2``
visible    ``signal_visible``    m_R of the pair chosen at the true mass     ``sigma_mr_gev``
                                 (``mr_chosen_true_gev``), GeV
scalar     ``signal_ttphi``      m_ll of candidates of the decay flavour     ``sigma_pair_mass_gev``
                                 of that mass (``pair_mass``), GeV
=========  ====================  ==========================================  ==================================

The inputs are the feature tables of ``run.py --features DIR`` (:mod:`sensitivity.features`),
so the measurement runs on whatever executor made them; ``scripts/measure_resolution.py`` is
the command line and can write the widths into the search's table (masses without a signal
sample get the width interpolated linearly in mass).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.channels import signal_mass_gev
from core.scalar_model import visible_decay_channel

MAD_TO_SIGMA = 1.482602218505602
"""sigma of a Gaussian per median absolute deviation (1 / Phi^-1(3/4))."""
MIN_EVENTS = 20
"""Fewer signal events than this give no width (the percentiles would be noise)."""


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of ``values`` from their median (the resolution of every search); NaN when empty."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan")
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


@dataclass(frozen=True)
class ResolutionSpec:
    """What a search's resolution is measured on and where it goes."""

    signal_channel: str
    column: str
    unit: str
    table_key: str
    """Key of the width in the search's table rows."""
    table_mass_key: str
    """Key of the mass in the search's table rows."""
    rows_key: str
    """Key of the list of rows in the table JSON."""
    select: Callable[[pd.DataFrame, float], np.ndarray] | None = None
    """Which rows of a signal sample of mass m enter (default: all)."""


def _decay_flavour_rows(frame: pd.DataFrame, mass_gev: float) -> np.ndarray:
    """Candidates whose pair flavour is the one phi_L decays to at this mass (core.scalar_model)."""
    flavour = {"ee": 11, "mumu": 13}[visible_decay_channel(mass_gev)]
    return frame["pair_flavour"].to_numpy() == flavour


SPECS: dict[str, ResolutionSpec] = {
    "zprime": ResolutionSpec("signal", "recoil_mass2", "GeV^2", "sigma_recoil_mass2_gev2", "mzp_gev", "hypotheses"),
    "visible": ResolutionSpec("signal_visible", "mr_chosen_true_gev", "GeV", "sigma_mr_gev", "mzp_gev", "resolution"),
    "scalar": ResolutionSpec(
        "signal_ttphi", "pair_mass", "GeV", "sigma_pair_mass_gev", "mphi_gev", "windows", _decay_flavour_rows
    ),
}
"""The resolution of each search (``--analysis`` names)."""


@dataclass(frozen=True)
class ResolutionPoint:
    """The measured width at one signal mass."""

    mass_gev: float
    median: float
    sigma: float
    n_events: int


def measure(features: pd.DataFrame, dataset_metadata: Mapping[str, Mapping[str, Any]], search: str) -> list[ResolutionPoint]:
    """The width of ``search``'s mass variable at every signal mass with at least :data:`MIN_EVENTS` events."""
    spec = SPECS[search]
    if spec.column not in features.columns:
        raise ValueError(f"the feature table has no column {spec.column!r}: export the features with run.py --analysis {search} --features")
    names = features["dataset"].astype(str).to_numpy()
    by_mass: dict[float, list[np.ndarray]] = {}
    for name, meta in dataset_metadata.items():
        if meta.get("channel") != spec.signal_channel:
            continue
        mass = signal_mass_gev(meta)
        rows = features.loc[names == name]
        keep = spec.select(rows, mass) if spec.select is not None else np.ones(len(rows), dtype=bool)
        by_mass.setdefault(mass, []).append(rows[spec.column].to_numpy()[keep])
    points = []
    for mass in sorted(by_mass):
        values = np.concatenate(by_mass[mass])
        values = values[np.isfinite(values)]
        if len(values) >= MIN_EVENTS:
            points.append(ResolutionPoint(mass, float(np.median(values)), robust_sigma(values), len(values)))
    return points


def updated_table(table_json: Mapping[str, Any], search: str, points: Sequence[ResolutionPoint], digits: int = 6) -> dict[str, Any]:
    """A copy of the search's table JSON with every row's width set from ``points`` (linear in mass between them)."""
    spec = SPECS[search]
    if not points:
        raise ValueError(f"no {spec.signal_channel} mass with at least {MIN_EVENTS} events: nothing to write")
    masses = np.array([p.mass_gev for p in points])
    sigmas = np.array([p.sigma for p in points])
    out = dict(table_json)
    out[spec.rows_key] = [
        {**row, spec.table_key: round(float(np.interp(float(row[spec.table_mass_key]), masses, sigmas)), digits)}
        for row in table_json[spec.rows_key]
    ]
    return out


def table_sigma(table_json: Mapping[str, Any], search: str, mass_gev: float) -> float:
    """The width the search's table holds at ``mass_gev`` (linear in mass between its rows)."""
    spec = SPECS[search]
    rows = table_json[spec.rows_key]
    return float(np.interp(mass_gev, [float(r[spec.table_mass_key]) for r in rows], [float(r[spec.table_key]) for r in rows]))


__all__ = ["MAD_TO_SIGMA", "SPECS", "ResolutionPoint", "robust_sigma", "measure", "table_sigma", "updated_table"]
