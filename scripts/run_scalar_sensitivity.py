"""The leptophilic-scalar sensitivity study in one command: features -> BDT -> score cut -> xi limits.

    python scripts/run_scalar_sensitivity.py                        # the scalar sample (made if missing) -> results/scalar/
    python scripts/run_scalar_sensitivity.py --fileset F.json --output results/mine [--n-estimators 150]

Steps:

1. ``run.py --analysis scalar --features <out>/features --output <out>/scalar.pkl``: cutflows,
   pair-mass histograms and the BDT features of every phi_L candidate (skipped with
   ``--skip-processing`` when they exist);
2. the five-class GradientBoostingClassifier (:mod:`sensitivity.scalar_bdt`) on the ``train`` split
   (sensitivity/splits.py: (event - 1) mod 3 = 0), saved to ``<out>/bdt.joblib``; its log-loss and
   accuracy on the held-back events of the other two splits;
3. per phi_L mass the P(signal) cut maximising the Punzi FOM on the ``threshold`` split;
4. efficiencies and backgrounds on the ``evaluation`` split, 90% CL expected limits on xi
   with pyhf (:mod:`sensitivity.scalar_limits`), written by ``sensitivity.limits.write_limits`` (the
   writer of every search): ``<out>/limits.csv``, ``limits.json``, ``workspaces/mphi_<MeV>.json`` with
   ``workspaces/fit_settings.json`` (the fit settings that reproduce the table), ``xi_limits.png``;

and ``<out>/summary.json``: signal efficiency after every step at every mass, the background
composition after the BDT, and the classifier's held-back scores.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", type=Path, default=None, help="fileset JSON (default: the scalar sample, made if missing)")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "scalar", help="directory for every product")
    parser.add_argument("--lumi", type=float, default=626.0, help="integrated luminosity, fb^-1 (default 626)")
    parser.add_argument("--window-table", type=Path, default=None, help="pair-mass window table JSON (default: run.py's)")
    parser.add_argument("--n-estimators", type=int, default=None, help="boosting stages of the BDT (default: scalar_bdt's)")
    parser.add_argument("--skip-processing", action="store_true", help="reuse <out>/scalar.pkl and <out>/features")
    args = parser.parse_args(argv)

    from selections.scalar_selection import CLASSES, DEFAULT_WINDOW_TABLE, RECTANGULAR_CUT, SIGNAL_CHANNEL, WINDOW, load_window_table
    from sensitivity import scalar_bdt as bdt
    from sensitivity.features import load_features
    from sensitivity.limits import write_limits
    from sensitivity.scalar_limits import BDT_COLUMN_NOTES, scalar_limit_table, signal_cross_sections

    out = args.output.resolve()
    if args.fileset is None and not args.skip_processing:
        from belle_mc.catalog import SCALAR_SAMPLE_DIR, ensure_default_sample, scalar_requests

        args.fileset = ensure_default_sample(SCALAR_SAMPLE_DIR, requests=scalar_requests())
    pickle_path = out / "scalar.pkl"
    features = out / "features"
    if not (args.skip_processing and pickle_path.exists() and features.exists()):
        command = [sys.executable, str(ROOT / "run.py"), "--analysis", "scalar", "--lumi", str(args.lumi),
                   "--features", str(features), "--output", str(pickle_path), "--executor", "iterative"]  # fmt: skip
        if args.fileset:
            command += ["--fileset", str(args.fileset.resolve())]
        if args.window_table:
            command += ["--window-table", str(args.window_table.resolve())]
        print(f"== processing: {' '.join(command[1:])}", flush=True)
        if features.exists():
            import shutil

            shutil.rmtree(features)
        status = subprocess.run(command).returncode
        if status != 0:
            print(f"run_scalar_sensitivity.py: error: processing failed with exit status {status}", file=sys.stderr)
            return status
    import pickle

    with open(pickle_path, "rb") as fh:
        result = pickle.load(fh)
    table = load_window_table(args.window_table or DEFAULT_WINDOW_TABLE)

    # --- BDT -------------------------------------------------------------------------------------
    try:
        frame = bdt.bdt_candidates(load_features(features, required=("event", "n_generated", "class_label")))
    except (OSError, ValueError) as err:
        print(f"run_scalar_sensitivity.py: error: {err}", file=sys.stderr)
        return 2
    train = bdt.part_mask(frame, "train")
    hyper = {} if args.n_estimators is None else {"n_estimators": args.n_estimators}
    print(f"== BDT: {train.sum()} training candidates, {np.bincount(frame['class_label'][train], minlength=5)} per class {CLASSES}", flush=True)
    try:
        model = bdt.train_classifier(frame[train], **hyper)
    except ValueError as err:
        print(f"run_scalar_sensitivity.py: error: {err}", file=sys.stderr)
        return 2
    bdt.save_model(model, out / "bdt.joblib")
    proba = bdt.predict_probabilities(model, frame)
    held = ~train
    labels = frame["class_label"].to_numpy()
    weights = bdt.class_weights(frame[held])
    p_true = np.clip(proba[held][np.arange(held.sum()), labels[held]], 1e-15, 1.0)
    classifier = {
        "features": list(bdt.BDT_FEATURES),
        "hyperparameters": {**bdt.DEFAULT_HYPERPARAMETERS, **hyper},
        "training_candidates": int(train.sum()),
        "held_back_candidates": int(held.sum()),
        "held_back_log_loss_class_weighted": float(np.sum(weights * -np.log(p_true)) / weights.sum()),
        "held_back_accuracy_class_weighted": float(np.sum(weights * (proba[held].argmax(axis=1) == labels[held])) / weights.sum()),
        "log_5": math.log(5.0),
    }
    print(f"   held back: class-weighted log-loss {classifier['held_back_log_loss_class_weighted']:.3f} (random: "
          f"{math.log(5):.3f}), accuracy {classifier['held_back_accuracy_class_weighted']:.3f} (random: 0.2)")  # fmt: skip

    # --- score cut and limits ------------------------------------------------------------------
    p_signal = proba[:, 0]
    signal_masses = sorted({float(m) for m in frame.loc[frame["channel"] == SIGNAL_CHANNEL, "mphi_true_gev"]})
    yields = []
    for window in table.windows:
        if not any(math.isclose(window.mphi_gev, m) for m in signal_masses):
            print(f"   m_phi = {window.mphi_gev:g} GeV: no signal sample, skipped")
            continue
        cut = bdt.optimise_score_cut(frame, p_signal, table, window.mphi_gev)
        yields.append(bdt.window_yields(frame, p_signal, table, window.mphi_gev, cut, "evaluation"))
    # the BDT features are weighted to the processing run's luminosity
    lumi_fb = float(result["metadata"].get("lumi_fb", args.lumi))
    limit_table = scalar_limit_table(yields, lumi_fb, signal_cross_sections(result))
    rows = limit_table.rows()
    provenance = {
        "description": "90% CL CLs upper limits on the leptophilic scalar phi_L (e+e- -> tau+ tau- phi_L, phi_L -> l+ l-), "
        "one counting experiment per pair-mass window after the BDT score cut (evaluation part of the sample)",
        "input": str(pickle_path),
        "code_version": result["metadata"].get("code_version"),
        "lumi_fb": lumi_fb,
        "cl": limit_table.cl,
        "observation": limit_table.observation,
        "calculator": "auto",
    }
    write_limits(limit_table, out, provenance, coupling_name="xi", plot_name="xi_limits.png", notes=BDT_COLUMN_NOTES)
    figure = out / "xi_limits.png"

    # --- efficiency after each step, background composition ---------------------------------------
    meta = result["metadata"]["dataset_metadata"]
    efficiencies = {}
    for row in rows:
        m = row["mphi_gev"]
        names = [n for n, md in meta.items() if md["channel"] == SIGNAL_CHANNEL and math.isclose(md["mphi"], m)]
        n_gen = sum(meta[n]["n_generated"] for n in names)
        steps = {}
        for cut in result["datasets"][names[0]]["cutflow"]:
            steps[cut] = sum(result["datasets"][n]["cutflow"][cut] for n in names) / n_gen
        steps[WINDOW] = sum(result["datasets"][n]["cutflow_mphi"][round(m * 1000)][WINDOW] for n in names) / n_gen
        steps["bdt_score_cut (evaluation part)"] = row["efficiency"]
        efficiencies[f"{m:g}"] = steps
    summary = {
        "lumi_fb": args.lumi,
        "classifier": classifier,
        "signal_efficiency_after_each_step": efficiencies,
        "rectangular_cut": list(RECTANGULAR_CUT),
        "limits": [{k: r[k] for k in ("mphi_gev", "score_cut", "efficiency", "background", "background_direct", "xi_exp", "xi_exp_m1", "xi_exp_p1")} for r in rows],
        "background_composition_after_bdt": {
            f"{r['mphi_gev']:g}": {k.removeprefix("background_direct_"): r[k] for k in r if k.startswith("background_direct_") and k != "background_direct_mc_count"}
            for r in rows
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{'m [GeV]':>8} {'cut':>6} {'eps':>8} {'B':>10} {'B direct':>10} {'xi_exp':>9} {'(g-2) xi':>9}")
    from core.scalar_model import g2_band_xi

    for r in rows:
        print(f"{r['mphi_gev']:>8g} {r['score_cut']:>6.3f} {r['efficiency']:>8.4f} {r['background']:>10.3g} "
              f"{r['background_direct']:>10.3g} {r['xi_exp']:>9.3g} {float(g2_band_xi(r['mphi_gev']).central):>9.3g}")  # fmt: skip
    print(f"wrote {out / 'limits.csv'}, {out / 'summary.json'}, {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
