"""90% CL upper limits of the three searches from the processor output, one counting experiment per mass.

One pipeline for the invisible Z' (recoil-mass window), the visible Z' -> mu mu (m_R window) and the
leptophilic scalar phi_L (pair-mass window, after the BDT score cut of :mod:`sensitivity.scalar_bdt`).
The chain, each step a function of the previous one's output:

1. :func:`window_yields` reads the pickled result dict of ``run.py`` (docs/output.md): from the
   ``cutflow_hypotheses`` of every dataset (``"window"``: raw events in the mass window of the
   hypothesis; outputs written before that key existed are read through their ``cutflow_mzp`` /
   ``cutflow_mphi``) it returns one :class:`WindowYields` per signal channel: per mass hypothesis m the
   signal efficiency eps(m) (window count of the signal sample of mass m over its generated events),
   the expected background B(m) = sum_d n_d w_d over the background datasets d (window count n_d,
   event weight w_d = xsec_pb lumi_fb 1000 / n_generated) with its Monte Carlo statistical
   uncertainty sigma_B^2 = sum_d n_d w_d^2, and the signal yield at unit coupling,
   S1 = xsec_pb(coupling 1) BR lumi eps, with the branching fraction of the search's decay
   (:data:`SIGNAL_MODELS`). A background channel with no MC event in a window contributes its
   one-event weight w_c +- w_c instead of 0 (the zero-event rule), and a window whose channels
   resting on fewer than :data:`LOW_MC_EVENTS` MC events make up :data:`LOW_MC_MIN_SHARE` of B is
   flagged ``low_mc`` (docs/systematics.md). The BDT path of the scalar search fills the same container
   (:func:`sensitivity.scalar_limits.scalar_window_yields`).
2. :func:`pseudo_data` makes the observation (see there for the choices) and
   :func:`counting_workspace` a pyhf workspace per mass: one channel with one bin,
   signal with a free normalisation ``mu`` and background with a ``shapesys`` (Poisson,
   Barlow-Beeston-lite) constraint of width sigma_B; with ``systematics``
   (:mod:`sensitivity.systematics`, docs/systematics.md) the signal and the background carry one
   ``normsys`` per systematic uncertainty as well.
3. :func:`upper_limits` gives the 90% CL CLs upper limit on ``mu`` (observed and
   expected median with +-1 and +-2 sigma bands) and :func:`compute_limits` converts
   it for every mass to events, sigma x BR (pb) and the coupling (g' or xi).
4. :func:`write_limits` writes ``limits.csv``, ``limits.json``, the workspaces with the fit
   settings that reproduce the table (``workspaces/fit_settings.json``, ``workspaces/README.md``)
   and the limit figure; :func:`limit_from_workspace` applies those settings to one written workspace.

The signal in each workspace is normalised to a reference coupling c_ref(m) near the
expected sensitivity (a 1-2-5 round number), so that the fitted ``mu`` is of order one
(fits of a ``mu`` of 1e-6 fail): ``mu = (c / c_ref)^2``. The signal yield scales
as c^2 and the branching fractions do not depend on c, so a limit ``mu_up`` means
c < c_ref sqrt(mu_up) and sigma x BR < mu_up S_ref / (lumi eps).

Calculators (``calculator=``):

- ``"asymptotic"``: pyhf, test statistic q~_mu, asymptotic formulae, the limit found by
  :func:`pyhf.infer.intervals.upper_limits.toms748_scan` (``upper_limit(scan=None)``
  of pyhf 0.7.6 does not pass ``level`` on and would give 95% CL). The fits use
  :class:`BoundedQuasiNewtonOptimizer` (L-BFGS-B polished by SLSQP), because pyhf's default
  SLSQP silently stops at its starting point with 1e5-1e6 background events. pyhf's MINUIT
  optimizer (``pyhf.set_backend("numpy", "minuit")``, needs ``iminuit``) gives the same limits to
  1e-4; it is the recipe shipped with the workspaces (:data:`FIT_RECIPE`). Right for
  large counts; where the MC statistics dominate (sigma_B >> sqrt(B), a few tens of
  effective MC events) its +-2 sigma bands are up to ~15% narrower than the exact ones.
- ``"exact"``: the same CLs = CL_{s+b} / CL_b for this one-bin counting experiment with
  Poisson sums instead of asymptotic formulae: CL_x = P(n <= n_obs) under s + b (x = s+b)
  or b. The Monte Carlo uncertainty enters by averaging over a background that is
  Gamma-distributed with mean B and standard deviation sigma_B (the count is then
  negative binomial); expected limits are those for n_obs at the 2.3, 15.9, 50, 84.1,
  97.7% quantiles of the background-only count. With systematics (``normsys`` modifiers) it
  marginalises over them (Cousins-Highland hybrid): the background's normalisation uncertainty
  B sqrt(sum delta_c^2) is added in quadrature to sigma_B in the Gamma width, and the CL_{s+b}
  sums are averaged over the signal normalisation (1 + delta_s)^theta, theta a unit Gaussian
  (:data:`SIGNAL_SYST_NODES` Gauss-Hermite nodes; delta_s the quadrature sum of the signal's
  normsys). The asymptotic calculator profiles the same modifiers. Zero background and zero observed gives
  the textbook 2.303 events, where the asymptotic formulae give 1.35. (pyhf's toy
  calculator would do the same by sampling, but in pyhf 0.7.6 with numpy 2 its
  expected-set step fails, and its toys make the limit noisy.)
- ``"auto"`` (default): ``"exact"`` when the background or the observed count is below
  :data:`AUTO_EXACT_BELOW_EVENTS`, ``"asymptotic"`` otherwise.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import pickle
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyhf
from numpy.typing import ArrayLike, NDArray
from pyhf.infer.intervals.upper_limits import toms748_scan
from scipy import optimize, special, stats

from core.channels import channel_role, signal_mass_gev
from core.scalar_model import branching_fraction as scalar_branching_fraction
from core.scalar_model import g2_band_xi, visible_decay_channel
from core.weights import event_weight, is_complement_slice, is_data
from core.zprime_model import CouplingBand, branching_fraction_invisible, branching_fraction_mumu, g2_band
from processors.base import HYPOTHESIS_CUTFLOW, WINDOW
from processors.searches import LEGACY_HYPOTHESIS_CUTFLOWS
from sensitivity.systematics import SystematicsTable, normsys_modifiers, normsys_total, profile_equivalent_workspace

CONFIDENCE_LEVEL = 0.90
"""Confidence level of the limits (CLs < 1 - CONFIDENCE_LEVEL is excluded)."""
PB_PER_FB_INVERSE = 1000.0
"""An integrated luminosity of 1 fb^-1 times 1 pb is 1000 events."""
WINDOW_KEY = "recoil_mass_window"
"""Window key of the invisible search's legacy ``cutflow_mzp`` entries (read when ``cutflow_hypotheses`` is absent)."""
SIGNAL_CHANNEL = "signal"
"""``channel`` of the invisible-Z' signal datasets (docs/output.md)."""
EXPECTED_QUANTILES = special.ndtr(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
"""Background-only quantiles of the -2, -1, 0, +1, +2 sigma expected limits."""
BAND_LABELS = ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")
"""Column suffixes of the expected limits, in the order of :data:`EXPECTED_QUANTILES`."""
LIMIT_LABELS = ("obs", *BAND_LABELS)
"""Column suffixes of every limit: observed, then the expected ones."""
AUTO_EXACT_BELOW_EVENTS = 20.0
"""``calculator="auto"`` computes exactly when the background or the observed count is below this."""
MIN_RELATIVE_MC_UNCERTAINTY = 1e-3
"""A background MC uncertainty below this fraction of B is dropped from the model (its effect on the
limit is < 0.1%, and the Poisson constraint of an enormous effective count makes the fits unstable)."""
POI_UPPER_BOUND = 100.0
"""Upper bound of ``mu`` in the workspaces (the signal is normalised so that the limit is of order 1)."""
SCAN_RTOL = 1e-4
"""Relative tolerance of the toms748 scan of the asymptotic limits."""
LOW_MC_EVENTS = 10
"""A background channel resting on fewer raw MC events than this in a window is low-MC (docs/systematics.md)."""
LOW_MC_MIN_SHARE = 0.10
"""A window is flagged ``low_mc`` when its low-MC channels (including zero-event estimates) make up at least this
fraction of B: a channel below it moves B, and so the limit, by less than ~5% even when its estimate is off by 100%."""
SIGNAL_SYST_NODES = 24
"""Gauss-Hermite nodes of the exact calculator's average over the signal normalisation nuisance parameter."""

Calculator = Literal["auto", "asymptotic", "exact"]
Observation = Literal["asimov", "poisson", "data"]


class ResultFormatError(ValueError):
    """The result dict is not the processor output of docs/output.md (one line saying what is wrong)."""


_UNREADABLE_PICKLE = (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError, TypeError)
"""What ``pickle.load`` raises on a damaged or foreign file."""


def load_result(path: str | os.PathLike) -> dict[str, Any]:
    """The processor output pickled at ``path`` (docs/output.md); raises ResultFormatError with one line when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ResultFormatError(f"{path}: no such file (make it with `python run.py`)")
    try:
        with path.open("rb") as fh:
            result = pickle.load(fh)
    except _UNREADABLE_PICKLE as err:
        raise ResultFormatError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None
    if not isinstance(result, dict):
        raise ResultFormatError(f"{path}: holds a {type(result).__name__}, not the processor's result dict")
    if "datasets" not in result:
        raise ResultFormatError(f"{path}: not a processor output (no 'datasets')")
    return result


# --- 1. efficiencies and backgrounds from the result dict ------------------------------------


def _scalar_visible_branching_fraction(mphi_gev: ArrayLike) -> NDArray[np.float64]:
    """BR(phi_L -> l l) of the lepton pair the scalar search reconstructs at each mass (e e up to 2 m_mu, mu mu above)."""
    masses = np.atleast_1d(np.asarray(mphi_gev, dtype=float))
    values = [float(scalar_branching_fraction(float(m), visible_decay_channel(float(m)))) for m in masses]
    return np.asarray(values, dtype=float).reshape(np.shape(mphi_gev))


@dataclass(frozen=True)
class SignalModel:
    """How the counting experiments of one signal channel are named and normalised."""

    search: str
    """Name of the search (prefix of the pyhf measurement names)."""
    mass_key: str
    """Mass name of the columns and workspace files (``mzp``, ``mphi``): ``<mass_key>_gev``, ``<mass_key>_<MeV>.json``."""
    coupling_name: str
    """Name of the coupling in the columns (``gprime``, ``xi``); the signal scales as its square."""
    coupling_label: str
    """The coupling in LaTeX, for the figures."""
    branching_name: str
    """Column ``br_<branching_name>`` holds the branching fraction of the searched decay."""
    branching_fraction: Callable[[ArrayLike], NDArray[np.float64]]
    """BR of the searched decay vs mass (GeV); independent of the coupling."""
    window_name: str
    """Name of the pyhf channel (the mass window of the search)."""
    yield_column: str
    """Column of the signal yield at unit coupling (BR included)."""
    xsec_column: str
    """Column of the signal cross section at unit coupling (before BR), pb."""
    process_label: str
    """The process in LaTeX, for the figure legend."""
    mass_label: str
    """The mass axis in LaTeX."""
    g2_band: Callable[[ArrayLike], CouplingBand]
    """The (g-2)_mu favoured coupling band vs mass (GeV) of the model."""
    coupling_from_workspace_mu: bool = False
    """Coupling limits as c_ref sqrt(mu_workspace) (the scalar tables) instead of sqrt(mu) (the Z' tables).

    The two are equal up to the last bit of a double; each search keeps the arithmetic its published
    tables were made with, so that re-running the pipeline reproduces them digit for digit."""


_ZPRIME_VISIBLE = dict(
    mass_key="mzp", coupling_name="gprime", coupling_label="g'", branching_name="mumu",
    branching_fraction=branching_fraction_mumu, window_name="mr_window", yield_column="signal_yield_g1",
    xsec_column="signal_xsec_pb_g1", mass_label=r"$m_{Z'}$ [GeV]", g2_band=g2_band,
)  # fmt: skip
SIGNAL_MODELS: dict[str, SignalModel] = {
    "signal": SignalModel(
        search="zprime_invisible", mass_key="mzp", coupling_name="gprime", coupling_label="g'",
        branching_name="invisible", branching_fraction=branching_fraction_invisible, window_name="recoil_mass_window",
        yield_column="signal_yield_g1", xsec_column="signal_xsec_pb_g1",
        process_label=r"$L_\mu - L_\tau$ $Z' \to$ invisible", mass_label=r"$m_{Z'}$ [GeV]", g2_band=g2_band,
    ),
    "signal_visible_isr": SignalModel(
        search="zprime_visible_isr", process_label=r"$L_\mu - L_\tau$ $Z' \to \mu\mu$ (ISR)", **_ZPRIME_VISIBLE
    ),
    "signal_visible": SignalModel(
        search="zprime_visible_noisr", process_label=r"$L_\mu - L_\tau$ $Z' \to \mu\mu$ (no ISR)", **_ZPRIME_VISIBLE
    ),
    "signal_ttphi": SignalModel(
        search="leptophilic_scalar", mass_key="mphi", coupling_name="xi", coupling_label=r"\xi",
        branching_name="visible", branching_fraction=_scalar_visible_branching_fraction,
        window_name="pair_mass_window", yield_column="signal_yield_xi1_br", xsec_column="signal_xsec_pb_xi1",
        process_label=r"$e^+e^- \to \tau^+\tau^-\phi_L$, $\phi_L \to \ell^+\ell^-$", mass_label=r"$m_{\phi_L}$ [GeV]",
        g2_band=g2_band_xi, coupling_from_workspace_mu=True,
    ),
}  # fmt: skip
"""The signal channels with limits, keyed by fileset ``channel`` (core/channels.py)."""


def signal_model(signal_channel: str) -> SignalModel:
    """The :class:`SignalModel` of ``signal_channel``; ValueError naming it when it has none."""
    try:
        return SIGNAL_MODELS[signal_channel]
    except KeyError:
        raise ValueError(f"no limits for signal channel {signal_channel!r}: one of {', '.join(SIGNAL_MODELS)}") from None


@dataclass(frozen=True)
class WindowYields:
    """Inputs of the counting experiment of every mass hypothesis of one signal channel (arrays over mass).

    The one window-yield container of the three searches: :func:`window_yields` fills it from the
    processor's cutflows, :func:`sensitivity.scalar_limits.scalar_window_yields` from the BDT path.
    """

    signal_channel: str
    """Fileset channel of the signal (a key of :data:`SIGNAL_MODELS`)."""
    mass_gev: NDArray[np.float64]
    """Mass hypotheses with a signal sample, GeV (sorted)."""
    lumi_fb: float
    """Integrated luminosity the yields are for, fb^-1."""
    efficiency: NDArray[np.float64]
    """Signal efficiency eps: signal MC events in the window / generated events."""
    efficiency_stat: NDArray[np.float64]
    """Binomial uncertainty of :attr:`efficiency`."""
    signal_xsec_pb: NDArray[np.float64]
    """Signal cross section at unit coupling before the branching fraction, pb."""
    branching_fraction: NDArray[np.float64]
    """Branching fraction of the searched decay (:attr:`SignalModel.branching_fraction`)."""
    signal_yield: NDArray[np.float64]
    """Expected signal events at unit coupling: xsec x BR x lumi x eps (checked on construction)."""
    background: NDArray[np.float64]
    """Expected background events B in the window."""
    background_stat: NDArray[np.float64]
    """MC statistical uncertainty sigma_B of :attr:`background`, events."""
    background_mc_count: NDArray[np.int64]
    """Raw background MC events in the window (all background datasets)."""
    background_by_channel: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    """Expected background events per background ``channel``."""
    background_mc_by_channel: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    """Raw background MC events in the window per background ``channel``."""
    background_stat_by_channel: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    """MC statistical uncertainty of :attr:`background_by_channel` (events), the zero-event estimate's included."""
    background_estimated: NDArray[np.float64] | None = None
    """Part of :attr:`background` from the zero-event rule (:func:`window_yields`), events; None: no estimate."""
    observed_data: NDArray[np.int64] | None = None
    """Window counts of the data datasets (those without ``xsec_pb``), or None when there are none."""
    signal_window_count: NDArray[np.int64] | None = None
    """Raw signal MC events of mass m in the window of hypothesis m (None when eps is not a plain count ratio)."""
    signal_generated: NDArray[np.int64] | None = None
    """Generated signal MC events of mass m (``n_generated`` summed over the datasets of that mass), or None."""
    extra_columns: dict[str, NDArray[Any]] = field(default_factory=dict)
    """Search-specific per-hypothesis columns of the limit table (e.g. the BDT score cut)."""
    skipped_mass_mev: tuple[int, ...] = ()
    """Hypotheses of the result without a signal sample of their mass (no efficiency: no limit)."""

    def __post_init__(self) -> None:
        n = len(self.mass_gev)
        for name in ("efficiency", "efficiency_stat", "signal_xsec_pb", "branching_fraction", "signal_yield",
                     "background", "background_stat", "background_mc_count"):  # fmt: skip
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(f"WindowYields.{name} has shape {np.shape(getattr(self, name))}, not ({n},)")
        signal_model(self.signal_channel)
        expected = self.signal_xsec_pb * self.branching_fraction * self.lumi_fb * PB_PER_FB_INVERSE * self.efficiency
        no_signal = (np.asarray(self.efficiency) == 0) & (np.asarray(self.signal_yield) == 0)
        if np.any(~np.isclose(self.signal_yield, expected, rtol=1e-6, atol=0.0) & ~no_signal):
            raise ValueError("WindowYields.signal_yield differs from xsec x BR x lumi x efficiency")

    @property
    def model(self) -> SignalModel:
        """The :class:`SignalModel` of :attr:`signal_channel`."""
        return signal_model(self.signal_channel)

    @property
    def mass_mev(self) -> NDArray[np.int64]:
        """:attr:`mass_gev` in whole MeV (the key of the per-hypothesis cutflows and of the workspaces)."""
        return np.rint(np.asarray(self.mass_gev) * 1000.0).astype(np.int64)

    @property
    def signal_yield_g1(self) -> NDArray[np.float64]:
        """:attr:`signal_yield` (the name of the Z' columns: signal at g' = 1)."""
        return self.signal_yield

    # the names of the Z'-only container this one replaces
    @property
    def mzp_mev(self) -> NDArray[np.int64]:
        """Alias of :attr:`mass_mev`."""
        return self.mass_mev

    @property
    def mzp_gev(self) -> NDArray[np.float64]:
        """Alias of :attr:`mass_gev`."""
        return self.mass_gev

    @property
    def skipped_mzp_mev(self) -> tuple[int, ...]:
        """Alias of :attr:`skipped_mass_mev`."""
        return self.skipped_mass_mev

    def subset(self, indices: Sequence[int] | NDArray[np.int64]) -> WindowYields:
        """The same yields for the hypotheses ``indices`` only (positions in :attr:`mass_gev`)."""
        idx = np.asarray(indices, dtype=np.int64)
        arrays = {
            name: np.asarray(getattr(self, name))[idx]
            for name in ("mass_gev", "efficiency", "efficiency_stat", "signal_xsec_pb", "branching_fraction",
                         "signal_yield", "background", "background_stat", "background_mc_count")
        }  # fmt: skip
        optional = {
            name: None if getattr(self, name) is None else np.asarray(getattr(self, name))[idx]
            for name in ("background_estimated", "observed_data", "signal_window_count", "signal_generated")
        }
        per_channel = {
            name: {c: np.asarray(v)[idx] for c, v in getattr(self, name).items()}
            for name in ("background_by_channel", "background_mc_by_channel", "background_stat_by_channel", "extra_columns")
        }
        return replace(self, **arrays, **optional, **per_channel)

    def low_mc_channels(self, min_events: int = LOW_MC_EVENTS) -> list[tuple[str, ...]]:
        """Per hypothesis, the background channels resting on fewer than ``min_events`` raw MC events in the window."""
        return [
            tuple(c for c, n in sorted(self.background_mc_by_channel.items()) if int(n[i]) < min_events)
            for i in range(len(self.mass_gev))
        ]

    @property
    def low_mc(self) -> NDArray[np.bool_]:
        """Hypotheses whose low-MC channels (:data:`LOW_MC_EVENTS`) make up >= :data:`LOW_MC_MIN_SHARE` of B.

        A window with B = 0 is low-MC too. Without per-channel MC counts (the scalar BDT's background, a direct
        count or a factorised estimate): B rests on the MC statistics of its estimate, so a window is low-MC when
        the estimate is worth fewer than :data:`LOW_MC_EVENTS` equal-weight MC events
        (:attr:`background_effective_mc_count`, (B / sigma_B)^2).
        """
        if not self.background_mc_by_channel:
            return (self.background <= 0) | (self.background_effective_mc_count < LOW_MC_EVENTS)
        flags = np.zeros(len(self.mass_gev), dtype=bool)
        for i, channels in enumerate(self.low_mc_channels()):
            b = float(self.background[i])
            low = sum(float(self.background_by_channel[c][i]) for c in channels if c in self.background_by_channel)
            flags[i] = b <= 0 or low >= LOW_MC_MIN_SHARE * b
        return flags

    @property
    def background_effective_mc_count(self) -> NDArray[np.float64]:
        """(B / sigma_B)^2: the number of equal-weight MC events with the same relative uncertainty."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.background_stat > 0, (self.background / self.background_stat) ** 2, np.inf)


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise ResultFormatError(f"{where} is a {type(mapping).__name__}, not a dict")
    if key not in mapping:
        raise ResultFormatError(f"{where} has no {key!r}")
    return mapping[key]


def read_hypothesis_cutflows(dataset: str, output: Any) -> tuple[str, str, Mapping[Any, Any]]:
    """(key, window key, {mass_mev: {stage: n, ..., window: n}}) of one dataset's output.

    ``cutflow_hypotheses`` with ``"window"`` when present, else the legacy ``cutflow_mzp`` /
    ``cutflow_mphi`` of outputs written before it (window ``recoil_mass_window``, ``mr_window`` or
    ``pair_mass_window``, whichever the entries hold).
    """
    where = f"datasets[{dataset!r}]"
    if not isinstance(output, Mapping):
        raise ResultFormatError(f"{where} is a {type(output).__name__}, not a dict")
    if HYPOTHESIS_CUTFLOW in output:
        return HYPOTHESIS_CUTFLOW, WINDOW, _require(output, HYPOTHESIS_CUTFLOW, where)
    for key, windows in LEGACY_HYPOTHESIS_CUTFLOWS.items():
        if key in output:
            flow = output[key]
            if not isinstance(flow, Mapping):
                raise ResultFormatError(f"{where}[{key!r}] is a {type(flow).__name__}, not a dict")
            first = next(iter(flow.values()), {})
            window = next((w for w in windows if w in first), windows[0])
            return key, window, flow
    raise ResultFormatError(f"{where} has no {HYPOTHESIS_CUTFLOW!r} (nor a legacy {' or '.join(map(repr, LEGACY_HYPOTHESIS_CUTFLOWS))})")


def _window_counts(dataset: str, output: Any, hypotheses: Sequence[int]) -> NDArray[np.int64]:
    key, window, cutflow = read_hypothesis_cutflows(dataset, output)
    counts = []
    for m in hypotheses:
        if m not in cutflow:
            raise ResultFormatError(f"datasets[{dataset!r}][{key!r}] has no hypothesis {m} MeV")
        counts.append(_require(cutflow[m], window, f"datasets[{dataset!r}][{key!r}][{m}]"))
    return np.asarray(counts, dtype=np.int64)


def window_yields(
    result: Mapping[str, Any],
    lumi_fb: float | None = None,
    *,
    signal_channel: str = SIGNAL_CHANNEL,
    branching_fraction: Callable[[ArrayLike], NDArray[np.float64]] | None = None,
    zero_event_estimate: bool = True,
) -> WindowYields:
    """Signal efficiency, background and its MC uncertainty per mass hypothesis of ``result``.

    Zero-event rule (``zero_event_estimate``, default on; docs/systematics.md): a background channel
    with no MC event in a window contributes B_c = w_c +- w_c, w_c its one-event weight (the largest
    event weight of its datasets, leaving out generator slices with ``generator_slice_role`` "complement",
    which the cut floors keep out of every window; docs/fileset.md): the mean and standard deviation of the posterior of the channel's
    expected count given 0 MC events and a flat prior (exponential, whose 68% quantile is 1.14 w_c),
    instead of B_c = 0. Off, such a channel contributes 0 +- 0 (the behaviour before the rule).

    ``result`` is the dict a processor writes (``results/zprime_invisible.pkl``,
    ``visible_zprime.pkl``, ``scalar/scalar.pkl``); ``lumi_fb`` (default: the luminosity of the
    result, ``metadata["lumi_fb"]``) rescales the backgrounds and the signal. Datasets of
    ``signal_channel`` give the efficiency of their own mass (several datasets of one mass are
    added); datasets of other signal channels are ignored; datasets with ``xsec_pb`` and a
    non-signal channel are background; datasets without ``xsec_pb`` are data.
    ``branching_fraction`` (mass in GeV -> BR) defaults to the one of :data:`SIGNAL_MODELS`.
    Raises :class:`ResultFormatError` (one line naming the dataset or key) on anything else.
    """
    model = signal_model(signal_channel)
    br_function = model.branching_fraction if branching_fraction is None else branching_fraction
    metadata = _require(result, "metadata", "result")
    datasets = _require(result, "datasets", "result")
    dataset_metadata = _require(metadata, "dataset_metadata", "metadata")
    if lumi_fb is None:
        lumi_fb = float(_require(metadata, "lumi_fb", "metadata"))
    if not lumi_fb > 0:
        raise ResultFormatError(f"luminosity must be positive, got {lumi_fb} fb^-1")
    if not isinstance(datasets, Mapping) or not datasets:
        raise ResultFormatError("result['datasets'] is empty")

    hypotheses: set[int] = set()
    for name, output in datasets.items():
        hypotheses.update(int(m) for m in read_hypothesis_cutflows(name, output)[2])
    mass_all = sorted(hypotheses)
    if not mass_all:
        raise ResultFormatError(f"no mass hypotheses in any {HYPOTHESIS_CUTFLOW!r}")

    signal_count: dict[int, int] = {}
    signal_generated: dict[int, int] = {}
    signal_xsec: dict[int, float] = {}
    n_hyp = len(mass_all)
    background = np.zeros(n_hyp)
    background_var = np.zeros(n_hyp)
    background_mc = np.zeros(n_hyp, dtype=np.int64)
    by_channel: dict[str, NDArray[np.float64]] = {}
    var_by_channel: dict[str, NDArray[np.float64]] = {}
    mc_by_channel: dict[str, NDArray[np.int64]] = {}
    weight_by_channel: dict[str, dict[str, float]] = {}  # channel -> slice role -> largest event weight
    observed: NDArray[np.int64] | None = None
    # datasets in name order: the float sums do not depend on the order an executor merged the outputs in
    for name, output in sorted(datasets.items()):
        meta = _require(dataset_metadata, name, "metadata['dataset_metadata']")
        where = f"metadata['dataset_metadata'][{name!r}]"
        counts = _window_counts(name, output, mass_all)
        if is_data(meta):
            observed = counts if observed is None else observed + counts
            continue
        xsec_pb = float(meta["xsec_pb"])
        n_generated = int(_require(meta, "n_generated", where))
        if n_generated <= 0 or not xsec_pb >= 0:
            raise ResultFormatError(f"{where}: n_generated = {n_generated}, xsec_pb = {xsec_pb}")
        channel = str(_require(meta, "channel", where))
        try:
            is_signal = channel_role(channel).is_signal
        except KeyError:
            raise ResultFormatError(f"{where}: unknown channel {channel!r}") from None
        if is_signal:
            if channel != signal_channel:
                continue  # another search's signal: neither signal nor background here
            try:
                mass_mev = round(1000.0 * float(signal_mass_gev(meta)))
            except KeyError as err:
                raise ResultFormatError(f"{where} has no {err.args[0]!r} (the signal mass)") from None
            if mass_mev not in mass_all:
                continue  # a signal sample without a hypothesis of its mass
            if mass_mev in signal_xsec and not math.isclose(signal_xsec[mass_mev], xsec_pb, rel_tol=1e-3):
                raise ResultFormatError(f"signal datasets of {mass_mev} MeV disagree on xsec_pb")
            signal_count[mass_mev] = signal_count.get(mass_mev, 0) + int(counts[mass_all.index(mass_mev)])
            signal_generated[mass_mev] = signal_generated.get(mass_mev, 0) + n_generated
            signal_xsec[mass_mev] = xsec_pb
            continue
        weight = event_weight(meta, lumi_fb)
        background += counts * weight
        background_var += counts * weight**2
        background_mc += counts
        by_channel[channel] = by_channel.get(channel, np.zeros(n_hyp)) + counts * weight
        var_by_channel[channel] = var_by_channel.get(channel, np.zeros(n_hyp)) + counts * weight**2
        mc_by_channel[channel] = mc_by_channel.get(channel, np.zeros(n_hyp, dtype=np.int64)) + counts
        role = "complement" if is_complement_slice(meta) else "search"
        weights_by_role = weight_by_channel.setdefault(channel, {})
        weights_by_role[role] = max(weights_by_role.get(role, 0.0), float(weight))

    estimated = np.zeros(n_hyp)
    if zero_event_estimate:
        for channel, mc in sorted(mc_by_channel.items()):
            empty = mc == 0
            # a channel made only of complement slices (never in practice) falls back on their weight
            w = weight_by_channel[channel].get("search", weight_by_channel[channel].get("complement"))
            by_channel[channel] = np.where(empty, w, by_channel[channel])
            var_by_channel[channel] = np.where(empty, w**2, var_by_channel[channel])
            background += np.where(empty, w, 0.0)
            background_var += np.where(empty, w**2, 0.0)
            estimated += np.where(empty, w, 0.0)

    keep = np.array([m in signal_count for m in mass_all], dtype=bool)
    if not keep.any():
        raise ResultFormatError(f"no {signal_channel} dataset matches any mass hypothesis")
    mass_mev = np.asarray(mass_all, dtype=np.int64)[keep]
    mass_gev = mass_mev / 1000.0
    count = np.array([signal_count[m] for m in mass_mev], dtype=np.int64)
    generated = np.array([signal_generated[m] for m in mass_mev], dtype=np.int64)
    xsec = np.array([signal_xsec[m] for m in mass_mev])
    efficiency = count / generated
    br = np.asarray(br_function(mass_gev), dtype=float)
    return WindowYields(
        signal_channel=signal_channel,
        mass_gev=mass_gev,
        lumi_fb=float(lumi_fb),
        efficiency=efficiency,
        efficiency_stat=np.sqrt(efficiency * (1.0 - efficiency) / generated),
        signal_xsec_pb=xsec,
        branching_fraction=br,
        signal_yield=xsec * br * float(lumi_fb) * PB_PER_FB_INVERSE * efficiency,
        background=background[keep],
        background_stat=np.sqrt(background_var[keep]),
        background_mc_count=background_mc[keep],
        background_by_channel={c: v[keep] for c, v in sorted(by_channel.items())},
        background_mc_by_channel={c: v[keep] for c, v in sorted(mc_by_channel.items())},
        background_stat_by_channel={c: np.sqrt(v[keep]) for c, v in sorted(var_by_channel.items())},
        background_estimated=estimated[keep] if zero_event_estimate else None,
        observed_data=None if observed is None else observed[keep],
        signal_window_count=count,
        signal_generated=generated,
        skipped_mass_mev=tuple(int(m) for m in np.asarray(mass_all)[~keep]),
    )


# --- 2. observation and workspaces -------------------------------------------------------------


def pseudo_data(
    yields: WindowYields,
    kind: Observation = "asimov",
    seed: int | None = 0,
    injected_gprime: float = 0.0,
) -> NDArray[np.int64]:
    """The observed window counts the limits are set with, one per hypothesis of ``yields``.

    - ``"asimov"`` (default): the expected count B + S(g'_inj) rounded to an integer, so that the
      observed limit is the limit of a typical experiment without the luck of one Poisson draw
      (it is close to the expected median, not equal: the median of the background-only count is
      not its mean, and q~_mu is evaluated on an integer count);
    - ``"poisson"``: one Poisson draw of B + S(g'_inj), seeded with ``seed`` (an experiment with
      statistical fluctuations, to see the observed curve wander inside the bands);
    - ``"data"``: the window counts of the data datasets of the result (needs such datasets).

    ``injected_gprime`` adds the signal of that coupling (g' or xi: S = c^2 S1) to the expected count.
    The MC-stat auxiliary measurement is never fluctuated: it is what the MC says.
    """
    expected = yields.background + injected_gprime**2 * yields.signal_yield
    if kind == "asimov":
        return np.rint(expected).astype(np.int64)
    if kind == "poisson":
        return np.random.default_rng(seed).poisson(expected).astype(np.int64)
    if kind == "data":
        if yields.observed_data is None:
            raise ResultFormatError("the result has no data datasets (datasets without xsec_pb)")
        if injected_gprime:
            raise ValueError("cannot inject signal into data")
        return yields.observed_data.copy()
    raise ValueError(f"unknown observation {kind!r}: asimov, poisson or data")


def reference_coupling(signal_yield_g1: float, background: float, background_stat: float, observed: float) -> float:
    """A round g'_ref (1, 2 or 5 x 10^k) whose signal is near the limit, so that the limit on mu is O(0.1-1).

    The rough limit in events is 2.3 + max(n - B, 0) + 2 sqrt(B + sigma_B^2) (the +2 sigma
    expected limit of a Gaussian counting experiment, plus any excess); g'_ref is the
    next 1-2-5 value above sqrt(rough / S1).
    """
    if not signal_yield_g1 > 0:
        raise ValueError("no signal expected (efficiency 0): no limit")
    rough = 2.3 + max(observed - background, 0.0) + 2.0 * math.sqrt(background + background_stat**2)
    g = math.sqrt(rough / signal_yield_g1)
    decade = 10.0 ** math.floor(math.log10(g))
    for step in (1.0, 2.0, 5.0, 10.0):
        if g <= step * decade * (1 + 1e-12):
            return step * decade
    raise AssertionError("unreachable")  # pragma: no cover


def counting_workspace(
    signal: float,
    background: float,
    background_stat: float,
    observed: float,
    name: str = "zprime_invisible",
    poi_upper_bound: float = POI_UPPER_BOUND,
    channel: str = "recoil_mass_window",
    signal_modifiers: Sequence[Mapping[str, Any]] = (),
    background_modifiers: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """pyhf workspace (JSON-ready dict, schema 1.0.0) of a one-bin counting experiment.

    ``signal_modifiers`` / ``background_modifiers``: further pyhf modifiers (the systematic
    ``normsys`` of :func:`sensitivity.systematics.normsys_modifiers`) of the two samples.

    Samples ``signal`` (yield at mu = 1, modifier ``mu``: normfactor) and ``background`` (modifier
    ``mc_stat``: shapesys of absolute width ``background_stat``, i.e. a Poisson constraint with
    (B / sigma_B)^2 effective MC events; left out when B = 0 or sigma_B < 0.1% of B). The
    observation is ``observed`` events in the pyhf channel ``channel``. The measurement is called
    ``name``, with POI ``mu`` in [0, ``poi_upper_bound``].
    """
    if not (signal > 0 and background >= 0 and background_stat >= 0 and observed >= 0):
        raise ValueError(
            f"need signal > 0 and non-negative B, sigma_B, n; got {signal}, {background}, {background_stat}, {observed}"
        )
    modifiers = []
    if background > 0 and background_stat > MIN_RELATIVE_MC_UNCERTAINTY * background:
        modifiers.append({"name": "mc_stat", "type": "shapesys", "data": [float(background_stat)]})
    return {
        "channels": [
            {
                "name": channel,
                "samples": [
                    {
                        "name": "signal",
                        "data": [float(signal)],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}, *map(dict, signal_modifiers)],
                    },
                    {"name": "background", "data": [float(background)], "modifiers": [*modifiers, *map(dict, background_modifiers)]},
                ],
            }
        ],
        "observations": [{"name": channel, "data": [float(observed)]}],
        "measurements": [
            {
                "name": name,
                "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[0.0, float(poi_upper_bound)]]}]},
            }
        ],
        "version": "1.0.0",
    }


@dataclass(frozen=True)
class CountingExperiment:
    """The numbers of a one-bin :func:`counting_workspace`: signal at mu = 1, B, sigma_B (0 when not modelled), n.

    ``signal_syst``: relative 1-sigma normalisation uncertainty of the signal (quadrature sum of its
    ``normsys``); ``background_syst``: absolute one of the background, events (B times the quadrature
    sum of its ``normsys``). Both 0 without systematics.
    """

    signal: float
    background: float
    background_stat: float
    observed: float
    signal_syst: float = 0.0
    background_syst: float = 0.0

    @property
    def background_total(self) -> float:
        """sqrt(sigma_B^2 + background_syst^2): the width of the background the exact calculator averages over, events."""
        return math.hypot(self.background_stat, self.background_syst)

    @classmethod
    def from_workspace(cls, workspace: Mapping[str, Any] | pyhf.Workspace) -> CountingExperiment:
        spec = dict(workspace)
        channels = spec["channels"]
        if len(channels) != 1 or any(len(s["data"]) != 1 for s in channels[0]["samples"]):
            raise ValueError("not a one-channel, one-bin counting workspace")
        samples = {s["name"]: s for s in channels[0]["samples"]}
        if set(samples) != {"signal", "background"}:
            raise ValueError(f"expected samples 'signal' and 'background', got {sorted(samples)}")
        stat = [m["data"][0] for m in samples["background"]["modifiers"] if m["type"] in ("shapesys", "staterror")]
        background = float(samples["background"]["data"][0])
        return cls(
            signal=float(samples["signal"]["data"][0]),
            background=background,
            background_stat=float(stat[0]) if stat else 0.0,
            observed=float(spec["observations"][0]["data"][0]),
            signal_syst=normsys_total(samples["signal"]["modifiers"]),
            background_syst=background * normsys_total(samples["background"]["modifiers"]),
        )


# --- 3. limits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpperLimit:
    """Upper limit on the POI ``mu`` of one workspace."""

    observed: float
    expected: NDArray[np.float64]
    """Expected limits at -2, -1, 0, +1, +2 sigma (:data:`EXPECTED_QUANTILES`)."""
    calculator: str


class _CountDistribution:
    """P(N <= n) for N = Poisson(s) + N_b at fixed n, where N_b is the background count.

    N_b is Poisson(B) when sigma_B = 0 (or B = 0: N_b = 0), and Poisson of a Gamma-distributed
    mean (mean B, standard deviation sigma_B), i.e. negative binomial, otherwise; the negative-
    binomial terms, which do not depend on s, are computed once.
    """

    def __init__(self, n: float, background: float, background_stat: float, signal_syst: float = 0.0) -> None:
        self.n = float(n)
        self.background = background
        self.nb_pmf: NDArray[np.float64] | None = None
        # signal normalisation kappa(theta) = (1 + d)^theta (theta > 0), (1 - d)^-theta (theta < 0): pyhf's
        # normsys interpolation, averaged over a unit-Gaussian theta with Gauss-Hermite nodes
        if signal_syst > 0:
            nodes, weights = special.roots_hermitenorm(SIGNAL_SYST_NODES)
            low = max(1.0 - signal_syst, 1e-6)
            self.kappa = np.where(nodes >= 0, (1.0 + signal_syst) ** nodes, low ** (-nodes))
            self.kappa_weights = weights / weights.sum()
        else:
            self.kappa, self.kappa_weights = np.ones(1), np.ones(1)
        if background > 0 and background_stat > 0:
            k = (background / background_stat) ** 2
            # terms far below the bulk (or far below n when n is in the lower tail) are negligible
            sd = math.sqrt(background + background_stat**2)
            j_low = max(0, math.floor(min(n, background) - 40.0 * sd))
            self.j = np.arange(j_low, int(n) + 1)
            self.nb_pmf = stats.nbinom.pmf(self.j, k, k / (k + background))

    def cdf(self, signal: float) -> float:
        if len(self.kappa) > 1 and signal > 0:
            return float(sum(w * self._cdf(signal * k) for k, w in zip(self.kappa, self.kappa_weights, strict=True)))
        return self._cdf(signal)

    def _cdf(self, signal: float) -> float:
        if self.nb_pmf is not None:
            return float(np.sum(self.nb_pmf * stats.poisson.cdf(self.n - self.j, signal)))
        return float(stats.poisson.cdf(self.n, signal + max(self.background, 0.0)))


def _background_quantiles(background: float, background_stat: float) -> NDArray[np.float64]:
    """Counts n at :data:`EXPECTED_QUANTILES` of the background-only count distribution."""
    if background <= 0:
        return np.zeros(len(EXPECTED_QUANTILES))
    if background_stat <= 0:
        return stats.poisson.ppf(EXPECTED_QUANTILES, background)
    k = (background / background_stat) ** 2
    return stats.nbinom.ppf(EXPECTED_QUANTILES, k, k / (k + background))


def exact_cls(mu: float, experiment: CountingExperiment, observed: float | None = None) -> float:
    """CLs = P(N <= n | mu s + b) / P(N <= n | b) of the counting experiment (n: ``observed`` or its own)."""
    n = experiment.observed if observed is None else observed
    counts = _CountDistribution(n, experiment.background, experiment.background_total, experiment.signal_syst)
    clb = counts.cdf(0.0)
    if not clb > 0:
        raise ValueError(f"P(N <= {n:g} | background only) underflows: CLs undefined")
    return counts.cdf(mu * experiment.signal) / clb


def _exact_limit(experiment: CountingExperiment, n: float, cl: float) -> float:
    """mu where CLs(mu) = 1 - cl for the observation n (CLs falls monotonically with mu)."""
    counts = _CountDistribution(n, experiment.background, experiment.background_total, experiment.signal_syst)
    clb = counts.cdf(0.0)
    if not clb > 0:
        raise ValueError(f"P(N <= {n:g} | background only) underflows: CLs undefined")

    def excess(mu: float) -> float:
        return counts.cdf(mu * experiment.signal) / clb - (1.0 - cl)

    high = max(1.0, (n + 3.0) / experiment.signal)
    while excess(high) > 0:
        high *= 2.0
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-12, rtol=1e-10))


def _exact_limits(experiment: CountingExperiment, cl: float) -> UpperLimit:
    b, sb = experiment.background, experiment.background_total
    quantiles = _background_quantiles(b, sb)
    cache: dict[float, float] = {}
    for n in [experiment.observed, *quantiles]:
        if n not in cache:
            cache[n] = _exact_limit(experiment, n, cl)
    return UpperLimit(cache[experiment.observed], np.array([cache[n] for n in quantiles]), "exact")


class BoundedQuasiNewtonOptimizer(pyhf.optimize.scipy_optimizer):
    """pyhf's scipy optimizer made robust for one-bin fits with 1e5-1e6 events: L-BFGS-B, then SLSQP.

    pyhf's default (SLSQP, fixed parameters as equality constraints) stops at its starting point
    and reports success when the profiled background lies many statistical sigma away (a fit at
    fixed mu returns gamma = 1, q~ jumps by thousands, the CLs curve gets false zeros and the
    expected bands land on them). Here the fixed parameters are taken out of the minimisation,
    L-BFGS-B with central-difference gradients walks to the minimum (forward differences stop it
    early in the narrow mu-gamma valley of a background known to 15%), and SLSQP started there
    polishes it (a minimum on a bound); the lower of the two is kept.

    Fits are memoised per optimizer instance: a CLs scan repeats, at every tested mu, the fits that
    do not depend on it (the free fits of the data and of the Asimov data, and the background-only
    fit that makes the Asimov data), 3 of the 5 fits of each asymptotic hypothesis test. The
    optimizer is deterministic, so a repeated fit returns what it would compute again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fits: dict[tuple, Any] = {}
        self.fits_made = 0
        """Fits actually run (the memoised ones are not counted)."""

    def minimize(self, objective, data, pdf, init_pars, par_bounds, fixed_vals=None, **kwargs):  # noqa: ANN001 (pyhf's signature)
        key = (
            id(objective), id(pdf), np.asarray(data, dtype=float).tobytes(), np.asarray(init_pars, dtype=float).tobytes(),
            repr(par_bounds), repr(fixed_vals), repr(sorted(kwargs.items())),
        )  # fmt: skip
        if key not in self._fits:
            self._fits[key] = super().minimize(objective, data, pdf, init_pars, par_bounds, fixed_vals, **kwargs)
            self.fits_made += 1
        return copy.deepcopy(self._fits[key])

    def _minimize(self, minimizer, func, x0, do_grad=False, bounds=None, fixed_vals=None, options={}):  # noqa: B006 (pyhf's signature)
        full = np.array(x0, dtype=float)
        fixed = dict(fixed_vals or [])
        for index, value in fixed.items():
            full[index] = value
        free = np.array([i for i in range(len(full)) if i not in fixed], dtype=int)

        def reduced(x_free: NDArray[np.float64]) -> Any:
            x = full.copy()
            x[free] = x_free
            if do_grad:
                value, grad = func(x)
                return value, np.asarray(grad)[free]
            return func(x)

        if len(free) == 0:
            value = reduced(np.empty(0))
            return optimize.OptimizeResult(
                x=full, fun=value[0] if do_grad else value, success=True, nit=0, message="all parameters fixed"
            )
        free_bounds = [bounds[i] for i in free] if bounds is not None else None
        result = optimize.minimize(
            reduced,
            full[free],
            method="L-BFGS-B",
            jac=True if do_grad else "3-point",
            bounds=free_bounds,
            options={"maxiter": self.maxiter, "ftol": 1e-12, "gtol": 1e-8, "maxls": 50},
        )
        polished = optimize.minimize(
            reduced,
            result.x,
            method="SLSQP",
            jac=True if do_grad else None,
            bounds=free_bounds,
            options={"maxiter": self.maxiter},
        )
        converged = bool(result.success) or result.status == 2  # 2: no further decrease at machine precision
        if polished.success and polished.fun <= result.fun:
            result, converged = polished, True
        x = full.copy()
        x[free] = result.x
        result.x = x
        result.success = converged
        return result


@contextmanager
def _pyhf_optimizer(optimizer: Any) -> Iterator[None]:
    """Use ``optimizer`` for pyhf fits inside the block, then restore the previous backend and optimizer."""
    tensorlib, previous = pyhf.get_backend()
    pyhf.set_backend(tensorlib, optimizer)
    try:
        yield
    finally:
        pyhf.set_backend(tensorlib, previous)


def _asymptotic_limits(workspace: pyhf.Workspace, cl: float, rtol: float = SCAN_RTOL) -> UpperLimit:
    model = workspace.model()
    data = workspace.data(model)
    upper = model.config.suggested_bounds()[model.config.poi_index][1]
    high = min(5.0, upper)
    # The bracket starts above mu = 0: near mu-hat q~ is 0 up to the fit precision (+-1e-9), and a
    # negative q~ makes CLs = 0/0. Should the start still be too close, start 10x higher.
    for low in (1e-4 * upper, 1e-3 * upper, 1e-2 * upper):
        with _pyhf_optimizer(BoundedQuasiNewtonOptimizer()), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                observed, expected = toms748_scan(
                    data, model, low, high, level=1.0 - cl, rtol=rtol, test_stat="qtilde", calctype="asymptotics"
                )
            except ValueError as err:  # "The function value at x=... is NaN"
                failure = err
                continue
        return UpperLimit(float(observed), np.array([float(e) for e in expected]), "asymptotic")
    raise RuntimeError(f"pyhf asymptotic limit failed: {failure}")


def choose_calculator(experiment: CountingExperiment, calculator: Calculator = "auto") -> str:
    """``"exact"`` or ``"asymptotic"`` for ``experiment`` (``"auto"``: exact below :data:`AUTO_EXACT_BELOW_EVENTS`)."""
    if calculator == "auto":
        small = min(experiment.background, experiment.observed) < AUTO_EXACT_BELOW_EVENTS
        return "exact" if small else "asymptotic"
    if calculator not in ("asymptotic", "exact"):
        raise ValueError(f"unknown calculator {calculator!r}: auto, asymptotic or exact")
    return calculator


def upper_limits(
    workspace: Mapping[str, Any] | pyhf.Workspace,
    cl: float = CONFIDENCE_LEVEL,
    calculator: Calculator = "auto",
    rtol: float = SCAN_RTOL,
) -> UpperLimit:
    """CLs upper limit at confidence level ``cl`` on ``mu`` of a one-bin counting ``workspace``.

    Observed (on the workspace's observation) and expected (-2 .. +2 sigma); see the module
    docstring for the calculators.
    """
    ws = workspace if isinstance(workspace, pyhf.Workspace) else pyhf.Workspace(dict(workspace))
    experiment = CountingExperiment.from_workspace(ws)
    if choose_calculator(experiment, calculator) == "exact":
        return _exact_limits(experiment, cl)
    # the same profile likelihood with one normsys per sample: fewer parameters, ~3x faster with 10 systematics
    return _asymptotic_limits(pyhf.Workspace(profile_equivalent_workspace(ws)), cl, rtol)


@dataclass(frozen=True)
class LimitTable:
    """Limits of every mass hypothesis of one signal channel: arrays over :attr:`yields` ``.mass_mev``.

    NaN where eps = 0. ``mu_*`` are limits on the signal strength relative to unit coupling, i.e.
    on c^2 (c = g' or xi); ``events_*`` on the number of signal events, ``xsec_br_pb_*`` on
    sigma x BR of the searched decay, ``coupling`` on c. Each is a dict keyed ``obs``,
    ``exp_m2``, ``exp_m1``, ``exp``, ``exp_p1``, ``exp_p2``.
    """

    yields: WindowYields
    observed_count: NDArray[np.int64]
    observation: str
    cl: float
    coupling_ref: NDArray[np.float64]
    """Coupling the workspace signal is normalised to: mu_workspace = (c / coupling_ref)^2."""
    calculator: tuple[str, ...]
    mu: dict[str, NDArray[np.float64]]
    workspaces: dict[int, dict[str, Any]] = field(repr=False)
    """pyhf workspace spec per mass hypothesis in MeV (only those with eps > 0)."""
    mu_workspace: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    """The limits on the POI ``mu`` of each workspace (what a fit of the workspace gives)."""
    background_syst: NDArray[np.float64] | None = None
    """Systematic (normalisation) uncertainty of the background in the workspaces, events; None: no systematics."""
    signal_syst: NDArray[np.float64] | None = None
    """Relative systematic uncertainty of the signal in the workspaces (quadrature sum); None: no systematics."""

    @property
    def mc_stat_share(self) -> NDArray[np.float64]:
        """sigma_B^2 / (sigma_B^2 + sigma_syst^2): the MC-statistics share of the background variance (1 without systematics)."""
        stat2 = np.asarray(self.yields.background_stat, dtype=float) ** 2
        syst2 = np.zeros_like(stat2) if self.background_syst is None else np.asarray(self.background_syst) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(stat2 + syst2 > 0, stat2 / (stat2 + syst2), np.nan)

    @property
    def model(self) -> SignalModel:
        """The :class:`SignalModel` of the table's signal channel."""
        return self.yields.model

    @property
    def events(self) -> dict[str, NDArray[np.float64]]:
        return {k: v * self.yields.signal_yield for k, v in self.mu.items()}

    @property
    def xsec_br_pb(self) -> dict[str, NDArray[np.float64]]:
        y = self.yields
        return {k: v * y.signal_xsec_pb * y.branching_fraction for k, v in self.mu.items()}

    @property
    def coupling(self) -> dict[str, NDArray[np.float64]]:
        """Limits on the coupling: sqrt of :attr:`mu` (= c_ref sqrt(mu_workspace); see :class:`SignalModel`)."""
        if self.model.coupling_from_workspace_mu:
            return {k: self.coupling_ref * np.sqrt(v) for k, v in self.mu_workspace.items()}
        return {k: np.sqrt(v) for k, v in self.mu.items()}

    @property
    def gprime(self) -> dict[str, NDArray[np.float64]]:
        """Alias of :attr:`coupling` (the Z' searches' name)."""
        return self.coupling

    @property
    def gprime_ref(self) -> NDArray[np.float64]:
        """Alias of :attr:`coupling_ref`."""
        return self.coupling_ref

    def workspace_stem(self, mass_mev: int, prefix: str = "") -> str:
        """File stem of the workspace of ``mass_mev``: ``<prefix><mass_key>_<MeV>``."""
        return f"{prefix}{self.model.mass_key}_{int(mass_mev)}"

    def rows(self, coupling_name: str | None = None) -> list[dict[str, Any]]:
        """One flat dict per mass hypothesis: the inputs, the observation and every limit.

        Column names follow :class:`SignalModel` (``<mass_key>_gev``, ``br_<branching_name>``,
        ``<coupling>_obs`` ...; ``coupling_name`` overrides the coupling's name), then the
        search-specific :attr:`WindowYields.extra_columns`.
        """
        y, model = self.yields, self.model
        c = coupling_name or model.coupling_name
        n = len(y.mass_gev)
        columns: dict[str, Any] = {
            f"{model.mass_key}_gev": y.mass_gev,
            f"{model.mass_key}_mev": y.mass_mev,
            "lumi_fb": np.full(n, y.lumi_fb),
            model.xsec_column: y.signal_xsec_pb,
            f"br_{model.branching_name}": y.branching_fraction,
        }
        if y.signal_window_count is not None and y.signal_generated is not None:
            columns["signal_window_count"] = y.signal_window_count
            columns["signal_generated"] = y.signal_generated
        columns |= {
            "efficiency": y.efficiency,
            "efficiency_stat": y.efficiency_stat,
            model.yield_column: y.signal_yield,
            "background": y.background,
            "background_stat": y.background_stat,
            "background_mc_count": y.background_mc_count,
            "background_estimated": y.background_estimated if y.background_estimated is not None else np.zeros(n),
            "background_stat_rel": np.divide(y.background_stat, y.background, out=np.full(n, np.nan), where=y.background > 0),
            "background_syst": self.background_syst if self.background_syst is not None else np.zeros(n),
            "signal_syst_rel": self.signal_syst if self.signal_syst is not None else np.zeros(n),
            "mc_stat_share": self.mc_stat_share,
            "low_mc": y.low_mc,
            "low_mc_channels": np.array([";".join(c) for c in y.low_mc_channels()], dtype=object),
            "observed_count": self.observed_count,
            "calculator": np.array(self.calculator),
            f"{c}_ref": self.coupling_ref,
        }
        for quantity, limits in ((c, self.coupling), ("mu", self.mu), ("xsec_br_pb", self.xsec_br_pb), ("events", self.events)):
            for key, values in limits.items():
                columns[f"{quantity}_{key}"] = values
        columns["signal_channel"] = np.full(n, y.signal_channel)
        for name, values in y.extra_columns.items():
            if name in columns:
                raise ValueError(f"extra column {name!r} of the window yields clashes with a limit-table column")
            columns[name] = values
        return [{name: _plain(values[i]) for name, values in columns.items()} for i in range(n)]


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar (JSON and CSV friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def compute_limits(
    yields: WindowYields,
    observed: NDArray[np.int64] | None = None,
    observation: str = "asimov",
    cl: float = CONFIDENCE_LEVEL,
    calculator: Calculator = "auto",
    systematics: SystematicsTable | None = None,
) -> LimitTable:
    """Limits of every mass hypothesis of ``yields`` with the observed counts ``observed``.

    ``systematics`` (default None: MC statistics only; :func:`sensitivity.systematics.load_systematics`
    gives the table of docs/systematics.md) adds its ``normsys`` modifiers to every workspace: the
    asymptotic calculator profiles them, the exact one averages over them (module docstring).

    ``observed`` defaults to ``pseudo_data(yields, "asimov")``; ``observation`` only labels it
    in the output. Hypotheses with no signal in their window get NaN limits and no workspace.
    The workspaces are named ``<search>_<mass_key>_<MeV>MeV`` with the pyhf channel named after
    the search's window (:class:`SignalModel`).
    """
    if observed is None:
        observed = pseudo_data(yields, "asimov")
    observed = np.asarray(observed)
    if observed.shape != yields.mass_gev.shape or np.any(observed < 0):
        raise ValueError("need one non-negative observed count per mass hypothesis")
    model = yields.model
    n = len(yields.mass_gev)
    mu = {key: np.full(n, np.nan) for key in LIMIT_LABELS}
    mu_workspace = {key: np.full(n, np.nan) for key in LIMIT_LABELS}
    c_ref = np.full(n, np.nan)
    used: list[str] = []
    workspaces: dict[int, dict[str, Any]] = {}
    s1 = yields.signal_yield
    with_syst = systematics is not None
    b_syst = np.zeros(n)
    s_syst = np.zeros(n)
    for i, mass_mev in enumerate(yields.mass_mev):
        b, sb, n_obs = float(yields.background[i]), float(yields.background_stat[i]), float(observed[i])
        if not s1[i] > 0:
            used.append("none")
            continue
        sig_mods: list[dict[str, Any]] = []
        bkg_mods: list[dict[str, Any]] = []
        if systematics is not None:
            sig_mods, bkg_mods = normsys_modifiers(
                systematics, {c: float(v[i]) for c, v in yields.background_by_channel.items()}, b
            )
            b_syst[i] = b * normsys_total(bkg_mods)
            s_syst[i] = normsys_total(sig_mods)
        c_ref[i] = reference_coupling(s1[i], b, math.hypot(sb, b_syst[i]), n_obs)
        spec = counting_workspace(
            c_ref[i] ** 2 * s1[i], b, sb, n_obs, name=f"{model.search}_{model.mass_key}_{mass_mev}MeV", channel=model.window_name,
            signal_modifiers=sig_mods, background_modifiers=bkg_mods,
        )  # fmt: skip
        limit = upper_limits(spec, cl=cl, calculator=calculator)
        workspaces[int(mass_mev)] = spec
        used.append(limit.calculator)
        scale = c_ref[i] ** 2  # mu of the workspace -> signal strength relative to unit coupling
        mu_workspace["obs"][i] = limit.observed
        mu["obs"][i] = limit.observed * scale
        for key, value in zip(BAND_LABELS, limit.expected, strict=True):
            mu_workspace[key][i] = value
            mu[key][i] = value * scale
    return LimitTable(
        yields=yields,
        observed_count=observed.astype(np.int64),
        observation=observation,
        cl=cl,
        coupling_ref=c_ref,
        calculator=tuple(used),
        mu=mu,
        workspaces=workspaces,
        mu_workspace=mu_workspace,
        background_syst=b_syst if with_syst else None,
        signal_syst=s_syst if with_syst else None,
    )


# --- 4. the fit settings of the workspaces, and the one writer --------------------------------------

FIT_SETTINGS_NAME = "fit_settings.json"
"""Sidecar of the written workspaces (``workspaces/fit_settings.json``): how to reproduce the table."""
FIT_RECIPE: dict[str, Any] = {
    "requires": "pyhf[minuit] (pyhf >= 0.7 and iminuit >= 2)",
    "backend": "numpy",
    "optimizer": "minuit",
    "set_backend": 'pyhf.set_backend("numpy", "minuit")',
    "scan": "pyhf.infer.intervals.upper_limits.toms748_scan",
    "test_stat": "qtilde",
    "calctype": "asymptotics",
    "rtol": SCAN_RTOL,
    "poi": "mu",
    "poi_bounds": [0.0, POI_UPPER_BOUND],
    "brackets": [[low * POI_UPPER_BOUND, high] for low in (1e-4, 1e-3, 1e-2) for high in (5.0, 2.0, 1.0)],
    "brackets_note": "scan between the first bracket whose fits give no NaN (near mu-hat q~ is 0 up to the fit "
    "precision) and no failed MINUIT minimisation (with systematics, at a high mu the nuisance parameters can run "
    "to their bounds and MINUIT reports an invalid minimum)",
    "why": "pyhf's default optimizer (scipy SLSQP) stops at its starting point in these one-bin fits with large, "
    "MC-limited backgrounds: its expected limits come out 5-25% low or the scan meets NaN. MINUIT reproduces the "
    "table (to 1e-4 on the sensitivity sample).",
}
"""How to reproduce the ``calculator == "asymptotic"`` limits of the table from a workspace with plain pyhf."""
EXACT_RECIPE = (
    f"calculator 'exact' (background or observed count below {AUTO_EXACT_BELOW_EVENTS:g} events): CLs(mu) = P(N <= n | mu s + b) / "
    "P(N <= n | b) for the one-bin count, N = Poisson(mu s) + N_b, N_b negative binomial with mean B and variance "
    "B + sigma_B^2 (Poisson mean Gamma-distributed with mean B, standard deviation sigma_B; Poisson(B) without "
    "the shapesys modifier); the limit is the mu with CLs = level; expected limits use n at the 2.28, 15.9, 50, "
    "84.1, 97.7% quantiles of N_b. s, B, sigma_B (the shapesys data) and n are the numbers in the workspace. "
    "With normsys modifiers (systematics) they are marginalised: sigma_B -> sqrt(sigma_B^2 + (B d_b)^2), d_b the "
    "quadrature sum of the background's normsys sizes, and P(N <= n | mu s + b) is averaged over the signal factor "
    "(1 + d_s)^t (t >= 0) or (1 - d_s)^-t (t < 0), t a unit Gaussian, d_s the quadrature sum of the signal's normsys "
    f"sizes (Gauss-Hermite, {SIGNAL_SYST_NODES} nodes)."
)
"""How to reproduce the ``calculator == "exact"`` limits of the table from a workspace."""

_README = """# pyhf workspaces of the limit table

One workspace per mass hypothesis: a one-bin counting experiment (samples `signal`, with the
normfactor `mu`, and `background`, with the MC-statistics `shapesys` `mc_stat`; with systematics,
the `normsys` modifiers `sig_<name>` of the signal and `bkg_norm_<channel>` of the background). The signal is
normalised to the reference coupling `{c}_ref` of the table, so `{c} = {c}_ref * sqrt(mu)`.

`fit_settings.json` states, per workspace, the calculator and the limits on `mu` of the table.
To reproduce an `asymptotic` entry with plain pyhf (`pip install "pyhf[minuit]"`):

```python
import json, pyhf
from pyhf.infer.intervals.upper_limits import toms748_scan

pyhf.set_backend("numpy", "minuit")  # NOT the default scipy SLSQP: it stops at its start in these fits
ws = pyhf.Workspace(json.load(open("{example}")))
model = ws.model()
obs, exp = toms748_scan(ws.data(model), model, {low}, {high}, level={level}, rtol={rtol},
                        test_stat="qtilde", calctype="asymptotics")
```

(if the scan meets a NaN, start the bracket at the next entry of `brackets`). `exact` entries
are Poisson sums, not asymptotic formulae: see `exact` in `fit_settings.json`;
`sensitivity.limits.limit_from_workspace(path)` applies either.
"""


def fit_settings(tables: Sequence[LimitTable], stems: Mapping[tuple[int, int], str], coupling_name: str) -> dict[str, Any]:
    """The ``fit_settings.json`` document of the workspaces ``stems[(table index, MeV)]`` of ``tables``."""
    entries: dict[str, Any] = {}
    for t, table in enumerate(tables):
        for i, mass_mev in enumerate(table.yields.mass_mev):
            if int(mass_mev) not in table.workspaces:
                continue
            entries[f"{stems[(t, int(mass_mev))]}.json"] = {
                "signal_channel": table.yields.signal_channel,
                "mass_gev": float(table.yields.mass_gev[i]),
                "calculator": table.calculator[i],
                "cl": table.cl,
                "level": 1.0 - table.cl,
                "coupling": coupling_name,
                "coupling_ref": float(table.coupling_ref[i]),
                "mu_workspace": {k: _json_value(_plain(v[i])) for k, v in table.mu_workspace.items()},
            }
    return {
        "description": "fit settings that reproduce the limits of limits.csv from these workspaces "
        f"({coupling_name} = {coupling_name}_ref sqrt(mu))",
        "asymptotic": FIT_RECIPE,
        "exact": EXACT_RECIPE,
        "pyhf_version": pyhf.__version__,
        "workspaces": entries,
    }


def limit_from_workspace(path: str | os.PathLike, settings: str | os.PathLike | None = None) -> dict[str, Any]:
    """Limits on ``mu`` of the written workspace ``path`` with the fit settings stated beside it.

    ``settings`` defaults to ``fit_settings.json`` in the workspace's directory. ``asymptotic``
    entries are fitted with pyhf's MINUIT optimizer and :func:`toms748_scan` (:data:`FIT_RECIPE`),
    ``exact`` ones with the Poisson sums. Returns ``{"workspace", "calculator", "coupling_ref",
    "mu": {obs, exp_m2, ...}, "coupling": {obs, ...}}`` (coupling = coupling_ref sqrt(mu)).
    """
    path = Path(path)
    settings_path = path.parent / FIT_SETTINGS_NAME if settings is None else Path(settings)
    try:
        document = json.loads(settings_path.read_text())
        entry = document["workspaces"][path.name]
    except FileNotFoundError:
        raise FileNotFoundError(f"{settings_path}: no fit settings beside the workspace") from None
    except KeyError:
        raise KeyError(f"{settings_path} has no entry for {path.name}") from None
    workspace = pyhf.Workspace(json.loads(path.read_text()))
    level = float(entry["level"])
    if entry["calculator"] == "exact":
        limit = _exact_limits(CountingExperiment.from_workspace(workspace), 1.0 - level)
    elif entry["calculator"] == "asymptotic":
        recipe = document["asymptotic"]
        try:
            optimizer = pyhf.optimize.minuit_optimizer()
        except (ImportError, pyhf.exceptions.ImportBackendError) as err:  # pragma: no cover (iminuit is a dependency)
            raise ImportError(f"limit_from_workspace needs iminuit (pip install 'pyhf[minuit]'): {err}") from None
        model = workspace.model()
        data = workspace.data(model)
        limit = None
        for low, high in recipe["brackets"]:
            with _pyhf_optimizer(optimizer), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    observed, expected = toms748_scan(
                        data, model, low, high, level=level, rtol=recipe["rtol"],
                        test_stat=recipe["test_stat"], calctype=recipe["calctype"],
                    )  # fmt: skip
                except (ValueError, pyhf.exceptions.FailedMinimization):
                    continue
            limit = UpperLimit(float(observed), np.array([float(e) for e in expected]), "asymptotic")
            break
        if limit is None:
            raise RuntimeError(f"{path}: the MINUIT scan meets NaN or a failed minimisation in every bracket")
    else:
        raise ValueError(f"{settings_path}: {path.name} has calculator {entry['calculator']!r}, not exact or asymptotic")
    mu = {"obs": limit.observed, **dict(zip(BAND_LABELS, (float(e) for e in limit.expected), strict=True))}
    ref = float(entry["coupling_ref"])
    return {
        "workspace": path.name,
        "calculator": limit.calculator,
        "coupling_ref": ref,
        "mu": mu,
        "coupling": {k: ref * math.sqrt(v) for k, v in mu.items()},
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def column_notes(model: SignalModel, coupling_name: str) -> dict[str, str]:
    """What each column of ``limits.csv`` / ``limits.json`` of a search with ``model`` holds."""
    c, mk = coupling_name, model.mass_key
    return {
        f"{mk}_gev": "mass hypothesis, GeV",
        f"{mk}_mev": "mass hypothesis, MeV (the key of cutflow_hypotheses and of the workspace file)",
        "lumi_fb": "integrated luminosity, fb^-1",
        model.xsec_column: f"signal cross section at {c} = 1 before BR, pb (from the signal sample)",
        f"br_{model.branching_name}": "branching fraction of the searched decay",
        "signal_window_count": "raw signal MC events in the window (processor path)",
        "signal_generated": "generated signal MC events (processor path)",
        "efficiency": "signal efficiency in the window",
        "efficiency_stat": "binomial uncertainty of the efficiency",
        model.yield_column: f"expected signal events at {c} = 1: xsec x BR x lumi x efficiency",
        "background": "expected background events in the window",
        "background_stat": "MC statistical uncertainty of background, events",
        "background_mc_count": "raw background MC events in the window",
        "background_estimated": "part of background from the zero-event rule: one-event weight of each channel without MC events in the window",
        "background_stat_rel": "background_stat / background",
        "background_syst": "systematic (normalisation) uncertainty of background in the workspace, events (0 without systematics)",
        "signal_syst_rel": "relative systematic uncertainty of the signal in the workspace (quadrature sum; 0 without systematics)",
        "mc_stat_share": "MC-statistics share of the background variance: background_stat^2 / (background_stat^2 + background_syst^2)",
        "low_mc": f"background channels with < {LOW_MC_EVENTS} MC events in the window make up >= {100 * LOW_MC_MIN_SHARE:g}% of background",
        "low_mc_channels": f"background channels with < {LOW_MC_EVENTS} MC events in the window (';'-separated)",
        "observed_count": "the observation the limits are set with (see 'observation')",
        "calculator": "exact (Poisson sums) or asymptotic (pyhf); see workspaces/fit_settings.json",
        f"{c}_ref": f"coupling the workspace signal is normalised to: mu_workspace = ({c} / {c}_ref)^2",
        f"{c}_*": f"{100 * CONFIDENCE_LEVEL:g}% CL upper limit on {c} (obs; exp = median; exp_m2 .. exp_p2 = -2 .. +2 sigma)",
        "mu_*": f"upper limit on the signal strength relative to {c} = 1, i.e. on {c}^2",
        "xsec_br_pb_*": "upper limit on sigma x BR of the searched decay, pb",
        "events_*": "upper limit on signal events in the window",
        "workspace": "pyhf workspace of the mass (fit settings: workspaces/fit_settings.json)",
        "signal_channel": "fileset channel of the signal",
        "background_<channel>": "expected background events of one channel (limits.json only)",
    }


def write_limits(
    table: LimitTable | Sequence[LimitTable],
    output_dir: str | os.PathLike,
    provenance: Mapping[str, Any],
    coupling_name: str | None = None,
    plot_name: str | None = None,
    notes: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the limits of one search under ``output_dir``; return the written paths.

    ``table`` is one :class:`LimitTable` or several of one search (e.g. the visible Z' with and
    without ISR: their rows share the files, workspace files are then prefixed with the search
    name of their signal channel). Writes ``limits.csv`` (NaN as empty), ``limits.json``
    (``provenance``, the column notes, ``notes``, every row with the background per channel),
    ``workspaces/<mass_key>_<MeV>.json``, ``workspaces/fit_settings.json`` (the settings that
    reproduce the table: :func:`limit_from_workspace`), ``workspaces/README.md`` and the limit
    figure ``plot_name`` (default ``<coupling>_limit.png``; :func:`sensitivity.plots.plot_coupling_limits`).
    """
    from sensitivity.plots import plot_coupling_limits

    tables = [table] if isinstance(table, LimitTable) else list(table)
    if not tables:
        raise ValueError("write_limits needs at least one limit table")
    model = tables[0].model
    if any(t.model.mass_key != model.mass_key or t.model.coupling_name != model.coupling_name for t in tables):
        raise ValueError("write_limits: the tables belong to different searches")
    c = coupling_name or model.coupling_name
    output = Path(output_dir)
    (output / "workspaces").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    stems: dict[tuple[int, int], str] = {}
    rows: list[dict[str, Any]] = []
    json_rows: list[dict[str, Any]] = []
    for t, tab in enumerate(tables):
        prefix = f"{tab.model.search}_" if len(tables) > 1 else ""
        if len(tables) > 1 and len({x.model.search for x in tables}) != len(tables):
            raise ValueError("write_limits: several tables of one signal channel")
        by_channel = tab.yields.background_by_channel
        for i, row in enumerate(tab.rows(c)):
            mass_mev = int(tab.yields.mass_mev[i])
            if mass_mev in tab.workspaces:
                stems[(t, mass_mev)] = tab.workspace_stem(mass_mev, prefix)
                row["workspace"] = f"workspaces/{stems[(t, mass_mev)]}.json"
            else:
                row["workspace"] = None
            rows.append(row)
            extra = {f"background_{ch}": float(v[i]) for ch, v in by_channel.items() if f"background_{ch}" not in row}
            json_rows.append({k: _json_value(v) for k, v in {**row, **extra}.items()})

    for t, tab in enumerate(tables):
        for mass_mev, spec in tab.workspaces.items():
            pyhf.Workspace(spec)  # schema validation before anything is written
            path = output / "workspaces" / f"{stems[(t, mass_mev)]}.json"
            path.write_text(json.dumps(spec, indent=2) + "\n")
            written.append(path)
    settings = fit_settings(tables, stems, c)
    path = output / "workspaces" / FIT_SETTINGS_NAME
    path.write_text(json.dumps(settings, indent=2, allow_nan=False) + "\n")
    written.append(path)
    example = next(iter(settings["workspaces"]), f"{model.mass_key}_<MeV>.json")
    low, high = FIT_RECIPE["brackets"][0]
    readme = _README.format(c=c, example=example, low=low, high=high, level=round(1.0 - tables[0].cl, 12), rtol=SCAN_RTOL)
    path = output / "workspaces" / "README.md"
    path.write_text(readme)
    written.append(path)

    fieldnames: list[str] = []
    for row in rows:
        fieldnames += [k for k in row if k not in fieldnames]
    path = output / "limits.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for k, v in row.items()})
    written.append(path)

    skipped = sorted({m for tab in tables for m in tab.yields.skipped_mass_mev})
    document = {
        **provenance,
        "columns": {**column_notes(model, c), **(notes or {})},
        "fit_settings": f"workspaces/{FIT_SETTINGS_NAME}",
        f"skipped_{model.mass_key}_mev": skipped,
        "limits": json_rows,
    }
    path = output / "limits.json"
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    written.append(path)

    figure = output / (plot_name or f"{c}_limit.png")
    written.append(plot_coupling_limits(tables[0], figure, others=tables[1:]))
    return written
