"""Measure the recoil-mass-squared resolution sigma(M^2) of generated Z' signal, per mass.

sigma is half the central 68% interval (16th to 84th percentile) of M^2 for
preselected signal events (two oppositely charged, muon-identified tracks): a
robust width that ignores the radiative tail. With ``--write`` the values go
into the ``sigma_recoil_mass2_gev2`` column of the cut table, the one place the
selection reads them from; hypotheses without a signal dataset of their mass
get the value interpolated linearly in mass.

    python scripts/measure_recoil_resolution.py                       # default sample
    python scripts/measure_recoil_resolution.py --fileset F.json --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import uproot

from core.ntuple_schema import read_flat_buffers
from selections.zprime_selection import DEFAULT_CUT_TABLE
from selections.zprime_variables import COLUMN, STAGE_TWO_MUON_ID, dimuon_event_variables


def recoil_mass2_width_gev2(files: list[str], tree: str = "events") -> tuple[float, float, int]:
    """(median, half 16-84% width, events) of the preselected recoil M^2 in GeV^2 over ``files``."""
    m2 = []
    for path in files:
        with uproot.open(path) as f:
            n_track, tracks, n_cluster, clusters = read_flat_buffers(f[tree])
        stage, values = dimuon_event_variables(n_track, tracks, n_cluster, clusters)
        assert np.count_nonzero(stage == STAGE_TWO_MUON_ID) == values.shape[1]
        m2.append(values[COLUMN["recoil_mass2"]])
    m2 = np.concatenate(m2)
    q16, q50, q84 = np.percentile(m2, [16, 50, 84])
    return float(q50), float(0.5 * (q84 - q16)), len(m2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", default=None, help="fileset JSON (default: the embedded default sample)")
    parser.add_argument("--table", default=str(DEFAULT_CUT_TABLE), help="cut table JSON to update with --write")
    parser.add_argument("--write", action="store_true", help="write the measured widths into the cut table")
    args = parser.parse_args(argv)
    if args.fileset is None:
        from belle_mc.catalog import ensure_default_sample

        args.fileset = ensure_default_sample()
    fileset_path = Path(args.fileset)
    fileset = json.loads(fileset_path.read_text())
    measured: dict[float, float] = {}
    print(f"{'m_Zprime [GeV]':>14} {'median M2':>10} {'sigma(M2)':>10} {'events':>8}")
    for name, entry in fileset.items():
        meta = entry["metadata"]
        if meta.get("channel") != "signal":
            continue
        files = [str((fileset_path.parent / f).resolve()) for f in entry["files"]]
        tree = next(iter(entry["files"].values()))
        median, sigma, n = recoil_mass2_width_gev2(files, tree)
        measured[float(meta["mzp"])] = sigma
        print(f"{meta['mzp']:>14g} {median:>10.3f} {sigma:>10.3f} {n:>8d}")
    if not measured:
        print(f"error: no signal dataset in {fileset_path}", file=sys.stderr)
        return 2
    if args.write:
        table_path = Path(args.table)
        table = json.loads(table_path.read_text())
        masses = np.array(sorted(measured))
        widths = np.array([measured[m] for m in masses])
        for row in table["hypotheses"]:
            row["sigma_recoil_mass2_gev2"] = round(float(np.interp(row["mzp_gev"], masses, widths)), 4)
        table_path.write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote sigma(M^2) of {len(table['hypotheses'])} hypotheses into {table_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
