"""The Punzi-loss neural network selection of the invisible-Z' search (seed talk, docs/physics.md §6).

One *mass-parametrised* network serves every Z' mass: its inputs are the 14 variables of
:data:`selections.zprime_variables.NETWORK_FEATURES` and the mass hypothesis m (GeV,
:data:`MASS_INPUT`); layers 32-64-64-32-16-8-1 as in the talk's "The Punzi Loss Neural Net
selection" (the first, of 32 nodes, is the talk's "input (32 nodes)"), ReLU activations and a
sigmoid output y(x, m) in (0, 1). Each training row is an (event, hypothesis) pair: a signal
event at its true mass inside that mass' recoil-mass window, and a background event at every
grid mass whose window holds it (so background events get the hypothesis masses of the
signal grid, as often as the windows ask). A mass between the grid points is a new value of
the input: no retraining (:meth:`PunziNet.outputs`).

Training (Belle II punzinet) has two stages on the ``train`` split of the MC:

1. weighted binary cross entropy, signal against background, classes balanced: every mass
   hypothesis' signal in its recoil-mass window weighs 1/M in total, and so does every
   hypothesis' background in its window (background events in proportion to their MC
   weight), M being the number of hypotheses;
2. the Punzi loss (:func:`punzi_loss`): for each mass hypothesis m,
   eps(m) = sum of y over signal events of mass m with |M^2 - m^2| < n sigma(m), divided by
   the generated signal events of mass m, and B(m) = sum of weight x y over background events
   in that window; with a = 3, b = 1.28155,
   S_min = a^2/8 + 9 b^2/13 + a sqrt(B) + (b/2) sqrt(b^2 + 4 a sqrt(B) + 4 B),
   sigma_min = S_min / (eps L), and the loss is the mean of sigma_min over the hypotheses,
   with early stopping on the same loss computed on the ``threshold`` split. Its mini-batches
   hold every signal row and a slice of the background (:func:`_punzi_batches`).

The MC is split in three by generated event number (:mod:`sensitivity.splits`): ``train``
fits the input scaling and the weights, ``threshold`` chooses each mass' output cut and when
to stop, ``evaluation`` only measures (the figures of merit and the limits of
``scripts/train_punzi_net.py``). Each part's MC weights are xsec L / (its generated events),
exactly. Training is seeded (initialisation and batch order) and runs on the CPU with a fixed
number of threads (default: every core), so the same seed, threads and inputs give the same
weights.

The trained selection (:class:`PunziNet`: network, input scaling, thresholds, training
configuration) is saved with :meth:`PunziNet.save` (``torch.save`` of plain tensors and
numbers, loadable with ``weights_only=True``) and applied to the columns that ``run.py
--features DIR`` exports (:func:`load_features`), the product of the one processor pass.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from core.weights import event_weight, is_complement_slice
from processors import histograms
from selections.zprime_selection import CODE_ALL_CUTS, CutTable, selection_codes
from selections.zprime_variables import NETWORK_FEATURES
from sensitivity.cut_optimisation import variable_matrix
from sensitivity.features import load_features
from sensitivity.splits import Part, generated_in_part, in_part, weight_scale

PUNZI_A = 3.0
"""a of the Punzi loss and of the Punzi figure of merit eps / (a/2 + sqrt(B)) (docs/physics.md §6)."""
PUNZI_B = 1.28155
"""b of the Punzi loss (the one-sided 90% quantile of the normal distribution, docs/physics.md §6)."""
LAYER_NODES: tuple[int, ...] = (32, 64, 64, 32, 16, 8, 1)
"""Nodes of the talk's seven layers: input (32), hidden (64, 64, 32, 16, 8), output (1)."""
LAYER_NAMES: tuple[str, ...] = ("input", "hidden1", "hidden2", "hidden3", "hidden4", "hidden5", "output")
"""Names of the linear layers in :func:`build_network`, in the talk's words."""
MASS_INPUT = "mzp_hypothesis_gev"
"""Name of the mass-hypothesis input (GeV), after the 14 features."""
INPUT_NAMES: tuple[str, ...] = (*NETWORK_FEATURES, MASS_INPUT)
"""The network's inputs, in order."""
SIGNAL_CHANNEL = "signal"
"""``channel`` of the Z' signal datasets in the fileset metadata."""
MC_FLOOR = "mc_floor"
"""Column (added by :func:`select_part`): MC events the row's background sample counts at least in B_eff and in the
Punzi loss' B, 1; 0 for a complement generator slice, which the cut floors keep out of every window
(:func:`core.weights.is_complement_slice`): one event of its large weight would otherwise sit in every window's B."""
FORMAT = "punzi_net/2"
"""Tag of the saved model dictionary (:meth:`PunziNet.save`); 2: the mass input."""


# --- the network -------------------------------------------------------------------------------


