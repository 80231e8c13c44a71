"""Train the Punzi-loss network and compare its figure of merit with the hand cuts, mass by mass.

    python scripts/train_punzi_net.py --study results/study/zprime                     # everything below
    python scripts/train_punzi_net.py --study results/study/zprime --punzi-epochs 10   # quicker, weaker

One step of ``scripts/study.py --analysis zprime``: reads the features and the output pickle of
the study's processor pass (``run.py --features DIR/features --output DIR/zprime_invisible.pkl``,
on any executor), trains the network
on the even-numbered preselected events of every dataset (sensitivity/punzi_net.py), and on
the odd-numbered ones (the validation half, never used for fitting or choosing anything)
measures, per Z' mass, eps, B, eps/sqrt(B) and the Punzi FOM eps/(a/2 + sqrt(B)) of the
network (y > the threshold chosen on the training half) and of the hand cuts of the cut
table (recomputed on exactly the same validation events). Writes, under ``--output-dir``
(default DIR/punzi_net/): ``model.pt`` (network, feature scaling, thresholds, config),
``fom.json`` and ``fom.csv`` (the table), ``fom_vs_mass.png`` and ``network_selected.pkl``
(the network-selected M^2 histograms of the validation half, per dataset).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file from anywhere: import the checkout's packages
    sys.path.insert(0, str(REPO))

from core.weights import event_weight  # noqa: E402
from selections.zprime_selection import DEFAULT_CUT_TABLE, CutTable, load_cut_table  # noqa: E402
from sensitivity import punzi_net as pn  # noqa: E402
from sensitivity.features import load_features  # noqa: E402

CSV_COLUMNS = (
    "eps",
    "background",
    "background_mc_count",
    "background_effective",
    "fom",
    "punzi",
    "fom_eff",
    "punzi_eff",
)


def check_weights(table, dataset_metadata: dict, lumi_fb: float) -> None:
    """The feature files' weights must be xsec * lumi / n_generated at ``lumi_fb`` (same run, same sample)."""
    first = table.groupby("dataset", observed=True)["weight"].first()
    for name, weight in first.items():
        if name not in dataset_metadata:
            raise ValueError(f"feature files hold dataset {name!r}, which the fileset does not list")
        expected = event_weight(dataset_metadata[name], lumi_fb)
        if not np.isclose(weight, expected, rtol=1e-9):
            raise ValueError(
                f"dataset {name}: feature weight {weight:.6g} is not xsec*lumi/n_generated = {expected:.6g} at {lumi_fb} fb^-1 (other --lumi or sample?)"
            )


def plot_fom(rows: list[dict], path: Path, lumi_fb: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    m = np.array([r["mzp_gev"] for r in rows])
    with plt.style.context(mplhep.style.ROOT):
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(10, 9), sharex=True, gridspec_kw={"height_ratios": (3, 1.2)})
        styles = {"punzi": ("o", "-", "eps / (a/2 + sqrt(B))"), "fom_eff": ("s", "--", "eps / sqrt(B_eff)")}
        for key, (marker, ls, label) in styles.items():
            net = np.array([r["network"][key] for r in rows])
            cut = np.array([r["cuts"][key] for r in rows])
            ax.plot(m, net, marker=marker, ls=ls, color="C0", label=f"network, {label}")
            ax.plot(m, cut, marker=marker, ls=ls, color="C1", label=f"hand cuts, {label}")
            rax.plot(m, net / cut, marker=marker, ls=ls, color="k", label=label)
        rax.axhline(1.0, color="grey", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("figure of merit (validation half)")
        ax.legend(fontsize=13, title=r"$Z' \to$ invisible, $|M^2 - m^2| < 3\sigma$, a = 3", title_fontsize=13)
        rax.set_ylabel("network / cuts")
        rax.set_xlabel(r"$m_{Z'}$ [GeV]")
        rax.legend(fontsize=11)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)


def hypotheses_with_signal(cut_table: CutTable, dataset_metadata: dict) -> CutTable:
    """The cut table restricted to the masses that have a signal sample (the others cannot be trained on)."""
    masses = {m["mzp"] for m in dataset_metadata.values() if m.get("channel") == "signal"}
    kept = tuple(h for h in cut_table.hypotheses if h.mzp_gev in masses)
    if not kept:
        raise ValueError("the fileset has no signal sample at any mass of the cut table")
    dropped = [h.mzp_gev for h in cut_table.hypotheses if h.mzp_gev not in masses]
    if dropped:
        print(f"no signal sample at {dropped} GeV: the network is trained and evaluated at the other masses")
    return CutTable(kept, cut_table.window_n_sigma)


