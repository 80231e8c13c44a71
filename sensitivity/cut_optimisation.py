"""Figure-of-merit optimisation of the ten-cut selection, one mass hypothesis at a time.

As in the seed talk: for each Z' mass m, the values of cuts 2-10 are chosen to maximise
eps / sqrt(B), with eps the signal efficiency (selected in the +-3 sigma recoil-mass window
over generated signal events of mass m) and B the expected background in that window
(sum of MC weights). The Punzi figure of merit eps / (a/2 + sqrt(B)), a = 3, is reported
next to it.

Method: only events inside the (fixed) window of a hypothesis can change eps or B, so they
are selected once; the cut values then go through coordinate ascent (each value in turn
set to the best of ~40 candidates, the quantiles of its variable among the window events
rounded to 4 significant digits,
until a sweep changes nothing), each evaluation being one call of the selection kernel
:func:`selections.zprime_selection.selection_codes`. To keep the MC statistical
fluctuations from being tuned on, the optimisation sees the ``fit`` part of the MC (the
``train`` and ``threshold`` splits by generated event number, :mod:`sensitivity.splits`;
weights and generated counts those of the part) and the ``evaluation`` split validates,
the events on which the network is measured too; and each background sample counts as at
least one MC event of its weight in the figure of merit (see :meth:`HypothesisProblem.yields`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.beams import cms_frame
from core.weights import event_weight, is_complement_slice
from selections.zprime_selection import CODE_IN_WINDOW, CutTable, MassHypothesis, selection_codes
from selections.zprime_variables import COLUMN, VARIABLES
from sensitivity.splits import generated_in_part, in_part, weight_scale

PUNZI_A = 3.0
"""The a of the Punzi figure of merit eps / (a/2 + sqrt(B)) (docs/physics.md §6)."""

OPTIMISED = (
    "vertex_pvalue_min",
    "visible_energy_slack_gev",
    "neutral_energy_max_gev",
    "pt_mumu_min_gev",
    "visible_recoil_mass2_slack_gev2",
    "opening_angle_max_rad",
    "cos_theta_recoil_max",
    "dphi_recoil_photon_min_rad",
    "missing_theta_lab_min_rad",
    "missing_theta_lab_max_rad",
    "pt_projection_sum_min_gev",
)
"""Cut values the optimisation sets (the mass and the resolution stay as they are)."""

FIT_PART = "fit"
"""The MC part the cut values are optimised on (:mod:`sensitivity.splits`) ..."""
VALIDATION_PART = "evaluation"
"""... and the one they are validated on, the network's evaluation split."""

N_CANDIDATES = 41
MAX_SWEEPS = 6
SIGNIFICANT_DIGITS = 4
"""Candidate cut values are rounded to this many significant digits, so the written table reads cleanly."""


