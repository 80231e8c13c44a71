"""The multi-class BDT of the leptophilic-scalar search and its score cut per phi_L mass.

As in the talk: a scikit-learn ``GradientBoostingClassifier`` assigns five scores
(:data:`selections.scalar_selection.CLASSES`: signal, tau tau, e e / mu mu, q qbar,
B Bbar) to the phi_L candidates, and its P(signal) is cut on after the rectangular cut.
The classifier is *trained* on every phi_L candidate of the preselection, before the
rectangular cut: the rectangular cut is there to remove radiative Bhabha and mu-pair
events, and in a generated sample of this size it removes every e e / mu mu candidate,
which would leave that class empty (the missing mass and angle are BDT inputs, so the
classifier learns the cut's region too). The inputs are
:data:`selections.scalar_variables.BDT_FEATURES` (every candidate variable except the
pair mass, which the mass windows cut on); the features come from the processor's
parquet export (``run.py --analysis scalar --features DIR``).

Split: the three splits of every search (:mod:`sensitivity.splits`, by generated event number,
which is independent of everything the detector does): ``train`` trains the classifier,
``threshold`` chooses the score cut of each mass, ``evaluation`` gives the efficiencies and
backgrounds that go into the limits, so that neither the training nor the cut choice is
evaluated on the events it was tuned on. The weights of a part are each dataset's times
n_generated / (its generated events in the part), exact (:func:`part_weights`).

Class weights: within a class, candidates carry their physics weight (xsec * lumi /
n_generated; signal masses count equally); each class then sums to the same total, so
that the rare classes weigh as much as tau pairs in the loss.

Score cut: for mass m, the cut on P(signal) maximises the Punzi figure of merit
eps / (a/2 + sqrt(B)) (a = :data:`sensitivity.cut_optimisation.PUNZI_A`) over the
candidates in m's pair-mass window. Because the MC background is thin after the BDT, B is
the larger of the direct MC sum in the window above the cut and the factorised estimate
B_window x f_BDT, with B_window the background in the window before the score cut (at
least one MC event of the mean background weight of the window's flavour) and f_BDT the
fraction of the background of the same pair flavour, over all pair masses, with P(signal)
above the cut (all from the same part of the sample, past the rectangular cut).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier

from selections.scalar_selection import CLASSES, SIGNAL_CHANNEL, WindowTable
from selections.scalar_variables import BDT_FEATURES
from sensitivity.cut_optimisation import PUNZI_A
from sensitivity.splits import SPLITS, generated_in_part, in_part, weight_scale

PARTS = SPLITS
"""The three parts of the sample (:data:`sensitivity.splits.SPLITS`): train, threshold (the score cuts), evaluation."""

DEFAULT_HYPERPARAMETERS = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8, "min_samples_leaf": 20}
"""Hyperparameters of the GradientBoostingClassifier: shallow trees, slow stochastic boosting, leaves of at
least 20 candidates (the q qbar and B Bbar classes hold few candidates: more or deeper trees overfit them)."""

N_SCORE_CANDIDATES = 60
"""Number of candidate score cuts per mass (quantiles of the signal's P(signal) in the window)."""


def part_mask(frame: pd.DataFrame, part: str) -> np.ndarray:
    """Rows of ``frame`` in ``part`` (:data:`PARTS`), by generated event number (:func:`sensitivity.splits.in_part`)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}: one of {', '.join(PARTS)}")
    return in_part(frame["event"].to_numpy(), part)


def part_weights(frame: pd.DataFrame, part: str) -> np.ndarray:
    """The weight of every row of ``frame`` for the events of ``part``: its dataset's n_generated / generated events
    of the part times the weight (exact; rows of other parts get a weight too, mask them with :func:`part_mask`)."""
    weight = frame["weight"].to_numpy(dtype=float)
    n_generated = frame["n_generated"].to_numpy()
    scale = np.ones(len(frame))
    for n in np.unique(n_generated):
        scale[n_generated == n] = weight_scale(int(n), part)
    return weight * scale


def bdt_candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """The candidates the BDT is trained on (every phi_L candidate of the :func:`sensitivity.features.load_features`
    table, dataset and channel names as strings); every channel must have a class."""
    frame = frame.astype({"dataset": str, "channel": str}).reset_index(drop=True)
    unknown = sorted(set(frame.loc[frame["class_label"] < 0, "channel"]))
    if unknown:
        raise ValueError(f"feature table holds channels without a BDT class: {', '.join(unknown)}")
    return frame


def class_weights(frame: pd.DataFrame) -> np.ndarray:
    """Training weight of every candidate: physics weights within a class, every class summing to 1.

    Signal masses count equally (each mass sums to the same share of the signal class).
    """
    label = frame["class_label"].to_numpy()
    weight = frame["weight"].to_numpy(dtype=float).copy()
    signal = label == 0
    for mass in np.unique(frame.loc[signal, "mphi_true_gev"]):
        own = signal & (frame["mphi_true_gev"].to_numpy() == mass)
        weight[own] = 1.0 / own.sum()
    out = np.zeros(len(frame))
    for k in range(len(CLASSES)):
        own = label == k
        total = weight[own].sum()
        if total > 0:
            out[own] = weight[own] / total
    return out * len(frame) / max(out.sum(), 1e-300)  # mean weight 1


def train_classifier(frame: pd.DataFrame, seed: int = 1, **hyperparameters) -> GradientBoostingClassifier:
    """Fit the five-class BDT on ``frame`` (already restricted to the training part)."""
    labels = frame["class_label"].to_numpy()
    missing = [CLASSES[k] for k in range(len(CLASSES)) if not np.any(labels == k)]
    if missing:
        raise ValueError(f"no training candidates of class(es) {', '.join(missing)}: the BDT needs all five")
    model = GradientBoostingClassifier(random_state=seed, **{**DEFAULT_HYPERPARAMETERS, **hyperparameters})
    model.fit(frame[list(BDT_FEATURES)].to_numpy(), labels, sample_weight=class_weights(frame))
    return model


def predict_probabilities(model: GradientBoostingClassifier, frame: pd.DataFrame) -> np.ndarray:
    """Class probabilities [n, 5] in the order of :data:`CLASSES` (each row sums to 1)."""
    if list(model.classes_) != list(range(len(CLASSES))):
        raise ValueError(f"model classes {list(model.classes_)} are not the five of {CLASSES}")
    return model.predict_proba(frame[list(BDT_FEATURES)].to_numpy())


def save_model(model: GradientBoostingClassifier, path: str | Path) -> Path:
    """Save the model with its feature list and class names (joblib)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"model": model, "features": list(BDT_FEATURES), "classes": list(CLASSES)}, path)
    return path


