"""The visible-Z' processor: four-muon events -> cutflows, m_R histograms and window counts per dataset.

Per chunk, ``process`` reads the track branches as flat buffers, runs one fused numba
pass (:func:`selections.visible_zprime.four_muon_event_variables`: four tracks, zero
net charge, muon ID, total CM energy, m_R of the four opposite-sign pairs) and, for
every Z' mass hypothesis, picks the candidate pair and tests its m_R window
(:func:`selections.visible_zprime.window_codes`). The output, per dataset::

    {dataset: {
        "cutflow": {"all": n, "four_tracks": n, "zero_net_charge": n, "muon_id": n, "total_energy": n},
        "cutflow_hypotheses": {mzp_mev: {"total_energy": n, "window": n}},
        "cutflow_mzp": {mzp_mev: {"total_energy": n, "mr_window": n}},
        "recoil_mass2": Hist(mrecoil2),          # recoil M^2 against the four muons, after the preselection
        "e_total_cms": Hist(e_total_cms),        # after the muon-ID stage, before the energy cut
        "mr_all_pairs": Hist(mr),                # the four pairs of every preselected event
        "mr_chosen": Hist(mzp_mev, mr),          # the candidate pair of every hypothesis
        "mr_scan": Hist(scan_hypothesis),        # events in the window of each hypothesis of the fine scan
    }}

Counts are raw events; histograms carry the weight xsec * lumi / n_generated (1 for data),
with xsec the g' = 1 production cross section before BR(Z' -> mu mu) (docs/fileset.md).
"""

from __future__ import annotations

import numpy as np

from core.channels import DATA_CHANNEL, DIMUON_SEARCH_CHANNELS
from core.ntuple_schema import dimuon_branches, flat_buffers
from processors import histograms
from processors.base import WINDOW, ChunkOutput, SearchProcessor, cutflow_from_stages, hypothesis_cutflows
from processors.search import Search, SearchTable
from selections.visible_zprime import (
    CODE_IN_WINDOW,
    CODE_PRESELECTED,
    COLUMN,
    DEFAULT_RESOLUTION_TABLE,
    MR_ROWS,
    MR_WINDOW,
    STAGE_MUON_ID,
    STAGE_TOTAL_ENERGY,
    STAGES,
    VARIABLES,
    ResolutionTable,
    chosen_pair,
    four_muon_event_variables,
    load_resolution_table,
    reduced_mass_gev,
    scan_masses_gev,
    scan_window_hits,
    window_codes,
)

PRESELECTED = STAGES[-1]
"""Key of the preselected count in the per-hypothesis cutflow (the last stage of the preselection)."""


class VisibleZPrimeProcessor(SearchProcessor):
    """Four-muon reduced-mass scan over the Z' mass hypotheses ``masses_mev``.

    ``table`` is the sigma(m_R) :class:`selections.visible_zprime.ResolutionTable` (default:
    ``selections/visible_mr_resolution.json``); ``masses_mev`` are the hypotheses with signal
    samples (default: the masses of the resolution table, where the signal samples are). Besides
    them, the fine scan :attr:`scan_mzp_gev` (m_R steps of 2 sigma from 0.212 to 10 GeV)
    counts the events in each of its windows. With ``features_dir``, every chunk writes its
    preselected events' variables (:data:`selections.visible_zprime.VARIABLES`), the m_R of the
    pair chosen at the sample's own mass (signal; NaN for backgrounds), weight and true Z' mass.
    """

    LEGACY_HYPOTHESIS_KEY = "cutflow_mzp"
    LEGACY_WINDOW = MR_WINDOW
    EXPORTS_FEATURES = True

    def __init__(self, lumi_fb: float, table: ResolutionTable | None = None, features_dir=None, masses_mev: list[int] | None = None):
        super().__init__(lumi_fb, table, features_dir)
        self._masses_mev = [int(m) for m in (masses_mev if masses_mev is not None else self.table.masses_mev)]
        self.scan_mzp_gev = scan_masses_gev(self.table)

    @classmethod
    def default_table(cls) -> ResolutionTable:
        return load_resolution_table()

    def describe(self) -> dict:
        """The selection configuration for the output metadata."""
        return {
            "resolution_table": self.table.to_json(),
            "masses_mev": self.masses_mev,
            "scan_mzp_gev": [float(m) for m in self.scan_mzp_gev],
        }

    @property
    def resolution(self) -> ResolutionTable:
        """The sigma(m_R) table and window half-width."""
        return self.table

    @property
    def masses_mev(self) -> list[int]:
        return list(self._masses_mev)

    def process_chunk(self, events, weight: float) -> ChunkOutput:
        masses_mev = self.masses_mev
        masses_gev = np.asarray(masses_mev, dtype=float) / 1000.0

        n_track, tracks, _, _ = flat_buffers(events.__getitem__)
        stage, variables, _, rows = four_muon_event_variables(n_track, tracks)
        stage_of_column = stage[rows]
        codes, chosen = window_codes(stage_of_column, variables, masses_gev, self.table)
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
        hits, _ = scan_window_hits(variables, selected, self.scan_mzp_gev, self.table)
        scan.fill(hits, weight=weight)

        window = (codes[:, selected] == CODE_IN_WINDOW).astype(np.int8)
        features = None
        if self.features_dir is not None:
            features = {name: variables[COLUMN[name], selected] for name in VARIABLES}
            mzp_true = float(events.metadata.get("mzp", np.nan))
            features["mr_chosen_true_gev"] = np.full(np.count_nonzero(selected), np.nan)
            if np.isfinite(mzp_true):  # the candidate pair a signal event gives at its own mass
                own = chosen_pair(variables[:, selected], reduced_mass_gev(np.array([mzp_true])))[0]
                features["mr_chosen_true_gev"] = np.take_along_axis(mr[:, selected], own[None, :], axis=0)[0]
            features["weight"] = np.full(np.count_nonzero(selected), weight)
            features["mzp_true_gev"] = np.full(np.count_nonzero(selected), mzp_true)
        return ChunkOutput(
            cutflow=cutflow_from_stages(stage, STAGES),
            hypotheses=hypothesis_cutflows(window, masses_mev, (PRESELECTED, WINDOW)),
            histograms={
                "recoil_mass2": recoil_mass2,
                "e_total_cms": e_total,
                "mr_all_pairs": mr_all,
                "mr_chosen": mr_chosen,
                "mr_scan": scan,
            },
            features=features,
        )


SEARCH = Search(
    name="visible",
    title="Visible Z' -> mu mu (four muons, m_R)",
    processor=VisibleZPrimeProcessor,
    branches=tuple(dimuon_branches()),
    channels=(*DIMUON_SEARCH_CHANNELS, DATA_CHANNEL),
    output_name="visible_zprime.pkl",
    table=SearchTable("--resolution-table", "resolution_table", DEFAULT_RESOLUTION_TABLE, load_resolution_table),
)
