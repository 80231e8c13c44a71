"""Figures and tables of the three searches from the processor output (mplhep, hist, Agg backend).

The output dict of ``run.py`` (``{"metadata": {...}, "datasets": {dataset: {...}}}``, see the
docstrings of :mod:`processors.invisible_zprime`, :mod:`processors.visible_zprime` and
:mod:`processors.leptophilic_scalar`) is all these functions read.

- :func:`search_figures`: everything of one search after a run (the entry point of ``run.py``);
- :func:`plot_recoil_mass`, :func:`plot_reduced_mass`, :func:`plot_pair_mass`: the main figure of
  the invisible-Z', visible-Z' and leptophilic-scalar search;
- :func:`plot_stack` / :func:`stack_figure`: any 1D histogram of the output as stacked MC backgrounds
  (one colour per channel, ordered by yield), signal overlays and, when the fileset holds data
  (:func:`core.weights.is_data`), data points with Poisson intervals and a data/MC ratio panel
  with the MC statistical band; :func:`draw_stack` draws the same on given axes;
- :func:`plot_control_variables` / :func:`control_figure`: the invisible search's control variables,
  after the preselection or after all cuts and the window of one hypothesis, in one grid;
- :func:`signal_efficiencies`, :func:`plot_signal_efficiency` / :func:`efficiency_figure`: window
  count / generated events of each signal sample at its own mass hypothesis, with Clopper-Pearson
  intervals;
- :func:`write_cutflow_csv`: the cutflow of every dataset and the per-hypothesis cutflows as CSV.

Every channel's legend label and colour is in :data:`CHANNEL_STYLES`, every search's signal
channels, per-hypothesis cutflow key and signal normalisation in :data:`FIGURE_SPECS`.
The per-hypothesis cutflow is read from ``cutflow_hypotheses`` when the output has it,
else from the search's own key (``cutflow_mzp`` / ``cutflow_mphi``).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import hist
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mplhep
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import stats

from core.channels import CHANNEL_ROLES, DATA_CHANNEL, signal_mass_gev, signal_mass_mev
from core.weights import event_weight, is_data
from processors.base import HYPOTHESIS_CUTFLOW, WINDOW
from selections.scalar_selection import WINDOW as SCALAR_WINDOW
from selections.visible_zprime import MR_WINDOW as VISIBLE_WINDOW
from selections.zprime_selection import WINDOW as ZPRIME_WINDOW

# --- one source of truth: channel styles and searches ------------------------------------------


@dataclass(frozen=True)
class ChannelStyle:
    """Legend label (matplotlib mathtext) and colour of one fileset channel."""

    label: str
    color: str


CHANNEL_STYLES: dict[str, ChannelStyle] = {
    "signal": ChannelStyle(r"$Z' \to$ invisible", "#3f90da"),
    "signal_visible": ChannelStyle(r"$Z' \to \mu\mu$ (no ISR)", "#3f90da"),
    "signal_visible_isr": ChannelStyle(r"$Z' \to \mu\mu$ (ISR)", "#bd1f01"),
    "signal_ttphi": ChannelStyle(r"$\tau\tau\phi_L$, $\phi_L \to \ell\ell$", "#832db6"),
    "kkmc_mumu": ChannelStyle(r"KKMC $\mu\mu(\gamma)$", "#5790fc"),
    "kkmc_tautau": ChannelStyle(r"KKMC $\tau\tau(\gamma)$", "#f89c20"),
    "aafh_eemumu": ChannelStyle(r"AAFH $ee\mu\mu$", "#e42536"),
    "aafh_mumumumu": ChannelStyle(r"AAFH $\mu\mu\mu\mu$", "#964a8b"),
    "aafh_mumutautau": ChannelStyle(r"AAFH $\mu\mu\tau\tau$", "#9c9ca1"),
    "aafh_eetautau": ChannelStyle(r"AAFH $ee\tau\tau$", "#7a21dd"),
    "bhwide_ee": ChannelStyle(r"BHWIDE $ee(\gamma)$", "#92dadd"),
    "pythia_uds": ChannelStyle(r"Pythia $u\bar{u}, d\bar{d}, s\bar{s}$", "#a96b59"),
    "pythia_charm": ChannelStyle(r"Pythia $c\bar{c}$", "#e76300"),
    "pythia_bbbar": ChannelStyle(r"Pythia $B\bar{B}$", "#b9ac70"),
    DATA_CHANNEL: ChannelStyle("data", "black"),
}
"""Legend label and colour of every channel of :data:`core.channels.CHANNEL_ROLES`."""

SIGNAL_LINE_COLORS = ("black", "#d62728", "#2ca02c", "#1f77b4", "#ff7f0e", "#8c564b")
"""Line colours of the signal overlays of one panel, in mass order."""


RATIO_MAX = 5.0
"""Highest data/MC drawn in a ratio panel; larger ratios are marked by an arrow at its top."""
ONE_SIGMA = 0.682689492137086
"""Coverage of the Poisson (data) and Clopper-Pearson (efficiency) intervals."""

SIGNAL_COUPLING = 0.01
"""g' of the invisible-Z' signal overlays; the signal histograms are normalised to g' = 1 and scale as g'^2."""
VISIBLE_SIGNAL_COUPLING = 0.01
"""g' of the visible-Z' signal overlays (times BR(Z' -> mu mu))."""
SCALAR_SIGNAL_COUPLING = 1.0
"""xi of the phi_L signal overlays (histograms are normalised to xi = 1, before BR(phi_L -> l l))."""


def _visible_scale(mass_gev: float) -> float:
    from core.zprime_model import branching_fraction_mumu

    return VISIBLE_SIGNAL_COUPLING**2 * float(branching_fraction_mumu(mass_gev))


@dataclass(frozen=True)
class FigureSpec:
    """What the figures need to know of one search.

    ``hypothesis_key`` and ``window_key`` name the search's own per-hypothesis cutflow and its
    window entry (used when the output has no :data:`HYPOTHESIS_CUTFLOW`); ``selection`` says what the
    window count requires; ``signal_scale(m)`` is the factor from the unit-coupling signal
    histograms to the overlays drawn, ``overlay`` their coupling (legend title), ``particle`` the
    signal particle's mathtext; ``mass_label`` is the mathtext of the mass hypothesis;
    ``data_keys`` the histograms :func:`search_figures` draws as data/MC figures when data are
    present, besides the main figure.
    """

    name: str
    title: str
    signal_channels: tuple[str, ...]
    hypothesis_key: str
    window_key: str
    selection: str
    mass_label: str
    signal_scale: Callable[[float], float]
    overlay: str
    particle: str
    data_keys: tuple[str, ...] = field(default=())


FIGURE_SPECS: dict[str, FigureSpec] = {
    s.name: s
    for s in (
        FigureSpec(
            name="zprime",
            title=r"invisible $Z'$",
            signal_channels=("signal",),
            hypothesis_key="cutflow_mzp",
            window_key=ZPRIME_WINDOW,
            selection="ten cuts and recoil-mass window",
            mass_label=r"$m_{Z'}$",
            signal_scale=lambda m: SIGNAL_COUPLING**2,
            overlay=rf"$g'$={SIGNAL_COUPLING:g}",
            particle="$Z'$",
        ),
        FigureSpec(
            name="visible",
            title=r"$Z' \to \mu\mu$",
            signal_channels=("signal_visible", "signal_visible_isr"),
            hypothesis_key="cutflow_mzp",
            window_key=VISIBLE_WINDOW,
            selection="four-muon preselection and $m_R$ window",
            mass_label=r"$m_{Z'}$",
            signal_scale=_visible_scale,
            overlay=rf"$g'$={VISIBLE_SIGNAL_COUPLING:g} $\times$ BR($\mu\mu$)",
            particle="$Z'$",
            data_keys=("mr_all_pairs", "e_total_cms"),
        ),
        FigureSpec(
            name="scalar",
            title=r"$\tau\tau\phi_L$",
            signal_channels=("signal_ttphi",),
            hypothesis_key="cutflow_mphi",
            window_key=SCALAR_WINDOW,
            selection="rectangular cut and pair-mass window",
            mass_label=r"$m_{\phi_L}$",
            signal_scale=lambda m: SCALAR_SIGNAL_COUPLING**2,
            overlay=rf"$\xi$={SCALAR_SIGNAL_COUPLING:g}",
            particle=r"$\phi_L$",
        ),
    )
}
"""The three searches by their ``run.py --analysis`` name."""


def search_of(result: Mapping) -> str:
    """The search of a processor output: ``metadata["analysis"]``, else the one whose signal channels it holds."""
    name = result["metadata"].get("analysis")
    if name in FIGURE_SPECS:
        return name
    channels = {m.get("channel") for m in result["metadata"]["dataset_metadata"].values()}
    found = [s.name for s in FIGURE_SPECS.values() if channels & set(s.signal_channels)]
    if len(found) != 1:
        raise ValueError(f"cannot tell the search of an output with channels {sorted(map(str, channels))}")
    return found[0]


def hypothesis_cutflows(output: Mapping, search: str) -> dict[int, dict[str, int]]:
    """Per-hypothesis cutflow {mass_MeV: {stage: raw count}} of one dataset's output.

    :data:`HYPOTHESIS_CUTFLOW` when present, else the search's own key (``cutflow_mzp`` / ``cutflow_mphi``).
    """
    if HYPOTHESIS_CUTFLOW in output:
        return output[HYPOTHESIS_CUTFLOW]
    return output[FIGURE_SPECS[search].hypothesis_key]


def window_count(stages: Mapping[str, int], search: str) -> int:
    """Raw events in the mass window of one hypothesis' cutflow (``"window"``, else the search's window key)."""
    return int(stages[WINDOW] if WINDOW in stages else stages[FIGURE_SPECS[search].window_key])


# --- stacked MC, signals and data --------------------------------------------------------------


@dataclass
class StackInputs:
    """The 1D histograms of one panel: backgrounds per channel in ascending yield (drawn bottom to top),
    signal overlays (legend label, histogram already scaled to the overlay coupling), the summed data
    (None without data)."""

    backgrounds: dict[str, hist.Hist]
    signals: list[tuple[str, hist.Hist]]
    data: hist.Hist | None
    signal_note: str = ""
    """How the signals are normalised (legend title line), e.g. ``signals: g'=0.01``."""

    @property
    def axis(self):
        """The axis of the panel (that of every histogram in it)."""
        for h in [*self.backgrounds.values(), *(h for _, h in self.signals), *([] if self.data is None else [self.data])]:
            return h.axes[0]
        raise ValueError("a panel without histograms")

    def mc_total(self) -> tuple[np.ndarray, np.ndarray]:
        """Summed background values and variances per bin (zeros without backgrounds)."""
        n = len(self.axis)
        values, variances = np.zeros(n), np.zeros(n)
        for h in self.backgrounds.values():
            values += h.values()
            variances += h.variances()
        return values, variances


HistogramOf = Callable[[Mapping], hist.Hist]
"""Takes one dataset's output, returns the 1D histogram to draw."""


def histogram_getter(key: str | Sequence[str], select: Mapping | None = None, rebin: int = 1) -> HistogramOf:
    """A :data:`HistogramOf` for the histogram at ``key`` of a dataset's output.

    ``key`` is a key or a path of keys (``("control_preselection", "m_mumu")``); ``select`` is a
    hist indexing dict applied to it (``{"mzp_mev": hist.loc(2000)}``, ``{"flavour": sum}``), which
    must leave one axis; ``rebin`` merges that many bins.
    """
    path = (key,) if isinstance(key, str) else tuple(key)

    def get(output: Mapping) -> hist.Hist:
        h = output
        for k in path:
            h = h[k]
        if select:
            h = h[dict(select)]
        if h.ndim != 1:
            raise ValueError(f"histogram {'/'.join(path)} has {h.ndim} axes after the selection {select}; select all but one")
        return h[:: hist.rebin(rebin)] if rebin > 1 else h

    return get


def _spread(items: list, n: int) -> list:
    """At most ``n`` items of ``items``, evenly spread, first and last included."""
    if len(items) <= n:
        return items
    index = np.unique(np.round(np.linspace(0, len(items) - 1, n)).astype(int))
    return [items[i] for i in index]


def stack_inputs(
    datasets: Mapping[str, Mapping],
    metadata: Mapping[str, Mapping],
    histogram: HistogramOf,
    search: str,
    signal_masses_gev: Iterable[float] | None = None,
    max_signals: int = 4,
) -> StackInputs:
    """Collect one panel's histograms from the processor output ``datasets``.

    Backgrounds are summed per channel, signals drawn per sample at the search's overlay
    coupling (only those at ``signal_masses_gev`` when given, else up to ``max_signals``
    masses spread over the grid), data summed over every data dataset.
    """
    spec = FIGURE_SPECS[search]
    names = [n for n in datasets if n in metadata]
    backgrounds: dict[str, hist.Hist] = {}
    data = None
    signal_samples = []
    for name in names:
        meta = metadata[name]
        channel = meta.get("channel")
        if is_data(meta):
            h = histogram(datasets[name])
            data = h if data is None else data + h
        elif channel in spec.signal_channels:
            signal_samples.append((signal_mass_gev(meta), channel, name))
        elif signal_mass_gev(meta) is None:
            h = histogram(datasets[name])
            backgrounds[channel] = h if channel not in backgrounds else backgrounds[channel] + h
    backgrounds = dict(sorted(backgrounds.items(), key=lambda item: item[1].values().sum()))
    signal_samples.sort()
    if signal_masses_gev is not None:
        wanted = {round(1000 * m) for m in signal_masses_gev}
        signal_samples = [s for s in signal_samples if round(1000 * s[0]) in wanted]
    else:
        masses = _spread(sorted({m for m, _, _ in signal_samples}), max_signals)
        signal_samples = [s for s in signal_samples if s[0] in masses]
    signals = []
    for mass, channel, name in signal_samples:
        signals.append((signal_label(search, channel, mass), histogram(datasets[name]) * spec.signal_scale(mass)))
    return StackInputs(backgrounds, signals, data, f"signals: {spec.overlay}" if signals else "")


def signal_label(search: str, channel: str, mass_gev: float) -> str:
    """Legend label of a signal overlay: particle (channel when the search has several) and mass;
    the coupling goes to the legend title (:attr:`StackInputs.signal_note`)."""
    spec = FIGURE_SPECS[search]
    particle = CHANNEL_STYLES[channel].label if len(spec.signal_channels) > 1 else spec.particle
    return f"{particle} {mass_gev:g} GeV"


def poisson_interval(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Garwood (central, 68.27%) interval (low, high) of Poisson counts; low = 0 for zero counts."""
    counts = np.asarray(counts, dtype=float)
    alpha = 1.0 - ONE_SIGMA
    low = np.where(counts > 0, 0.5 * stats.chi2.ppf(alpha / 2, 2 * counts), 0.0)
    high = 0.5 * stats.chi2.ppf(1 - alpha / 2, 2 * (counts + 1))
    return np.nan_to_num(low), high


def data_mc_ratio(inputs: StackInputs) -> dict[str, np.ndarray]:
    """The ratio panel's numbers per bin: ``ratio`` = data / summed backgrounds (NaN where MC is 0),
    ``low``/``high`` its Poisson interval, ``mc_rel`` the relative MC statistical uncertainty."""
    if inputs.data is None:
        raise ValueError("no data in this panel")
    mc, var = inputs.mc_total()
    counts = inputs.data.values()
    low, high = poisson_interval(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(mc > 0, mc, np.nan)
        return {"ratio": counts / safe, "low": low / safe, "high": high / safe, "mc_rel": np.sqrt(var) / safe}


def _per_bin_label(axis) -> str:
    """``events / <width> <unit>`` for a regular axis, ``events / bin`` otherwise."""
    widths = np.asarray(axis.widths)
    unit = re.search(r"\[(.*)\]\s*$", axis.label or "")
    if widths.size and np.allclose(widths, widths[0], rtol=1e-6):
        return f"events / {widths[0]:.3g}" + (f" {unit.group(1)}" if unit else "")
    return "events / bin"


LOG_DECADES = 7
"""Decades a log y axis spans at most below the largest content."""


def _log_limits(inputs: StackInputs, mc: np.ndarray, headroom: float) -> tuple[float, float]:
    """(bottom, top) of a log y axis.

    The bottom shows the smallest content of every background channel and of the data, and each
    signal down to 1% of its peak, but lies at most :data:`LOG_DECADES` below the largest content;
    the top leaves ``headroom`` of the plot above the largest content, for the legend.
    """
    lows = [h.values() for h in inputs.backgrounds.values()]
    if inputs.data is not None:
        lows.append(inputs.data.values())
    lows += [np.array([0.01 * h.values().max()]) for _, h in inputs.signals]
    positive = [c[c > 0].min() for c in lows if (c > 0).any()]
    tops = [mc, *lows, *(h.values() for _, h in inputs.signals)]
    largest = max(float(c.max()) for c in tops if c.size) if any(c.size for c in tops) else 0.0
    if not positive or largest <= 0:
        return 0.1, 10.0
    bottom = max(10 ** math.floor(math.log10(min(positive))), largest * 10.0**-LOG_DECADES)
    decades = math.log10(largest / bottom)
    return bottom, bottom * 10 ** (max(decades, 1.0) / (1.0 - headroom))


def draw_stack(
    ax: plt.Axes,
    inputs: StackInputs,
    *,
    ratio_ax: plt.Axes | None = None,
    logy: bool = True,
    logx: bool = False,
    ylabel: str | None = None,
    legend: bool = True,
    legend_title: str | None = None,
    fontsize: float = 14,
    headroom: float | None = None,
) -> list[tuple[object, str]]:
    """Draw ``inputs`` on ``ax``: stacked backgrounds (largest on top) with their MC statistical band,
    signal lines, data points with Poisson intervals; and on ``ratio_ax`` (when given and data are
    present) data/MC with the MC statistical band around 1 (bins with MC; empty data bins only where the
    MC expects at least one event). ``headroom`` is the fraction of the
    panel above the highest content kept free for the legend (default: from the legend's rows); on a log axis, signals entirely below
    its bottom (8 decades under the highest content at most) are left out. Returns the legend
    entries (handle, label) in legend order: data, backgrounds largest first, MC band, signals.
    """
    axis = inputs.axis
    edges = np.asarray(axis.edges)
    centers = np.sqrt(edges[1:] * edges[:-1]) if logx else np.asarray(axis.centers)
    mc, var = inputs.mc_total()
    title = "\n".join(t for t in (legend_title, inputs.signal_note) if t) or None
    n_filled = sum(bool(h.values().any()) for h in inputs.backgrounds.values())
    n_entries = (inputs.data is not None) + n_filled + bool(n_filled) + len(inputs.signals)
    ncols = 1 if n_entries <= 5 else (2 if n_entries <= 10 else 3)
    if headroom is None:
        rows = math.ceil(n_entries / ncols) + (title.count("\n") + 1 if title else 0)
        headroom = min(0.55, 0.08 + 0.05 * rows) if legend else 0.15
    if logy:
        bottom, top = _log_limits(inputs, mc, headroom)
    else:
        contents = [mc, *(h.values() for _, h in inputs.signals)]
        if inputs.data is not None:
            contents.append(poisson_interval(inputs.data.values())[1] * (inputs.data.values() > 0))
        bottom, top = 0.0, (max((c.max() for c in contents if c.size), default=1.0) or 1.0) / (1.0 - headroom)
    entries: dict[str, list[tuple[object, str]]] = {"data": [], "backgrounds": [], "band": [], "signals": []}
    channels = [c for c, h in inputs.backgrounds.items() if h.values().any()]  # empty channels: not in the legend
    if channels:
        mplhep.histplot(
            [inputs.backgrounds[c].values() for c in channels], bins=edges, stack=True, histtype="fill",
            color=[CHANNEL_STYLES[c].color for c in channels], ax=ax, flow="none",
        )  # fmt: skip
        entries["backgrounds"] = [(Patch(facecolor=CHANNEL_STYLES[c].color), CHANNEL_STYLES[c].label) for c in reversed(channels)]
        sigma = np.sqrt(var)
        band = ax.stairs(mc + sigma, edges, baseline=mc - sigma, fill=True, facecolor="none", edgecolor="0.25", hatch="////", linewidth=0)
        entries["band"] = [(band, "MC stat. unc.")]
    for k, (label, h) in enumerate(inputs.signals):
        if logy and not (h.values() > bottom).any():
            continue
        line = ax.stairs(h.values(), edges, color=SIGNAL_LINE_COLORS[k % len(SIGNAL_LINE_COLORS)], linewidth=2,
                         linestyle=("-", "--", "-.", ":")[(k // len(SIGNAL_LINE_COLORS)) % 4])  # fmt: skip
        entries["signals"].append((line, label))
    if inputs.data is not None:
        counts = inputs.data.values()
        low, high = poisson_interval(counts)
        shown = counts > 0 if logy else np.ones(counts.shape, bool)
        points = ax.errorbar(centers[shown], counts[shown], yerr=[(counts - low)[shown], (high - counts)[shown]], fmt="o",
                             color="black", markersize=4, linewidth=1.2)  # fmt: skip
        entries["data"] = [(points, CHANNEL_STYLES[DATA_CHANNEL].label)]
    if logy:
        ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    if logx:
        ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel(ylabel or _per_bin_label(axis), fontsize=fontsize)
    ax.tick_params(labelsize=fontsize * 0.85)
    empty = not mc.any() and not any(h.values().any() for _, h in inputs.signals) and (inputs.data is None or not inputs.data.values().any())
    if empty:
        ax.text(0.5, 0.5, "no entries", transform=ax.transAxes, ha="center", va="center", fontsize=fontsize, color="0.4")
    ordered = [e for group in entries.values() for e in group]
    if legend and ordered:
        ax.legend(
            [h for h, _ in ordered], [l for _, l in ordered], fontsize=fontsize * 0.8, loc="upper right", title=title,
            title_fontsize=fontsize * 0.8, ncols=ncols, frameon=False,
        )  # fmt: skip
    if ratio_ax is None or inputs.data is None:
        ax.set_xlabel(axis.label, fontsize=fontsize)
        return ordered
    ax.set_xlabel("")
    ax.tick_params(labelbottom=False)
    r = data_mc_ratio(inputs)
    one = np.ones_like(mc)
    rel = np.nan_to_num(r["mc_rel"])
    ratio_ax.stairs(one + rel, edges, baseline=one - rel, fill=True, facecolor="0.8", edgecolor="none", label="MC stat. unc.")
    ratio_ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1)
    # empty data bins only where the MC expects at least one event: below, their upper error says nothing
    ok = np.isfinite(r["ratio"]) & ((inputs.data.values() > 0) | (mc >= 1.0))
    ratio_ax.errorbar(
        centers[ok], r["ratio"][ok], yerr=[(r["ratio"] - r["low"])[ok], (r["high"] - r["ratio"])[ok]],
        fmt="o", color="black", markersize=4, linewidth=1.2, label="data/MC",
    )  # fmt: skip
    if not ok.any():
        ratio_ax.text(0.5, 0.75, "no bin with data and MC", transform=ratio_ax.transAxes, ha="center", va="center",
                      fontsize=fontsize * 0.8, color="0.4")  # fmt: skip
    finite = r["ratio"][ok]
    upper = min(RATIO_MAX, max(2.0, 1.15 * float(finite.max()))) if finite.size else 2.0
    off_scale = ok & (np.nan_to_num(r["ratio"]) > upper)
    if off_scale.any():  # points above the panel: an arrow at its top edge
        ratio_ax.plot(centers[off_scale], np.full(off_scale.sum(), 0.93 * upper), "^", color="black", markersize=6)
    ratio_ax.set_ylim(0.0, upper)
    ratio_ax.set_xlim(edges[0], edges[-1])
    if logx:
        ratio_ax.set_xscale("log")
    ratio_ax.set_ylabel("data / MC", fontsize=fontsize * 0.85)
    ratio_ax.set_xlabel(axis.label, fontsize=fontsize)
    ratio_ax.tick_params(labelsize=fontsize * 0.85)
    return ordered


def _has_data(metadata: Mapping[str, Mapping], datasets: Mapping) -> bool:
    return any(is_data(metadata[n]) for n in datasets if n in metadata)


def _exp_label(ax: plt.Axes, lumi_fb: float, data: bool, fontsize: float = 16, rlabel: str | None = None) -> None:
    mplhep.label.exp_label(
        exp="Belle", llabel="Internal" if data else "Simulation", data=data,
        rlabel=rlabel or rf"{lumi_fb:.3g} fb$^{{-1}}$", ax=ax, fontsize=fontsize,
    )  # fmt: skip


def _main_and_ratio(fig: Figure, cell, with_ratio: bool) -> tuple[plt.Axes, plt.Axes | None]:
    """A main axis in the gridspec cell ``cell``, and a ratio axis below it when ``with_ratio``."""
    if not with_ratio:
        return fig.add_subplot(cell), None
    inner = cell.subgridspec(2, 1, height_ratios=(3.2, 1.0), hspace=0.06)
    ax = fig.add_subplot(inner[0])
    return ax, fig.add_subplot(inner[1], sharex=ax)


def stack_figure(
    result: Mapping,
    key: str | Sequence[str],
    *,
    select: Mapping | None = None,
    rebin: int = 1,
    search: str | None = None,
    signal_masses_gev: Iterable[float] | None = None,
    max_signals: int = 4,
    logy: bool = True,
    logx: bool = False,
    title: str | None = None,
) -> Figure:
    """The stacked-MC figure of the histogram ``key`` of every dataset (see :func:`histogram_getter` for
    ``key``, ``select``, ``rebin``; :func:`stack_inputs` for the signals); with a data/MC ratio panel
    below when the output holds data. ``search`` defaults to :func:`search_of`. The caller closes it."""
    search = search or search_of(result)
    datasets, metadata = result["datasets"], result["metadata"]["dataset_metadata"]
    inputs = stack_inputs(datasets, metadata, histogram_getter(key, select, rebin), search, signal_masses_gev, max_signals)
    with plt.style.context(mplhep.style.ROOT):
        fig = plt.figure(figsize=(12, 11 if inputs.data is not None else 9))
        grid = fig.add_gridspec(1, 1)
        ax, ratio_ax = _main_and_ratio(fig, grid[0], inputs.data is not None)
        draw_stack(ax, inputs, ratio_ax=ratio_ax, logy=logy, logx=logx, legend_title=title, fontsize=18)
        _exp_label(ax, result["metadata"]["lumi_fb"], inputs.data is not None)
    return fig


def _save(fig: Figure, path: str | os.PathLike, dpi: int = 80) -> Path:
    """Save ``fig`` (drawn in the mplhep ROOT style, in which it is also rendered) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.style.context(mplhep.style.ROOT):
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_stack(result: Mapping, key: str | Sequence[str], path: str | os.PathLike, **options) -> Path:
    """Write :func:`stack_figure` of ``key`` (``options`` as there) to ``path``; return the path."""
    return _save(stack_figure(result, key, **options), path)


# --- invisible Z': main figure and control variables ----------------------------------------------


def plot_recoil_mass(
    datasets: dict[str, dict],
    metadata: dict[str, dict],
    lumi_fb: float,
    path: str | os.PathLike,
    mzp_gev: float = 2.0,
) -> Path:
    """Write the recoil-mass figure of the invisible-Z' output ``datasets`` to ``path``; return the path.

    Top: M^2_recoil after the preselection (signal overlays at four masses) and after all cuts of
    the hypothesis ``mzp_gev`` (its own signal), stacked backgrounds per channel, with data and a
    data/MC ratio panel when a dataset is data. Bottom: the cutflow of that hypothesis in expected
    events (observed events for data). ``metadata`` maps each dataset name to its fileset metadata,
    ``lumi_fb`` is the luminosity the histograms were normalised to (fb^-1).
    """
    mzp_mev = round(mzp_gev * 1000)
    data = _has_data(metadata, datasets)
    panels = (
        (histogram_getter("recoil_mass2", rebin=2), None, "two opposite-charge muons, muon ID"),
        (
            histogram_getter("recoil_mass2_selected", {"mzp_mev": hist.loc(mzp_mev)}, rebin=2),
            [mzp_gev],
            f"all cuts of $m_{{Z'}}$ = {mzp_gev:g} GeV",
        ),
    )
    with plt.style.context(mplhep.style.ROOT):
        fig = plt.figure(figsize=(20, 17 if data else 15))
        grid = fig.add_gridspec(2, 2, height_ratios=(2.6 if data else 2.2, 1.0), hspace=0.22, wspace=0.22)
        for k, (getter, masses, title) in enumerate(panels):
            inputs = stack_inputs(datasets, metadata, getter, "zprime", masses)
            ax, ratio_ax = _main_and_ratio(fig, grid[0, k], data)
            draw_stack(ax, inputs, ratio_ax=ratio_ax, legend_title=title, fontsize=18)
            _exp_label(ax, lumi_fb, data, rlabel=rf"{lumi_fb:.3g} fb$^{{-1}}$ ($E_{{\mathrm{{CM}}}}$ = 10.58 GeV)")
        _cutflow_table(fig.add_subplot(grid[1, :]), datasets, metadata, lumi_fb, mzp_gev)
        return _save(fig, path)


def _cutflow_table(ax: plt.Axes, datasets: Mapping, metadata: Mapping, lumi_fb: float, mzp_gev: float) -> None:
    """The cutflow of one invisible-Z' hypothesis as a table: expected events per background channel
    (largest first), the signal at ``mzp_gev`` and g' = :data:`SIGNAL_COUPLING`, and data."""
    mzp_mev = round(mzp_gev * 1000)
    names = [n for n in datasets if n in metadata]
    own = [n for n in names if metadata[n].get("channel") == "signal" and signal_mass_mev(metadata[n]) == mzp_mev]
    channels: dict[str, list[str]] = {}
    for n in names:
        if not is_data(metadata[n]) and signal_mass_gev(metadata[n]) is None:
            channels.setdefault(metadata[n]["channel"], []).append(n)
    channels = dict(sorted(channels.items(), key=lambda item: -sum(datasets[n]["cutflow"]["all"] * event_weight(metadata[n], lumi_fb) for n in item[1])))
    columns = {CHANNEL_STYLES[c].label: ns for c, ns in channels.items()}
    columns[rf"$Z'$ {mzp_gev:g} GeV, $g'$={SIGNAL_COUPLING:g}"] = own
    observed = [n for n in names if is_data(metadata[n])]
    if observed:
        columns["data"] = observed
    first = datasets[names[0]]
    stages = hypothesis_cutflows(first, "zprime")[mzp_mev]
    duplicate = {WINDOW} if FIGURE_SPECS["zprime"].window_key in stages else set()  # same count, one row
    rows = [*first["cutflow"], *(s for s in stages if s not in first["cutflow"] and s not in duplicate)]
    cells = []
    for row in rows:
        line = []
        for ns in columns.values():
            total = 0.0
            for n in ns:
                out = datasets[n]
                count = out["cutflow"][row] if row in out["cutflow"] else hypothesis_cutflows(out, "zprime")[mzp_mev][row]
                total += count * event_weight(metadata[n], lumi_fb) * (SIGNAL_COUPLING**2 if n in own else 1.0)
            line.append(f"{total:.3g}")
        cells.append(line)
    ax.axis("off")
    table = ax.table(cellText=cells, rowLabels=rows, colLabels=list(columns), loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(12)
    table.scale(1.0, 1.25)
    counted = "expected events" + ("; data: observed events" if observed else "")
    ax.set_title(f"cutflow for $m_{{Z'}}$ = {mzp_gev:g} GeV ({counted}, {lumi_fb:.3g} fb$^{{-1}}$)", fontsize=16)


CONTROL_STAGES = {"preselection": "control_preselection", "selected": "control_selected"}
"""Stages of :func:`plot_control_variables` and the output key of their histograms."""


def plot_control_variables(
    result: Mapping,
    path: str | os.PathLike,
    stage: str = "preselection",
    mzp_gev: float = 2.0,
    columns: int = 4,
) -> Path:
    """Write :func:`control_figure` (every control variable of the invisible-Z' output in one grid) to
    ``path``; return the path."""
    return _save(control_figure(result, stage, mzp_gev, columns), path, dpi=60)


def control_figure(result: Mapping, stage: str = "preselection", mzp_gev: float = 2.0, columns: int = 4) -> Figure:
    """Every control variable of the invisible-Z' output in one grid figure, ``columns`` panels a row.

    ``stage`` ``"preselection"``: the histograms filled after the preselection, signal overlays at
    three masses; ``"selected"``: after all cuts and the recoil-mass window of the hypothesis
    ``mzp_gev``, with its own signal. Stacked backgrounds, and data with a data/MC ratio panel
    under each variable when the output holds data (the main axis of variable k is ``fig.axes[k]``
    without data, ``fig.axes[2k]`` with its ratio axis ``fig.axes[2k + 1]`` with data). The caller closes it.
    """
    if stage not in CONTROL_STAGES:
        raise ValueError(f"stage must be one of {sorted(CONTROL_STAGES)}, got {stage!r}")
    key = CONTROL_STAGES[stage]
    datasets, metadata = result["datasets"], result["metadata"]["dataset_metadata"]
    lumi_fb = result["metadata"]["lumi_fb"]
    variables = list(next(iter(datasets.values()))[key])
    data = _has_data(metadata, datasets)
    mzp_mev = round(1000 * mzp_gev)
    select = {"mzp_mev": hist.loc(mzp_mev)} if stage == "selected" else None
    masses = [mzp_gev] if stage == "selected" else None
    rows = math.ceil(len(variables) / columns)
    with plt.style.context(mplhep.style.ROOT):
        fig = plt.figure(figsize=(6.5 * columns, (6.2 if data else 5.0) * rows))
        grid = fig.add_gridspec(rows, columns, hspace=0.32, wspace=0.3, top=0.98, bottom=0.03)
        legend: list[tuple[object, str]] = []
        note = ""
        for k, variable in enumerate(variables):
            inputs = stack_inputs(datasets, metadata, histogram_getter((key, variable), select), "zprime", masses, max_signals=3)
            ax, ratio_ax = _main_and_ratio(fig, grid[k // columns, k % columns], data)
            entries = draw_stack(ax, inputs, ratio_ax=ratio_ax, legend=False, fontsize=13, headroom=0.15)
            legend = entries if len(entries) > len(legend) else legend
            note = note or inputs.signal_note
        stage_text = (
            "after the preselection (two opposite-charge muons, muon ID)"
            if stage == "preselection"
            else f"after all cuts and the recoil-mass window of $m_{{Z'}}$ = {mzp_gev:g} GeV"
        )
        fig.legend(
            [h for h, _ in legend], [l for _, l in legend], loc="lower center", bbox_to_anchor=(0.5, 0.985),
            ncols=min(6, len(legend)), fontsize=16, frameon=False,
            title=rf"Belle {'Internal' if data else 'Simulation'}, {lumi_fb:.3g} fb$^{{-1}}$: invisible $Z'$ control variables {stage_text}; {note}",
            title_fontsize=18,
        )  # fmt: skip
    return fig


# --- signal efficiency vs mass -------------------------------------------------------------------


@dataclass(frozen=True)
class EfficiencyPoint:
    """Window efficiency of the signal samples of one channel at one mass: ``selected`` raw events in the
    window of their own hypothesis over ``generated``, with the Clopper-Pearson interval (``low``, ``high``)."""

    channel: str
    mass_gev: float
    selected: int
    generated: int

    @property
    def efficiency(self) -> float:
        return self.selected / self.generated

    @property
    def interval(self) -> tuple[float, float]:
        return clopper_pearson(self.selected, self.generated)


def clopper_pearson(k: int, n: int, coverage: float = ONE_SIGMA) -> tuple[float, float]:
    """Central Clopper-Pearson interval of a binomial efficiency k/n (0 and 1 at the edges)."""
    alpha = 1.0 - coverage
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def signal_efficiencies(result: Mapping, search: str | None = None) -> dict[str, list[EfficiencyPoint]]:
    """Per signal channel of the search, the window efficiency at each signal mass (ascending).

    The count is the per-hypothesis cutflow's window entry of each signal dataset at its own mass
    hypothesis, over the dataset's ``n_generated`` (samples of one channel and mass summed). Samples
    whose mass is not a hypothesis of the output are left out.
    """
    search = search or search_of(result)
    spec = FIGURE_SPECS[search]
    datasets, metadata = result["datasets"], result["metadata"]["dataset_metadata"]
    counts: dict[tuple[str, int], list[int]] = {}
    for name, out in datasets.items():
        meta = metadata.get(name, {})
        if meta.get("channel") not in spec.signal_channels:
            continue
        mass_mev = signal_mass_mev(meta)
        hypotheses = hypothesis_cutflows(out, search)
        if mass_mev not in hypotheses:
            continue
        total = counts.setdefault((meta["channel"], mass_mev), [0, 0])
        total[0] += window_count(hypotheses[mass_mev], search)
        total[1] += int(meta["n_generated"])
    points: dict[str, list[EfficiencyPoint]] = {}
    for (channel, mass_mev), (selected, generated) in sorted(counts.items(), key=lambda item: (item[0][0], item[0][1])):
        points.setdefault(channel, []).append(EfficiencyPoint(channel, mass_mev / 1000, selected, generated))
    return {c: points[c] for c in spec.signal_channels if c in points}


def plot_signal_efficiency(result: Mapping, path: str | os.PathLike, search: str | None = None) -> Path:
    """Write :func:`efficiency_figure` to ``path``; return the path."""
    return _save(efficiency_figure(result, search), path)


def efficiency_figure(result: Mapping, search: str | None = None) -> Figure:
    """The signal efficiency (window / generated, :func:`signal_efficiencies`) vs the mass hypothesis, one
    curve per signal channel (in :attr:`FigureSpec.signal_channels` order), with Clopper-Pearson (68%) error
    bars. ValueError when the output has no signal sample at one of its hypotheses. The caller closes it."""
    search = search or search_of(result)
    spec = FIGURE_SPECS[search]
    points = signal_efficiencies(result, search)
    if not points:
        raise ValueError(f"no {search} signal sample at a mass hypothesis of the output")
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(12, 8))
        top = 0.0
        for k, (channel, curve) in enumerate(points.items()):
            mass = np.array([p.mass_gev for p in curve])
            eff = np.array([p.efficiency for p in curve])
            low, high = np.array([p.interval for p in curve]).T
            top = max(top, float(high.max()))
            ax.errorbar(mass, eff, yerr=[eff - low, high - eff], fmt="os^v"[k % 4] + "-", color=CHANNEL_STYLES[channel].color,
                        markersize=7, linewidth=1.5, capsize=3, label=CHANNEL_STYLES[channel].label)  # fmt: skip
        ax.set_xlim(0.0, 1.08 * max(p.mass_gev for curve in points.values() for p in curve))
        ax.set_xlabel(f"{spec.mass_label} [GeV]")
        ax.set_ylabel("signal efficiency (window / generated)")
        ax.set_ylim(0.0, min(1.0, 1.3 * top) if top > 0 else 1.0)
        ax.legend(fontsize=16, loc="upper right", title=f"{spec.title}: {spec.selection}", title_fontsize=16, frameon=False)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel="", ax=ax, fontsize=18)
    return fig


# --- cutflow CSV ----------------------------------------------------------------------------------


def _dataset_order(metadata: Mapping[str, Mapping], names: Iterable[str]) -> list[str]:
    """Signals by channel and mass, then backgrounds by channel, then data."""
    roles = list(CHANNEL_ROLES)

    def key(name: str):
        meta = metadata[name]
        group = 2 if is_data(meta) else (0 if signal_mass_gev(meta) is not None else 1)
        channel = meta.get("channel")
        return group, roles.index(channel) if channel in roles else len(roles), signal_mass_gev(meta) or 0.0, name

    return sorted(names, key=key)


def _csv_cell(value: float) -> str:
    return f"{value:.10g}"


def write_cutflow_csv(result: Mapping, path: str | os.PathLike) -> list[Path]:
    """Write the cutflows of a processor output as CSV; return the paths written.

    ``path``: one row per dataset: ``dataset, channel, mass_gev, xsec_pb, n_generated, weight``, the raw
    count of every ``cutflow`` stage in order, then ``expected:<stage>`` = count x weight (events at the
    output's luminosity; signals at unit coupling, g' = 1 or xi = 1, before any branching fraction;
    data: weight 1, the observed count). ``<path stem>_hypotheses.csv``: one row per (mass hypothesis,
    dataset) with the per-hypothesis cutflow (raw counts and ``expected:`` columns the same way).
    """
    path = Path(path)
    search = search_of(result)
    datasets, metadata = result["datasets"], result["metadata"]["dataset_metadata"]
    lumi_fb = result["metadata"]["lumi_fb"]
    names = _dataset_order(metadata, [n for n in datasets if n in metadata])
    missing = sorted(set(datasets) - set(metadata))
    if missing:
        raise ValueError(f"datasets without metadata: {', '.join(missing)}")

    def identity(name: str) -> list[str]:
        meta = metadata[name]
        mass = signal_mass_gev(meta)
        return [
            name, str(meta.get("channel", "")), "" if mass is None else f"{mass:g}", str(meta.get("xsec_pb", "")),
            str(meta.get("n_generated", "")), _csv_cell(event_weight(meta, lumi_fb)),
        ]  # fmt: skip

    stages = list(dict.fromkeys(s for n in names for s in datasets[n]["cutflow"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "channel", "mass_gev", "xsec_pb", "n_generated", "weight", *stages, *(f"expected:{s}" for s in stages)])
        for name in names:
            flow, weight = datasets[name]["cutflow"], event_weight(metadata[name], lumi_fb)
            writer.writerow([*identity(name), *(flow.get(s, "") for s in stages),
                             *(_csv_cell(flow[s] * weight) if s in flow else "" for s in stages)])  # fmt: skip

    per_hypothesis = {n: hypothesis_cutflows(datasets[n], search) for n in names}
    masses = sorted({m for flows in per_hypothesis.values() for m in flows})
    hyp_stages = list(dict.fromkeys(s for flows in per_hypothesis.values() for stages_ in flows.values() for s in stages_))
    hyp_path = path.with_name(f"{path.stem}_hypotheses.csv")
    with open(hyp_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["mass_mev", "dataset", "channel", "mass_gev", "xsec_pb", "n_generated", "weight",
                         *hyp_stages, *(f"expected:{s}" for s in hyp_stages)])  # fmt: skip
        for mass in masses:
            for name in names:
                flow = per_hypothesis[name].get(mass)
                if flow is None:
                    continue
                weight = event_weight(metadata[name], lumi_fb)
                writer.writerow([mass, *identity(name), *(flow.get(s, "") for s in hyp_stages),
                                 *(_csv_cell(flow[s] * weight) if s in flow else "" for s in hyp_stages)])  # fmt: skip
    return [path, hyp_path]


# --- visible Z' and scalar main figures ---------------------------------------------------------


def plot_reduced_mass(
    datasets: dict[str, dict], metadata: dict[str, dict], lumi_fb: float, path: str | os.PathLike
) -> Path:
    """Write the m_R figure of the visible-Z' output; return the path.

    The four-muon background is drawn with all four pairs of each event; each signal sample (no ISR solid,
    ISR dotted) with the pair chosen for its own mass hypothesis, normalised to g' = :data:`VISIBLE_SIGNAL_COUPLING`
    times BR(Z' -> mu mu).
    """
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(14, 9))
        background = [n for n, m in metadata.items() if m.get("channel") == "aafh_mumumumu" and n in datasets]
        if background:
            total = sum((datasets[n]["mr_all_pairs"] for n in background[1:]), datasets[background[0]]["mr_all_pairs"])
            mplhep.histplot(total, histtype="fill", color="#BBBBBB", label=CHANNEL_STYLES["aafh_mumumumu"].label + " (all 4 pairs)",
                            yerr=False, ax=ax)  # fmt: skip
        styles = {"signal_visible": "-", "signal_visible_isr": ":"}
        for channel, style in styles.items():
            signals = sorted((m["mzp"], n) for n, m in metadata.items() if m.get("channel") == channel and n in datasets)
            for k, (mzp, name) in enumerate(signals):
                scale = FIGURE_SPECS["visible"].signal_scale(mzp)
                label = f"{CHANNEL_STYLES[channel].label}, {FIGURE_SPECS['visible'].overlay}" if k == 0 else None
                own = datasets[name]["mr_chosen"][{"mzp_mev": hist.loc(round(mzp * 1000))}]
                mplhep.histplot(own * scale, histtype="step", ls=style, color=f"C{k % 10}", label=label, yerr=False, ax=ax)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-2)
        ax.set_ylabel("pairs / bin (0.46% of $m_R$)")
        ax.legend(fontsize=14, loc="upper right", title="four tracks, zero charge, muon ID, $E^*_{4\\mu}$", title_fontsize=14)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:.3g} fb$^{{-1}}$", ax=ax, fontsize=16)
        return _save(fig, path)


def plot_pair_mass(datasets: dict[str, dict], metadata: dict[str, dict], lumi_fb: float, path: str | os.PathLike) -> Path:
    """Write the pair-mass figure of the scalar processor output ``datasets`` to ``path``; return the path.

    Left: m_ll of the phi_L candidates after the preselection; right: after the rectangular
    cut (e+e- and mu+mu- pairs summed). Stacked backgrounds per channel (50 MeV bins), signal
    overlays at xi = :data:`SCALAR_SIGNAL_COUPLING` (before BR(phi_L -> l l)) at five masses,
    and data with a data/MC ratio panel when a dataset is data; ``metadata`` maps each dataset to
    its fileset metadata.
    """
    data = _has_data(metadata, datasets)
    with plt.style.context(mplhep.style.ROOT):
        fig = plt.figure(figsize=(20, 11 if data else 9))
        grid = fig.add_gridspec(1, 2, wspace=0.22)
        for k, (getter, title) in enumerate((
            (histogram_getter("pair_mass", rebin=10), "preselection: 4 tracks, ee or $\\mu\\mu$ pair"),
            (histogram_getter("pair_mass_selected", {"flavour": sum}, rebin=10),
             "+ rectangular cut ($M_{miss}$, $\\theta^{CM}_{miss}$)"),
        )):  # fmt: skip
            inputs = stack_inputs(datasets, metadata, getter, "scalar", max_signals=5)
            ax, ratio_ax = _main_and_ratio(fig, grid[0, k], data)
            draw_stack(ax, inputs, ratio_ax=ratio_ax, legend_title=title, fontsize=16)
            _exp_label(ax, lumi_fb, data)
        return _save(fig, path)


# --- one entry point per search ---------------------------------------------------------------


def search_figures(result: dict, stem: Path, search: str, images: bool = True) -> list[Path]:
    """Write every figure and table of one search's output next to its pickle; return the paths written.

    ``stem`` is the output pickle path without suffix (``results/zprime_invisible``); ``search`` one of
    :data:`FIGURE_SPECS`. Written: the main figure (``zprime``: ``<stem>_recoil_mass2.png``, ``visible``:
    ``<stem>_mr.png``, ``scalar``: ``<stem>_pair_mass.png``; with data/MC ratio panels when data are
    present, except the visible m_R figure), for ``zprime`` the control variables
    (``<stem>_control_preselection.png``, ``<stem>_control_selected.png`` at 2 GeV or the middle
    hypothesis), the signal efficiency vs mass (``<stem>_signal_efficiency.png``, when the output has
    signal samples at its hypotheses), the cutflow CSVs (``<stem>_cutflow.csv``,
    ``<stem>_cutflow_hypotheses.csv``) and, with data, ``<stem>_<key>_data.png`` for the search's
    :attr:`FigureSpec.data_keys`. ``images`` False: only the cutflow CSVs (drawing takes seconds; the pickle
    holds everything the figures show).
    """
    if search not in FIGURE_SPECS:
        raise ValueError(f"search must be one of {sorted(FIGURE_SPECS)}, got {search!r}")
    stem = Path(stem)
    datasets, metadata = result["datasets"], result["metadata"]["dataset_metadata"]
    lumi_fb = result["metadata"]["lumi_fb"]

    def named(suffix: str) -> Path:
        return stem.with_name(f"{stem.name}_{suffix}")

    written: list[Path] = []
    if not images:
        return write_cutflow_csv(result, named("cutflow.csv"))
    if search == "zprime":
        hypotheses = sorted(hypothesis_cutflows(next(iter(datasets.values())), search))
        mzp_mev = 2000 if 2000 in hypotheses else hypotheses[len(hypotheses) // 2]
        written.append(plot_recoil_mass(datasets, metadata, lumi_fb, named("recoil_mass2.png"), mzp_gev=mzp_mev / 1000))
        written.append(plot_control_variables(result, named("control_preselection.png"), "preselection"))
        written.append(plot_control_variables(result, named("control_selected.png"), "selected", mzp_gev=mzp_mev / 1000))
    elif search == "visible":
        written.append(plot_reduced_mass(datasets, metadata, lumi_fb, named("mr.png")))
    else:
        written.append(plot_pair_mass(datasets, metadata, lumi_fb, named("pair_mass.png")))
    if signal_efficiencies(result, search):
        written.append(plot_signal_efficiency(result, named("signal_efficiency.png"), search))
    written += write_cutflow_csv(result, named("cutflow.csv"))
    if _has_data(metadata, datasets):
        for key in FIGURE_SPECS[search].data_keys:
            logx = key == "mr_all_pairs"
            written.append(
                plot_stack(result, key, named(f"{key}_data.png"), search=search, logx=logx, rebin=10 if logx else 1, max_signals=2)
            )
    return written
