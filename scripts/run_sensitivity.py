"""The whole sensitivity study in one command: histograms, cut scan, network, limits.

    python scripts/run_sensitivity.py                        # sensitivity sample -> results/sensitivity/
    python scripts/run_sensitivity.py --fileset F.json --output results/mine [--punzi-epochs 100]

Without --fileset it uses the sensitivity sample (belle_mc.catalog.sensitivity_requests:
10x the default backgrounds, 200k signal events per mass, ~30M generated events), made
under data/sensitivity/ first if missing (~2 min); the whole study then takes ~25 min
on one core, most of it the network's Punzi-loss epochs.

Steps, each the documented command of its own (run in turn, stopping at the first
failure with its exit status):

1. ``run.py --features <out>/features --output <out>/zprime_invisible.pkl``: processor
   histograms with the hand cuts, and the 14 network features of every preselected event;
2. ``scripts/optimise_cuts.py``: eps/sqrt(B) scan of the cut table (report only; pass
   ``--write-cuts`` to write the optimised values into the table the processor reads);
3. ``scripts/train_punzi_net.py``: the Punzi-loss network, trained on the even events,
   compared with the cuts on the odd ones;
4. ``scripts/limits.py`` twice: with the hand cuts (full sample) and with the network
   (its validation half), into ``<out>/limits/cuts`` and ``<out>/limits/network``;

and finally ``<out>/sensitivity_summary.csv``: the expected 90% CL g' limit per mass
for the cuts and for the network.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def step(name: str, command: list[str]) -> None:
    """Run one step; stop the study with its exit status if it fails."""
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        print(f"run_sensitivity.py: error: step {name!r} failed with exit status {result.returncode}", file=sys.stderr)
        raise SystemExit(result.returncode)


def expected_gprime(path: Path) -> dict[float, float]:
    """Expected g' limit per mass (GeV) from a limits.csv."""
    with open(path, newline="") as fh:
        return {float(row["mzp_gev"]): float(row["gprime_exp"]) for row in csv.DictReader(fh)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", type=Path, default=None, help="fileset JSON (default: the sensitivity sample, made if missing)")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "sensitivity", help="directory for every product")
    parser.add_argument("--lumi", type=float, default=626.0, help="integrated luminosity, fb^-1")
    parser.add_argument("--write-cuts", action="store_true", help="write the optimised cut values into the cut table")
    parser.add_argument("--punzi-epochs", type=int, default=None, help="Punzi-loss epochs of the network (default: its script's)")
    parser.add_argument("--bce-epochs", type=int, default=None, help="cross-entropy epochs of the network (default: its script's)")
    args = parser.parse_args(argv)
    if args.fileset is None:
        from belle_mc.catalog import SENSITIVITY_SAMPLE_DIR, SENSITIVITY_SEED, ensure_default_sample, sensitivity_requests

        args.fileset = ensure_default_sample(SENSITIVITY_SAMPLE_DIR, requests=sensitivity_requests(), seed=SENSITIVITY_SEED)
    out = args.output.resolve()
    python = sys.executable
    fileset = ["--fileset", str(args.fileset.resolve())]
    pickle_path = out / "zprime_invisible.pkl"
    features = out / "features"

    step("histograms", [python, str(ROOT / "run.py"), *fileset, "--lumi", str(args.lumi), "--features", str(features),
                        "--output", str(pickle_path), "--executor", "iterative"])  # fmt: skip
    step("cut optimisation", [python, str(ROOT / "scripts" / "optimise_cuts.py"), *fileset, "--lumi", str(args.lumi),
                              "--output", str(out / "cut_optimisation.json"), *(["--write"] if args.write_cuts else [])])  # fmt: skip
    epochs = [*(["--punzi-epochs", str(args.punzi_epochs)] if args.punzi_epochs is not None else []),
              *(["--bce-epochs", str(args.bce_epochs)] if args.bce_epochs is not None else [])]  # fmt: skip
    step("network", [python, str(ROOT / "scripts" / "train_punzi_net.py"), *fileset, "--lumi", str(args.lumi), "--features",
                     str(features), "--pickle", str(pickle_path), "--output-dir", str(out / "punzi_net"), *epochs])  # fmt: skip
    step("limits with the cuts", [python, str(ROOT / "scripts" / "limits.py"), str(pickle_path), "--output", str(out / "limits" / "cuts")])
    step("limits with the network", [python, str(ROOT / "scripts" / "limits.py"), str(out / "punzi_net" / "network_selected.pkl"),
                                     "--output", str(out / "limits" / "network")])  # fmt: skip

    cuts = expected_gprime(out / "limits" / "cuts" / "limits.csv")
    network = expected_gprime(out / "limits" / "network" / "limits.csv")
    summary = out / "sensitivity_summary.csv"
    with open(summary, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["mzp_gev", "gprime_expected_cuts", "gprime_expected_network"])
        for m in sorted(cuts):
            writer.writerow([m, f"{cuts[m]:.4g}", f"{network.get(m, float('nan')):.4g}"])
    print(f"{'m [GeV]':>8} {'g_exp cuts':>11} {'g_exp net':>11}")
    for m in sorted(cuts):
        print(f"{m:>8g} {cuts[m]:>11.3g} {network.get(m, float('nan')):>11.3g}")
    print(f"wrote {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
