"""Figures of the invisible-Z' search from the processor output (mplhep, Belle-style labels).

:func:`plot_recoil_mass` draws the stacked background recoil-mass distributions
after the preselection and after the full selection of one mass hypothesis, with
signal overlays, and the cutflow of that hypothesis as a table of expected events.
"""

from __future__ import annotations

import os
from pathlib import Path

import hist
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402

from core.weights import event_weight  # noqa: E402
from selections.zprime_selection import CUTS, PRESELECTION, WINDOW  # noqa: E402

BACKGROUND_LABELS = {
    "kkmc_mumu": r"KKMC $\mu\mu(\gamma)$",
    "kkmc_tautau": r"KKMC $\tau\tau(\gamma)$",
    "aafh_eemumu": r"AAFH $ee\mu\mu$",
    "aafh_mumumumu": r"AAFH $\mu\mu\mu\mu$",
    "aafh_mumutautau": r"AAFH $\mu\mu\tau\tau$",
}
"""Background channels in stacking order (largest on top), with legend labels."""

SIGNAL_COUPLING = 0.01
"""g' of the signal overlays; the signal histograms are normalised to g' = 1 and scale as g'^2."""


def plot_recoil_mass(
    datasets: dict[str, dict],
    metadata: dict[str, dict],
    lumi_fb: float,
    path: str | os.PathLike,
    mzp_gev: float = 2.0,
) -> Path:
    """Write the recoil-mass figure of the processor output ``datasets`` to ``path``; return the path.

    ``metadata`` maps each dataset name to its fileset metadata (``channel``, ``mzp``),
    ``lumi_fb`` is the luminosity the histograms were normalised to (fb^-1) and
    ``mzp_gev`` the hypothesis of the selected panel and the cutflow table.
    """
    path = Path(path)
    mzp_mev = round(mzp_gev * 1000)
    scale = SIGNAL_COUPLING**2
    backgrounds = {ch: [n for n, m in metadata.items() if m.get("channel") == ch and n in datasets] for ch in BACKGROUND_LABELS}
    backgrounds = {ch: names for ch, names in backgrounds.items() if names}
    signals = sorted(
        (m["mzp"], n) for n, m in metadata.items() if m.get("channel") == "signal" and n in datasets
    )

    plt.style.use(mplhep.style.ROOT)
    fig = plt.figure(figsize=(20, 15))
    grid = fig.add_gridspec(2, 2, height_ratios=(2.2, 1.0), hspace=0.25, wspace=0.25)
    ax_pre, ax_sel, ax_tab = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])

    def summed(names, key, select=None):
        total = None
        for n in names:
            h = datasets[n][key]
            h = h[select] if select else h
            total = h if total is None else total + h
        return total

    # preselection: every background, signal overlays at a few masses
    select = {"mzp_mev": hist.loc(mzp_mev)}
    for ax, key, sel, title in (
        (ax_pre, "recoil_mass2", None, "two opposite-charge muons"),
        (ax_sel, "recoil_mass2_selected", select, f"all cuts of $m_{{Z'}}$ = {mzp_gev:g} GeV"),
    ):
        stack = [summed(names, key, sel) for names in backgrounds.values()]
        if stack:
            mplhep.histplot(stack, stack=True, histtype="fill", label=[BACKGROUND_LABELS[c] for c in backgrounds], ax=ax)
        overlays = signals if key == "recoil_mass2" else [(m, n) for m, n in signals if round(m * 1000) == mzp_mev]
        for m, n in overlays[:: max(1, len(overlays) // 4)] if key == "recoil_mass2" else overlays:
            h = datasets[n][key][sel] if sel else datasets[n][key]
            mplhep.histplot(h * scale, histtype="step", linewidth=2, label=f"$Z'$ {m:g} GeV, $g'$={SIGNAL_COUPLING:g}", ax=ax)
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.1)
        ax.set_ylabel(f"events / {datasets[next(iter(datasets))]['recoil_mass2'].axes[0].widths[0]:g} GeV$^2$")
        ax.legend(fontsize=14, loc="upper right", title=title, title_fontsize=15)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$ ($E_{{\mathrm{{CM}}}}$ = 10.58 GeV)", ax=ax, fontsize=16)

    # cutflow of the hypothesis as expected events
    columns = {BACKGROUND_LABELS[c]: names for c, names in backgrounds.items()}
    own = [n for m, n in signals if round(m * 1000) == mzp_mev]
    rows = ["all", *PRESELECTION, *CUTS, WINDOW]
    cells = []
    for row in rows:
        line = []
        for names in [*columns.values(), own]:
            total = 0.0
            for n in names:
                out = datasets[n]
                count = out["cutflow"][row] if row in out["cutflow"] else out["cutflow_mzp"][mzp_mev][row]
                weight = event_weight(metadata[n], lumi_fb)
                total += count * weight * (scale if n in own else 1.0)
            line.append(f"{total:.3g}")
        cells.append(line)
    ax_tab.axis("off")
    table = ax_tab.table(
        cellText=cells, rowLabels=rows, colLabels=[*columns, f"$Z'$ {mzp_gev:g} GeV, $g'$={SIGNAL_COUPLING:g}"], loc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(12)
    table.scale(1.0, 1.25)
    ax_tab.set_title(f"cutflow for $m_{{Z'}}$ = {mzp_gev:g} GeV (expected events, {lumi_fb:g} fb$^{{-1}}$)", fontsize=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path



VISIBLE_SIGNAL_COUPLING = 0.01
"""g' of the signal overlays of the m_R figure (times BR(Z' -> mu mu))."""


def plot_reduced_mass(
    datasets: dict[str, dict], metadata: dict[str, dict], lumi_fb: float, path: str | os.PathLike
) -> Path:
    """Write the m_R figure of the visible-Z' output; return the path.

    The four-muon background is drawn with all four pairs of each event; each signal sample (no ISR solid,
    ISR dotted) with the pair chosen for its own mass hypothesis, normalised to g' = :data:`VISIBLE_SIGNAL_COUPLING`
    times BR(Z' -> mu mu).
    """
    from core.zprime_model import branching_fraction_mumu

    path = Path(path)
    plt.style.use(mplhep.style.ROOT)
    fig, ax = plt.subplots(figsize=(14, 9))
    background = [n for n, m in metadata.items() if m.get("channel") == "aafh_mumumumu" and n in datasets]
    if background:
        total = sum((datasets[n]["mr_all_pairs"] for n in background[1:]), datasets[background[0]]["mr_all_pairs"])
        mplhep.histplot(total, histtype="fill", color="#BBBBBB", label=r"AAFH $\mu\mu\mu\mu$ (all 4 pairs)", yerr=False, ax=ax)
    styles = {"signal_visible": "-", "signal_visible_isr": ":"}
    for channel, style in styles.items():
        signals = sorted((m["mzp"], n) for n, m in metadata.items() if m.get("channel") == channel and n in datasets)
        for k, (mzp, name) in enumerate(signals):
            scale = VISIBLE_SIGNAL_COUPLING**2 * float(branching_fraction_mumu(mzp))
            label = (
                rf"$Z'$ ({'ISR' if channel.endswith('isr') else 'no ISR'}), $g'$={VISIBLE_SIGNAL_COUPLING:g}" if k == 0 else None
            )
            own = datasets[name]["mr_chosen"][{"mzp_mev": hist.loc(round(mzp * 1000))}]
            mplhep.histplot(own * scale, histtype="step", ls=style, color=f"C{k % 10}", label=label, yerr=False, ax=ax)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-2)
    ax.set_ylabel("pairs / bin (0.46% of $m_R$)")
    ax.legend(fontsize=14, loc="upper right", title="four tracks, zero charge, muon ID, $E^*_{4\\mu}$", title_fontsize=14)
    mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


# --- leptophilic scalar search ------------------------------------------------------------------

SCALAR_BACKGROUND_LABELS = {
    "pythia_bbbar": r"Pythia $B\bar{B}$",
    "pythia_charm": r"Pythia $c\bar{c}$",
    "pythia_uds": r"Pythia $u\bar{u}, d\bar{d}, s\bar{s}$",
    "bhwide_ee": r"BHWIDE $ee(\gamma)$",
    "kkmc_mumu": r"KKMC $\mu\mu(\gamma)$",
    "aafh_eemumu": r"AAFH $ee\mu\mu$",
    "aafh_mumumumu": r"AAFH $\mu\mu\mu\mu$",
    "aafh_eetautau": r"AAFH $ee\tau\tau$",
    "aafh_mumutautau": r"AAFH $\mu\mu\tau\tau$",
    "kkmc_tautau": r"KKMC $\tau\tau(\gamma)$",
}
"""Background channels of the scalar search in stacking order, with legend labels."""

SCALAR_SIGNAL_COUPLING = 1.0
"""xi of the phi_L signal overlays (histograms are normalised to xi = 1, before BR(phi_L -> l l))."""


def plot_pair_mass(datasets: dict[str, dict], metadata: dict[str, dict], lumi_fb: float, path: str | os.PathLike) -> Path:
    """Write the pair-mass figure of the scalar processor output ``datasets`` to ``path``; return the path.

    Left: m_ll of the phi_L candidates after the preselection; right: after the rectangular
    cut (e+e- and mu+mu- pairs summed). Stacked backgrounds, signal overlays at xi = 1
    (before BR(phi_L -> l l)); ``metadata`` maps each dataset to its fileset metadata.
    """
    path = Path(path)
    backgrounds = {
        ch: [n for n, m in metadata.items() if m.get("channel") == ch and n in datasets] for ch in SCALAR_BACKGROUND_LABELS
    }
    backgrounds = {ch: names for ch, names in backgrounds.items() if names}
    signals = sorted((m["mphi"], n) for n, m in metadata.items() if m.get("channel") == "signal_ttphi" and n in datasets)

    plt.style.use(mplhep.style.ROOT)
    fig, axes = plt.subplots(1, 2, figsize=(20, 8))
    for ax, key, title in (
        (axes[0], "pair_mass", "preselection: 4 tracks, ee or $\\mu\\mu$ pair"),
        (axes[1], "pair_mass_selected", "+ rectangular cut ($M_{miss}$, $\\theta^{CM}_{miss}$)"),
    ):

        def one_axis(name, key=key):
            h = datasets[name][key]
            return h[sum, :] if key == "pair_mass_selected" else h

        stack = []
        labels = []
        for ch, names in backgrounds.items():
            total = one_axis(names[0])
            for n in names[1:]:
                total = total + one_axis(n)
            stack.append(total[::hist.rebin(10)])
            labels.append(SCALAR_BACKGROUND_LABELS[ch])
        if stack:
            mplhep.histplot(stack, stack=True, histtype="fill", label=labels, ax=ax)
        for m, n in signals[:: max(1, len(signals) // 5)]:
            h = one_axis(n)[::hist.rebin(10)] * SCALAR_SIGNAL_COUPLING**2
            mplhep.histplot(h, histtype="step", linewidth=2, yerr=False, label=rf"$\phi_L$ {m:g} GeV, $\xi$={SCALAR_SIGNAL_COUPLING:g}", ax=ax)
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.1)
        ax.set_xlabel(r"$m_{\ell\ell}$ [GeV]")
        ax.set_ylabel("events / 50 MeV")
        ax.legend(fontsize=12, loc="upper right", title=title, title_fontsize=13, ncols=2)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path