def build_network(n_inputs: int = len(INPUT_NAMES), layer_nodes: Sequence[int] = LAYER_NODES) -> nn.Sequential:
    """The talk's network: ``n_inputs`` -> 32 -> 64 -> 64 -> 32 -> 16 -> 8 -> 1, ReLU, sigmoid output.

    Modules are named: ``input`` is the first linear layer (the talk's "input (32 nodes)"),
    ``hidden1`` ... ``hidden5`` the next, ``output`` the last linear layer, ``sigmoid`` the output
    function; ``network[:-1]`` gives the logit.
    """
    if len(layer_nodes) != len(LAYER_NAMES) or layer_nodes[-1] != 1:
        raise ValueError(f"expected {len(LAYER_NAMES)} layers ending in one node, got {tuple(layer_nodes)}")
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    n_in = n_inputs
    for name, n_out in zip(LAYER_NAMES, layer_nodes):
        modules[name] = nn.Linear(n_in, n_out)
        if name != "output":
            modules[f"{name}_relu"] = nn.ReLU()
        n_in = n_out
    modules["sigmoid"] = nn.Sigmoid()
    return nn.Sequential(modules)


def feature_matrix(table: pd.DataFrame, names: Sequence[str] = NETWORK_FEATURES, rows: np.ndarray | None = None) -> np.ndarray:
    """The columns ``names`` of ``table`` (its rows ``rows``, default all) as float64 [n, len(names)]."""
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"feature table lacks the network inputs {missing}")
    columns = [table[n].to_numpy(dtype=np.float64) for n in names]
    if rows is not None:
        columns = [c[rows] for c in columns]
    return np.column_stack(columns) if columns and len(columns[0]) else np.zeros((0, len(names)))


