"""The leptophilic-scalar processor: Belle ntuple chunks -> cutflows, pair-mass histograms, BDT features.

Per chunk, ``process`` reads the branches the analysis needs as flat buffers, runs
one fused numba pass (:func:`selections.scalar_variables.scalar_event_variables`)
for the preselection stage and the phi_L candidate, applies the rectangular cut and
the pair-mass windows of :mod:`selections.scalar_selection`, and fills the histograms
declared in :mod:`processors.histograms`. The output per dataset::

    {dataset: {
        "cutflow": {"all": n, "four_tracks": n, "impact_parameters": n, "zero_net_charge": n,
                    "lepton_id": n, "phi_candidate": n, "missing_mass": n, "missing_polar_angle_cms": n},
        "cutflow_hypotheses": {mphi_mev: {"missing_polar_angle_cms": n, "window": n}},
        "cutflow_mphi": {mphi_mev: {"missing_polar_angle_cms": n, "pair_mass_window": n}},
        "recoil_mass2": Hist(mrecoil2),                      # recoil M^2 against the four tracks, after the preselection
        "pair_mass": Hist(pair_mass),                        # after the preselection
        "pair_mass_selected": Hist(flavour, pair_mass),      # after the rectangular cut
        "pair_mass_window": Hist(mphi_mev, pair_mass),       # rectangular cut + window of each hypothesis
        "features_files": [parquet paths],                   # only with features_dir
    }}

Counts are raw events; histograms carry the weight xsec * lumi / n_generated (1 for
data; :func:`core.weights.event_weight`). Everything merges with ``+``.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from core.channels import CHANNEL_ROLES
from core.ntuple_schema import dimuon_branches, flat_buffers
from processors import histograms
from processors.base import (
    WINDOW,
    ChunkOutput,
    SearchProcessor,
    cutflow_from_stages,
    dataset_column,
    hypothesis_cutflows,
)
from processors.search import Search, SearchTable
from selections.scalar_selection import (
    CHANNEL_CLASS,
    DEFAULT_WINDOW_TABLE,
    FLAVOUR_NAMES,
    NO_CLASS,
    PRESELECTION,
    RECTANGULAR_CUT,
    load_window_table,
    passes_rectangular_cut,
)
from selections.scalar_selection import WINDOW as PAIR_MASS_WINDOW
from selections.scalar_variables import BDT_FEATURES, COLUMN, STAGE_PHI_CANDIDATE, scalar_event_variables

EXTRA_TRACK_FIELDS = ("electronID",)
"""Track fields the scalar analysis reads beyond the dimuon ones of :mod:`core.ntuple_schema`."""


def scalar_branches() -> list[str]:
    """The branches the leptophilic-scalar analysis reads (and nothing else)."""
    return [*dimuon_branches(), *(f"Track_{f}" for f in EXTRA_TRACK_FIELDS), "event"]


def scalar_flat_buffers(get):
    """:func:`core.ntuple_schema.flat_buffers` plus the electron ID buffer (flat over the chunk's tracks)."""
    n_track, tracks, n_cluster, clusters = flat_buffers(get)
    for field in EXTRA_TRACK_FIELDS:
        tracks[field] = ak.to_numpy(ak.flatten(get(f"Track_{field}"), axis=1))
    return n_track, tracks, n_cluster, clusters


class LeptophilicScalarProcessor(SearchProcessor):
    """Four-track e+e- -> tau+ tau- phi_L(-> l+ l-) analysis over all phi_L mass hypotheses of a window table.

    ``table`` is a :class:`selections.scalar_selection.WindowTable` (default:
    ``selections/scalar_mass_windows.json``). With ``features_dir``, every chunk writes its
    phi_L candidates' BDT features, pair mass, flavour, rectangular-cut flag, weight, dataset,
    channel, class label, true phi_L mass, generated events of the dataset and event number
    to a parquet file there.
    """

    LEGACY_HYPOTHESIS_KEY = "cutflow_mphi"
    LEGACY_WINDOW = PAIR_MASS_WINDOW
    EXPORTS_FEATURES = True

    @classmethod
    def default_table(cls):
        return load_window_table()

    def describe(self) -> dict:
        """The selection configuration for the output metadata."""
        return {"window_table": self.table.to_json()}

    @property
    def window_table(self):
        """The pair-mass window table (mass hypotheses and windows)."""
        return self.table

    def process_chunk(self, events, weight: float) -> ChunkOutput:
        masses_mev = self.masses_mev
        n_track, tracks, n_cluster, clusters = scalar_flat_buffers(events.__getitem__)
        stage, variables = scalar_event_variables(n_track, tracks, n_cluster, clusters)
        pair_mass = variables[COLUMN["pair_mass"]]
        flavour = variables[COLUMN["pair_flavour"]].astype(np.int64)
        missing_mass = variables[COLUMN["missing_mass"]]
        mass_ok, rectangular = passes_rectangular_cut(missing_mass, variables[COLUMN["missing_theta_cms"]])
        in_window = self.table.window_matrix(pair_mass, flavour) & rectangular

        cutflow = cutflow_from_stages(stage, PRESELECTION)
        cutflow[RECTANGULAR_CUT[0]] = int(mass_ok.sum())
        cutflow[RECTANGULAR_CUT[1]] = int(rectangular.sum())

        recoil_mass2 = histograms.make_recoil_mass2()
        recoil_mass2.fill(mrecoil2=np.sign(missing_mass) * missing_mass**2, weight=weight)
        h_pair = histograms.make_pair_mass()
        h_pair.fill(pair_mass=pair_mass, weight=weight)
        h_selected = histograms.make_pair_mass_selected()
        names = np.array([FLAVOUR_NAMES.get(f, "") for f in flavour[rectangular]], dtype=object)
        h_selected.fill(flavour=names.astype(str), pair_mass=pair_mass[rectangular], weight=weight)
        hyps, rows = np.nonzero(in_window)
        h_window = histograms.make_pair_mass_window(masses_mev)
        h_window.fill(np.asarray(masses_mev, dtype=np.int64)[hyps], pair_mass[rows], weight=weight)

        features = None
        if self.features_dir is not None:
            meta = events.metadata
            channel = meta.get("channel", "")
            n = variables.shape[1]
            features = {name: variables[COLUMN[name]] for name in dict.fromkeys((*BDT_FEATURES, "pair_mass"))}
            features["rectangular_cut"] = rectangular
            features["weight"] = np.full(n, weight)
            features["mphi_true_gev"] = np.full(n, float(meta.get("mphi", np.nan)))
            features["n_generated"] = np.full(n, float(meta.get("n_generated", np.nan)))
            features["class_label"] = np.full(n, CHANNEL_CLASS.get(channel, NO_CLASS), dtype=np.int8)
            features["event"] = ak.to_numpy(events["event"])[stage == STAGE_PHI_CANDIDATE].astype(np.int64)
            features["channel"] = dataset_column(channel, n)
        return ChunkOutput(
            cutflow=cutflow,
            hypotheses=hypothesis_cutflows(in_window[:, rectangular].astype(np.int8), masses_mev, (RECTANGULAR_CUT[1], WINDOW)),
            histograms={
                "recoil_mass2": recoil_mass2,
                "pair_mass": h_pair,
                "pair_mass_selected": h_selected,
                "pair_mass_window": h_window,
            },
            features=features,
        )


SEARCH = Search(
    name="scalar",
    title="Leptophilic scalar (tau tau phi_L)",
    processor=LeptophilicScalarProcessor,
    branches=tuple(scalar_branches()),
    channels=tuple(CHANNEL_ROLES),
    output_name="scalar.pkl",
    table=SearchTable("--window-table", "window_table", DEFAULT_WINDOW_TABLE, load_window_table),
)