def main(argv: list[str] | None = None) -> int:
    defaults = pn.TrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--study", type=Path, required=True,
        help="study directory: features/ and zprime_invisible.pkl of the processor pass (scripts/study.py)",
    )  # fmt: skip
    parser.add_argument(
        "--cut-table", type=Path, default=DEFAULT_CUT_TABLE, help="mass hypotheses, resolutions and the hand cuts"
    )
    parser.add_argument("--output-dir", type=Path, default=None, help="default: <study>/punzi_net")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--bce-epochs", type=int, default=defaults.bce_epochs)
    parser.add_argument("--punzi-epochs", type=int, default=defaults.punzi_epochs)
    parser.add_argument("--punzi-batch-size", type=int, default=defaults.punzi_batch_size, help="0: full batch")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.features = args.study / "features"
    args.output_dir = args.output_dir or args.study / "punzi_net"
    try:
        cut_table = load_cut_table(args.cut_table)
        with (args.study / "zprime_invisible.pkl").open("rb") as fh:
            run_metadata = pickle.load(fh)["metadata"]
        dataset_metadata = run_metadata["dataset_metadata"]
        args.lumi = run_metadata["lumi_fb"]
        args.fileset = run_metadata["fileset"]
        cut_table = hypotheses_with_signal(cut_table, dataset_metadata)
        table = load_features(args.features)
        check_weights(table, dataset_metadata, args.lumi)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as err:
        print(f"train_punzi_net.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    train = pn.select_part(table, "train")
    validation = pn.select_part(table, "validation")
    n_gen = pn.generated_per_mass(dataset_metadata, cut_table, "train")
    print(
        f"{len(table)} preselected events: {len(train)} for training, {len(validation)} for validation ({time.perf_counter() - t0:.0f} s)"
    )

    config = pn.TrainingConfig(
        seed=args.seed, threads=args.threads, bce_epochs=args.bce_epochs, punzi_epochs=args.punzi_epochs,
        punzi_batch_size=args.punzi_batch_size or None,
    )  # fmt: skip
    t_train = time.perf_counter()
    model = pn.train(train, cut_table, n_gen, config, log=lambda s: print(s, flush=True))
    t_train = time.perf_counter() - t_train
    model_path = model.save(args.output_dir / "model.pt")
    print(f"trained in {t_train:.0f} s; wrote {model_path}")

    y_val = pn.apply(model, validation)
    network_val = pn.network_yields(
        model, validation, cut_table, pn.generated_per_mass(dataset_metadata, cut_table, "validation"), y_val
    )
    network_train = pn.network_yields(model, train, cut_table, n_gen)
    cuts_val = pn.cut_yields(table, dataset_metadata, cut_table, args.lumi, "validation")
    loss = {
        part: pn.full_batch_punzi_loss(model, t, cut_table, pn.generated_per_mass(dataset_metadata, cut_table, part))
        for part, t in (("train", train), ("validation", validation))
    }

    rows = [
        {"mzp_gev": n["mzp_gev"], "network": n, "cuts": c, "network_train": nt}
        for n, c, nt in zip(network_val, cuts_val, network_train)
    ]
    print(
        f"\nvalidation half (odd events, weights x2), {args.lumi:g} fb^-1; Punzi loss train {loss['train']:.4g}, validation {loss['validation']:.4g}"
    )
    print(
        f"{'m [GeV]':>7} {'':>7} {'eps':>6} {'B':>9} {'n_MC':>5} {'eps/sqrtB':>10} {'Punzi':>9} {'eps/sqrtBeff':>12}   net/cuts (Punzi, eps/sqrtBeff)"
    )
    for r in rows:
        for label in ("network", "cuts"):
            y = r[label]
            tail = (
                f"   {r['network']['punzi'] / r['cuts']['punzi']:.2f}  {r['network']['fom_eff'] / r['cuts']['fom_eff']:.2f}"
                if label == "cuts"
                else ""
            )
            print(
                f"{r['mzp_gev'] if label == 'network' else '':>7} {label:>7} {y['eps']:6.3f} {y['background']:9.3g} {y['background_mc_count']:5d}"
                f" {y['fom']:10.3e} {y['punzi']:9.3e} {y['fom_eff']:12.3e}{tail}"
            )

    out = args.output_dir
    report = {
        "fileset": str(args.fileset),
        "features": str(args.features),
        "lumi_fb": args.lumi,
        "part": "validation: odd-numbered preselected events of every dataset, weights x2, n_generated / 2",
        "cuts_source": "hand cuts of the cut table recomputed on the same validation events (sensitivity.punzi_net.cut_yields)",
        "punzi_a": config.punzi_a,
        "punzi_loss": loss,
        "training_seconds": t_train,
        "config": dataclasses.asdict(config),
        "thresholds_mzp_mev": model.thresholds,
        "hypotheses": rows,
    }
    (out / "fom.json").write_text(json.dumps(report, indent=1, default=float))
    with open(out / "fom.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["mzp_gev", "threshold"] + [f"{s}_{c}" for s in ("network", "cuts") for c in CSV_COLUMNS])
        for r in rows:
            writer.writerow(
                [r["mzp_gev"], r["network"]["threshold"]] + [r[s][c] for s in ("network", "cuts") for c in CSV_COLUMNS]
            )
    plot_fom(rows, out / "fom_vs_mass.png", args.lumi)
    selected = {
        "metadata": {
            "lumi_fb": args.lumi,
            "selection": "punzi_net",
            "model": str(model_path),
            "part": "validation",
            "dataset_metadata": {
                k: {**v, "n_generated": v["n_generated"] / 2} if "n_generated" in v else v
                for k, v in dataset_metadata.items()
            },
        },
        "datasets": pn.network_selected(model, validation, cut_table, y_val),
    }
    with open(out / "network_selected.pkl", "wb") as f:
        pickle.dump(selected, f)
    print(
        f"wrote {out / 'fom.json'}, {out / 'fom.csv'}, {out / 'fom_vs_mass.png'}, {out / 'network_selected.pkl'} ({time.perf_counter() - t0:.0f} s in all)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
