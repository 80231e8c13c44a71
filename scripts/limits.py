"""90% CL upper limits on the invisible Z' (sigma x BR and g') from the pickled processor output.

    python scripts/limits.py                                      # results/zprime_invisible.pkl -> results/limits/
    python scripts/limits.py RESULT.pkl --output DIR [--observation asimov|poisson|data] [--seed N]
                             [--inject-gprime G] [--calculator auto|asymptotic|exact] [--lumi-fb L]
                             [--systematics FILE.json | --no-systematics] [--no-zero-event-estimate]

One counting experiment per mass hypothesis (the recoil-mass window of the cut table): signal
efficiency and background (with its MC statistical uncertainty) from the window counts of the
pickle, BR(Z' -> invisible) from the Z' widths, pyhf CLs limits (see sensitivity/limits.py for
the statistical model, the pseudo-data and the calculators). The systematic uncertainties of
``sensitivity/systematics.json`` enter every workspace as ``normsys`` modifiers (docs/systematics.md;
``--no-systematics`` turns them off); a background channel without MC events in a window
contributes its one-event weight (the zero-event rule; masses resting on few MC events are marked
``low_mc``, with ``*`` in the printed table). Writes into DIR:

- ``limits.csv`` and ``limits.json``: per mass, the inputs (eps, B, sigma_B, BR, ...), the
  observed count and the observed and expected (+-1, +-2 sigma) limits on g', on the signal
  strength at g' = 1 (= g'^2), on sigma x BR in pb and on signal events;
- ``workspaces/mzp_<MeV>.json``: the pyhf workspace of each mass (signal normalised to the
  coupling ``gprime_ref`` of the table: mu = (g' / gprime_ref)^2), with
  ``workspaces/fit_settings.json`` and ``workspaces/README.md``: the fit settings that reproduce
  the table (``pyhf.set_backend("numpy", "minuit")``, q~_mu, asymptotics, the toms748 bracket;
  pyhf's default SLSQP stops at its starting point in these fits and gives limits 5-25% low);
  ``sensitivity.limits.limit_from_workspace(path)`` applies them;
- ``gprime_limit.png``: the g' limits with the (g-2)_mu band.

The files are written by ``sensitivity.limits.write_limits``, the one writer of the three searches.

Exit status 2, with one line on stderr, when the input is missing or not a processor output.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

# The fits are 1-2 parameter problems: BLAS threads only spin (6x slower when the cores are busy).
# Set before numpy is imported; an explicit setting in the environment wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import pyhf  # noqa: E402

from sensitivity.limits import (  # noqa: E402
    AUTO_EXACT_BELOW_EVENTS,
    CONFIDENCE_LEVEL,
    LOW_MC_EVENTS,
    LOW_MC_MIN_SHARE,
    LimitTable,
    ResultFormatError,
    compute_limits,
    load_result,
    pseudo_data,
    window_yields,
    write_limits,
)
from sensitivity.systematics import SYSTEMATICS_PATH, load_systematics  # noqa: E402

DEFAULT_INPUT = Path("results/zprime_invisible.pkl")
DEFAULT_OUTPUT = Path("results/limits")

COLUMN_NOTES = {
    "br_invisible": "BR(Z' -> nu nubar) from the partial widths (nu_mu, nu_tau, mu, tau)",
    "efficiency": "signal MC events in the recoil-mass window / generated",
    "background": "expected background events in the window (sum of MC window counts x weight; a channel without "
    "MC events in the window adds its one-event weight, see background_estimated)",
    "background_stat": "MC statistical uncertainty of background, events (sqrt of sum count x weight^2)",
    "xsec_br_pb_*": "upper limit on sigma(e+e- -> mu mu Z') x BR(Z' -> invisible), pb",
}
"""Invisible-search wording of some columns (``notes`` of :func:`sensitivity.limits.write_limits`)."""


def write_outputs(table: LimitTable, output: Path, provenance: dict[str, Any]) -> list[Path]:
    """limits.csv, limits.json, workspaces/mzp_<MeV>.json (+ fit settings) and gprime_limit.png under ``output``."""
    return write_limits(table, output, provenance, coupling_name="gprime", plot_name="gprime_limit.png", notes=COLUMN_NOTES)


def print_table(table: LimitTable) -> None:
    y, g = table.yields, table.coupling
    estimated = y.background_estimated if y.background_estimated is not None else np.zeros(len(y.mass_gev))
    share, low = table.mc_stat_share, y.low_mc
    print(
        f"{'m_Zprime':>8} {'eps':>6} {'BR_inv':>6} {'B':>10} {'sigma_B':>9} {'B_est':>9} {'n_MC':>5} {'MCshare':>7} {'n_obs':>9} {'calc':>10}"
        f" {'g_obs':>9} {'g_exp-2s':>9} {'g_exp-1s':>9} {'g_exp':>9} {'g_exp+1s':>9} {'g_exp+2s':>9} {'sxBR_exp[pb]':>12}"
    )
    for i, m in enumerate(y.mass_gev):
        print(
            f"{m:8.3g} {y.efficiency[i]:6.3f} {y.branching_fraction[i]:6.3f} {y.background[i]:10.4g} {y.background_stat[i]:9.3g}"
            f" {estimated[i]:9.3g} {y.background_mc_count[i]:5d} {share[i]:7.2f}"
            f" {table.observed_count[i]:9d} {table.calculator[i]:>10}"
            + "".join(f" {g[k][i]:9.3g}" for k in ("obs", "exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2"))
            + f" {table.xsec_br_pb['exp'][i]:12.3g}"
            + (" *" if low[i] else "")
        )
    if low.any():
        print(f"* low_mc: channels with < {LOW_MC_EVENTS} MC events in the window (zero-event estimates included) "
              f"make up >= {100 * LOW_MC_MIN_SHARE:g}% of B (columns low_mc, low_mc_channels)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    parser.add_argument(
        "input", nargs="?", type=Path, default=DEFAULT_INPUT, help=f"processor output pickle (default {DEFAULT_INPUT})"
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"output directory (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--observation",
        choices=("asimov", "poisson", "data"),
        default="asimov",
        help="pseudo-data: expected count rounded (default), a seeded Poisson draw, or the data datasets of the pickle",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of --observation poisson (default 1)")
    parser.add_argument(
        "--inject-gprime", type=float, default=0.0, help="add the signal of this g' to the pseudo-data (default 0)"
    )
    parser.add_argument(
        "--calculator",
        choices=("auto", "asymptotic", "exact"),
        default="auto",
        help=f"CLs calculator (default auto: exact below {AUTO_EXACT_BELOW_EVENTS:g} events, pyhf asymptotic above)",
    )
    parser.add_argument(
        "--lumi-fb",
        type=float,
        default=None,
        help="scale signal and background to this luminosity (default: the pickle's)",
    )
    systematics = parser.add_mutually_exclusive_group()
    systematics.add_argument(
        "--systematics", type=Path, default=SYSTEMATICS_PATH,
        help="table of systematic uncertainties (default sensitivity/systematics.json; docs/systematics.md)",
    )  # fmt: skip
    systematics.add_argument("--no-systematics", action="store_true", help="MC statistics only (no normsys modifiers)")
    parser.add_argument(
        "--no-zero-event-estimate", action="store_true",
        help="a background channel without MC events in a window contributes 0 (not its one-event weight)",
    )  # fmt: skip
    parser.add_argument(
        "--cl", type=float, default=CONFIDENCE_LEVEL, help=f"confidence level (default {CONFIDENCE_LEVEL})"
    )
    args = parser.parse_args(argv)
    if not 0 < args.cl < 1:
        parser.error("--cl must be between 0 and 1")
    if args.observation == "data" and (args.inject_gprime or args.lumi_fb is not None):
        parser.error("--observation data takes neither --inject-gprime nor --lumi-fb")

    try:
        result = load_result(args.input)
        yields = window_yields(result, lumi_fb=args.lumi_fb, zero_event_estimate=not args.no_zero_event_estimate)
        observed = pseudo_data(yields, args.observation, seed=args.seed, injected_gprime=args.inject_gprime)
    except ResultFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    syst = None if args.no_systematics else load_systematics(args.systematics)
    table = compute_limits(
        yields, observed, observation=args.observation, cl=args.cl, calculator=args.calculator, systematics=syst
    )
    provenance = {
        "description": "90% CL CLs upper limits on the invisible L_mu - L_tau Z' (e+e- -> mu+ mu- Z', Z' -> nu nubar), "
        "one counting experiment per recoil-mass window",
        "input": str(args.input),
        "code_version": result.get("metadata", {}).get("code_version"),
        "lumi_fb": yields.lumi_fb,
        "cl": args.cl,
        "observation": args.observation,
        "seed": args.seed if args.observation == "poisson" else None,
        "injected_gprime": args.inject_gprime,
        "calculator": args.calculator,
        "systematics": None if syst is None else {"file": str(args.systematics), "signal": syst.signal,
                                                  "background": syst.background, "background_default": syst.background_default},
        "zero_event_estimate": not args.no_zero_event_estimate,
        "pyhf_version": pyhf.__version__,
    }
    try:
        written = write_outputs(table, args.output, provenance)
    except OSError as err:
        print(f"error: cannot write {args.output}: {err}", file=sys.stderr)
        return 2
    print_table(table)
    if yields.skipped_mass_mev:
        print(f"no signal sample (no limit) for m_Z' = {', '.join(str(m) for m in yields.skipped_mass_mev)} MeV")
    print(f"wrote {len(written)} files under {args.output}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
