"""Measure the pair-mass resolution sigma(m_ll) of generated phi_L signal, per mass.

For the phi_L candidates of the signal (preselection of :mod:`selections.scalar_selection`,
pair of the flavour phi_L decays to at that mass), sigma is 1.4826 times the median
absolute deviation of m_ll from its median: the Gaussian width of the core, robust
against the candidates that pair a phi_L lepton with a tau daughter. With ``--write``
the values go into :data:`selections.scalar_selection.DEFAULT_WINDOW_TABLE` (or
``--table``), one row per mass of ``belle_mc.catalog.SCALAR_MASSES_GEV``; masses
without a signal dataset get the value interpolated linearly in mass.

    python scripts/measure_scalar_resolution.py                      # the scalar sample (made if missing)
    python scripts/measure_scalar_resolution.py --fileset F.json --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import uproot

from processors.leptophilic_scalar import scalar_branches, scalar_flat_buffers
from selections.scalar_selection import DEFAULT_WINDOW_N_SIGMA, DEFAULT_WINDOW_TABLE, SIGNAL_CHANNEL, decay_flavour
from selections.scalar_variables import COLUMN, scalar_event_variables

MAD_TO_SIGMA = 1.4826
"""sigma of a Gaussian per median absolute deviation."""


def pair_mass_width_gev(files: list[str], mphi_gev: float, tree: str = "events") -> tuple[float, float, int]:
    """(median, robust sigma, candidates) of the signal pair mass m_ll in GeV over ``files``."""
    masses = []
    for path in files:
        with uproot.open(path) as f:
            arrays = f[tree].arrays(scalar_branches(), how=dict)
        _, values = scalar_event_variables(*scalar_flat_buffers(arrays.__getitem__))
        own = values[COLUMN["pair_flavour"]] == decay_flavour(mphi_gev)
        masses.append(values[COLUMN["pair_mass"], own])
    m = np.concatenate(masses)
    if len(m) == 0:
        return float("nan"), float("nan"), 0
    median = float(np.median(m))
    return median, float(MAD_TO_SIGMA * np.median(np.abs(m - median))), len(m)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", default=None, help="fileset JSON (default: the scalar sample, made if missing)")
    parser.add_argument("--table", default=str(DEFAULT_WINDOW_TABLE), help="window table JSON to write with --write")
    parser.add_argument("--write", action="store_true", help="write the measured widths into the window table")
    args = parser.parse_args(argv)
    if args.fileset is None:
        from belle_mc.catalog import SCALAR_SAMPLE_DIR, ensure_default_sample, scalar_requests

        args.fileset = ensure_default_sample(SCALAR_SAMPLE_DIR, requests=scalar_requests())
    fileset_path = Path(args.fileset)
    if not fileset_path.exists():
        print(f"error: fileset {fileset_path} does not exist", file=sys.stderr)
        return 2
    fileset = json.loads(fileset_path.read_text())
    measured: dict[float, float] = {}
    print(f"{'m_phi [GeV]':>11} {'median m_ll':>11} {'sigma(m_ll)':>11} {'candidates':>10}")
    for entry in fileset.values():
        meta = entry["metadata"]
        if meta.get("channel") != SIGNAL_CHANNEL:
            continue
        files = [str((fileset_path.parent / f).resolve()) for f in entry["files"]]
        tree = next(iter(entry["files"].values()))
        mphi = float(meta["mphi"])
        median, sigma, n = pair_mass_width_gev(files, mphi, tree)
        print(f"{mphi:>11g} {median:>11.4f} {sigma:>11.5f} {n:>10d}")
        if n >= 20 and sigma > 0:
            measured[mphi] = sigma
    if not measured:
        print(f"error: no {SIGNAL_CHANNEL} dataset with phi_L candidates in {fileset_path}", file=sys.stderr)
        return 2
    if args.write:
        from belle_mc.catalog import SCALAR_MASSES_GEV

        masses = np.array(sorted(measured))
        widths = np.array([measured[m] for m in masses])
        table_path = Path(args.table)
        table = {
            "window_n_sigma": DEFAULT_WINDOW_N_SIGMA,
            "windows": [
                {"mphi_gev": m, "sigma_pair_mass_gev": round(float(np.interp(m, masses, widths)), 6)} for m in SCALAR_MASSES_GEV
            ],
        }
        table_path.write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote sigma(m_ll) of {len(SCALAR_MASSES_GEV)} hypotheses into {table_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
