"""The visible-Z' processor: four-muon events -> cutflows, m_R histograms and window counts per dataset.

Per chunk, ``process`` reads the track branches as flat buffers, runs one fused numba
pass (:func:`selections.visible_zprime.four_muon_event_variables`: four tracks, zero
net charge, muon ID, total CM energy, m_R of the four opposite-sign pairs) and, for
every Z' mass hypothesis, picks the candidate pair and tests its m_R window
(:func:`selections.visible_zprime.window_codes`). The output, per dataset::

    {dataset: {
        "cutflow": {"all": n, "four_tracks": n, "zero_net_charge": n, "muon_id": n, "total_energy": n},
        "cutflow_mzp": {mzp_mev: {"total_energy": n, "mr_window": n}},
        "recoil_mass2": Hist(mrecoil2),          # recoil M^2 against the four muons, after the preselection
        "e_total_cms": Hist(e_total_cms),        # after the muon-ID stage, before the energy cut
        "mr_all_pairs": Hist(mr),                # the four pairs of every preselected event
        "mr_chosen": Hist(mzp_mev, mr),          # the candidate pair of every hypothesis
        "mr_scan": Hist(scan_hypothesis),        # events in the window of each hypothesis of the fine scan
    }}

Counts are raw events; histograms carry the weight xsec * lumi / n_generated (1 for data),
with xsec the g' = 1 production cross section before BR(Z' -> mu mu) (interfaces.md §2).
"""

from __future__ import annotations

import numpy as np
from coffea import processor

from processors import histograms
from processors.invisible_zprime import event_weight
from core.ntuple_schema import flat_buffers
from selections.visible_zprime import (
    CODE_IN_WINDOW,
    CODE_PRESELECTED,
    COLUMN,
    MR_ROWS,
    STAGE_MUON_ID,
    STAGE_TOTAL_ENERGY,
    STAGES,
    ResolutionTable,
    four_muon_event_variables,
    load_resolution_table,
    scan_masses_gev,
    scan_window_hits,
    window_codes,
)

WINDOW = "mr_window"
"""Key of the raw count in the m_R window of a hypothesis in ``cutflow_mzp``."""
PRESELECTED = STAGES[-1]
"""Key of the preselected count in ``cutflow_mzp`` (the last stage of the preselection)."""


