"""Optimise the ten-cut selection per Z' mass on eps/sqrt(B) and (optionally) write the cut table.

    python scripts/optimise_cuts.py                                   # sensitivity sample, report only
    python scripts/optimise_cuts.py --write                           # rewrite selections/zprime_cut_table.json
    python scripts/optimise_cuts.py --fileset F.json                  # any fileset
    python scripts/optimise_cuts.py --output results/cut_optimisation.json

Prints, per mass, eps, B and eps/sqrt(B) before and after on the optimisation half
and on the validation half of the MC (see sensitivity/cut_optimisation.py), and
writes them as JSON. With --write the optimised values replace those in the cut
table (keeping each hypothesis' mass and resolution); `python run.py` then uses them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from selections.zprime_selection import DEFAULT_CUT_TABLE, load_cut_table
from sensitivity.cut_optimisation import load_samples, optimise_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", type=Path, default=None, help="fileset JSON (default: the sensitivity sample, made if missing)")
    parser.add_argument("--lumi", type=float, default=626.0, help="integrated luminosity for the MC weights, fb^-1")
    parser.add_argument("--table", type=Path, default=DEFAULT_CUT_TABLE, help="cut table to start from (and to write with --write)")
    parser.add_argument("--write", action="store_true", help="write the optimised values into --table")
    parser.add_argument("--output", type=Path, default=Path("results") / "cut_optimisation.json", help="report JSON")
    args = parser.parse_args(argv)
    if args.fileset is None:
        from belle_mc.catalog import SENSITIVITY_SAMPLE_DIR, SENSITIVITY_SEED, ensure_default_sample, sensitivity_requests

        args.fileset = ensure_default_sample(SENSITIVITY_SAMPLE_DIR, requests=sensitivity_requests(), seed=SENSITIVITY_SEED)
    try:
        table = load_cut_table(args.table)
        samples = load_samples(args.fileset, args.lumi)
        new, report = optimise_table(table, samples)
    except (OSError, ValueError, KeyError) as err:
        print(f"optimise_cuts.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(f"{'m [GeV]':>7} {'part':>10}  {'eps':>13}  {'B':>19}  {'eps/sqrt(B)':>19}")
    for row in report:
        if "skipped" in row:
            print(f"{row['mzp_gev']:>7g}  skipped: {row['skipped']}")
            continue
        for part in ("train", "validation"):
            b, a = row[f"{part}_before"], row[f"{part}_after"]
            print(
                f"{row['mzp_gev']:>7g} {part:>10}  {b['eps']:.3f} -> {a['eps']:.3f}  {b['background']:8.3g} -> {a['background']:8.3g}"
                f"  {b['fom']:.2e} -> {a['fom']:.2e}"
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"fileset": str(args.fileset), "lumi_fb": args.lumi, "hypotheses": report, "table": new.to_json()}, indent=1))
    print(f"wrote {args.output}")
    if args.write:
        args.table.write_text(json.dumps(new.to_json(), indent=2) + "\n")
        print(f"wrote the optimised cut values into {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
