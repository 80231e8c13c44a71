"""The invisible-Z' processor: Belle ntuple chunks -> cutflows and histograms per dataset.

Per chunk, ``process`` reads the twelve branches the analysis needs as flat
buffers, runs one fused numba pass for the variables
(:func:`selections.zprime_variables.dimuon_event_variables`) and one for the
ten cuts of every mass hypothesis (:func:`selections.zprime_selection.selection_codes`),
and fills the histograms declared in :mod:`processors.histograms`. The output
follows docs/output.md (:mod:`processors.base`)::

    {dataset: {
        "cutflow": {"all": n, "two_opposite_charge_tracks": n, "two_muon_id": n},
        "cutflow_hypotheses": {mzp_mev: {"two_muon_id": n, <cut 2>: n, ..., <cut 10>: n, "window": n}},
        "cutflow_mzp": {mzp_mev: {... the same, the last key named "recoil_mass_window"}},
        "recoil_mass2": Hist(mrecoil2),                       # after the preselection
        "recoil_mass2_selected": Hist(mzp_mev, mrecoil2),     # after all ten cuts of each hypothesis
        "control_preselection": {variable: Hist(variable)},
        "control_selected": {variable: Hist(mzp_mev, variable)},  # all cuts + recoil-mass window
        "features_files": [parquet paths],                    # only with features_dir
    }}

Counts are raw events; histograms carry the weight xsec * lumi / n_generated
(1 for data). Everything merges with ``+`` (coffea's ``accumulate``), so the
result does not depend on how the work was split.
"""

from __future__ import annotations

import numpy as np

from core.channels import DATA_CHANNEL, DIMUON_SEARCH_CHANNELS
from core.ntuple_schema import dimuon_branches, flat_buffers
from processors import histograms
from processors.base import WINDOW, ChunkOutput, SearchProcessor, cutflow_from_stages, hypothesis_cutflows
from processors.search import Search, SearchTable
from selections.zprime_selection import (
    CODE_ALL_CUTS,
    CODE_IN_WINDOW,
    CUTS,
    DEFAULT_CUT_TABLE,
    PRESELECTION,
    load_cut_table,
    selection_codes,
)
from selections.zprime_selection import WINDOW as RECOIL_MASS_WINDOW
from selections.zprime_variables import COLUMN, NETWORK_FEATURES, STAGE_TWO_MUON_ID, VARIABLES, dimuon_event_variables


class InvisibleZPrimeProcessor(SearchProcessor):
    """Dimuon recoil analysis over all Z' mass hypotheses of a cut table.

    ``table`` is a :class:`selections.zprime_selection.CutTable` (default: the optimised table
    ``selections/zprime_cut_table.json``). With ``features_dir``, every chunk writes its
    preselected events' variables (the 14 network features first, then every other variable of
    :data:`selections.zprime_variables.VARIABLES`), weight, dataset and true Z' mass to a parquet
    file there: the inputs of the network and of the cut optimisation.
    """

    LEGACY_HYPOTHESIS_KEY = "cutflow_mzp"
    LEGACY_WINDOW = RECOIL_MASS_WINDOW
    EXPORTS_FEATURES = True

    @classmethod
    def default_table(cls):
        return load_cut_table()

    def describe(self) -> dict:
        """The selection configuration for the output metadata."""
        return {"cut_table": self.table.to_json()}

    @property
    def cut_table(self):
        """The cut table (mass hypotheses and cut values)."""
        return self.table

    def process_chunk(self, events, weight: float) -> ChunkOutput:
        masses_mev = self.masses_mev
        masses = np.asarray(masses_mev)
        n_track, tracks, n_cluster, clusters = flat_buffers(events.__getitem__)
        stage, variables = dimuon_event_variables(n_track, tracks, n_cluster, clusters)
        codes = selection_codes(variables, self.table)

        m2 = variables[COLUMN["recoil_mass2"]]
        recoil_mass2 = histograms.make_recoil_mass2()
        recoil_mass2.fill(mrecoil2=m2, weight=weight)
        control_pre = histograms.make_control_preselection()
        for name, h in control_pre.items():
            h.fill(variables[COLUMN[name]], weight=weight)

        # after all cuts: one entry per (hypothesis, event) that passes them
        hyps, rows = np.nonzero(codes >= CODE_ALL_CUTS)
        recoil_mass2_selected = histograms.make_recoil_mass2_selected(masses_mev)
        recoil_mass2_selected.fill(masses[hyps], m2[rows], weight=weight)
        # control distributions of the selected candidates: all cuts and the recoil-mass window
        hyps, rows = np.nonzero(codes == CODE_IN_WINDOW)
        control_sel = histograms.make_control_selected(masses_mev)
        for name, h in control_sel.items():
            h.fill(masses[hyps], variables[COLUMN[name], rows], weight=weight)

        features = None
        if self.features_dir is not None:
            n = variables.shape[1]
            # every variable: the network reads its 14, the cut optimisation all of them (docs/output.md)
            features = {name: variables[COLUMN[name]] for name in dict.fromkeys((*NETWORK_FEATURES, *VARIABLES))}
            features["weight"] = np.full(n, weight)
            features["mzp_true_gev"] = np.full(n, float(events.metadata.get("mzp", np.nan)))
            # the generated event number: the MC splits of the study (sensitivity/splits.py)
            features["event"] = np.asarray(events["event"], dtype=np.int64)[stage == STAGE_TWO_MUON_ID]
        return ChunkOutput(
            cutflow=cutflow_from_stages(stage, PRESELECTION),
            hypotheses=hypothesis_cutflows(codes, masses_mev, (PRESELECTION[-1], *CUTS, WINDOW)),
            histograms={
                "recoil_mass2": recoil_mass2,
                "recoil_mass2_selected": recoil_mass2_selected,
                "control_preselection": control_pre,
                "control_selected": control_sel,
            },
            features=features,
        )


SEARCH = Search(
    name="zprime",
    title="Invisible Z' (recoil mass)",
    processor=InvisibleZPrimeProcessor,
    branches=(*dimuon_branches(), "event"),
    channels=(*DIMUON_SEARCH_CHANNELS, DATA_CHANNEL),
    output_name="zprime_invisible.pkl",
    table=SearchTable("--cut-table", "cut_table", DEFAULT_CUT_TABLE, load_cut_table),
)