def load_model(path: str | Path) -> GradientBoostingClassifier:
    """Load a model of :func:`save_model`; a different feature list or class list is a ValueError."""
    stored = joblib.load(path)
    if stored.get("features") != list(BDT_FEATURES) or stored.get("classes") != list(CLASSES):
        raise ValueError(f"{path}: model was trained on other features or classes")
    return stored["model"]


@dataclass(frozen=True)
class WindowYields:
    """Signal efficiency and background of one phi_L mass after the score cut, in one part of the sample.

    ``signal_yield_xi1``: expected signal events for xi = 1 before BR(phi_L -> l l);
    ``background``: the larger of the direct and the factorised estimate (module docstring), with its MC uncertainty;
    ``background_direct``: the MC background passing window and score cut directly.
    """

    mphi_gev: float
    score_cut: float
    efficiency: float
    efficiency_stat: float
    signal_yield_xi1: float
    background: float
    background_stat: float
    background_direct: float
    background_direct_mc_count: int
    background_window: float
    bdt_background_fraction: float
    composition: dict[str, float]

    def punzi(self) -> float:
        return self.efficiency / (PUNZI_A / 2.0 + math.sqrt(max(self.background, 0.0)))

    def row(self) -> dict:
        out = asdict(self)
        out.update({f"background_direct_{k}": v for k, v in out.pop("composition").items()})
        return out


