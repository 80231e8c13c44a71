"""The terminal summary of a run, the same for every search (docs/output.md).

Two tables from the output pickle alone: the preselection cutflow of every dataset with its
expected events, and per mass hypothesis the signal efficiency of every signal channel (window
count of the sample at that mass / generated events), the raw MC count in the window per
background channel, the expected background and, when the fileset holds data, the observed count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.channels import signal_mass_mev
from core.weights import event_weight, is_data
from processors.base import HYPOTHESIS_CUTFLOW, WINDOW

CONSOLE_WIDTH = 200
"""Characters per line of the tables: one column per channel, numbers are never truncated."""


def window_counts(result: Mapping[str, Any], mass_mev: int) -> dict[str, int]:
    """Raw events in the window of hypothesis ``mass_mev`` for every dataset of ``result``."""
    return {name: out[HYPOTHESIS_CUTFLOW][mass_mev][WINDOW] for name, out in result["datasets"].items()}


def signal_efficiency(result: Mapping[str, Any], channel: str, mass_mev: int) -> float | None:
    """Window count / generated events of the ``channel`` samples generated at ``mass_mev``; None without one."""
    meta = result["metadata"]["dataset_metadata"]
    own = [n for n in result["datasets"] if meta[n]["channel"] == channel and signal_mass_mev(meta[n]) == mass_mev]
    if not own:
        return None
    counts = window_counts(result, mass_mev)
    return sum(counts[n] for n in own) / sum(meta[n]["n_generated"] for n in own)


def expected_background(result: Mapping[str, Any], mass_mev: int) -> float:
    """Expected background events in the window of ``mass_mev`` at the run's luminosity (MC backgrounds)."""
    meta = result["metadata"]["dataset_metadata"]
    lumi = result["metadata"]["lumi_fb"]
    counts = window_counts(result, mass_mev)
    return sum(
        counts[n] * event_weight(meta[n], lumi)
        for n in result["datasets"]
        if not is_data(meta[n]) and signal_mass_mev(meta[n]) is None
    )


def print_summary(result: Mapping[str, Any], title: str) -> None:
    """Print the cutflow table and the per-hypothesis window table of a run's output."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=CONSOLE_WIDTH)
    datasets = result["datasets"]
    meta = result["metadata"]["dataset_metadata"]
    lumi = result["metadata"]["lumi_fb"]
    first = next(iter(datasets.values()))
    cuts = list(first["cutflow"])
    table = Table(title=f"{title}: cutflow (raw events); expected events after the preselection at {lumi:g} fb^-1")
    table.add_column("dataset")
    for cut in cuts:
        table.add_column(cut, justify="right")
    table.add_column("expected", justify="right")
    for name in sorted(datasets):
        d = datasets[name]
        table.add_row(name, *(str(d["cutflow"][c]) for c in cuts), f"{d['recoil_mass2'].sum().value:.4g}")
    console.print(table)

    signal_channels = sorted({md["channel"] for n, md in meta.items() if n in datasets and signal_mass_mev(md) is not None})
    backgrounds = sorted(
        {md["channel"] for n, md in meta.items() if n in datasets and signal_mass_mev(md) is None and not is_data(md)}
    )
    data = [n for n in datasets if is_data(meta[n])]
    windows = Table(title=f"Per mass window: signal efficiency, raw background MC events, expected background at {lumi:g} fb^-1")
    columns = ("mass [GeV]", *(f"eff. {ch}" for ch in signal_channels), *backgrounds, "exp. bkg", *(["observed"] if data else []))
    for column in columns:
        windows.add_column(column, justify="right")
    for mass in first[HYPOTHESIS_CUTFLOW]:
        counts = window_counts(result, mass)
        effs = [signal_efficiency(result, ch, mass) for ch in signal_channels]
        raw = [sum(counts[n] for n in datasets if meta[n]["channel"] == ch) for ch in backgrounds]
        row = [f"{mass / 1000:g}", *("-" if e is None else f"{e:.3f}" for e in effs), *map(str, raw)]
        row.append(f"{expected_background(result, mass):.3g}")
        if data:
            row.append(str(sum(counts[n] for n in data)))
        windows.add_row(*row)
    console.print(windows)
