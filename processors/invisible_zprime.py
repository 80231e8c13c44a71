"""The invisible-Z' processor: Belle ntuple chunks -> cutflows and histograms per dataset.

Per chunk, ``process`` reads the twelve branches the analysis needs as flat
buffers, runs one fused numba pass for the variables
(:func:`selections.zprime_variables.dimuon_event_variables`) and one for the
ten cuts of every mass hypothesis (:func:`selections.zprime_selection.selection_codes`),
and fills the histograms declared in :mod:`processors.histograms`. The output
follows interfaces.md §4::

    {dataset: {
        "cutflow": {"all": n, "two_opposite_charge_tracks": n, "two_muon_id": n},
        "cutflow_mzp": {mzp_mev: {"two_muon_id": n, <cut 2>: n, ..., <cut 10>: n, "recoil_mass_window": n}},
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

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from coffea import processor

from processors import histograms
from core.ntuple_schema import flat_buffers
from selections.zprime_selection import (
    CODE_ALL_CUTS,
    CODE_IN_WINDOW,
    CUTS,
    PRESELECTION,
    WINDOW,
    CutTable,
    cutflow_from_codes,
    load_cut_table,
    selection_codes,
)
from selections.zprime_variables import (
    COLUMN,
    NETWORK_FEATURES,
    STAGE_TWO_MUON_ID,
    STAGE_TWO_OPPOSITE_CHARGE_TRACKS,
    dimuon_event_variables,
)


def event_weight(metadata: dict, lumi_fb: float) -> float:
    """Per-event weight xsec * lumi / n_generated for MC (xsec in pb, lumi in fb^-1); 1 for data."""
    if "xsec_pb" not in metadata:
        return 1.0
    return metadata["xsec_pb"] * lumi_fb * 1000.0 / metadata["n_generated"]


def write_chunk_parquet(table: pa.Table, features_dir: str | os.PathLike, meta: dict) -> str:
    """Write one chunk's feature table atomically to ``<features_dir>/<dataset>/<file stem>_<start>_<stop>.parquet``.

    ``meta`` is the chunk's coffea metadata (dataset, filename, entrystart, entrystop); the
    name makes a rerun of the chunk overwrite, not duplicate, its rows. Returns the path.
    """
    directory = Path(features_dir) / meta["dataset"]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{Path(meta['filename']).stem}_{meta['entrystart']}_{meta['entrystop']}.parquet"
    tmp = path.with_suffix(f".parquet.{os.getpid()}.part")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return str(path)


class InvisibleZPrimeProcessor(processor.ProcessorABC):
    """Dimuon recoil analysis over all Z' mass hypotheses of a cut table.

    Configuration is frozen at construction; ``process`` keeps no state.

    Parameters
    ----------
    lumi_fb:
        Integrated luminosity (fb^-1) the MC weights are normalised to.
    cut_table:
        Mass hypotheses and cut values (default: :data:`selections.zprime_selection.DEFAULT_CUT_TABLE`).
    features_dir:
        If given, every chunk writes its preselected events' 14 network features,
        recoil mass squared, weight, dataset and true Z' mass to a parquet file there.
    """

    def __init__(self, lumi_fb: float, cut_table: CutTable | None = None, features_dir: str | os.PathLike | None = None):
        self.lumi_fb = float(lumi_fb)
        self.cut_table = cut_table if cut_table is not None else load_cut_table()
        self.features_dir = None if features_dir is None else str(features_dir)

    def process(self, events):
        meta = events.metadata
        dataset = meta["dataset"]
        weight = event_weight(meta, self.lumi_fb)
        table = self.cut_table
        masses_mev = table.masses_mev
        masses = np.asarray(masses_mev)

        n_track, tracks, n_cluster, clusters = flat_buffers(events.__getitem__)
        stage, variables = dimuon_event_variables(n_track, tracks, n_cluster, clusters)
        codes = selection_codes(variables, table)

        n_stage = np.bincount(stage, minlength=STAGE_TWO_MUON_ID + 1)
        cutflow = {
            "all": len(stage),
            PRESELECTION[0]: int(n_stage[STAGE_TWO_OPPOSITE_CHARGE_TRACKS:].sum()),
            PRESELECTION[1]: int(n_stage[STAGE_TWO_MUON_ID]),
        }
        remaining = cutflow_from_codes(codes)
        cutflow_mzp = {
            mzp: {PRESELECTION[1]: variables.shape[1], **dict(zip((*CUTS, WINDOW), map(int, remaining[h])))}
            for h, mzp in enumerate(masses_mev)
        }

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

        out = {
            "cutflow": cutflow,
            "cutflow_mzp": cutflow_mzp,
            "recoil_mass2": recoil_mass2,
            "recoil_mass2_selected": recoil_mass2_selected,
            "control_preselection": control_pre,
            "control_selected": control_sel,
        }
        if self.features_dir is not None:
            out["features_files"] = [self._write_features(meta, variables, weight)]
        return {dataset: out}

    def postprocess(self, accumulator):
        return accumulator

    def _write_features(self, meta: dict, variables: np.ndarray, weight: float) -> str:
        """Write one chunk's network inputs to parquet (atomically); return the file path."""
        dataset = meta["dataset"]
        n = variables.shape[1]
        columns = {name: variables[COLUMN[name]] for name in (*NETWORK_FEATURES, "recoil_mass2")}
        columns["weight"] = np.full(n, weight)
        columns["mzp_true_gev"] = np.full(n, float(meta.get("mzp", np.nan)))
        table = pa.table({**columns, "dataset": pa.array([dataset] * n, type=pa.dictionary(pa.int32(), pa.string()))})
        return write_chunk_parquet(table, self.features_dir, meta)
