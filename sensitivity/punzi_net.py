"""The Punzi-loss neural network selection of the invisible-Z' search (seed talk, docs/physics.md §6).

One network for all Z' masses (no mass input), as in the talk's "The Punzi Loss Neural
Net selection": the 14 inputs of :data:`selections.zprime_variables.NETWORK_FEATURES`,
layers 32-64-64-32-16-8-1 (the first, of 32 nodes, is the talk's "input (32 nodes)"),
ReLU activations and a sigmoid output y in (0, 1).

Training (Belle II punzinet) has two stages on the training half of the MC:

1. weighted binary cross entropy, signal against background, classes balanced: every mass
   hypothesis' signal in its recoil-mass window weighs 1/M in total, and so does every
   hypothesis' background in its window (background events in proportion to their MC
   weight), M being the number of hypotheses;
2. the Punzi loss (:func:`punzi_loss`): for each mass hypothesis m,
   eps(m) = sum of y over signal events of mass m with |M^2 - m^2| < n sigma(m), divided by
   the generated signal events of mass m, and B(m) = sum of weight x y over background events
   in that window; with a = 3, b = 1.28155,
   S_min = a^2/8 + 9 b^2/13 + a sqrt(B) + (b/2) sqrt(b^2 + 4 a sqrt(B) + 4 B),
   sigma_min = S_min / (eps L), and the loss is the mean of sigma_min over the hypotheses.

The MC is split in halves by event parity within each dataset (preselected events in file
and entry order: even = ``train``, odd = ``validation``), the same halves as
:mod:`sensitivity.cut_optimisation`; each half's MC weights are doubled and its generated
counts halved. Everything that is fitted or chosen (feature scaling, network weights, the
output threshold of each mass) sees the training half only; the validation half only
measures. Training is seeded (network initialisation and batch order) and runs on the CPU
with a fixed number of threads, so the same seed and inputs give identical weights.

The trained selection (:class:`PunziNet`: network, feature scaling, thresholds, training
configuration) is saved with :meth:`PunziNet.save` (``torch.save`` of plain tensors and
numbers, loadable with ``weights_only=True``) and applied to the columns that ``run.py
--features DIR`` exports (:func:`load_features`, :func:`apply`, :func:`network_selected`).
"""

from __future__ import annotations

import dataclasses
import math
import time
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

from processors import histograms
from selections.zprime_selection import CutTable
from selections.zprime_variables import NETWORK_FEATURES

PUNZI_A = 3.0
"""a of the Punzi loss and of the Punzi figure of merit eps / (a/2 + sqrt(B)) (docs/physics.md §6)."""
PUNZI_B = 1.28155
"""b of the Punzi loss (the one-sided 90% quantile of the normal distribution, docs/physics.md §6)."""
LAYER_NODES: tuple[int, ...] = (32, 64, 64, 32, 16, 8, 1)
"""Nodes of the talk's seven layers: input (32), hidden (64, 64, 32, 16, 8), output (1)."""
LAYER_NAMES: tuple[str, ...] = ("input", "hidden1", "hidden2", "hidden3", "hidden4", "hidden5", "output")
"""Names of the linear layers in :func:`build_network`, in the talk's words."""
SIGNAL_CHANNEL = "signal"
"""``channel`` of the Z' signal datasets in the fileset metadata."""
FORMAT = "punzi_net/1"
"""Tag of the saved model dictionary (:meth:`PunziNet.save`)."""

Part = Literal["train", "validation", "all"]
PART_WEIGHT_SCALE: dict[str, float] = {"train": 2.0, "validation": 2.0, "all": 1.0}
"""Factor on the MC weights of a part (and divisor of its generated counts)."""


# --- the network -------------------------------------------------------------------------------


