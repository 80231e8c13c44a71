"""Measure the mass resolution of a search's signal from the processor's feature export, per mass.

    python scripts/measure_resolution.py --analysis zprime --study results/study/zprime            # report
    python scripts/measure_resolution.py --analysis scalar --study results/study/scalar --write    # rewrite its table

``--study DIR`` is the output directory of ``scripts/study.py`` (or of ``run.py --features
DIR/features --output DIR/<output>.pkl``): the features and the run's pickle are read from there.
One width definition for every search (1.4826 x the median absolute deviation, see
sensitivity/resolution.py). Prints, per mass, the median, the width and the table's value, and
writes ``DIR/resolution.json``; with ``--write`` the widths go into the search's table
(``--table``, default the one run.py reads). Exit status 2 with one line on bad input.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

from processors.searches import SEARCHES
from sensitivity import resolution
from sensitivity.features import load_features


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysis", choices=tuple(SEARCHES), required=True)
    parser.add_argument("--study", type=Path, required=True, help="directory holding features/ and the run's pickle")
    parser.add_argument("--table", type=Path, default=None, help="table to compare with and write (default: the search's)")
    parser.add_argument("--write", action="store_true", help="write the measured widths into --table")
    args = parser.parse_args(argv)
    search = SEARCHES[args.analysis]
    table_path = args.table or search.table.default
    pickle_path = args.study / search.output_name
    try:
        with pickle_path.open("rb") as fh:
            metadata = pickle.load(fh)["metadata"]["dataset_metadata"]
        signal = [n for n, m in metadata.items() if m.get("channel") == resolution.SPECS[args.analysis].signal_channel]
        features = load_features(args.study / "features", datasets=signal)  # the widths are the signal's
        points = resolution.measure(features, metadata, args.analysis)
        table_json = json.loads(table_path.read_text())
        if not points:
            raise ValueError(f"no {resolution.SPECS[args.analysis].signal_channel} sample with enough events in {args.study}")
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as err:
        print(f"measure_resolution.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    spec = resolution.SPECS[args.analysis]
    rows = []
    print(f"{'mass [GeV]':>10} {'median':>10} {'sigma':>10} {'table':>10} {'events':>8}   ({spec.column}, {spec.unit})")
    for p in points:
        in_table = resolution.table_sigma(table_json, args.analysis, p.mass_gev)
        print(f"{p.mass_gev:>10g} {p.median:>10.5g} {p.sigma:>10.4g} {in_table:>10.4g} {p.n_events:>8d}")
        rows.append({"mass_gev": p.mass_gev, "median": p.median, "sigma": p.sigma, "sigma_in_table": in_table, "n_events": p.n_events})
    report = args.study / "resolution.json"
    report.write_text(json.dumps({"analysis": args.analysis, "variable": spec.column, "unit": spec.unit,
                                  "definition": "1.4826 x median absolute deviation from the median", "masses": rows}, indent=1) + "\n")  # fmt: skip
    print(f"wrote {report}")
    if args.write:
        table_path.write_text(json.dumps(resolution.updated_table(table_json, args.analysis, points), indent=2) + "\n")
        print(f"wrote the widths into {table_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
