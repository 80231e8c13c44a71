#!/usr/bin/env python
"""sigma(e+e- -> tau+ tau- phi_L) of the generator against the docs/physics.md §5 table, and the phi_L widths.

    python scripts/validate_scalar_cross_section.py [--points N] [--output results/validation]

For every mass of the docs/physics.md table: the generator's own integral (xi = 1, Born level,
no beam-energy spread, as the table) with its statistical error, the table value and their
ratio; plus the phi_L total width, c tau and BR(ee), BR(mumu), BR(tautau). Prints a table
and writes ``scalar_cross_section.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:
    from belle_mc.montecarlo import integrate
except ModuleNotFoundError:  # running from a source checkout without `pip install -e .`
    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root / "datasets"), str(root)]
    from belle_mc.montecarlo import integrate

from belle_mc.processes import ScalarEmission
from core.scalar_model import branching_fraction, proper_decay_length_cm, total_width_gev

PHYSICS_MD_XSEC_FB = {0.05: 7.3, 0.1: 5.7, 0.3: 3.4, 0.5: 2.45, 1.0: 1.39, 2.0: 0.57, 3.0: 0.24, 4.0: 0.095, 5.0: 0.029, 6.0: 0.005}
"""docs/physics.md §5: sigma(e+e- -> tau tau phi_L) for xi = 1 at Born level, fb."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2_000_000, help="weighted points per mass (default 2000000)")
    parser.add_argument("--output", type=Path, default=Path("results/validation"), help="directory for the JSON")
    args = parser.parse_args(argv)
    if args.points < 1000:
        parser.error(f"--points must be at least 1000, got {args.points}")
    rows = []
    print(f"{'m_phi GeV':>9s} {'sigma fb':>10s} {'+-':>8s} {'table fb':>9s} {'ratio':>6s} {'Gamma GeV':>10s} {'c tau cm':>9s}"
          f" {'BR(ee)':>8s} {'BR(mumu)':>8s} {'BR(tautau)':>10s}")
    for mass, table_fb in PHYSICS_MD_XSEC_FB.items():
        xs = integrate(ScalarEmission(mass, energy_spread=0.0), args.points)
        row = {
            "mphi_gev": mass,
            "xsec_fb": xs.xsec_pb * 1e3,
            "xsec_error_fb": xs.error_pb * 1e3,
            "physics_md_fb": table_fb,
            "ratio_to_physics_md": xs.xsec_pb * 1e3 / table_fb,
            "total_width_gev": float(total_width_gev(mass)),
            "ctau_cm": float(proper_decay_length_cm(mass)),
            **{f"br_{ch}": float(branching_fraction(mass, ch)) for ch in ("ee", "mumu", "tautau")},
        }
        rows.append(row)
        print(
            f"{mass:9.2f} {row['xsec_fb']:10.4g} {row['xsec_error_fb']:8.2g} {table_fb:9.3g} {row['ratio_to_physics_md']:6.3f}"
            f" {row['total_width_gev']:10.3g} {row['ctau_cm']:9.3g} {row['br_ee']:8.3g} {row['br_mumu']:8.3g}"
            f" {row['br_tautau']:10.3g}"
        )
    args.output.mkdir(parents=True, exist_ok=True)
    out = args.output / "scalar_cross_section.json"
    out.write_text(json.dumps({"points_per_mass": args.points, "masses": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