def build_network(n_features: int = len(NETWORK_FEATURES), layer_nodes: Sequence[int] = LAYER_NODES) -> nn.Sequential:
    """The talk's network: ``n_features`` -> 32 -> 64 -> 64 -> 32 -> 16 -> 8 -> 1, ReLU, sigmoid output.

    Modules are named: ``input`` is the first linear layer (the talk's "input (32 nodes)"),
    ``hidden1`` ... ``hidden5`` the next, ``output`` the last linear layer, ``sigmoid`` the output
    function; ``network[:-1]`` gives the logit.
    """
    if len(layer_nodes) != len(LAYER_NAMES) or layer_nodes[-1] != 1:
        raise ValueError(f"expected {len(LAYER_NAMES)} layers ending in one node, got {tuple(layer_nodes)}")
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    n_in = n_features
    for name, n_out in zip(LAYER_NAMES, layer_nodes):
        modules[name] = nn.Linear(n_in, n_out)
        if name != "output":
            modules[f"{name}_relu"] = nn.ReLU()
        n_in = n_out
    modules["sigmoid"] = nn.Sigmoid()
    return nn.Sequential(modules)


@dataclass(frozen=True)
class FeatureScaling:
    """Standardisation x -> (x - mean) / std of the network inputs, fitted on the training half."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, table: pd.DataFrame, names: Sequence[str] = NETWORK_FEATURES) -> FeatureScaling:
        x = feature_matrix(table, names)
        std = x.std(axis=0)
        return cls(tuple(names), x.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, table: pd.DataFrame) -> torch.Tensor:
        """Standardised inputs of ``table`` as a float32 tensor [n_events, n_features]."""
        x = (feature_matrix(table, self.names) - self.mean) / self.std
        return torch.from_numpy(x.astype(np.float32))


def feature_matrix(table: pd.DataFrame, names: Sequence[str] = NETWORK_FEATURES) -> np.ndarray:
    """The network inputs of ``table`` as float64 [n_events, n_features], in the order of ``names``."""
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"feature table lacks the network inputs {missing}")
    return (
        np.column_stack([table[n].to_numpy(dtype=np.float64) for n in names])
        if len(table)
        else np.zeros((0, len(names)))
    )


@dataclass(frozen=True)
class TrainingConfig:
    """Knobs of :func:`train` (saved with the model)."""

    seed: int = 1
    """Seeds the network initialisation and the batch order."""
    threads: int = 1
    """CPU threads used while training: fixed, so that sums are done in the same order (one thread is as
    fast as two for this small network and does not slow down by spin-waiting when the cores are shared)."""
    bce_epochs: int = 10
    bce_batch_size: int = 2048
    bce_lr: float = 1e-3
    punzi_epochs: int = 100
    punzi_batch_size: int | None = 65536
    """Events per Punzi-loss batch (eps and B of a batch are scaled up by 1/fraction); None: full batch."""
    punzi_lr: float = 3e-4
    punzi_background_floor: float = 1.0
    """MC events each background sample counts at least in the Punzi loss' B (see :func:`punzi_terms`); 0: plain B."""
    punzi_a: float = PUNZI_A
    punzi_b: float = PUNZI_B
    threshold_criterion: Literal["fom", "punzi"] = "fom"
    """How :func:`choose_thresholds` picks each mass' output cut on the training half:
    ``fom`` = eps / sqrt(B_eff), ``punzi`` = eps / (a/2 + sqrt(B_eff)) (see :func:`figures_of_merit`)."""


@dataclass(eq=False)
class PunziNet:
    """A trained selection: network, input scaling, output threshold per mass (MeV), configuration."""

    network: nn.Sequential
    scaling: FeatureScaling
    thresholds: dict[int, float]
    config: TrainingConfig
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def predict(self, table: pd.DataFrame, batch_size: int = 262144) -> np.ndarray:
        """Network output y in (0, 1) of every row of ``table`` (float64 array)."""
        return apply(self, table, batch_size)

    def save(self, path: str | Path) -> Path:
        """``torch.save`` the network weights, scaling, feature names, thresholds and configuration."""
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
            raise ValueError(f"{path} is not a saved Punzi network ({FORMAT}): format {state.get('format')!r}")
        names = tuple(state["feature_names"])
        network = build_network(len(names), state["layer_nodes"])
        network.load_state_dict(state["state_dict"])
        network.eval()
        scaling = FeatureScaling(names, state["feature_mean"].numpy(), state["feature_std"].numpy())
        return cls(
            network, scaling, dict(state["thresholds_mzp_mev"]), TrainingConfig(**state["config"]), state["history"]
        )