def input_matrix(table: pd.DataFrame, mzp_gev: float | np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Network inputs [n, 15]: the 14 features of ``table`` (rows ``rows``) and the mass hypothesis (GeV, one or per row)."""
    x = feature_matrix(table, NETWORK_FEATURES, rows)
    return np.column_stack([x, np.broadcast_to(np.asarray(mzp_gev, dtype=np.float64), (len(x),))])


@dataclass(frozen=True)
class FeatureScaling:
    """Standardisation x -> (x - mean) / std of the network inputs, fitted on the training rows."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, names: Sequence[str] = INPUT_NAMES) -> FeatureScaling:
        std = x.std(axis=0)
        return cls(tuple(names), x.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, x: np.ndarray) -> torch.Tensor:
        """Standardised inputs (rows of :func:`input_matrix`) as a float32 tensor [n, n_inputs]."""
        return torch.from_numpy(((x - self.mean) / self.std).astype(np.float32))


@dataclass(frozen=True)
class TrainingConfig:
    """Knobs of :func:`train` (saved with the model)."""

    seed: int = 1
    """Seeds the network initialisation and the batch order."""
    threads: int = dataclasses.field(default_factory=lambda: len(os.sched_getaffinity(0)))
    """CPU threads while training (default: every core this process may use); fixed for a run, so that
    sums are done in the same order and the same seed gives the same weights."""
    bce_epochs: int = 10
    bce_batch_size: int = 2048
    bce_lr: float = 1e-3
    punzi_epochs: int = 100
    """Most Punzi-loss epochs (early stopping may end sooner)."""
    punzi_batch_size: int | None = 65536
    """Background rows per Punzi-loss batch, each batch also holding every signal row (B of a batch is scaled up by
    1/fraction, eps is exact); None: full batch."""
    punzi_lr: float = 3e-4
    punzi_background_floor: float = 1.0
    """MC events each background sample counts at least in the Punzi loss' B (see :func:`punzi_terms`); 0: plain B."""
    patience: int = 10
    """Early stopping: the Punzi stage ends after this many epochs without a lower loss on the threshold split,
    and the weights of its best epoch are kept; 0: no early stopping (all epochs, the last weights)."""
    punzi_a: float = PUNZI_A
    punzi_b: float = PUNZI_B
    threshold_criterion: Literal["fom", "punzi"] = "fom"
    """How :func:`choose_thresholds` picks each mass' output cut on the threshold split:
    ``fom`` = eps / sqrt(B_eff), ``punzi`` = eps / (a/2 + sqrt(B_eff)) (see :func:`figures_of_merit`)."""


@dataclass(eq=False)
class PunziNet:
    """A trained selection: network, input scaling, output threshold per grid mass (MeV), configuration."""

    network: nn.Sequential
    scaling: FeatureScaling
    thresholds: dict[int, float]
    config: TrainingConfig
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def predict(self, table: pd.DataFrame, mzp_gev: float | np.ndarray, batch_size: int = 262144) -> np.ndarray:
        """Network output y(x, m) in (0, 1) of every row of ``table`` at mass hypothesis ``mzp_gev`` (float64)."""
        return apply(self, table, mzp_gev, batch_size)

    def outputs(self, table: pd.DataFrame, cut_table: CutTable) -> np.ndarray:
        """y of the rows of ``table`` inside the window of each mass of ``cut_table`` (grid or not) at that mass,
        0 outside it (no selection keeps those; no output cut is below 0): float32 [M, N], the network's precision."""
        m2 = table["recoil_mass2"].to_numpy() if len(table) else np.zeros(0)
        out = np.zeros((len(cut_table.hypotheses), len(table)), dtype=np.float32)
        for i, h in enumerate(cut_table.hypotheses):
            rows = np.flatnonzero(cut_table.in_window(m2, h))
            out[i, rows] = apply(self, table, h.mzp_gev, rows=rows)
        return out

    def threshold(self, mzp_gev: float) -> float:
        """The output cut at ``mzp_gev``: the chosen one at a grid mass, linear in the mass between grid masses."""
        masses = sorted(self.thresholds)
        mev = round(1000 * mzp_gev)
        if mev in self.thresholds:
            return float(self.thresholds[mev])
        if not masses[0] <= mev <= masses[-1]:
            raise ValueError(f"mass {mzp_gev} GeV is outside the network's grid {masses[0] / 1000:g}-{masses[-1] / 1000:g} GeV")
        return float(np.interp(mev, masses, [self.thresholds[m] for m in masses]))

    def save(self, path: str | Path) -> Path:
        """``torch.save`` the network weights, scaling, input names, thresholds and configuration."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": FORMAT,
            "state_dict": OrderedDict((k, v.detach().clone()) for k, v in self.network.state_dict().items()),
            "feature_names": list(self.scaling.names),
            "feature_mean": torch.from_numpy(np.asarray(self.scaling.mean, dtype=np.float64)),
            "feature_std": torch.from_numpy(np.asarray(self.scaling.std, dtype=np.float64)),
            "layer_nodes": list(LAYER_NODES),
            "thresholds_mzp_mev": {int(k): float(v) for k, v in self.thresholds.items()},
            "config": dataclasses.asdict(self.config),
            "history": {k: [float(x) for x in v] for k, v in self.history.items()},
            "torch_version": str(torch.__version__),
        }
        tmp = path.with_suffix(path.suffix + ".part")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PunziNet:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if state.get("format") != FORMAT:
            raise ValueError(f"{path} is not a saved mass-parametrised Punzi network ({FORMAT}): format {state.get('format')!r}")
        names = tuple(state["feature_names"])
        network = build_network(len(names), state["layer_nodes"])
        network.load_state_dict(state["state_dict"])
        network.eval()
        scaling = FeatureScaling(names, state["feature_mean"].numpy(), state["feature_std"].numpy())
        return cls(
            network, scaling, dict(state["thresholds_mzp_mev"]), TrainingConfig(**state["config"]), state["history"]
        )


def apply(
    model: PunziNet, table: pd.DataFrame, mzp_gev: float | np.ndarray, batch_size: int = 262144, rows: np.ndarray | None = None
) -> np.ndarray:
    """The network output y(x, m) of every row of ``table`` (the exported feature columns), or of its ``rows``
    (indices), float64; a per-row ``mzp_gev`` has one mass per row of ``table``."""
    rows = np.arange(len(table)) if rows is None else np.asarray(rows)
    out = []
    model.network.eval()
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            batch = rows[i : i + batch_size]
            m = mzp_gev if np.ndim(mzp_gev) == 0 else np.asarray(mzp_gev)[batch]
            out.append(model.network(model.scaling.transform(input_matrix(table, m, batch))).squeeze(1))
    return torch.cat(out).double().numpy() if out else np.zeros(0)


# --- the Punzi loss ------------------------------------------------------------------------------


def punzi_terms(
    outputs: torch.Tensor,
    weights: torch.Tensor,
    signal_mask: torch.Tensor,
    background_mask: torch.Tensor,
    n_generated: torch.Tensor,
    a: float = PUNZI_A,
    b: float = PUNZI_B,
    lumi: float = 1.0,
    sample_index: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    background_floor: float | torch.Tensor = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """eps(m), B(m) and sigma_min(m) of every mass hypothesis m, differentiable in ``outputs``.

    outputs: [N] network outputs y; weights: [N] MC weights (used for background events);
    signal_mask: [M, N] event is signal of mass m inside the window of m; background_mask:
    [M, N] event is background inside the window of m; n_generated: [M] generated signal
    events of mass m. eps = sum(y over signal) / n_generated, B = sum(weight * y over
    background), S_min = a^2/8 + 9 b^2/13 + a sqrt(B) + (b/2) sqrt(b^2 + 4 a sqrt(B) + 4 B),
    sigma_min = S_min / (eps lumi). Computed in the precision of ``weights`` (float64 advised).

    With ``sample_index`` ([N], the background sample of each event, any value for signal)
    and ``sample_weight`` ([S], the MC weight of one event of each sample), B is counted per
    sample: B = sum_s w_s max(n_s, background_floor), n_s = sum of y over the window events of
    sample s. With ``background_floor`` = 1 that is the B_eff of the figures of merit
    (:func:`figures_of_merit`): a sample keeps at least one MC event of its weight, so the loss
    gains nothing from removing a sample's last few MC events (which would only tune on MC
    fluctuations). With floor 0 it equals the plain B. ``background_floor`` may be a tensor [S], one floor per
    sample (0 for a complement generator slice, which cannot reach a window: :data:`MC_FLOOR`).
    """
    dtype = weights.dtype
    y = outputs.reshape(-1).to(dtype)
    eps = (signal_mask.to(dtype) @ y) / n_generated.to(dtype)
    if sample_index is None:
        background = background_mask.to(dtype) @ (weights * y)
    else:
        per_sample = torch.zeros(background_mask.shape[0], len(sample_weight), dtype=dtype)
        per_sample = per_sample.index_add(1, sample_index, background_mask.to(dtype) * y)
        floor = torch.as_tensor(background_floor, dtype=dtype)
        background = torch.maximum(per_sample, floor) @ sample_weight.to(dtype)
    # sqrt with a finite gradient at B = 0 (where sqrt'(B) is infinite): value exact, gradient 0
    positive = background > 0
    sqrt_b = torch.where(
        positive,
        torch.sqrt(torch.where(positive, background, torch.ones_like(background))),
        torch.zeros_like(background),
    )
    s_min = a * a / 8 + 9 * b * b / 13 + a * sqrt_b + (b / 2) * torch.sqrt(b * b + 4 * a * sqrt_b + 4 * background)
    return eps, background, s_min / (eps * lumi)


def punzi_loss(
    outputs: torch.Tensor,
    weights: torch.Tensor,
    signal_mask: torch.Tensor,
    background_mask: torch.Tensor,
    n_generated: torch.Tensor,
    a: float = PUNZI_A,
    b: float = PUNZI_B,
    lumi: float = 1.0,
    sample_index: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    background_floor: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """The Punzi loss: the mean over mass hypotheses of sigma_min (see :func:`punzi_terms`)."""
    terms = punzi_terms(
        outputs, weights, signal_mask, background_mask, n_generated, a, b, lumi,
        sample_index, sample_weight, background_floor,
    )  # fmt: skip
    return terms[2].mean()


# --- inputs --------------------------------------------------------------------------------------


def _generated(meta: Mapping[str, Any]) -> int:
    return int(meta["n_generated"])


def select_part(table: pd.DataFrame, part: Part, dataset_metadata: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The rows of ``part`` (:mod:`sensitivity.splits`, by the ``event`` column), each dataset's weights scaled to
    the part (n_generated / generated events of the part: exact; ``all``: every row, weights as they are), with
    the :data:`MC_FLOOR` column from the run's metadata."""
    if part == "all":
        out = table.copy()
        out[MC_FLOOR] = _floors(out, dataset_metadata)
        return out
    if "event" not in table.columns:
        raise ValueError("the feature table has no 'event' column (the generated event number): rerun run.py --features")
    out = table.loc[in_part(table["event"].to_numpy(), part)].reset_index(drop=True)
    _scale_to_part(out, part, dataset_metadata)
    return out


