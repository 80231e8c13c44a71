"""Optimise the ten-cut selection per Z' mass on eps/sqrt(B) and (optionally) write the cut table.

    python scripts/optimise_cuts.py --study results/study/zprime            # report only
    python scripts/optimise_cuts.py --study results/study/zprime --write    # rewrite selections/zprime_cut_table.json

One step of ``scripts/study.py --analysis zprime``: the inputs are the features and the output
pickle of the study's processor pass (``run.py --features DIR/features --output
DIR/zprime_invisible.pkl``, on any executor), so the optimisation sees exactly the variables the
processor computed.

Prints, per mass, eps, B and eps/sqrt(B) before and after on the part of the MC the cuts are
optimised on (``fit``: the train and threshold splits by generated event number) and on the
evaluation split (sensitivity/cut_optimisation.py, sensitivity/splits.py), and
writes them as JSON (default DIR/cut_optimisation.json). With --write the optimised values replace those in the cut
table (keeping each hypothesis' mass and resolution); `python run.py` then uses them.

Only the events inside some window of the table are read (file by file); ``--thin K`` optimises on
every K-th event of the fit part, for a sample whose window events do not fit in memory or time
(the >= 626 fb^-1 filtered sample), and reports on every K-th event of the evaluation split (the
figures of merit and limits of the cuts on the whole split are train_punzi_net.py's and limits.py's);
``all`` is then not reported.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

from belle_mc.slices import pt_mumu_cut_floor_gev

from selections.zprime_selection import DEFAULT_CUT_TABLE, load_cut_table
from sensitivity.cut_optimisation import FIT_PART, VALIDATION_PART, load_samples, optimise_table
from sensitivity.features import load_features
from sensitivity.splits import in_part, thinned


def _filter_floors(m2_low: float, m2_high: float) -> dict[str, float]:
    """Lower bounds of the cuts on a sample with generator slices: the pt(mu mu) cut stays where the slices are
    complete (docs/generator.md, "Generator slices")."""
    return {"pt_mumu_min_gev": pt_mumu_cut_floor_gev(m2_low, m2_high)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True, help="study directory: features/ and zprime_invisible.pkl (scripts/study.py)")
    parser.add_argument("--table", type=Path, default=DEFAULT_CUT_TABLE, help="cut table to start from (and to write with --write)")
    parser.add_argument("--write", action="store_true", help="write the optimised values into --table")
    parser.add_argument("--output", type=Path, default=None, help="report JSON (default <study>/cut_optimisation.json)")
    parser.add_argument("--thin", type=int, default=1, help="optimise on every K-th event of the fit part (exact weights); "
                        "and report on every K-th of the evaluation split (default 1: all)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.thin < 1:
        parser.error("--thin must be at least 1")
    args.output = args.output or args.study / "cut_optimisation.json"
    fit_part = thinned(FIT_PART, args.thin)
    # the evaluation yields are a report (the limits of the cuts come from the pickle and train_punzi_net.py):
    # thinned like the fit, so that a sample larger than memory is read at 1/K
    evaluation_part = thinned(VALIDATION_PART, args.thin)
    try:
        table = load_cut_table(args.table)
        with (args.study / "zprime_invisible.pkl").open("rb") as fh:
            run_metadata = pickle.load(fh)["metadata"]
        args.fileset, args.lumi = run_metadata["fileset"], run_metadata["lumi_fb"]
        features = load_features(  # the fit part and the evaluation split, inside some window (no other event counts)
            args.study / "features", required=("event", "recoil_mass2"),
            keep_rows=lambda f: (in_part(f["event"].to_numpy(), fit_part) | in_part(f["event"].to_numpy(), evaluation_part))
            & table.in_any_window(f["recoil_mass2"].to_numpy()),
        )  # fmt: skip
        samples = load_samples(features, run_metadata["dataset_metadata"], args.lumi)
        del features
        sliced = sum(1 for m in run_metadata["dataset_metadata"].values() if m.get("generator_slice"))
        if sliced:
            print(f"generator slices in the sample ({sliced} datasets): pt(mu mu) cuts kept above the filters' floors")
        new, report = optimise_table(table, samples, _filter_floors if sliced else None, fit_part, evaluation_part)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as err:
        print(f"optimise_cuts.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(f"{'m [GeV]':>7} {'part':>10}  {'eps':>13}  {'B':>19}  {'eps/sqrt(B)':>19}")
    for row in report:
        if "skipped" in row:
            print(f"{row['mzp_gev']:>7g}  skipped: {row['skipped']}")
            continue
        for part in (FIT_PART, VALIDATION_PART):
            b, a = row[f"{part}_before"], row[f"{part}_after"]
            print(
                f"{row['mzp_gev']:>7g} {part:>10}  {b['eps']:.3f} -> {a['eps']:.3f}  {b['background']:8.3g} -> {a['background']:8.3g}"
                f"  {b['fom']:.2e} -> {a['fom']:.2e}"
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"fileset": str(args.fileset), "lumi_fb": args.lumi, "parts": {FIT_PART: fit_part, VALIDATION_PART: evaluation_part},
                                       "hypotheses": report, "table": new.to_json()}, indent=1))
    print(f"wrote {args.output}")
    if args.write:
        args.table.write_text(json.dumps(new.to_json(), indent=2) + "\n")
        print(f"wrote the optimised cut values into {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