def apply(model: PunziNet, table: pd.DataFrame, batch_size: int = 262144) -> np.ndarray:
    """The network output y of every row of ``table`` (the exported feature columns), float64."""
    x = model.scaling.transform(table)
    model.network.eval()
    with torch.no_grad():
        out = [model.network(x[i : i + batch_size]).squeeze(1) for i in range(0, len(x), batch_size)]
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
    background_floor: float = 0.0,
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
    fluctuations). With floor 0 it equals the plain B.
    """
    dtype = weights.dtype
    y = outputs.reshape(-1).to(dtype)
    eps = (signal_mask.to(dtype) @ y) / n_generated.to(dtype)
    if sample_index is None:
        background = background_mask.to(dtype) @ (weights * y)
    else:
        per_sample = torch.zeros(background_mask.shape[0], len(sample_weight), dtype=dtype)
        per_sample = per_sample.index_add(1, sample_index, background_mask.to(dtype) * y)
        background = per_sample.clamp_min(background_floor) @ sample_weight.to(dtype)
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
    background_floor: float = 0.0,
) -> torch.Tensor:
    """The Punzi loss: the mean over mass hypotheses of sigma_min (see :func:`punzi_terms`)."""
    terms = punzi_terms(
        outputs, weights, signal_mask, background_mask, n_generated, a, b, lumi,
        sample_index, sample_weight, background_floor,
    )  # fmt: skip
    return terms[2].mean()


# --- inputs --------------------------------------------------------------------------------------


def select_part(table: pd.DataFrame, part: Part) -> pd.DataFrame:
    """The ``train`` (even ``event_index``) or ``validation`` (odd) half, weights doubled; or ``all``."""
    if part == "all":
        return table
    if part not in ("train", "validation"):
        raise ValueError(f"part must be 'train', 'validation' or 'all', got {part!r}")
    keep = (table["event_index"].to_numpy() % 2) == (0 if part == "train" else 1)
    out = table.loc[keep].reset_index(drop=True)
    out["weight"] = out["weight"] * PART_WEIGHT_SCALE[part]
    return out


def generated_per_mass(
    dataset_metadata: Mapping[str, Mapping[str, Any]], cut_table: CutTable, part: Part = "all"
) -> np.ndarray:
    """Generated signal events of each hypothesis' mass (summed over its datasets), divided by 2 for a half."""
    counts = dict.fromkeys(cut_table.masses_mev, 0.0)
    for meta in dataset_metadata.values():
        if meta.get("channel") == SIGNAL_CHANNEL and round(1000 * float(meta["mzp"])) in counts:
            counts[round(1000 * float(meta["mzp"]))] += float(meta["n_generated"])
    missing = [m for m, n in counts.items() if n <= 0]
    if missing:
        raise ValueError(f"no generated signal events for the hypotheses {missing} MeV")
    return np.array([counts[m] for m in cut_table.masses_mev]) / PART_WEIGHT_SCALE[part]


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
    """The events of a part inside at least one window, as tensors for the two training stages."""

    x: torch.Tensor  # [N, F] float32, standardised
    weight: torch.Tensor  # [N] float64 MC weight
    signal_mask: torch.Tensor  # [M, N] bool
    background_mask: torch.Tensor  # [M, N] bool
    n_generated: torch.Tensor  # [M] float64
    sample_index: torch.Tensor  # [N] int64: background sample of each event (0 for signal)
    sample_weight: torch.Tensor  # [S] float64: MC weight of one event of each background sample

    def bce_targets_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels and balanced weights: each hypothesis' window signal and window background weigh 1/M each."""
        sig = self.signal_mask.double()
        bkg = self.background_mask.double() * self.weight
        n_hyp = sig.shape[0]
        per_sig = sig / sig.sum(1, keepdim=True).clamp_min(1e-300)
        per_bkg = bkg / bkg.sum(1, keepdim=True).clamp_min(1e-300)
        w = (per_sig.sum(0) + per_bkg.sum(0)) / n_hyp  # sums to 2 (1 per class)
        n = w.shape[0]
        target = self.signal_mask.any(0).float()
        return target, (w * n / 2).float()  # mean weight 1


