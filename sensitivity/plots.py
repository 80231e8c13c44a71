"""The g' limit figure: expected band, observed limit, the (g-2)_mu band and an approximate Belle II curve."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import ArrayLike, NDArray  # noqa: E402

from sensitivity.limits import LimitTable  # noqa: E402
from core.zprime_model import g2_band  # noqa: E402

BELLE2_2023_LUMI_FB = 79.7
"""Integrated luminosity of the Belle II invisible-Z' search, PRL 130, 231801 (2023)."""


def belle2_2023_approx_gprime(mzp_gev: ArrayLike) -> NDArray[np.float64]:
    """A rough Belle II 79.7 fb^-1 90% CL g' limit, built from the wording of physics.md §8 only.

    Not a digitised figure: "~3e-3 at low mass to ~1 near 8 GeV; excludes the (g-2)_mu band
    for 0.8 < m_Z' < 5 GeV" becomes the anchors 3e-3 at 0.1 GeV, the lower edge of the
    (g-2)_mu band at 0.8 and 5 GeV (where the excluded stretch begins and ends) and 1 at 8 GeV,
    joined linearly in log g' vs log m. Good to a factor ~2; for orientation only.
    """
    anchors_m = np.array([0.1, 0.8, 5.0, 8.0])
    band = g2_band(anchors_m[1:3]).lower
    anchors_g = np.array([3e-3, band[0], band[1], 1.0])
    m = np.asarray(mzp_gev, dtype=float)
    return np.exp(np.interp(np.log(m), np.log(anchors_m), np.log(anchors_g), left=np.nan, right=np.nan))


def plot_gprime_limits(table: LimitTable, path: str | os.PathLike, show_belle2: bool = True) -> Path:
    """Write the g' limit figure of ``table`` to ``path`` (PNG or PDF by extension); return the path."""
    path = Path(path)
    y = table.yields
    m = y.mzp_gev
    g = table.gprime
    ok = np.isfinite(g["exp"])
    grid = np.geomspace(min(0.05, m.min() * 0.8), max(10.0, m.max() * 1.1), 300)
    band = g2_band(grid)
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(10, 8))
        ax.fill_between(m[ok], g["exp_m2"][ok], g["exp_p2"][ok], color="#F5BB54", label=r"expected $\pm 2\sigma$", lw=0)
        ax.fill_between(m[ok], g["exp_m1"][ok], g["exp_p1"][ok], color="#5BA65B", label=r"expected $\pm 1\sigma$", lw=0)
        ax.plot(m[ok], g["exp"][ok], "k--", lw=2, label="expected (median)")
        ax.plot(m[ok], g["obs"][ok], "ko-", lw=2, ms=5, label=f"observed ({table.observation} pseudo-data)")
        ax.fill_between(
            grid, band.lower, band.upper, color="#9B59B6", alpha=0.35, lw=0, label=r"$(g-2)_\mu$ $\pm 2\sigma$"
        )
        if show_belle2:
            ax.plot(
                grid,
                belle2_2023_approx_gprime(grid),
                color="#1F77B4",
                ls=":",
                lw=2.5,
                label=rf"Belle II {BELLE2_2023_LUMI_FB:g} fb$^{{-1}}$ (approximate, from text)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(grid[0], grid[-1])
        finite = np.concatenate([g[k][ok] for k in ("obs", "exp_m2", "exp_p2")])
        ax.set_ylim(
            min(1e-4, finite.min() / 3) if finite.size else 1e-4, max(2.0, finite.max() * 3) if finite.size else 10.0
        )
        ax.set_xlabel(r"$m_{Z'}$ [GeV]")
        ax.set_ylabel(rf"$g'$ upper limit ({100 * table.cl:g}% CL, CL$_s$)")
        ax.legend(fontsize=13, loc="upper left", title=r"$L_\mu - L_\tau$ $Z' \to$ invisible", title_fontsize=14)
        mplhep.label.exp_label(
            exp="Belle", llabel="Simulation", rlabel=rf"{y.lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16
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