def round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (zeros stay zero)."""
    values = np.asarray(values, dtype=np.float64)
    magnitude = np.floor(np.log10(np.abs(np.where(values == 0, 1.0, values))))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale


@dataclass(eq=False)
class Sample:
    """Preselected events of one dataset: variables [len(VARIABLES), n], MC weight, and what it is."""

    name: str
    channel: str
    mzp_gev: float | None
    n_generated: int
    weight: float
    variables: np.ndarray
    event: np.ndarray
    """Generated event number of each preselected event (splits, :mod:`sensitivity.splits`)."""
    mc_floor: float = 1.0
    """MC events the sample counts at least in B_eff: 1, or 0 for a complement slice (never in a window,
    :func:`core.weights.is_complement_slice`)."""


def variable_matrix(table: pd.DataFrame) -> np.ndarray:
    """Every variable of :data:`~selections.zprime_variables.VARIABLES` of the exported features ``table``, as the
    selection kernel reads them: contiguous float64 [len(VARIABLES), n events]."""
    missing = [v for v in VARIABLES if v not in table.columns]
    if missing:
        raise ValueError(f"the feature table lacks the variables {missing}: rerun run.py --features")
    return np.ascontiguousarray(np.vstack([table[v].to_numpy(dtype=np.float64) for v in VARIABLES]).reshape(len(VARIABLES), len(table)))


def load_samples(features: pd.DataFrame, dataset_metadata: Mapping[str, Mapping], lumi_fb: float) -> list[Sample]:
    """One :class:`Sample` per dataset of ``dataset_metadata`` (the run's, in its order) from the exported features.

    ``features`` is :func:`sensitivity.features.load_features` of ``run.py --features``: the
    processor's variables of every preselected event, so the optimisation sees exactly what the
    processor computed. A dataset without preselected events gets an empty sample (it still
    counts in the background's MC-statistics floor).
    """
    missing = [v for v in (*VARIABLES, "event") if v not in features.columns]
    if missing:
        raise ValueError(f"the feature table lacks the columns {missing}: rerun run.py --features")
    names = features["dataset"].astype(str).to_numpy()
    samples = []
    for name, meta in dataset_metadata.items():
        rows = features.loc[names == name]
        samples.append(Sample(name, meta["channel"], meta.get("mzp"), int(meta["n_generated"]), event_weight(meta, lumi_fb), variable_matrix(rows),
                              rows["event"].to_numpy(dtype=np.int64), 0.0 if is_complement_slice(meta) else 1.0))  # fmt: skip
    return samples


@dataclass
class Yields:
    """Signal efficiency, expected background and figures of merit of one hypothesis and cut set."""

    eps: float
    background: float
    fom: float
    punzi: float


def _part(sample: Sample, part: str) -> tuple[np.ndarray, float, float]:
    """Variables, weight and generated events of the events of ``part`` (:data:`sensitivity.splits.PARTS`)."""
    if part == "all":
        return sample.variables, sample.weight, sample.n_generated
    keep = in_part(sample.event, part)
    return sample.variables[:, keep], sample.weight * weight_scale(sample.n_generated, part), generated_in_part(sample.n_generated, part)


class HypothesisProblem:
    """The window events of one mass hypothesis, and eps / B / figures of merit for any cut values."""

    def __init__(self, hypothesis: MassHypothesis, samples: list[Sample], window_n_sigma: float, part: str):
        self.hypothesis = hypothesis
        self.window_n_sigma = window_n_sigma
        window = CutTable((hypothesis,), window_n_sigma)
        signal = [s for s in samples if s.channel == "signal" and s.mzp_gev == hypothesis.mzp_gev]
        if not signal:
            raise ValueError(f"no signal sample of mass {hypothesis.mzp_gev} GeV")
        backgrounds = [s for s in samples if s.channel != "signal"]
        columns, owner = [], []  # owner: index into self.background_weights, or -1 for signal
        self.n_signal_generated = 0.0
        self.background_weights = np.array([_part(s, part)[1] for s in backgrounds])
        self.background_floors = np.array([s.mc_floor for s in backgrounds])
        for index, s in [(-1, s) for s in signal] + list(enumerate(backgrounds)):
            variables, _, n_gen = _part(s, part)
            inside = variables[:, window.in_window(variables[COLUMN["recoil_mass2"]], hypothesis)]
            if index < 0:
                self.n_signal_generated += n_gen
            columns.append(inside)
            owner.append(np.full(inside.shape[1], index))
        self.variables = np.ascontiguousarray(np.concatenate(columns, axis=1))
        self.owner = np.concatenate(owner)

    def yields(self, hypothesis: MassHypothesis) -> Yields:
        """eps, B and the figures of merit of the window events under ``hypothesis``'s cut values.

        The figures of merit use B_eff = sum over background samples of w max(n, 1): a
        sample with no selected MC event may still hold up to about one event of its
        weight, so that cutting the last MC event of a sample is not rewarded (a complement
        generator slice, which cannot reach the window, counts max(n, 0)).
        """
        codes = selection_codes(self.variables, CutTable((hypothesis,), self.window_n_sigma))[0]
        selected = codes == CODE_IN_WINDOW
        eps = np.count_nonzero(selected & (self.owner < 0)) / self.n_signal_generated
        counts = np.bincount(self.owner[selected & (self.owner >= 0)], minlength=len(self.background_weights))
        background = float(counts @ self.background_weights)
        effective = float(np.maximum(counts, self.background_floors) @ self.background_weights)
        return Yields(eps, background, eps / np.sqrt(effective), eps / (PUNZI_A / 2 + np.sqrt(effective)))

    def candidates(self, parameter: str) -> np.ndarray:
        """Candidate values of one cut: quantiles of its variable (as the cut compares it) in the window."""
        v, m = self.variables, self.hypothesis.mzp_gev
        sqrt_s = cms_frame()[0]
        quantity = {
            "vertex_pvalue_min": v[COLUMN["vertex_pvalue"]],
            "visible_energy_slack_gev": v[COLUMN["e_visible_cms"]] - (sqrt_s - m),
            "neutral_energy_max_gev": v[COLUMN["e_neutral_lab"]],
            "pt_mumu_min_gev": v[COLUMN["pt_mumu_cms"]],
            "visible_recoil_mass2_slack_gev2": m * m - v[COLUMN["recoil_mass2_visible"]],
            "opening_angle_max_rad": v[COLUMN["opening_angle_cms"]],
            "cos_theta_recoil_max": np.abs(v[COLUMN["cos_theta_recoil_cms"]]),
            "dphi_recoil_photon_min_rad": v[COLUMN["dphi_recoil_photon"]],
            "missing_theta_lab_min_rad": v[COLUMN["theta_recoil_lab"]],
            "missing_theta_lab_max_rad": v[COLUMN["theta_recoil_lab"]],
            "pt_projection_sum_min_gev": v[COLUMN["pt_proj_max"]] + v[COLUMN["pt_proj_min"]],
        }[parameter]
        return np.unique(round_significant(np.quantile(quantity, np.linspace(0.0, 1.0, N_CANDIDATES)))) if quantity.size else np.empty(0)


def optimise_hypothesis(problem: HypothesisProblem, lower_bounds: Mapping[str, float] | None = None) -> MassHypothesis:
    """Coordinate ascent of eps / sqrt(B) over the cut values, from the current ones.

    ``lower_bounds``: smallest allowed value per cut parameter (the start is raised to it and candidates below
    it are skipped), e.g. where the background sample is only complete above a cut (generator filters)."""
    bounds = dict(lower_bounds or {})
    unknown = set(bounds) - set(OPTIMISED)
    if unknown:
        raise ValueError(f"lower bounds for unknown cut parameters {sorted(unknown)}")
    best = dataclasses.replace(
        problem.hypothesis, **{k: max(v, getattr(problem.hypothesis, k)) for k, v in bounds.items()}
    )
    best_fom = problem.yields(best).fom
    for _ in range(MAX_SWEEPS):
        improved = False
        for parameter in OPTIMISED:
            for value in problem.candidates(parameter):
                if value < bounds.get(parameter, -np.inf):
                    continue
                trial = dataclasses.replace(best, **{parameter: float(value)})
                if trial.missing_theta_lab_min_rad >= trial.missing_theta_lab_max_rad:
                    continue
                fom = problem.yields(trial).fom
                if fom > best_fom * (1 + 1e-9):
                    best, best_fom, improved = trial, fom, True
        if not improved:
            break
    return best


def optimise_table(
    table: CutTable,
    samples: list[Sample],
    lower_bounds: Callable[[float, float], Mapping[str, float]] | None = None,
    fit_part: str = FIT_PART,
    evaluation_part: str = VALIDATION_PART,
) -> tuple[CutTable, list[dict]]:
    """The optimised cut table and, per hypothesis, eps / B / figures of merit before and after on each part.

    Hypotheses without a signal sample of their mass keep their values (reported as skipped).
    ``lower_bounds(m2_low, m2_high)`` gives the lower bounds of :func:`optimise_hypothesis` for the hypothesis
    whose recoil-M^2 window is [m2_low, m2_high] (GeV^2). The cuts are fitted on ``fit_part`` (thinned, e.g.
    ``"fit/10"``, when the samples hold only every K-th fit event: then the report has no ``all`` part)
    and reported on ``evaluation_part`` too (the evaluation split, or every K-th of its events).
    The report's keys are ``fit_before``, ``fit_after``, ``evaluation_...`` and ``all_...``.
    """
    hypotheses, report = [], []
    for h in table.hypotheses:
        if not any(s.channel == "signal" and s.mzp_gev == h.mzp_gev for s in samples):
            hypotheses.append(h)  # nothing to optimise on: the values stay
            report.append({"mzp_gev": h.mzp_gev, "skipped": "no signal sample of this mass"})
            continue
        fit = HypothesisProblem(h, samples, table.window_n_sigma, fit_part)
        half_width = table.window_n_sigma * h.sigma_recoil_mass2_gev2
        bounds = lower_bounds(h.mzp_gev**2 - half_width, h.mzp_gev**2 + half_width) if lower_bounds else None
        new = optimise_hypothesis(fit, bounds)
        row = {"mzp_gev": h.mzp_gev}
        for key, part in ((FIT_PART, fit_part), (VALIDATION_PART, evaluation_part), *((("all", "all"),) if fit_part == FIT_PART else ())):
            problem = fit if part == fit_part else HypothesisProblem(h, samples, table.window_n_sigma, part)
            for label, hyp in (("before", h), ("after", new)):
                row[f"{key}_{label}"] = dataclasses.asdict(problem.yields(hyp))
        hypotheses.append(new)
        report.append(row)
    return CutTable(tuple(hypotheses), table.window_n_sigma), report