class VisibleZPrimeProcessor(processor.ProcessorABC):
    """Four-muon reduced-mass scan over the Z' mass hypotheses ``masses_mev``.

    Parameters
    ----------
    lumi_fb:
        Integrated luminosity (fb^-1) the MC weights are normalised to.
    masses_mev:
        Z' mass hypotheses, MeV (default: the visible signal grid of :mod:`belle_mc.catalog`).
    resolution:
        sigma(m_R) table and window half-width (default: ``selections/visible_mr_resolution.json``).

    Besides the hypotheses ``masses_mev`` (those with signal samples), the fine scan
    :attr:`scan_mzp_gev` (:func:`selections.visible_zprime.scan_masses_gev`, m_R steps of 2 sigma
    from 0.212 to 10 GeV) counts the events in each of its windows.
    """

    def __init__(self, lumi_fb: float, masses_mev: list[int] | None = None, resolution: ResolutionTable | None = None):
        if masses_mev is None:
            from belle_mc.catalog import VISIBLE_MASSES_GEV

            masses_mev = [round(1000 * m) for m in VISIBLE_MASSES_GEV]
        self.lumi_fb = float(lumi_fb)
        self.masses_mev = [int(m) for m in masses_mev]
        self.resolution = resolution if resolution is not None else load_resolution_table()
        self.scan_mzp_gev = scan_masses_gev(self.resolution)

    def process(self, events):
        meta = events.metadata
        weight = event_weight(meta, self.lumi_fb)
        masses_mev = self.masses_mev
        masses_gev = np.asarray(masses_mev, dtype=float) / 1000.0

        n_track, tracks, _, _ = flat_buffers(events.__getitem__)
        stage, variables, _, rows = four_muon_event_variables(n_track, tracks)
        stage_of_column = stage[rows]
        codes, chosen = window_codes(stage_of_column, variables, masses_gev, self.resolution)

        n_stage = np.bincount(stage, minlength=STAGE_TOTAL_ENERGY + 1)
        cutflow = {"all": len(stage)}
        for k, name in enumerate(STAGES, start=1):
            cutflow[name] = int(n_stage[k:].sum())
        n_in_window = np.count_nonzero(codes == CODE_IN_WINDOW, axis=1)
        n_preselected = np.count_nonzero(codes >= CODE_PRESELECTED, axis=1)
        cutflow_mzp = {
            m: {PRESELECTED: int(n_preselected[h]), WINDOW: int(n_in_window[h])} for h, m in enumerate(masses_mev)
        }

        selected = stage_of_column == STAGE_TOTAL_ENERGY
        mr = variables[MR_ROWS]
        recoil_mass2 = histograms.make_recoil_mass2()
        recoil_mass2.fill(mrecoil2=variables[COLUMN["recoil_mass2"], selected], weight=weight)
        e_total = histograms.make_four_muon_energy()
        e_total.fill(variables[COLUMN["e_total_cms"], stage_of_column >= STAGE_MUON_ID], weight=weight)
        mr_all = histograms.make_reduced_mass_all_pairs()
        mr_all.fill(mr[:, selected].ravel(), weight=weight)
        mr_chosen = histograms.make_reduced_mass_chosen(masses_mev)
        hyps, cols = np.nonzero(codes >= CODE_PRESELECTED)
        mr_chosen.fill(np.asarray(masses_mev)[hyps], mr[chosen[hyps, cols], cols], weight=weight)

        scan = histograms.make_scan_window(len(self.scan_mzp_gev))
        hits, _ = scan_window_hits(variables, selected, self.scan_mzp_gev, self.resolution)
        scan.fill(hits, weight=weight)

        return {
            meta["dataset"]: {
                "cutflow": cutflow,
                "cutflow_mzp": cutflow_mzp,
                "recoil_mass2": recoil_mass2,
                "e_total_cms": e_total,
                "mr_all_pairs": mr_all,
                "mr_chosen": mr_chosen,
                "mr_scan": scan,
            }
        }

    def postprocess(self, accumulator):
        return accumulator


def print_visible_summary(result: dict) -> None:
    """Terminal summary: cutflow per dataset, and per m_Z' window the signal efficiencies (no ISR / ISR)
    and the expected four-muon background."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)  # dataset names and counts are never truncated
    datasets = result["datasets"]
    meta = result["metadata"]["dataset_metadata"]
    lumi = result["metadata"]["lumi_fb"]
    cuts = ["all", *STAGES]
    table = Table(title="Visible Z' preselection cutflow (raw events)")
    for column in ("dataset", *cuts):
        table.add_column(column, justify="right")
    for name in sorted(datasets):
        table.add_row(name, *(str(datasets[name]["cutflow"][c]) for c in cuts))
    console.print(table)

    masses = list(next(iter(datasets.values()))["cutflow_mzp"])
    windows = Table(title=f"m_R windows: signal efficiency (window / generated) and expected background at {lumi:g} fb^-1")
    for column in ("m_Z' [GeV]", "eff. no ISR", "eff. ISR", "bkg MC events", "exp. bkg"):
        windows.add_column(column, justify="right")

    def efficiency(channel: str, m: int) -> str:
        own = [n for n, md in meta.items() if md.get("channel") == channel and round(md["mzp"] * 1000) == m and n in datasets]
        if not own:
            return "-"
        return f"{sum(datasets[n]['cutflow_mzp'][m][WINDOW] for n in own) / sum(meta[n]['n_generated'] for n in own):.3f}"

    for m in masses:
        background = [n for n, md in meta.items() if "xsec_pb" in md and "mzp" not in md and n in datasets]
        raw = sum(datasets[n]["cutflow_mzp"][m][WINDOW] for n in background)
        expected = sum(datasets[n]["cutflow_mzp"][m][WINDOW] * event_weight(meta[n], lumi) for n in background)
        windows.add_row(f"{m / 1000:g}", efficiency("signal_visible", m), efficiency("signal_visible_isr", m), str(raw), f"{expected:.3g}")
    console.print(windows)