def window_yields(
    frame: pd.DataFrame, p_signal: np.ndarray, table: WindowTable, mphi_gev: float, score_cut: float, part: str
) -> WindowYields:
    """:class:`WindowYields` of mass ``mphi_gev`` with the cut P(signal) > ``score_cut`` in ``part`` of ``frame``.

    ``frame`` holds the BDT candidates (all parts) and ``p_signal`` their P(signal); only
    candidates past the rectangular cut count.
    """
    window = next(w for w in table.windows if math.isclose(w.mphi_gev, mphi_gev))
    selected_part = part_mask(frame, part) & frame["rectangular_cut"].to_numpy()
    pair_mass = frame["pair_mass"].to_numpy()
    flavour = frame["pair_flavour"].to_numpy().astype(int)
    in_window = table.in_window(pair_mass, flavour, window) & selected_part
    passed = p_signal > score_cut
    weight = part_weights(frame, part)
    label = frame["class_label"].to_numpy()
    own_signal = (frame["channel"].to_numpy() == SIGNAL_CHANNEL) & np.isclose(frame["mphi_true_gev"].to_numpy(), mphi_gev)
    background = label != 0

    signal_generated = frame.loc[own_signal].groupby("dataset")["n_generated"].first() if own_signal.any() else []
    n_gen_part = float(sum(generated_in_part(int(n), part) for n in signal_generated))
    n_sig = np.count_nonzero(own_signal & in_window & passed)
    eps = n_sig / n_gen_part if n_gen_part > 0 else 0.0
    eps_stat = math.sqrt(eps * (1.0 - eps) / n_gen_part) if n_gen_part > 0 else 0.0
    signal_xi1 = float(weight[own_signal & in_window & passed].sum())

    same_flavour = background & selected_part & (flavour == window.flavour)
    w_flavour = weight[same_flavour]
    fraction = float(w_flavour[passed[same_flavour]].sum() / w_flavour.sum()) if w_flavour.sum() > 0 else 0.0
    n_pass_flavour = np.count_nonzero(passed[same_flavour])
    window_bkg = background & in_window
    b_window = float(weight[window_bkg].sum())
    n_window = np.count_nonzero(window_bkg)
    if n_window == 0:  # no MC event in the window: it may still hold about one of the typical weight
        b_window = float(w_flavour.mean()) if w_flavour.size else 0.0
        n_window = 1
    factorised = b_window * fraction
    factorised_stat = factorised * math.sqrt(1.0 / n_window + (1.0 / n_pass_flavour if n_pass_flavour else 1.0))
    direct = window_bkg & passed
    b_direct = float(weight[direct].sum())
    # the larger of the two: the factorised estimate fills in where the MC runs out, the direct count
    # wins where the window's background is more signal-like than the flavour's average
    if b_direct >= factorised:
        estimate, estimate_stat = b_direct, math.sqrt(float(np.sum(weight[direct] ** 2)))
    else:
        estimate, estimate_stat = factorised, factorised_stat
    composition = {
        cls: float(weight[direct & (label == k)].sum()) for k, cls in enumerate(CLASSES) if k > 0
    }
    return WindowYields(
        mphi_gev=float(mphi_gev),
        score_cut=float(score_cut),
        efficiency=float(eps),
        efficiency_stat=float(eps_stat),
        signal_yield_xi1=signal_xi1,
        background=float(estimate),
        background_stat=float(estimate_stat),
        background_direct=b_direct,
        background_direct_mc_count=int(np.count_nonzero(direct)),
        background_window=float(b_window),
        bdt_background_fraction=fraction,
        composition=composition,
    )


def optimise_score_cut(frame: pd.DataFrame, p_signal: np.ndarray, table: WindowTable, mphi_gev: float) -> float:
    """The cut on P(signal) of mass ``mphi_gev`` that maximises the Punzi FOM on the threshold split.

    Candidates: quantiles of P(signal) of the mass' own signal in its window (and 0, no cut).
    """
    window = next(w for w in table.windows if math.isclose(w.mphi_gev, mphi_gev))
    own = (
        part_mask(frame, "threshold")
        & frame["rectangular_cut"].to_numpy()
        & (frame["channel"].to_numpy() == SIGNAL_CHANNEL)
        & np.isclose(frame["mphi_true_gev"].to_numpy(), mphi_gev)
        & table.in_window(frame["pair_mass"].to_numpy(), frame["pair_flavour"].to_numpy().astype(int), window)
    )
    scores = p_signal[own]
    candidates = np.unique(np.concatenate([[0.0], np.quantile(scores, np.linspace(0.0, 0.98, N_SCORE_CANDIDATES))])) if scores.size else np.array([0.0])
    best_cut, best_fom = 0.0, -1.0
    for cut in candidates:
        fom = window_yields(frame, p_signal, table, mphi_gev, float(cut), "threshold").punzi()
        if fom > best_fom:
            best_cut, best_fom = float(cut), fom
    return best_cut


__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "PARTS",
    "WindowYields",
    "bdt_candidates",
    "class_weights",
    "load_model",
    "optimise_score_cut",
    "part_mask",
    "part_weights",
    "predict_probabilities",
    "save_model",
    "train_classifier",
    "window_yields",
]
