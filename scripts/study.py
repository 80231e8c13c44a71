"""The sensitivity study of one search, in one command, on any executor; writes its section of docs/results.md.

    python scripts/study.py --analysis zprime                                  # its default sample
    python scripts/study.py --analysis visible --executor dask --workers 2     # processor pass on a Dask cluster
    python scripts/study.py --analysis scalar --fileset F.json --output results/study/mine

Steps (each the documented command of its own, run in turn; the study stops at the first
failure with its exit status):

1. processing: ``run.py --analysis A --features DIR/features --output DIR/<output>.pkl`` with the
   executor options given here (``--executor/--workers/--cluster/--scheduler/...``): cutflows,
   histograms and the per-event features, the only pass over the ntuples;
2. resolution: ``scripts/measure_resolution.py`` on the exported features (report; ``--write-tables``
   writes the widths into the search's table);
3. per search, from the features and the pickle (local, no executor):
   - zprime: ``scripts/optimise_cuts.py`` (``--write-tables`` writes the optimised cuts, and the
     processing step runs again, without the features, so that the pickle holds their cutflows),
     ``scripts/train_punzi_net.py``, then ``scripts/limits.py`` for the cuts (all events, and the
     evaluation split) and for the network (evaluation split), and their limit curves in one figure;
   - visible: ``scripts/run_visible_sensitivity.py`` (limits per mass and the fine m_R scan);
   - scalar: ``scripts/run_scalar_sensitivity.py --skip-processing`` (BDT, score cuts, limits);
4. ``--results`` (default docs/results.md): the search's section is rewritten with the measured
   resolutions, figures of merit and expected limits, and the command that made them.

Without ``--fileset`` the search's default sample is used (made first if missing). Products go
under ``--output`` (default results/study/<analysis>/).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pickle
import shlex
import subprocess
import sys
from pathlib import Path

from core.constants import DATA_LUMI_FB
from core.provenance import code_versions
from execution.runner import ExecutionOptions, add_executor_options, positive_float
from processors.searches import DEFAULT_SEARCH, SEARCHES
from sensitivity.report import markdown_table, read_csv, replace_section

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


class StepFailed(Exception):
    """A step exited with a nonzero status (the study's exit status)."""

    def __init__(self, name: str, status: int):
        super().__init__(f"step {name!r} failed with exit status {status}")
        self.status = status


LOW_MC_NOTE = (
    "\n\"low MC\": yes where the window's background rests on few MC events (a channel without MC events in the window "
    "contributes its one-event weight; docs/systematics.md).\n"
)


def _low_mc(row: dict[str, str]) -> str | None:
    """``yes``/``no`` of the ``low_mc`` column of a limits.csv row (None when the table predates it)."""
    value = row.get("low_mc")
    return None if value in (None, "") else ("yes" if value == "True" else "no")


def step(name: str, command: list[str]) -> None:
    """Run one step as its own command; raise :class:`StepFailed` when it fails."""
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    status = subprocess.run(command).returncode
    if status != 0:
        raise StepFailed(name, status)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--analysis", choices=tuple(SEARCHES), default=DEFAULT_SEARCH)
    p.add_argument("--fileset", type=Path, help="fileset JSON (default: the search's default sample, made if missing)")
    p.add_argument("--output", type=Path, help="directory for every product (default results/study/<analysis>)")
    p.add_argument("--lumi", type=positive_float, default=DATA_LUMI_FB, help=f"integrated luminosity, fb^-1 (default {DATA_LUMI_FB:g})")
    p.add_argument("--skip-processing", action="store_true", help="reuse the pickle and features already in --output")
    p.add_argument("--write-tables", action="store_true", help="write measured widths (and zprime: optimised cuts) into the tables")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md", help="results file whose section is rewritten")
    p.add_argument("--punzi-epochs", type=int, help="zprime: Punzi-loss epochs of the network")
    p.add_argument("--bce-epochs", type=int, help="zprime: cross-entropy epochs of the network")
    p.add_argument("--thin", type=int, default=1, help="zprime: fit the cuts and the network on every K-th event of their "
                   "splits (a sample too large for memory or time); limits and figures of merit use whole splits")  # fmt: skip
    p.add_argument("--n-estimators", type=int, help="scalar: boosting stages of the BDT")
    add_executor_options(p)
    return p


def run_steps(args: argparse.Namespace, out: Path) -> None:
    """Steps 1-3 of the study into ``out``."""
    search = SEARCHES[args.analysis]
    python = sys.executable
    pickle_path = out / search.output_name
    processing = [python, str(ROOT / "run.py"), "--analysis", search.name, "--lumi", str(args.lumi), "--output", str(pickle_path),
                  *ExecutionOptions.from_args(args).as_arguments(),
                  *(["--fileset", str(args.fileset.resolve())] if args.fileset is not None else [])]  # fmt: skip
    if not (args.skip_processing and pickle_path.exists()):
        step("processing", [*processing, "--features", str(out / "features")])
    write = ["--write"] if args.write_tables else []
    step("resolution", [python, str(SCRIPTS / "measure_resolution.py"), "--analysis", search.name, "--study", str(out), *write])
    if search.name == "zprime":
        thin = ["--thin", str(args.thin)] if args.thin != 1 else []
        step("cut optimisation", [python, str(SCRIPTS / "optimise_cuts.py"), "--study", str(out), *write, *thin])
        if args.write_tables:  # the cutflows of the pickle (the cut-based limits) must be those of the written table
            step("processing with the written cut table", processing)
        epochs = [*(["--punzi-epochs", str(args.punzi_epochs)] if args.punzi_epochs is not None else []),
                  *(["--bce-epochs", str(args.bce_epochs)] if args.bce_epochs is not None else [])]  # fmt: skip
        step("network", [python, str(SCRIPTS / "train_punzi_net.py"), "--study", str(out), *epochs, *thin])
        step("limits with the cuts", [python, str(SCRIPTS / "limits.py"), str(pickle_path), "--output", str(out / "limits" / "cuts")])
        for selection, selected in (("cuts_evaluation", "cuts_selected.pkl"), ("network", "network_selected.pkl")):
            step(f"limits: {selection.replace('_', ' on the ')} split", [python, str(SCRIPTS / "limits.py"),
                 str(out / "punzi_net" / selected), "--output", str(out / "limits" / selection)])  # fmt: skip
        plot_limit_comparison(out / "limits", out / "limits" / "network_vs_cuts.png", args.lumi)
    elif search.name == "visible":
        invisible = ROOT / "results" / "study" / "zprime" / "limits" / "cuts" / "limits.csv"
        step("limits", [python, str(SCRIPTS / "run_visible_sensitivity.py"), "--input", str(pickle_path),
                        "--output", str(out / "limits"), *(["--invisible", str(invisible)] if invisible.exists() else [])])  # fmt: skip
    else:
        bdt = ["--n-estimators", str(args.n_estimators)] if args.n_estimators is not None else []
        step("BDT and limits", [python, str(SCRIPTS / "run_scalar_sensitivity.py"), "--skip-processing", "--output", str(out),
                                "--lumi", str(args.lumi), *bdt])  # fmt: skip


def plot_limit_comparison(limits: Path, path: Path, lumi_fb: float) -> None:
    """Expected g' limits of the network and of the cuts on the same evaluation events (and the cuts on all events),
    for ``lumi_fb`` (fb^-1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    curves = (("cuts", "hand cuts, all events", "C1", ":"), ("cuts_evaluation", "hand cuts, evaluation split", "C1", "-"),
              ("network", "Punzi network, evaluation split", "C0", "-"))  # fmt: skip
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(10, 7))
        for name, label, color, ls in curves:
            rows = [r for r in read_csv(limits / name / "limits.csv") if r["gprime_exp"]]  # no limit where nothing is selected
            ax.plot([float(r["mzp_gev"]) for r in rows], [float(r["gprime_exp"]) for r in rows], marker="o", color=color, ls=ls, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$m_{Z'}$ [GeV]")
        ax.set_ylabel(r"expected 90% CL upper limit on $g'$")
        ax.legend(fontsize=13)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)


def results_section(args: argparse.Namespace, out: Path, command: str) -> str:
    """The markdown of the search's section of docs/results.md, from the products in ``out``."""
    search = SEARCHES[args.analysis]
    with (out / search.output_name).open("rb") as fh:
        meta = pickle.load(fh)["metadata"]
    resolution = json.loads((out / "resolution.json").read_text())
    lines = [
        f"## {search.title}\n",
        f"`{command}` on {datetime.date.today().isoformat()}, {code_versions(meta['code_version'])}, executor {meta['executor']}, "
        f"{meta['lumi_fb']:g} fb^-1, fileset `{meta['fileset']}`.\n",
        f"Resolution ({resolution['variable']}, {resolution['unit']}; {resolution['definition']}) measured on the "
        "exported features, and the value in the search's table:\n",
        markdown_table(resolution["masses"], [("mass_gev", "mass [GeV]", "g"), ("sigma", "sigma", ".4g"),
                                              ("sigma_in_table", "table", ".4g"), ("n_events", "events", "d")]),  # fmt: skip
    ]
    if search.name == "zprime":
        cuts = {float(r["mzp_gev"]): r for r in read_csv(out / "limits" / "cuts" / "limits.csv")}
        cuts_eval = {float(r["mzp_gev"]): r for r in read_csv(out / "limits" / "cuts_evaluation" / "limits.csv")}
        network = {float(r["mzp_gev"]): r for r in read_csv(out / "limits" / "network" / "limits.csv")}
        fom = {float(r["mzp_gev"]): r for r in read_csv(out / "punzi_net" / "fom.csv")}
        report = json.loads((out / "punzi_net" / "fom.json").read_text())
        fit_parts = report.get("fit_parts", {"train": "train", "threshold": "threshold"})
        rows = []
        for m in sorted(set(cuts) | set(fom)):
            f, c = fom.get(m, {}), cuts.get(m, {})
            ratio = f"{float(f['ratio_fom_eff']):.2f} +- {float(f['ratio_fom_eff_error']):.2f}" if f else None
            rows.append({"m": f"{m:g}{' (off grid)' if f.get('off_grid') == '1' else ''}", "eps": c.get("efficiency"),
                         "b": c.get("background"), "g_cuts": c.get("gprime_exp"), "g_cuts_eval": cuts_eval.get(m, {}).get("gprime_exp"),
                         "g_net": network.get(m, {}).get("gprime_exp"), "ratio": ratio,
                         "n_mc": network.get(m, {}).get("background_mc_count"), "low_mc": _low_mc(network.get(m, {}))})  # fmt: skip
        lines += [
            "\nExpected 90% CL limits on g': the optimised cuts on the whole sample, and the cuts and the mass-parametrised "
            "Punzi-loss network on the same evaluation split (a third of the MC by generated event number, never used to fit "
            "or choose anything); the network / cuts ratio of eps/sqrt(B_eff) there, with its bootstrap error. Off-grid masses "
            "were never trained on (network cut and hand cuts interpolated). \"B MC events\" and \"low MC\" are the network's.\n",
            markdown_table(rows, [("m", "m_Z' [GeV]", "s"), ("eps", "eps (cuts)", ".4f"), ("b", "B (cuts)", ".4g"),
                                  ("g_cuts", "g' exp. (cuts)", ".3g"), ("g_cuts_eval", "g' exp. (cuts, eval.)", ".3g"),
                                  ("g_net", "g' exp. (network, eval.)", ".3g"), ("ratio", "FOM network / cuts (eval.)", "s"),
                                  ("n_mc", "B MC events", "d"), ("low_mc", "low MC", "s")]),  # fmt: skip
            LOW_MC_NOTE,
            f"\nNetwork training: {report['training_seconds']:.0f} s on {report['threads']} threads on the "
            f"`{fit_parts['train']}` part (early stopping and output cuts on `{fit_parts['threshold']}`), "
            f"{report['punzi_epochs_run']} Punzi epochs (best {report['best_epoch']}); peak memory of the whole step "
            f"{report['peak_memory_mb']:.0f} MB; `{report['command']}`.\n",
        ]
    elif search.name == "visible":
        rows = [{**r, "low_mc": _low_mc(r)} for r in read_csv(out / "limits" / "limits.csv")]
        lines += [
            "\nExpected 90% CL limits on g' per mass and signal sample (counting in the m_R window):\n",
            markdown_table(rows, [("mzp_gev", "m_Z' [GeV]", "g"), ("signal_channel", "signal", "s"),
                                  ("efficiency", "eps", ".4f"), ("background", "B", ".4g"),
                                  ("gprime_exp", "g' exp.", ".3g"), ("low_mc", "low MC", "s")]),  # fmt: skip
            LOW_MC_NOTE,
        ]
    else:
        rows = [{**r, "low_mc": _low_mc(r)} for r in read_csv(out / "limits.csv")]
        lines += [
            "\nExpected 90% CL limits on xi after the BDT score cut (evaluation part of the events):\n",
            markdown_table(rows, [("mphi_gev", "m_phi [GeV]", "g"), ("score_cut", "P(signal) cut", ".3f"),
                                  ("efficiency", "eps", ".4f"), ("background", "B", ".4g"), ("xi_exp", "xi exp.", ".3g"),
                                  ("low_mc", "low MC", "s")]),  # fmt: skip
            LOW_MC_NOTE,
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.thin < 1:
        parser.error("--thin must be at least 1")
    out = (args.output or ROOT / "results" / "study" / args.analysis).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        run_steps(args, out)
    except StepFailed as err:
        print(f"study.py: error: {err}", file=sys.stderr)
        return err.status
    command = "python scripts/study.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    path = replace_section(args.results, args.analysis, results_section(args, out, command.strip()))
    print(f"wrote the {args.analysis} section of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
