"""The limit figures: one coupling-limit band figure for every search (g' or xi with the (g-2)_mu band), and the
visible-vs-invisible g' comparison."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import ArrayLike  # noqa: E402

from sensitivity.limits import LimitTable  # noqa: E402
from core.zprime_model import g2_band  # noqa: E402

BAND_COLOURS = {"2": "#F5BB54", "1": "#5BA65B", "g2": "#9B59B6"}
"""Colours of the +-2 sigma and +-1 sigma expected bands and of the (g-2)_mu band."""


def plot_coupling_limits(
    table: LimitTable,
    path: str | os.PathLike,
    others: Sequence[LimitTable] = (),
) -> Path:
    """Write the coupling-limit figure of ``table`` to ``path`` (PNG or PDF by extension); return the path.

    The one limit-band figure of the three searches: expected median with its +-1 and +-2 sigma bands,
    the observed limit (labelled with the table's observation) and the (g-2)_mu favoured band of the
    search's model (:attr:`sensitivity.limits.SignalModel.g2_band`); ``others`` (tables of the same
    search, e.g. the visible Z' without ISR) are drawn as expected-median lines. Only curves computed
    here are drawn: no published limit is shown unless it comes from a cited public digitisation.
    """
    path = Path(path)
    model = table.model
    for other in others:
        if other.model.coupling_name != model.coupling_name or other.model.mass_key != model.mass_key:
            raise ValueError(f"plot_coupling_limits: {other.yields.signal_channel} is not a {model.search} table")
    m = table.yields.mass_gev
    g = table.coupling
    ok = np.isfinite(g["exp"])
    m_all = np.concatenate([m, *(o.yields.mass_gev for o in others)])
    grid = np.geomspace(min(0.03, m_all.min() * 0.8), max(10.0, m_all.max() * 1.1), 300)
    band = model.g2_band(grid)
    label = model.coupling_label
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(10, 8))
        ax.fill_between(m[ok], g["exp_m2"][ok], g["exp_p2"][ok], color=BAND_COLOURS["2"], label=r"expected $\pm 2\sigma$", lw=0)
        ax.fill_between(m[ok], g["exp_m1"][ok], g["exp_p1"][ok], color=BAND_COLOURS["1"], label=r"expected $\pm 1\sigma$", lw=0)
        ax.plot(m[ok], g["exp"][ok], "k--", lw=2, label="expected (median)")
        ax.plot(m[ok], g["obs"][ok], "ko-", lw=2, ms=5, label="observed" if table.observation == "data" else f"observed ({table.observation} pseudo-data)")
        for k, other in enumerate(others):
            go = other.coupling["exp"]
            okk = np.isfinite(go)
            ax.plot(other.yields.mass_gev[okk], go[okk], ["b:", "b-.", "b-"][k % 3], lw=2,
                    label=f"expected (median), {other.model.process_label}")  # fmt: skip
        ax.fill_between(grid, band.lower, band.upper, color=BAND_COLOURS["g2"], alpha=0.35, lw=0, label=r"$(g-2)_\mu$ $\pm 2\sigma$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(grid[0], grid[-1])
        finite = np.concatenate([g[k][ok] for k in ("obs", "exp_m2", "exp_p2")])
        shown = np.concatenate([finite, band.lower[band.lower > 0], band.upper])
        ax.set_ylim(shown.min() / 3, shown.max() * 3)
        ax.set_xlabel(model.mass_label)
        ax.set_ylabel(rf"${label}$ upper limit ({100 * table.cl:g}% CL, CL$_s$)")
        ax.legend(fontsize=13, loc="upper left", title=model.process_label, title_fontsize=14)
        mplhep.label.exp_label(
            exp="Belle", llabel="Simulation", rlabel=rf"{table.yields.lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
    return path


def plot_visible_and_invisible_gprime(
    visible: dict[str, tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike]],
    invisible: tuple[ArrayLike, ArrayLike] | None,
    lumi_fb: float,
    path: str | os.PathLike,
    points: dict[str, tuple[ArrayLike, ArrayLike]] | None = None,
) -> Path:
    """Expected 90% CL g' limits of the visible search (Z' -> mu mu) beside the invisible search's.

    ``visible`` maps a label to (m_Z' GeV, expected median g', -1 sigma, +1 sigma) arrays, drawn as lines
    (the first entry gets the +-1 sigma band); ``points`` maps a label to (m_Z' GeV, g') drawn as markers;
    ``invisible`` is (m_Z' GeV, expected median g') or None. The (g-2)_mu band of
    :func:`core.zprime_model.g2_band` is drawn underneath.
    """
    path = Path(path)
    masses = [np.asarray(v[0], dtype=float) for v in visible.values()]
    if invisible is not None:
        masses.append(np.asarray(invisible[0], dtype=float))
    m_all = np.concatenate(masses)
    grid = np.geomspace(min(0.05, m_all.min() * 0.8), max(11.0, m_all.max() * 1.1), 300)
    band = g2_band(grid)
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(10, 8))
        ax.fill_between(grid, band.lower, band.upper, color="#9B59B6", alpha=0.35, lw=0, label=r"$(g-2)_\mu$ $\pm 2\sigma$")
        for k, (label, (m, g, g_lo, g_hi)) in enumerate(visible.items()):
            m, g = np.asarray(m, dtype=float), np.asarray(g, dtype=float)
            ok = np.isfinite(g)
            if k == 0:
                ax.fill_between(m[ok], np.asarray(g_lo)[ok], np.asarray(g_hi)[ok], color="#5BA65B", alpha=0.6, lw=0,
                                label=rf"{label} $\pm 1\sigma$")  # fmt: skip
            ax.plot(m[ok], g[ok], ["k-", "k:", "k-."][k % 3], lw=1.5, label=f"{label} (expected)")
        for k, (label, (m, g)) in enumerate((points or {}).items()):
            m, g = np.asarray(m, dtype=float), np.asarray(g, dtype=float)
            ok = np.isfinite(g)
            ax.plot(m[ok], g[ok], ls="none", marker=["o", "^", "v"][k % 3], ms=6, mfc="none", mec="#1F4E99", label=label)
        if invisible is not None:
            m, g = (np.asarray(a, dtype=float) for a in invisible)
            ok = np.isfinite(g)
            ax.plot(m[ok], g[ok], color="#D62728", ls="--", marker="s", ms=4, lw=2, label=r"$Z' \to$ invisible (expected)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel(r"$m_{Z'}$ [GeV]")
        ax.set_ylabel(r"$g'$ upper limit (90% CL, CL$_s$)")
        ax.legend(fontsize=12, loc="upper left", title=r"$L_\mu - L_\tau$ $Z'$", title_fontsize=13)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
    return path