def _scale_to_part(table: pd.DataFrame, part: Part, dataset_metadata: Mapping[str, Mapping[str, Any]]) -> None:
    """In place: the weights of ``table`` (rows of ``part`` only) scaled to the part, and the :data:`MC_FLOOR` column."""
    names = table["dataset"].astype(str).to_numpy()
    scale = np.ones(len(table))
    for name in np.unique(names):
        if name not in dataset_metadata:
            raise ValueError(f"feature files hold dataset {name!r}, which the run's metadata does not list")
        if "n_generated" in dataset_metadata[name]:
            scale[names == name] = weight_scale(_generated(dataset_metadata[name]), part)
    table["weight"] = table["weight"].to_numpy() * scale
    table[MC_FLOOR] = _floors(table, dataset_metadata)


def load_part(
    features: str | Path, part: str, cut_table: CutTable, dataset_metadata: Mapping[str, Mapping[str, Any]], lumi_fb: float
) -> pd.DataFrame:
    """The exported feature rows of ``part`` (:mod:`sensitivity.splits`, thinned or not) inside the window of some
    hypothesis of ``cut_table``, weights checked against the run (:func:`check_weights`) and scaled to the part
    (:func:`select_part`). Read file by file (:func:`load_features`), so a sample larger than memory is never
    held whole; the rows left out are those no selection of ``cut_table`` can keep."""
    table = load_features(
        features, required=("event", "recoil_mass2"),
        keep_rows=lambda f: in_part(f["event"].to_numpy(), part) & cut_table.in_any_window(f["recoil_mass2"].to_numpy()),
    )  # fmt: skip
    check_weights(table, dataset_metadata, lumi_fb)
    _scale_to_part(table, part, dataset_metadata)  # every row is of the part: no copy
    return table


