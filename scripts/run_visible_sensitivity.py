"""Expected 90% CL limits on g' of the visible Z' (Z' -> mu mu), plotted with the invisible search's limit.

    python scripts/run_visible_sensitivity.py                 # results/visible_zprime.pkl -> results/visible_limits/
    python scripts/run_visible_sensitivity.py --input R.pkl --invisible results/zprime_invisible.pkl --output DIR

Steps:

1. ``--input`` (default ``results/visible_zprime.pkl``; made with ``python run.py --analysis
   visible`` when it is missing and no other input was named);
2. per mass hypothesis, a counting experiment in the m_R window (sensitivity/visible_limits.py):
   signal with ISR (the physical prediction) and, for comparison, without ISR;
3. the invisible-search expected limit from ``--invisible``: a processor pickle
   (``results/zprime_invisible.pkl``, limits computed here with sensitivity/limits.py), a
   ``limits.csv`` of ``scripts/limits.py`` (column ``gprime_exp``) or the
   ``sensitivity_summary.csv`` with a column ``gprime_expected_cuts``;
   by default the first of ``results/sensitivity_summary.csv`` and ``results/zprime_invisible.pkl``
   that exists (none: the figure has the visible curves only, with a warning);
4. the fine m_R scan (hypotheses 2 sigma(m_R) apart from 0.212 to 10 GeV, background counted per window
   by the processor, signal interpolated between the sample masses, exact CLs): ``scan_limits.csv``;
5. writes, with ``sensitivity.limits.write_limits`` (the writer of every search), ``limits.csv`` and
   ``limits.json`` (one row per mass and signal sample: efficiency, BR(Z' -> mu mu), B, sigma_B and
   the expected g' limits with +-1, +-2 sigma bands and the Asimov observed limit), the pyhf
   workspaces ``workspaces/zprime_visible_{isr,noisr}_mzp_<MeV>.json`` with ``workspaces/fit_settings.json``
   (the fit settings that reproduce the table) and ``gprime_limit.png``; and
   ``gprime_visible_invisible.png`` and ``gprime_visible_invisible.csv`` (the plotted curves).

Exit status 2 with one line on stderr when an input is missing or malformed.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one-bin fits: BLAS threads only spin

import numpy as np  # noqa: E402

from core.constants import MUON_MASS_GEV  # noqa: E402

import pyhf  # noqa: E402

from sensitivity.limits import ResultFormatError, compute_limits, load_result, window_yields, write_limits  # noqa: E402
from sensitivity.plots import plot_visible_and_invisible_gprime  # noqa: E402
from sensitivity.visible_limits import (  # noqa: E402
    SIGNAL_CHANNELS,
    scan_limits,
    scan_yields,
    visible_limits,
    visible_window_yields,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = ROOT / "results" / "visible_zprime.pkl"
DEFAULT_OUTPUT = ROOT / "results" / "visible_limits"
DEFAULT_INVISIBLE = (ROOT / "results" / "sensitivity_summary.csv", ROOT / "results" / "zprime_invisible.pkl")
CURVE_LABELS = {"signal_visible_isr": r"$Z' \to \mu\mu$, ISR", "signal_visible": r"$Z' \to \mu\mu$, no ISR"}


def invisible_expected(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(m_Z' GeV, expected median g') of the invisible search from a pickle or a limits / summary CSV."""
    if path.suffix == ".pkl":
        table = compute_limits(window_yields(load_result(path)))
        return table.yields.mass_gev, table.coupling["exp"]
    if not path.is_file():
        raise ResultFormatError(f"{path}: no such file")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for column in ("gprime_exp", "gprime_expected_cuts"):
        if rows and column in rows[0]:
            return np.array([float(r["mzp_gev"]) for r in rows]), np.array([float(r[column]) for r in rows])
    raise ResultFormatError(f"{path}: no column gprime_exp or gprime_expected_cuts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=None, help="visible processor output (default results/visible_zprime.pkl)")
    parser.add_argument("--invisible", type=Path, default=None, help="invisible-search pickle, limits.csv or sensitivity_summary.csv")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output directory (default results/visible_limits)")
    args = parser.parse_args(argv)
    try:
        if args.input is None:
            args.input = DEFAULT_INPUT
            if not args.input.exists():
                print(f"== {args.input} missing: python run.py --analysis visible", flush=True)
                done = subprocess.run([sys.executable, str(ROOT / "run.py"), "--analysis", "visible", "--output", str(args.input)])
                if done.returncode != 0:
                    return done.returncode
        result = load_result(args.input)
        tables = {}
        for channel in SIGNAL_CHANNELS:
            try:
                tables[channel] = visible_limits(visible_window_yields(result, channel))
            except ResultFormatError as err:
                print(f"run_visible_sensitivity.py: warning: {err}", file=sys.stderr)
        if not tables:
            raise ResultFormatError(f"{args.input}: no visible-signal dataset")
        invisible_path = args.invisible or next((p for p in DEFAULT_INVISIBLE if p.exists()), None)
        invisible = invisible_expected(invisible_path) if invisible_path is not None else None
    except ResultFormatError as err:
        print(f"run_visible_sensitivity.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    if invisible is None:
        print("run_visible_sensitivity.py: warning: no invisible-search limits found; plotting the visible search only", file=sys.stderr)

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    provenance = {
        "description": "90% CL CLs upper limits on the visible L_mu - L_tau Z' (e+e- -> mu+ mu- Z', Z' -> mu+ mu-), "
        "one counting experiment per m_R window; one table per signal sample (with and without ISR)",
        "input": str(args.input),
        "code_version": result.get("metadata", {}).get("code_version"),
        "lumi_fb": next(iter(tables.values())).yields.lumi_fb,
        "cl": next(iter(tables.values())).cl,
        "observation": "asimov",
        "calculator": "auto",
        "pyhf_version": pyhf.__version__,
    }
    write_limits(list(tables.values()), out, provenance, coupling_name="gprime", plot_name="gprime_limit.png")
    # the fine m_R scan: exact CLs per window, signal interpolated between the sample masses
    scans = {}
    for channel in tables:
        try:
            y = scan_yields(result, channel)
        except ResultFormatError as err:
            print(f"run_visible_sensitivity.py: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        scans[channel] = (y, scan_limits(y))
    with open(out / "scan_limits.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["signal_channel", "mzp_gev", "mr_gev", "efficiency", "signal_xsec_pb_g1", "br_mumu", "background",
                         "background_stat", "gprime_exp_m2", "gprime_exp_m1", "gprime_exp", "gprime_exp_p1", "gprime_exp_p2"])  # fmt: skip
        for channel, (y, g) in scans.items():
            mr = np.sqrt(np.clip(y.mass_gev**2 - 4 * MUON_MASS_GEV**2, 0, None))
            for i in range(len(y.mass_gev)):
                writer.writerow([channel, f"{y.mass_gev[i]:.6g}", f"{mr[i]:.6g}", f"{y.efficiency[i]:.4g}", f"{y.signal_xsec_pb[i]:.4g}",
                                 f"{y.branching_fraction[i]:.4g}", f"{y.background[i]:.4g}", f"{y.background_stat[i]:.4g}",
                                 *(f"{g[k][i]:.4g}" for k in ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2"))])  # fmt: skip
    curves = {
        f"{CURVE_LABELS[ch]}, $m_R$ scan": (y.mass_gev, g["exp"], g["exp_m1"], g["exp_p1"]) for ch, (y, g) in scans.items()
    }
    points = {f"{CURVE_LABELS[ch]}, signal masses (pyhf)": (t.yields.mass_gev, t.coupling["exp"]) for ch, t in tables.items()}
    lumi_fb = next(iter(tables.values())).yields.lumi_fb
    figure = plot_visible_and_invisible_gprime(curves, invisible, lumi_fb, out / "gprime_visible_invisible.png", points=points)
    with open(out / "gprime_visible_invisible.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["search", "mzp_gev", "gprime_expected"])
        for channel, (y, g) in scans.items():
            for m, value in zip(y.mass_gev, g["exp"]):
                writer.writerow([f"visible_{channel}_scan", f"{m:.6g}", f"{value:.4g}"])
        for channel, table in tables.items():
            for m, value in zip(table.yields.mass_gev, table.coupling["exp"]):
                writer.writerow([f"visible_{channel}", f"{m:g}", f"{value:.4g}"])
        if invisible is not None:
            for m, g in zip(*invisible):
                writer.writerow(["invisible", f"{m:g}", f"{g:.4g}"])

    print(f"{'m [GeV]':>8} {'BR(mumu)':>8} {'eps ISR':>8} {'eps noISR':>9} {'B':>9} {'sigma_B':>8} {'g_exp ISR':>10} {'g_exp noISR':>11} {'g_exp inv':>10}")
    isr, plain = tables.get("signal_visible_isr"), tables.get("signal_visible")
    reference = isr or plain
    inv = dict(zip(*invisible)) if invisible is not None else {}
    for i, m in enumerate(reference.yields.mass_gev):
        y = reference.yields
        eps_plain = plain.yields.efficiency[i] if plain is not None else float("nan")
        g_plain = plain.coupling["exp"][i] if plain is not None else float("nan")
        g_isr = isr.coupling["exp"][i] if isr is not None else float("nan")
        print(
            f"{m:>8g} {y.branching_fraction[i]:>8.3f} {(isr.yields.efficiency[i] if isr else float('nan')):>8.3f} {eps_plain:>9.3f} "
            f"{y.background[i]:>9.4g} {y.background_stat[i]:>8.3g} {g_isr:>10.3g} {g_plain:>11.3g} {inv.get(float(m), float('nan')):>10.3g}"
        )
    scan_y, scan_g = next(iter(scans.values()))
    at_grid = np.interp(reference.yields.mass_gev, scan_y.mass_gev, scan_g["exp"])
    print("scan (exact CLs, interpolated signal) / pyhf at the signal masses:", " ".join(f"{r:.2f}" for r in at_grid / reference.coupling["exp"]))
    print(f"wrote {out / 'limits.csv'}, {out / 'scan_limits.csv'}, {figure}, {out / 'gprime_visible_invisible.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
