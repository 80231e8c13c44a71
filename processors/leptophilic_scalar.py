"""The leptophilic-scalar processor: Belle ntuple chunks -> cutflows, pair-mass histograms, BDT features.

Per chunk, ``process`` reads the branches the analysis needs as flat buffers, runs
one fused numba pass (:func:`selections.scalar_variables.scalar_event_variables`)
for the preselection stage and the phi_L candidate, applies the rectangular cut and
the pair-mass windows of :mod:`selections.scalar_selection`, and fills the histograms
declared in :mod:`processors.histograms`. The output per dataset::

    {dataset: {
        "cutflow": {"all": n, "four_tracks": n, "impact_parameters": n, "zero_net_charge": n,
                    "lepton_id": n, "phi_candidate": n, "missing_mass": n, "missing_polar_angle_cms": n},
        "cutflow_mphi": {mphi_mev: {"missing_polar_angle_cms": n, "pair_mass_window": n}},
        "pair_mass": Hist(pair_mass),                        # after the preselection
        "pair_mass_selected": Hist(flavour, pair_mass),      # after the rectangular cut
        "pair_mass_window": Hist(mphi_mev, pair_mass),       # rectangular cut + window of each hypothesis
        "features_files": [parquet paths],                   # only with features_dir
    }}

Counts are raw events; histograms carry the weight xsec * lumi / n_generated (1 for
data; :func:`processors.invisible_zprime.event_weight`). Everything merges with ``+``.
"""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import pyarrow as pa
from coffea import processor

from processors import histograms
from processors.invisible_zprime import event_weight, write_chunk_parquet
from core.ntuple_schema import dimuon_branches, flat_buffers
from selections.scalar_selection import (
    CHANNEL_CLASS,
    FLAVOUR_NAMES,
    NO_CLASS,
    PRESELECTION,
    RECTANGULAR_CUT,
    WINDOW,
    WindowTable,
    load_window_table,
    passes_rectangular_cut,
)
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


class LeptophilicScalarProcessor(processor.ProcessorABC):
    """Four-track e+e- -> tau+ tau- phi_L(-> l+ l-) analysis over all phi_L mass hypotheses of a window table.

    Parameters
    ----------
    lumi_fb:
        Integrated luminosity (fb^-1) the MC weights are normalised to.
    window_table:
        Mass hypotheses and pair-mass windows (default: :data:`selections.scalar_selection.DEFAULT_WINDOW_TABLE`).
    features_dir:
        If given, every chunk writes its phi_L candidates' BDT features, pair mass, flavour,
        rectangular-cut flag, weight, dataset, channel, class label, true phi_L mass,
        generated events of the dataset and event number to a parquet file there.
    """

    def __init__(self, lumi_fb: float, window_table: WindowTable | None = None, features_dir: str | os.PathLike | None = None):
        self.lumi_fb = float(lumi_fb)
        self.window_table = window_table if window_table is not None else load_window_table()
        self.features_dir = None if features_dir is None else str(features_dir)

    def process(self, events):
        meta = events.metadata
        dataset = meta["dataset"]
        weight = event_weight(meta, self.lumi_fb)
        table = self.window_table
        masses_mev = table.masses_mev

        n_track, tracks, n_cluster, clusters = scalar_flat_buffers(events.__getitem__)
        stage, variables = scalar_event_variables(n_track, tracks, n_cluster, clusters)
        pair_mass = variables[COLUMN["pair_mass"]]
        flavour = variables[COLUMN["pair_flavour"]].astype(np.int64)
        mass_ok, rectangular = passes_rectangular_cut(variables[COLUMN["missing_mass"]], variables[COLUMN["missing_theta_cms"]])
        in_window = table.window_matrix(pair_mass, flavour) & rectangular

        n_stage = np.bincount(stage, minlength=STAGE_PHI_CANDIDATE + 1)
        passed = n_stage[::-1].cumsum()[::-1]  # events reaching at least each stage
        cutflow = {"all": len(stage)}
        cutflow.update({name: int(passed[k + 1]) for k, name in enumerate(PRESELECTION)})
        cutflow[RECTANGULAR_CUT[0]] = int(mass_ok.sum())
        cutflow[RECTANGULAR_CUT[1]] = int(rectangular.sum())
        cutflow_mphi = {
            m: {RECTANGULAR_CUT[1]: int(rectangular.sum()), WINDOW: int(in_window[h].sum())} for h, m in enumerate(masses_mev)
        }

        h_pair = histograms.make_pair_mass()
        h_pair.fill(pair_mass=pair_mass, weight=weight)
        h_selected = histograms.make_pair_mass_selected()
        names = np.array([FLAVOUR_NAMES.get(f, "") for f in flavour[rectangular]], dtype=object)
        h_selected.fill(flavour=names.astype(str), pair_mass=pair_mass[rectangular], weight=weight)
        hyps, rows = np.nonzero(in_window)
        h_window = histograms.make_pair_mass_window(masses_mev)
        h_window.fill(np.asarray(masses_mev, dtype=np.int64)[hyps], pair_mass[rows], weight=weight)

        out = {
            "cutflow": cutflow,
            "cutflow_mphi": cutflow_mphi,
            "pair_mass": h_pair,
            "pair_mass_selected": h_selected,
            "pair_mass_window": h_window,
        }
        if self.features_dir is not None:
            event_number = ak.to_numpy(events["event"])[stage == STAGE_PHI_CANDIDATE]
            out["features_files"] = [self._write_features(meta, variables, rectangular, event_number, weight)]
        return {dataset: out}

    def postprocess(self, accumulator):
        return accumulator

    def _write_features(self, meta: dict, variables: np.ndarray, rectangular: np.ndarray, event_number: np.ndarray, weight: float) -> str:
        """Write one chunk's phi_L candidates to parquet (atomically); return the file path."""
        dataset = meta["dataset"]
        channel = meta.get("channel", "")
        n = variables.shape[1]
        columns = {name: variables[COLUMN[name]] for name in dict.fromkeys((*BDT_FEATURES, "pair_mass"))}
        columns["rectangular_cut"] = rectangular
        columns["weight"] = np.full(n, weight)
        columns["mphi_true_gev"] = np.full(n, float(meta.get("mphi", np.nan)))
        columns["n_generated"] = np.full(n, float(meta.get("n_generated", np.nan)))
        columns["class_label"] = np.full(n, CHANNEL_CLASS.get(channel, NO_CLASS), dtype=np.int8)
        columns["event"] = event_number.astype(np.int64)
        strings = pa.dictionary(pa.int32(), pa.string())
        table = pa.table({**columns, "dataset": pa.array([dataset] * n, type=strings), "channel": pa.array([channel] * n, type=strings)})
        return write_chunk_parquet(table, self.features_dir, meta)