def _floors(table: pd.DataFrame, dataset_metadata: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    names = table["dataset"].astype(str).to_numpy()
    complements = [n for n in np.unique(names) if is_complement_slice(dataset_metadata.get(n, {}))]
    return np.where(np.isin(names, complements), 0.0, 1.0)


def generated_per_mass(dataset_metadata: Mapping[str, Mapping[str, Any]], cut_table: CutTable, part: Part = "all") -> np.ndarray:
    """Generated signal events of each hypothesis' mass in ``part`` (summed over its datasets; exact counts)."""
    counts = dict.fromkeys(cut_table.masses_mev, 0.0)
    for meta in dataset_metadata.values():
        if meta.get("channel") == SIGNAL_CHANNEL and round(1000 * float(meta["mzp"])) in counts:
            counts[round(1000 * float(meta["mzp"]))] += generated_in_part(_generated(meta), part)
    missing = [m for m, n in counts.items() if n <= 0]
    if missing:
        raise ValueError(f"no generated signal events for the hypotheses {missing} MeV")
    return np.array([counts[m] for m in cut_table.masses_mev])


def window_masks(table: pd.DataFrame, cut_table: CutTable) -> tuple[np.ndarray, np.ndarray]:
    """[M, N] masks: signal of mass m inside the window of m; background inside the window of m.

    The window is |M^2 - m^2| < window_n_sigma x sigma(m), as in the selection kernel.
    """
    m2 = table["recoil_mass2"].to_numpy()
    mzp_true = table["mzp_true_gev"].to_numpy()
    background = np.isnan(mzp_true)
    true_mev = np.where(background, -1, np.round(1000 * np.nan_to_num(mzp_true, nan=-1.0)))
    signal = np.zeros((len(cut_table.hypotheses), len(table)), dtype=bool)
    bkg = np.zeros_like(signal)
    for i, h in enumerate(cut_table.hypotheses):
        inside = cut_table.in_window(m2, h)
        signal[i] = inside & (true_mev == h.mzp_mev)
        bkg[i] = inside & background
    return signal, bkg


# --- training ------------------------------------------------------------------------------------


@dataclass
class _WindowData:
    """The (event, hypothesis) rows of a part: every signal event of mass m in the window of m and every background
    event in the window of m, each with input m; as tensors for the two training stages."""

    scaling: FeatureScaling  # the standardisation of x
    x: torch.Tensor  # [R, F] float32, standardised (the mass input last)
    weight: torch.Tensor  # [R] float64 MC weight
    signal_mask: torch.Tensor  # [M, R] bool: row is signal of hypothesis m
    background_mask: torch.Tensor  # [M, R] bool: row is background of hypothesis m
    n_generated: torch.Tensor  # [M] float64
    sample_index: torch.Tensor  # [R] int64: background sample of each row (0 for signal)
    sample_weight: torch.Tensor  # [S] float64: MC weight of one event of each background sample
    sample_floor: torch.Tensor  # [S] float64: MC events each sample counts at least in B (1, 0 for a complement slice)

    @functools.cached_property
    def is_signal(self) -> torch.Tensor:
        """[R] bool: the row is signal (of its hypothesis)."""
        return self.signal_mask.any(0)

    def bce_targets_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels and balanced weights: each hypothesis' window signal and window background weigh 1/M each."""
        sig = self.signal_mask.double()
        bkg = self.background_mask.double() * self.weight
        n_hyp = sig.shape[0]
        per_sig = sig / sig.sum(1, keepdim=True).clamp_min(1e-300)
        per_bkg = bkg / bkg.sum(1, keepdim=True).clamp_min(1e-300)
        w = (per_sig.sum(0) + per_bkg.sum(0)) / n_hyp  # sums to 2 (1 per class)
        n = w.shape[0]
        target = self.is_signal.float()
        return target, (w * n / 2).float()  # mean weight 1


def _hypothesis_rows(table: pd.DataFrame, cut_table: CutTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hypothesis index, event row, signal mask [M, N], background mask [M, N]) of the training rows."""
    signal, background = window_masks(table, cut_table)
    hypothesis, rows = np.nonzero(signal | background)
    return hypothesis, rows, signal, background


def _window_data(
    table: pd.DataFrame, cut_table: CutTable, n_generated: np.ndarray, scaling: FeatureScaling | None = None
) -> _WindowData:
    """The training rows of ``table``; ``scaling`` None: fitted on these rows' inputs (``_WindowData.scaling``)."""
    hypothesis, rows, signal, _ = _hypothesis_rows(table, cut_table)
    inputs = input_matrix(table, cut_table.masses_gev[hypothesis], rows)
    scaling = FeatureScaling.fit(inputs) if scaling is None else scaling
    is_signal = signal[hypothesis, rows]
    n_hyp = len(cut_table.hypotheses)
    one_hot = np.zeros((n_hyp, len(rows)), dtype=bool)
    one_hot[hypothesis, np.arange(len(rows))] = True
    names, weights, floors = _samples(table)
    datasets = table["dataset"].astype(str).to_numpy()[rows]
    sample_index = np.zeros(len(rows), dtype=np.int64)
    for i, name in enumerate(names):
        sample_index[datasets == name] = i
    return _WindowData(
        scaling,
        scaling.transform(inputs),
        torch.from_numpy(table["weight"].to_numpy(dtype=np.float64)[rows].copy()),
        torch.from_numpy(one_hot & is_signal),
        torch.from_numpy(one_hot & ~is_signal),
        torch.from_numpy(np.asarray(n_generated, dtype=np.float64)),
        torch.from_numpy(sample_index),
        torch.from_numpy(weights.copy()),  # a pandas view is read-only
        torch.from_numpy(floors.copy()),
    )


class _Threads:
    """Sets torch's intra-op threads for a block and restores them."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


def _batches(n: int, batch_size: int | None, generator: torch.Generator) -> Iterable[torch.Tensor]:
    """Rows 0 ... n-1 in shuffled batches of ``batch_size`` (None: one batch of all)."""
    if batch_size is None or batch_size >= n:
        yield torch.arange(n)
        return
    order = torch.randperm(n, generator=generator)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def _punzi_batches(data: _WindowData, batch_size: int | None, generator: torch.Generator) -> Iterable[torch.Tensor]:
    """Punzi-stage batches: every signal row and a shuffled batch of ``batch_size`` background rows (None: all rows).

    eps is then exact in every batch and only B is sampled: signal is scarce (a few MC events per mass in a window
    pass a tight output), and 1/eps of a random subset of it makes the loss and its gradient jump."""
    signal_rows = torch.nonzero(data.is_signal).squeeze(1)
    background_rows = torch.nonzero(~data.is_signal).squeeze(1)
    for idx in _batches(len(background_rows), batch_size, generator):
        yield torch.cat([signal_rows, background_rows[idx]])


def _loss(network: nn.Module, data: _WindowData, config: TrainingConfig, idx: torch.Tensor | None = None) -> torch.Tensor:
    """The Punzi loss of ``network`` on the rows ``idx`` of ``data`` (all rows: None); eps scaled up by 1 / (the
    fraction of the signal rows in ``idx``), B by 1 / (the fraction of the background rows)."""
    if idx is None:
        idx = torch.arange(data.x.shape[0])
    n_signal, n_signal_batch = data.is_signal.sum().item(), data.is_signal[idx].sum().item()
    n_background, n_background_batch = len(data.is_signal) - n_signal, len(idx) - n_signal_batch
    signal_fraction = n_signal_batch / n_signal if n_signal else 1.0
    background_fraction = n_background_batch / n_background if n_background else 1.0
    return punzi_loss(
        network(data.x[idx]).squeeze(1), data.weight[idx] / background_fraction,
        data.signal_mask[:, idx], data.background_mask[:, idx], data.n_generated * signal_fraction,
        config.punzi_a, config.punzi_b, sample_index=data.sample_index[idx], sample_weight=data.sample_weight / background_fraction,
        background_floor=config.punzi_background_floor * data.sample_floor * background_fraction,
    )  # fmt: skip


EpochReport = Callable[[str, int, int, float, float | None], None]
"""Called after every epoch: (stage "bce" or "punzi", epoch (1-based), epochs, training loss, threshold-split loss or None)."""


def train(
    table: pd.DataFrame,
    cut_table: CutTable,
    n_generated: np.ndarray,
    config: TrainingConfig = TrainingConfig(),
    threshold_split: tuple[pd.DataFrame, np.ndarray] | None = None,
    on_epoch: EpochReport | None = None,
) -> PunziNet:
    """Train the network on ``table`` (the train split: weights and ``n_generated`` of that split).

    Fits the input scaling on the training rows, trains the two stages (weighted BCE, then the
    Punzi loss) and chooses each mass' output threshold (:func:`choose_thresholds`). With
    ``threshold_split`` = (table, n_generated) of the threshold split, the Punzi stage stops
    after ``config.patience`` epochs without a lower loss there (keeping its best epoch's
    weights) and the thresholds are chosen there; without it, all epochs run and the thresholds
    are chosen on ``table``. ``history`` of the result holds the loss after every epoch of each
    stage (``punzi_threshold``: on the threshold split) and ``best_epoch``.
    """
    data = _window_data(table, cut_table, n_generated)  # the input scaling is fitted on the training rows
    scaling = data.scaling
    monitor = None if threshold_split is None else _window_data(threshold_split[0], cut_table, threshold_split[1], scaling)
    n = data.x.shape[0]
    if not (data.signal_mask.any(1).all() and data.background_mask.any().item()):
        raise ValueError("every hypothesis needs signal in its window, and some background must be in a window")
    generator = torch.Generator().manual_seed(config.seed)
    history: dict[str, list[float]] = {"bce": [], "punzi": [], "punzi_threshold": [], "best_epoch": []}
    with _Threads(config.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = build_network(len(scaling.names))

        target, bce_weight = data.bce_targets_weights()
        optimiser = torch.optim.Adam(network.parameters(), lr=config.bce_lr)
        logit = network[:-1]
        for epoch in range(config.bce_epochs):
            network.train()
            total = 0.0
            for idx in _batches(n, config.bce_batch_size, generator):
                optimiser.zero_grad()
                loss = F.binary_cross_entropy_with_logits(logit(data.x[idx]).squeeze(1), target[idx], weight=bce_weight[idx])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
            history["bce"].append(total / n)
            if on_epoch:
                on_epoch("bce", epoch + 1, config.bce_epochs, total / n, None)

        optimiser = torch.optim.Adam(network.parameters(), lr=config.punzi_lr)
        best = (math.inf, 0, None)  # (threshold-split loss, epoch, weights)
        for epoch in range(config.punzi_epochs):
            network.train()
            total, batches = 0.0, 0
            for idx in _punzi_batches(data, config.punzi_batch_size, generator):
                optimiser.zero_grad()
                loss = _loss(network, data, config, idx)
                loss.backward()
                optimiser.step()
                total, batches = total + loss.item(), batches + 1
            history["punzi"].append(total / batches)
            monitored = None
            if monitor is not None:
                network.eval()
                with torch.no_grad():
                    monitored = float(_loss(network, monitor, config))
                history["punzi_threshold"].append(monitored)
                if monitored < best[0]:
                    best = (monitored, epoch + 1, OrderedDict((k, v.detach().clone()) for k, v in network.state_dict().items()))
            if on_epoch:
                on_epoch("punzi", epoch + 1, config.punzi_epochs, total / batches, monitored)
            if monitor is not None and config.patience and epoch + 1 - best[1] >= config.patience:
                break
        if best[2] is not None and config.patience:
            network.load_state_dict(best[2])
        history["best_epoch"] = [float(best[1] if monitor is not None and config.patience else len(history["punzi"]))]
    network.eval()
    model = PunziNet(network, scaling, {}, config, history)
    choose_on, n_choose = (table, n_generated) if threshold_split is None else threshold_split
    with _Threads(config.threads):
        outputs = model.outputs(choose_on, cut_table)
    model.thresholds = choose_thresholds(outputs, choose_on, cut_table, n_choose, config.threshold_criterion, config.punzi_a)
    return model


def full_batch_punzi_loss(model: PunziNet, table: pd.DataFrame, cut_table: CutTable, n_generated: np.ndarray) -> float:
    """The Punzi loss of ``model`` on all window rows of ``table`` (no gradient; B with the model's floor)."""
    data = _window_data(table, cut_table, n_generated, model.scaling)
    model.network.eval()
    with torch.no_grad():
        return float(_loss(model.network, data, model.config))


# --- thresholds, yields, figures of merit --------------------------------------------------------


def figures_of_merit(eps: float, background: float, background_effective: float, a: float = PUNZI_A) -> dict[str, float]:
    """eps / sqrt(B) and eps / (a/2 + sqrt(B)), each with the raw B and with B_eff.

    B_eff counts each background sample as at least one MC event of its weight (as in
    :mod:`sensitivity.cut_optimisation`), so that removing a sample's last MC event is not
    rewarded with an infinite eps / sqrt(B).
    """
    return {
        "fom": eps / math.sqrt(background) if background > 0 else math.inf,
        "punzi": eps / (a / 2 + math.sqrt(max(background, 0.0))),
        "fom_eff": eps / math.sqrt(background_effective) if background_effective > 0 else math.inf,
        "punzi_eff": eps / (a / 2 + math.sqrt(max(background_effective, 0.0))),
    }


def _samples(table: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, per-event weights, MC floors) of the background datasets in ``table``; the floor is the
    :data:`MC_FLOOR` column (:func:`select_part` adds it), 1 where the table has none."""
    bkg = table.loc[table["mzp_true_gev"].isna()]
    columns = ["weight", MC_FLOOR] if MC_FLOOR in bkg.columns else ["weight"]
    first = bkg.groupby("dataset", observed=True)[columns].first()
    floors = first[MC_FLOOR].to_numpy(dtype=np.float64) if MC_FLOOR in first.columns else np.ones(len(first))
    return [str(k) for k in first.index], first["weight"].to_numpy(dtype=np.float64), floors


def choose_thresholds(
    outputs: np.ndarray,
    table: pd.DataFrame,
    cut_table: CutTable,
    n_generated: np.ndarray,
    criterion: Literal["fom", "punzi"] = "fom",
    a: float = PUNZI_A,
    n_candidates: int = 400,
) -> dict[int, float]:
    """Per mass (MeV), the output cut y > t that maximises eps / sqrt(B_eff) (or the Punzi FOM) on ``table``.

    ``outputs`` [M, N]: y of every row at each hypothesis' mass (:meth:`PunziNet.outputs`). Candidates
    are 0 and the quantiles of y of the window signal (each keeps a known fraction of it).
    """
    signal, background = window_masks(table, cut_table)
    datasets = table["dataset"].astype(str).to_numpy()
    names, weights, floors = _samples(table)
    thresholds = {}
    for i, h in enumerate(cut_table.hypotheses):
        sig_y = np.sort(outputs[i][signal[i]].astype(np.float64))
        candidates = np.unique(np.concatenate([[0.0], np.quantile(sig_y, np.linspace(0.0, 0.999, n_candidates))])) - 1e-12
        candidates = np.clip(candidates, 0.0, None)
        eps = (sig_y.size - np.searchsorted(sig_y, candidates, side="right")) / n_generated[i]
        b_eff = np.zeros_like(candidates)
        for name, w, floor in zip(names, weights, floors):
            y = np.sort(outputs[i][background[i] & (datasets == name)].astype(np.float64))
            b_eff += w * np.maximum(y.size - np.searchsorted(y, candidates, side="right"), floor)
        fom = eps / np.sqrt(b_eff) if criterion == "fom" else eps / (a / 2 + np.sqrt(b_eff))
        thresholds[h.mzp_mev] = float(candidates[int(np.argmax(fom))])
    return thresholds


def network_passes(model: PunziNet, cut_table: CutTable, outputs: np.ndarray) -> np.ndarray:
    """[M, N] y(x, m) > threshold(m) at every mass of ``cut_table`` (between grid masses: :meth:`PunziNet.threshold`).

    Compared in float64, as :func:`choose_thresholds` chose them: a threshold just below a saturated float32 output
    of 1.0 (1 - 1e-12) would round to 1.0 in float32 and pass nothing."""
    return np.stack([outputs[i].astype(np.float64) > model.threshold(h.mzp_gev) for i, h in enumerate(cut_table.hypotheses)])


def cut_passes(table: pd.DataFrame, cut_table: CutTable) -> np.ndarray:
    """[M, N] the event passes every cut of the hypothesis (the selection kernel on the exported variables)."""
    return selection_codes(variable_matrix(table), cut_table) >= CODE_ALL_CUTS


def selection_yields(
    passed: np.ndarray, table: pd.DataFrame, cut_table: CutTable, n_generated: np.ndarray, a: float = PUNZI_A
) -> list[dict]:
    """Per mass: eps, B, raw background MC count (per dataset), B_eff and figures of merit of the events of ``table``
    that pass (``passed`` [M, N]) inside the window; the same rows for the network and the cuts."""
    signal, background = window_masks(table, cut_table)
    datasets = table["dataset"].astype(str).to_numpy()
    names, weights, floors = _samples(table)
    rows = []
    for i, h in enumerate(cut_table.hypotheses):
        selected = passed[i] & background[i]
        counts = {name: int(np.count_nonzero(selected & (datasets == name))) for name in names}
        n = np.array([counts[k] for k in names], dtype=np.float64)
        eps = np.count_nonzero(passed[i] & signal[i]) / n_generated[i]
        total = float(n @ weights)
        effective = float(np.maximum(n, floors) @ weights)
        rows.append({
            "mzp_gev": h.mzp_gev, "eps": float(eps), "background": float(total),
            "background_mc_count": int(sum(counts.values())), "background_mc_by_dataset": counts,
            "background_effective": float(effective), **figures_of_merit(float(eps), total, effective, a),
        })  # fmt: skip
    return rows


def fom_ratio_error(
    numerator: np.ndarray, denominator: np.ndarray, table: pd.DataFrame, cut_table: CutTable, n_generated: np.ndarray,
    replicas: int = 200, seed: int = 1,
) -> np.ndarray:
    """Per mass, the statistical error of (eps/sqrt(B_eff) of ``numerator``) / (that of ``denominator``) (pass masks
    [M, N] on the same events): the standard deviation over Poisson(1) bootstrap replicas of the events, which keeps
    the correlation of two selections that share events."""
    signal, background = window_masks(table, cut_table)
    datasets = table["dataset"].astype(str).to_numpy()
    names, weights, floors = _samples(table)
    rng = np.random.default_rng(seed)
    errors = np.full(len(cut_table.hypotheses), np.nan)
    for i in range(len(cut_table.hypotheses)):
        relevant = np.flatnonzero((numerator[i] | denominator[i]) & (signal[i] | background[i]))
        p = rng.poisson(1.0, size=(replicas, len(relevant))).astype(np.float64)
        foms = []
        for mask in (numerator[i][relevant], denominator[i][relevant]):
            eps = (p * (mask & signal[i][relevant])).sum(1) / n_generated[i]
            b_eff = np.zeros(replicas)
            for name, w, floor in zip(names, weights, floors):
                b_eff += w * np.maximum((p * (mask & background[i][relevant] & (datasets[relevant] == name))).sum(1), floor)
            foms.append(eps / np.sqrt(b_eff))
        ratio = foms[0] / np.where(foms[1] > 0, foms[1], np.nan)
        errors[i] = float(np.nanstd(ratio, ddof=1)) if np.isfinite(ratio).sum() > 1 else np.nan
    return errors


# --- selected histograms -------------------------------------------------------------------------


def selected_histograms(passed: np.ndarray, table: pd.DataFrame, cut_table: CutTable) -> dict[str, dict]:
    """Per dataset: the recoil-mass-squared histograms of the events that pass (``passed`` [M, N]) and their counts.

    For every dataset of ``table``: ``recoil_mass2_selected``, a ``hist.Hist`` with axes
    ``mzp_mev`` x ``mrecoil2`` (the processor's, :func:`processors.histograms.make_recoil_mass2_selected`)
    and ``Weight`` storage, filled for each hypothesis m with the events that pass at m and their
    (part-scaled) weights; and ``cutflow_hypotheses`` {m: {"selection": raw count that passes at m,
    "window": raw count of those inside the window of m}}, the counts the limits read (also as the
    legacy ``cutflow_mzp``, window key ``recoil_mass_window``).
    """
    m2 = table["recoil_mass2"].to_numpy()
    weight = table["weight"].to_numpy()
    datasets = table["dataset"].astype(str).to_numpy()
    out = {}
    for name in sorted(set(datasets)):
        rows = datasets == name
        h = histograms.make_recoil_mass2_selected(cut_table.masses_mev)
        cutflow = {}
        for i, hyp in enumerate(cut_table.hypotheses):
            selected = rows & passed[i]
            h.fill(np.full(np.count_nonzero(selected), hyp.mzp_mev), m2[selected], weight=weight[selected])
            cutflow[hyp.mzp_mev] = (int(np.count_nonzero(selected)), int(np.count_nonzero(selected & cut_table.in_window(m2, hyp))))
        out[name] = {
            "recoil_mass2_selected": h,
            # the processors' two keys (docs/output.md), same numbers
            "cutflow_hypotheses": {m: {"selection": n, "window": w} for m, (n, w) in cutflow.items()},
            "cutflow_mzp": {m: {"selection": n, "recoil_mass_window": w} for m, (n, w) in cutflow.items()},
        }
    return out


def part_metadata(dataset_metadata: Mapping[str, Mapping[str, Any]], part: Part) -> dict[str, dict]:
    """The run's dataset metadata for the events of ``part``: ``n_generated`` = the part's generated events, so that
    xsec L / n_generated is the part's weight (the limits of a part's selected histograms read it)."""
    return {
        name: {**meta, "n_generated": generated_in_part(_generated(meta), part)} if "n_generated" in meta else dict(meta)
        for name, meta in dataset_metadata.items()
    }


def check_weights(table: pd.DataFrame, dataset_metadata: Mapping[str, Mapping[str, Any]], lumi_fb: float) -> None:
    """The feature files' weights must be xsec * lumi / n_generated at ``lumi_fb`` (same run, same sample)."""
    first = table.groupby("dataset", observed=True)["weight"].first()
    for name, weight in first.items():
        if name not in dataset_metadata:
            raise ValueError(f"feature files hold dataset {name!r}, which the fileset does not list")
        expected = event_weight(dataset_metadata[name], lumi_fb)
        if not np.isclose(weight, expected, rtol=1e-9):
            raise ValueError(
                f"dataset {name}: feature weight {weight:.6g} is not xsec*lumi/n_generated = {expected:.6g} at {lumi_fb} fb^-1 (other --lumi or sample?)"
            )
