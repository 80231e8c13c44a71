"""How much each systematic uncertainty moves the expected limit of the invisible Z' (docs/systematics.md).

    python scripts/systematics_effect.py [RESULT.pkl] [--output DIR] [--masses 0.1 1 5 8] [--results docs/results.md]

From the processor output (default results/study/zprime/zprime_invisible.pkl, made by
``scripts/study.py --analysis zprime``) the expected median 90% CL limit on g' at each mass is
computed for: MC statistics only without the zero-event rule (the model before it), MC statistics
only, every systematic of ``sensitivity/systematics.json`` alone, the background normalisations
together, and all of them. Limits use the exact calculator (Poisson sums, the nuisance parameters
averaged over: sensitivity/limits.py) so that every configuration is computed the same way.
Writes ``DIR/systematics_effect.csv`` and the section ``zprime-systematics`` of ``--results``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
from pathlib import Path

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np

from sensitivity.limits import LimitTable, ResultFormatError, WindowYields, compute_limits, load_result, window_yields
from sensitivity.report import replace_section, systematics_effect_markdown
from sensitivity.systematics import SystematicsTable, load_systematics

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = ROOT / "results" / "study" / "zprime" / "zprime_invisible.pkl"
DEFAULT_MASSES = (0.1, 1.0, 5.0, 8.0)


def configurations(table: SystematicsTable) -> list[tuple[str, SystematicsTable | None]]:
    """(label, systematics) of every configuration: stat only, each alone, background together, all."""
    configs: list[tuple[str, SystematicsTable | None]] = [("stat only", None)]
    configs += [(name, table.only(name)) for name in table.signal]
    configs += [(f"bkg_norm_{name}", table.only(name)) for name in table.background]
    configs += [("all background norms", table.only("background")), ("all", table)]
    return configs


def expected_limits(yields: WindowYields, systematics: SystematicsTable | None) -> LimitTable:
    """The limit table of ``yields`` with ``systematics`` (exact calculator)."""
    return compute_limits(yields, calculator="exact", systematics=systematics)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))  # fmt: skip
    p.add_argument("input", nargs="?", type=Path, default=DEFAULT_INPUT)
    p.add_argument("--output", type=Path, default=ROOT / "results" / "study" / "zprime" / "systematics")
    p.add_argument("--masses", type=float, nargs="+", default=list(DEFAULT_MASSES), help="Z' masses, GeV")
    p.add_argument(
        "--systematics", type=Path, default=None, help="table of sizes (default sensitivity/systematics.json)"
    )
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md")
    args = p.parse_args(argv)
    try:
        result = load_result(args.input)
    except ResultFormatError as err:
        print(f"systematics_effect.py: error: {err}", file=sys.stderr)
        return 2
    table = load_systematics() if args.systematics is None else load_systematics(args.systematics)
    rows: list[dict[str, object]] = []
    for rule in (False, True):
        full = window_yields(result, zero_event_estimate=rule)
        index = [int(np.argmin(np.abs(full.mass_gev - m))) for m in args.masses]
        yields = full.subset(index)
        configs = configurations(table) if rule else [("stat only, no zero-event rule", None)]
        reference = None
        for label, syst in configs:
            limits = expected_limits(yields, syst)
            g = limits.coupling["exp"]
            if label == "stat only":
                reference = g
            for i, m in enumerate(yields.mass_gev):
                rows.append({
                    "mzp_gev": float(m), "configuration": label, "gprime_exp": float(g[i]),
                    "change_pct": float(100.0 * (g[i] / reference[i] - 1.0)) if reference is not None else None,
                    "background": float(yields.background[i]), "background_stat": float(yields.background_stat[i]),
                    "background_syst": float(limits.background_syst[i]) if limits.background_syst is not None else 0.0,
                    "mc_stat_share": float(limits.mc_stat_share[i]), "low_mc": bool(yields.low_mc[i]),
                    "calculator": limits.calculator[i],
                })  # fmt: skip
            print(
                f"{label:>32}: " + "  ".join(f"{m:g} GeV {g[i]:.4g}" for i, m in enumerate(yields.mass_gev)), flush=True
            )
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "systematics_effect.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    command = "python scripts/systematics_effect.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    section = replace_section(
        args.results, "zprime-systematics", systematics_effect_markdown(rows, command.strip(), table)
    )
    print(f"wrote {path} and the zprime-systematics section of {section}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