def _window_data(
    table: pd.DataFrame, cut_table: CutTable, n_generated: np.ndarray, scaling: FeatureScaling
) -> _WindowData:
    signal, background = window_masks(table, cut_table)
    inside = signal.any(0) | background.any(0)
    sample_weight = _sample_weights(table)
    names = list(sample_weight)
    datasets = table["dataset"].astype(str).to_numpy()[inside]
    sample_index = np.zeros(len(datasets), dtype=np.int64)
    for i, name in enumerate(names):
        sample_index[datasets == name] = i
    return _WindowData(
        scaling.transform(table.loc[inside]),
        torch.from_numpy(table["weight"].to_numpy(dtype=np.float64)[inside].copy()),
        torch.from_numpy(signal[:, inside].copy()),
        torch.from_numpy(background[:, inside].copy()),
        torch.from_numpy(np.asarray(n_generated, dtype=np.float64)),
        torch.from_numpy(sample_index),
        torch.tensor([sample_weight[k] for k in names], dtype=torch.float64),
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
    if batch_size is None or batch_size >= n:
        yield torch.arange(n)
        return
    order = torch.randperm(n, generator=generator)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def train(
    table: pd.DataFrame,
    cut_table: CutTable,
    n_generated: np.ndarray,
    config: TrainingConfig = TrainingConfig(),
    log: Callable[[str], None] | None = None,
) -> PunziNet:
    """Train the network on ``table`` (the training half: weights and ``n_generated`` of that half).

    Fits the feature scaling on ``table``, trains the two stages (weighted BCE, then the Punzi
    loss), and chooses each mass' output threshold on ``table`` (:func:`choose_thresholds`).
    ``history`` of the result holds the loss after every epoch of each stage.
    """
    scaling = FeatureScaling.fit(table)
    data = _window_data(table, cut_table, n_generated, scaling)
    n = data.x.shape[0]
    if not (data.signal_mask.any(1).all() and data.background_mask.any().item()):
        raise ValueError("every hypothesis needs signal in its window, and some background must be in a window")
    generator = torch.Generator().manual_seed(config.seed)
    history: dict[str, list[float]] = {"bce": [], "punzi": []}
    with _Threads(config.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = build_network(len(scaling.names))

        target, bce_weight = data.bce_targets_weights()
        optimiser = torch.optim.Adam(network.parameters(), lr=config.bce_lr)
        logit = network[:-1]
        start = time.perf_counter()
        for epoch in range(config.bce_epochs):
            network.train()
            total = 0.0
            for idx in _batches(n, config.bce_batch_size, generator):
                optimiser.zero_grad()
                loss = F.binary_cross_entropy_with_logits(
                    logit(data.x[idx]).squeeze(1), target[idx], weight=bce_weight[idx]
                )
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
            history["bce"].append(total / n)
            if log:
                log(
                    f"BCE   epoch {epoch + 1:3d}/{config.bce_epochs}: loss {total / n:.4f}  ({time.perf_counter() - start:.0f} s)"
                )

        optimiser = torch.optim.Adam(network.parameters(), lr=config.punzi_lr)
        for epoch in range(config.punzi_epochs):
            network.train()
            total, batches = 0.0, 0
            for idx in _batches(n, config.punzi_batch_size, generator):
                fraction = len(idx) / n
                optimiser.zero_grad()
                loss = punzi_loss(
                    network(data.x[idx]).squeeze(1),
                    data.weight[idx] / fraction,
                    data.signal_mask[:, idx],
                    data.background_mask[:, idx],
                    data.n_generated * fraction,
                    config.punzi_a,
                    config.punzi_b,
                    sample_index=data.sample_index[idx],
                    sample_weight=data.sample_weight / fraction,
                    background_floor=config.punzi_background_floor * fraction,
                )
                loss.backward()
                optimiser.step()
                total, batches = total + loss.item(), batches + 1
            history["punzi"].append(total / batches)
            if log and (epoch + 1) % max(1, config.punzi_epochs // 10) == 0:
                log(
                    f"Punzi epoch {epoch + 1:3d}/{config.punzi_epochs}: loss {total / batches:.4g}  ({time.perf_counter() - start:.0f} s)"
                )
    network.eval()
    model = PunziNet(network, scaling, {}, config, history)
    with _Threads(config.threads):
        outputs = apply(model, table)
    model.thresholds = choose_thresholds(
        outputs, table, cut_table, n_generated, config.threshold_criterion, config.punzi_a
    )
    return model


def full_batch_punzi_loss(model: PunziNet, table: pd.DataFrame, cut_table: CutTable, n_generated: np.ndarray) -> float:
    """The Punzi loss of ``model`` on all window events of ``table`` (no gradient; B with the model's floor)."""
    data = _window_data(table, cut_table, n_generated, model.scaling)
    with torch.no_grad():
        y = model.network(data.x).squeeze(1)
        return float(
            punzi_loss(
                y,
                data.weight,
                data.signal_mask,
                data.background_mask,
                data.n_generated,
                model.config.punzi_a,
                model.config.punzi_b,
                sample_index=data.sample_index,
                sample_weight=data.sample_weight,
                background_floor=model.config.punzi_background_floor,
            )
        )


# --- thresholds, yields, figures of merit --------------------------------------------------------


def figures_of_merit(
    eps: float, background: float, background_effective: float, a: float = PUNZI_A
) -> dict[str, float]:
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


def _sample_weights(table: pd.DataFrame) -> dict[str, float]:
    """The per-event weight of every background dataset in ``table``."""
    bkg = table.loc[table["mzp_true_gev"].isna(), ["dataset", "weight"]]
    return {str(k): float(v) for k, v in bkg.groupby("dataset", observed=True)["weight"].first().items()}


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

    Candidates are 0 and the quantiles of y of the window signal (each keeps a known fraction of it).
    """
    signal, background = window_masks(table, cut_table)
    datasets = table["dataset"].astype(str).to_numpy()
    sample_weight = _sample_weights(table)
    thresholds = {}
    for i, h in enumerate(cut_table.hypotheses):
        sig_y = np.sort(outputs[signal[i]])
        candidates = (
            np.unique(np.concatenate([[0.0], np.quantile(sig_y, np.linspace(0.0, 0.999, n_candidates))])) - 1e-12
        )
        candidates = np.clip(candidates, 0.0, None)
        eps = (sig_y.size - np.searchsorted(sig_y, candidates, side="right")) / n_generated[i]
        b_raw = np.zeros_like(candidates)
        b_eff = np.zeros_like(candidates)
        for name, w in sample_weight.items():
            y = np.sort(outputs[background[i] & (datasets == name)])
            count = y.size - np.searchsorted(y, candidates, side="right")
            b_raw += w * count
            b_eff += w * np.maximum(count, 1)
        fom = eps / np.sqrt(b_eff) if criterion == "fom" else eps / (a / 2 + np.sqrt(b_eff))
        thresholds[h.mzp_mev] = float(candidates[int(np.argmax(fom))])
    return thresholds


def network_yields(
    model: PunziNet,
    table: pd.DataFrame,
    cut_table: CutTable,
    n_generated: np.ndarray,
    outputs: np.ndarray | None = None,
) -> list[dict]:
    """Per mass: threshold, eps, B, raw background MC count, B_eff and figures of merit of y > threshold on ``table``."""
    y = apply(model, table) if outputs is None else outputs
    signal, background = window_masks(table, cut_table)
    datasets = table["dataset"].astype(str).to_numpy()
    sample_weight = _sample_weights(table)
    rows = []
    for i, h in enumerate(cut_table.hypotheses):
        t = model.thresholds[h.mzp_mev]
        passed = y > t
        counts = {name: int(np.count_nonzero(passed & background[i] & (datasets == name))) for name in sample_weight}
        rows.append(
            _yield_row(
                h.mzp_gev,
                np.count_nonzero(passed & signal[i]) / n_generated[i],
                counts,
                sample_weight,
                model.config.punzi_a,
            )
            | {"threshold": t}
        )
    return rows


def _yield_row(
    mzp_gev: float, eps: float, counts: Mapping[str, int], sample_weight: Mapping[str, float], a: float
) -> dict:
    background = sum(sample_weight[k] * counts[k] for k in sample_weight)
    effective = sum(sample_weight[k] * max(counts[k], 1) for k in sample_weight)
    return {
        "mzp_gev": mzp_gev,
        "eps": float(eps),
        "background": float(background),
        "background_mc_count": int(sum(counts.values())),
        "background_mc_by_dataset": dict(counts),
        "background_effective": float(effective),
        **figures_of_merit(float(eps), background, effective, a),
    }


def cut_yields(
    features: pd.DataFrame,
    dataset_metadata: Mapping[str, Mapping[str, Any]],
    cut_table: CutTable,
    lumi_fb: float,
    part: Part = "validation",
    a: float = PUNZI_A,
) -> list[dict]:
    """The hand cuts' eps, B and figures of merit per mass on a half of the MC (same rows as :func:`network_yields`).

    ``features`` is the :func:`load_features` table of the processor's export (every variable of
    every preselected event), so the cuts are evaluated by the selection kernel on exactly the
    events, and the halves, that the network sees; ``dataset_metadata`` is the run's.
    """
    from core.weights import event_weight
    from selections.zprime_selection import CODE_IN_WINDOW, selection_codes
    from sensitivity.cut_optimisation import load_samples

    scale = PART_WEIGHT_SCALE[part]
    n_generated = generated_per_mass(dataset_metadata, cut_table, part)
    signal_counts = np.zeros(len(cut_table.hypotheses))
    counts: dict[str, np.ndarray] = {}
    sample_weight: dict[str, float] = {}
    for sample in load_samples(features, dataset_metadata, lumi_fb):
        meta = dataset_metadata[sample.name]
        variables = sample.variables if part == "all" else sample.variables[:, (0 if part == "train" else 1) :: 2]
        in_window = selection_codes(np.ascontiguousarray(variables), cut_table) == CODE_IN_WINDOW
        if meta.get("channel") == SIGNAL_CHANNEL:
            for i, h in enumerate(cut_table.hypotheses):
                if round(1000 * float(meta["mzp"])) == h.mzp_mev:
                    signal_counts[i] += np.count_nonzero(in_window[i])
        elif "xsec_pb" in meta:
            counts[sample.name] = in_window.sum(axis=1)
            sample_weight[sample.name] = event_weight(meta, lumi_fb) * scale
    return [
        _yield_row(
            h.mzp_gev, signal_counts[i] / n_generated[i], {k: int(v[i]) for k, v in counts.items()}, sample_weight, a
        )
        for i, h in enumerate(cut_table.hypotheses)
    ]


# --- network-selected histograms -----------------------------------------------------------------


def network_selected(
    model: PunziNet, table: pd.DataFrame, cut_table: CutTable, outputs: np.ndarray | None = None
) -> dict[str, dict]:
    """Per dataset: the recoil-mass-squared histograms of the events the network selects, and their counts.

    For every dataset of ``table``: ``recoil_mass2_selected``, a ``hist.Hist`` with axes
    ``mzp_mev`` x ``mrecoil2`` (the processor's, :func:`processors.histograms.make_recoil_mass2_selected`)
    and ``Weight`` storage, filled for each hypothesis m with the events of y > threshold(m)
    and their (part-scaled) weights; and ``cutflow_mzp`` {m: {"network": raw count with
    y > threshold(m), "recoil_mass_window": raw count of those inside the window of m}}.
    """
    y = apply(model, table) if outputs is None else outputs
    m2 = table["recoil_mass2"].to_numpy()
    weight = table["weight"].to_numpy()
    datasets = table["dataset"].astype(str).to_numpy()
    out = {}
    for name in sorted(set(datasets)):
        rows = datasets == name
        h = histograms.make_recoil_mass2_selected(cut_table.masses_mev)
        cutflow = {}
        for hyp in cut_table.hypotheses:
            passed = rows & (y > model.thresholds[hyp.mzp_mev])
            h.fill(np.full(np.count_nonzero(passed), hyp.mzp_mev), m2[passed], weight=weight[passed])
            inside = passed & cut_table.in_window(m2, hyp)
            cutflow[hyp.mzp_mev] = {
                "network": int(np.count_nonzero(passed)),
                "recoil_mass_window": int(np.count_nonzero(inside)),
            }
        out[name] = {"recoil_mass2_selected": h, "cutflow_mzp": cutflow}
    return out
