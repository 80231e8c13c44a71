"""Train the mass-parametrised Punzi-loss network and compare it with the hand cuts on the evaluation split.

    python scripts/train_punzi_net.py --study results/study/zprime                     # everything below
    python scripts/train_punzi_net.py --study results/study/zprime --punzi-epochs 10   # quicker, weaker

One step of ``scripts/study.py --analysis zprime``: reads the features and the output pickle of
the study's processor pass (``run.py --features DIR/features --output DIR/zprime_invisible.pkl``,
on any executor; the network is applied to those exported columns, no second pass over the
ntuples). The MC is split by generated event number (sensitivity/splits.py): the network is
trained on the ``train`` split at the masses of the cut table that have a signal sample, its
output cut per mass and its early stopping use the ``threshold`` split, and every figure of merit
is measured on the ``evaluation`` split, for the network and for the hand cuts of the cut table on
exactly the same events. Signal samples at masses between the cut table's (e.g. 1.5, 4.5, 7.5 GeV)
are off-grid masses: never trained on; there the network takes the mass as input, its output cut
and the hand cuts are interpolated between the neighbouring grid masses.

Only the events inside some mass window are read, split by split, file by file, so the whole
feature table never sits in memory. On a sample too large to fit on in time or memory (the
>= 626 fb^-1 filtered sample: ~26M window events per split), ``--thin K`` fits the network on every
K-th event of the train and threshold splits (exact weights, sensitivity/splits.py); the figures
of merit and the selected histograms always use the whole evaluation split.

Writes, under ``--output-dir`` (default DIR/punzi_net/): ``model.pt`` (network, input scaling,
thresholds, config), ``fom.json`` and ``fom.csv`` (per mass: eps, B, figures of merit of both
selections, the ratio network / cuts with its bootstrap error; training time and peak memory),
``fom_vs_mass.png``, ``network_output.png``, and ``network_selected.pkl`` / ``cuts_selected.pkl``
(the selected M^2 histograms of the evaluation split, per dataset: ``scripts/limits.py`` sets the
limits of both selections on the same events from them).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import pickle
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file from anywhere: import the checkout's packages
    sys.path.insert(0, str(REPO))

from selections.zprime_selection import DEFAULT_CUT_TABLE, CutTable, load_cut_table  # noqa: E402
from sensitivity import punzi_net as pn  # noqa: E402
from sensitivity.splits import thinned  # noqa: E402

CSV_COLUMNS = ("eps", "background", "background_mc_count", "background_effective", "fom", "punzi", "fom_eff", "punzi_eff")
EVALUATION = "evaluation"


def plot_fom(rows: list[dict], path: Path, lumi_fb: float) -> None:
    """The talk's figure-of-merit comparison: network and cuts vs mass, the ratio with its error below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    with plt.style.context(mplhep.style.ROOT):
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(10, 9), sharex=True, gridspec_kw={"height_ratios": (3, 1.4)})
        for off_grid, fill in ((False, "full"), (True, "none")):
            sel = [r for r in rows if r["off_grid"] == off_grid]
            if not sel:
                continue
            m = np.array([r["mzp_gev"] for r in sel])
            suffix = " (off grid)" if off_grid else ""
            for label, color in (("network", "C0"), ("cuts", "C1")):
                ax.plot(m, [r[label]["fom_eff"] for r in sel], "o", fillstyle=fill, color=color,
                        ls="none" if off_grid else "-", label=f"{'Punzi network' if label == 'network' else 'hand cuts'}{suffix}")  # fmt: skip
            rax.errorbar(m, [r["ratio_fom_eff"] for r in sel], yerr=[r["ratio_fom_eff_error"] for r in sel], fmt="o",
                         fillstyle=fill, color="k", label=f"network / cuts{suffix}")  # fmt: skip
        rax.axhline(1.0, color="grey", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("eps / sqrt(B_eff) (evaluation split)")
        ax.legend(fontsize=13, title=r"$Z' \to$ invisible, $|M^2 - m^2| < 3\sigma$", title_fontsize=13)
        rax.set_ylabel("network / cuts")
        rax.set_xlabel(r"$m_{Z'}$ [GeV]")
        rax.legend(fontsize=11)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)


def plot_outputs(outputs: np.ndarray, thresholds: list[float], table, cut_table: CutTable, dataset_metadata: dict, masses_gev, path: Path) -> None:
    """The network output at a few masses for the window signal and each background channel (weighted, normalised);
    the dashed line is the output cut of the mass (``thresholds``, one per hypothesis of ``cut_table``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    signal, background = pn.window_masks(table, cut_table)
    channels = table["dataset"].astype(str).map(lambda d: dataset_metadata[d]["channel"]).to_numpy()
    weight = table["weight"].to_numpy()
    bins = np.linspace(0.0, 1.0, 41)
    index = {h.mzp_gev: i for i, h in enumerate(cut_table.hypotheses)}
    shown = [m for m in masses_gev if m in index]
    colour = {c: f"C{k}" for k, c in enumerate(sorted(set(channels[background.any(0)])))}  # one colour per channel in every panel
    with plt.style.context(mplhep.style.ROOT):
        fig, axes = plt.subplots(1, len(shown), figsize=(6.5 * len(shown), 6), squeeze=False)
        for ax, m in zip(axes[0], shown):
            i = index[m]
            ax.hist(outputs[i][signal[i]], bins=bins, density=True, histtype="step", lw=2, color="k", label=f"signal {m:g} GeV")
            for channel in sorted(set(channels[background[i]])):
                rows = background[i] & (channels == channel)
                if rows.sum() >= 2:
                    ax.hist(outputs[i][rows], bins=bins, weights=weight[rows], density=True, histtype="step", lw=1.5,
                            color=colour[channel], label=f"{channel} ({rows.sum()} MC)")  # fmt: skip
            ax.axvline(thresholds[i], color="grey", ls="--")
            ax.set_yscale("log")
            ax.set_xlabel(f"network output y(x, m = {m:g} GeV)")
            ax.set_title(f"window of {m:g} GeV (evaluation split)", fontsize=14)
            ax.legend(fontsize=10)
        axes[0][0].set_ylabel("normalised")
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)


def hypotheses(cut_table: CutTable, dataset_metadata: dict) -> tuple[CutTable, CutTable]:
    """(the grid: cut-table masses with a signal sample; the grid plus the off-grid signal masses inside its range)."""
    masses = sorted({float(m["mzp"]) for m in dataset_metadata.values() if m.get("channel") == "signal"})
    grid = tuple(h for h in cut_table.hypotheses if h.mzp_gev in masses)
    if not grid:
        raise ValueError("the fileset has no signal sample at any mass of the cut table")
    dropped = [h.mzp_gev for h in cut_table.hypotheses if h.mzp_gev not in masses]
    if dropped:
        print(f"no signal sample at {dropped} GeV: the network is trained and evaluated at the other masses")
    grid_table = CutTable(grid, cut_table.window_n_sigma)
    off_grid = [m for m in masses if m not in grid_table.masses_gev and grid[0].mzp_gev < m < grid[-1].mzp_gev]
    return grid_table, grid_table.with_masses(off_grid)


class EpochPrinter:
    """One line per epoch (the Punzi stage: both losses, the best epoch so far, elapsed time and an estimate of the rest)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.best = (float("inf"), 0)

    def __call__(self, stage: str, epoch: int, epochs: int, loss: float, monitored: float | None) -> None:
        elapsed = time.perf_counter() - self.start
        if stage == "bce":
            print(f"BCE   epoch {epoch:3d}/{epochs}: loss {loss:.4f}  ({elapsed:.0f} s)", flush=True)
            self.punzi_start = time.perf_counter()
            return
        if monitored is not None and monitored < self.best[0]:
            self.best = (monitored, epoch)
        per_epoch = (time.perf_counter() - self.punzi_start) / epoch
        tail = f", threshold split {monitored:.4g} (best {self.best[0]:.4g} at {self.best[1]})" if monitored is not None else ""
        print(f"Punzi epoch {epoch:3d}/{epochs}: loss {loss:.4g}{tail}  ({elapsed:.0f} s, at most {per_epoch * (epochs - epoch):.0f} s left)", flush=True)


def main(argv: list[str] | None = None) -> int:
    defaults = pn.TrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--study", type=Path, required=True,
        help="study directory: features/ and zprime_invisible.pkl of the processor pass (scripts/study.py)",
    )  # fmt: skip
    parser.add_argument("--cut-table", type=Path, default=DEFAULT_CUT_TABLE, help="mass hypotheses, resolutions and the hand cuts")
    parser.add_argument("--output-dir", type=Path, default=None, help="default: <study>/punzi_net")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.threads, help=f"CPU threads (default: every core, {defaults.threads})")
    parser.add_argument("--bce-epochs", type=int, default=defaults.bce_epochs)
    parser.add_argument("--punzi-epochs", type=int, default=defaults.punzi_epochs, help="at most this many (early stopping)")
    parser.add_argument("--patience", type=int, default=defaults.patience, help="epochs without improvement on the threshold split before stopping; 0: never")
    parser.add_argument("--punzi-batch-size", type=int, default=defaults.punzi_batch_size, help="0: full batch")
    parser.add_argument("--thin", type=int, default=1, help="fit (train and threshold splits) on every K-th of their events; "
                        "the evaluation keeps its whole split (default 1: all)")  # fmt: skip
    args = parser.parse_args(argv)
    for name in ("threads", "bce_epochs", "punzi_epochs", "thin"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.patience < 0 or args.punzi_batch_size < 0:
        parser.error("--patience and --punzi-batch-size must not be negative")
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
        grid, every_mass = hypotheses(cut_table, dataset_metadata)
        fit_parts = {"train": thinned("train", args.thin), "threshold": thinned("threshold", args.thin)}
        parts = {name: pn.load_part(args.features, part, grid, dataset_metadata, args.lumi) for name, part in fit_parts.items()}
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as err:
        print(f"train_punzi_net.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(f"events in a window: {', '.join(f'{len(parts[n])} {p}' for n, p in fit_parts.items())}; grid {[float(m) for m in grid.masses_gev]} GeV, "
          f"off grid {[float(m) for m in every_mass.masses_gev if m not in grid.masses_gev]} GeV ({time.perf_counter() - t0:.0f} s)")  # fmt: skip

    config = pn.TrainingConfig(
        seed=args.seed, threads=args.threads, bce_epochs=args.bce_epochs, punzi_epochs=args.punzi_epochs,
        punzi_batch_size=args.punzi_batch_size or None, patience=args.patience,
    )  # fmt: skip
    t_train = time.perf_counter()
    n_generated = {name: pn.generated_per_mass(dataset_metadata, grid, part) for name, part in fit_parts.items()}
    model = pn.train(
        parts["train"], grid, n_generated["train"], config,
        threshold_split=(parts["threshold"], n_generated["threshold"]), on_epoch=EpochPrinter(),
    )  # fmt: skip
    t_train = time.perf_counter() - t_train
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    model_path = model.save(args.output_dir / "model.pt")
    epochs_run, best_epoch = len(model.history["punzi"]), int(model.history["best_epoch"][0])
    print(f"trained in {t_train:.0f} s on {config.threads} threads ({epochs_run} Punzi epochs, best {best_epoch}); "
          f"peak memory {peak_rss_mb:.0f} MB; wrote {model_path}")  # fmt: skip
    loss = {name: pn.full_batch_punzi_loss(model, parts[name], grid, n_generated[name]) for name in fit_parts}
    del parts  # the fit parts are done with: the evaluation split is read next

    evaluation = pn.load_part(args.features, EVALUATION, every_mass, dataset_metadata, args.lumi)
    n_gen = pn.generated_per_mass(dataset_metadata, every_mass, EVALUATION)
    outputs = model.outputs(evaluation, every_mass)
    network = pn.network_passes(model, every_mass, outputs)
    cuts = pn.cut_passes(evaluation, every_mass)
    network_rows = pn.selection_yields(network, evaluation, every_mass, n_gen, config.punzi_a)
    cut_rows = pn.selection_yields(cuts, evaluation, every_mass, n_gen, config.punzi_a)
    errors = pn.fom_ratio_error(network, cuts, evaluation, every_mass, n_gen)
    rows = []
    for h, net, cut, error in zip(every_mass.hypotheses, network_rows, cut_rows, errors):
        ratio = net["fom_eff"] / cut["fom_eff"] if cut["fom_eff"] > 0 else float("nan")
        rows.append({"mzp_gev": h.mzp_gev, "off_grid": h.mzp_gev not in grid.masses_gev, "threshold": model.threshold(h.mzp_gev),
                     "network": net, "cuts": cut, "ratio_fom_eff": ratio, "ratio_fom_eff_error": float(error)})  # fmt: skip
    # the loss' [masses x rows] terms of a whole large split do not fit in memory: with --thin, on the thinned split
    loss_part = thinned(EVALUATION, args.thin)
    loss_table = evaluation if args.thin == 1 else pn.load_part(args.features, loss_part, grid, dataset_metadata, args.lumi)
    loss[EVALUATION] = pn.full_batch_punzi_loss(model, loss_table, grid, pn.generated_per_mass(dataset_metadata, grid, loss_part))
    del loss_table
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print(f"\nevaluation split (events with (event - 1) mod 3 = 2), {args.lumi:g} fb^-1; Punzi loss "
          + ", ".join(f"{p} {v:.4g}" for p, v in loss.items()))  # fmt: skip
    print(f"{'m [GeV]':>8} {'':>7} {'eps':>6} {'B':>9} {'n_MC':>5} {'eps/sqrtBeff':>12}   network / cuts")
    for r in rows:
        for label in ("network", "cuts"):
            y = r[label]
            tail = f"   {r['ratio_fom_eff']:.3f} +- {r['ratio_fom_eff_error']:.3f}" if label == "cuts" else ""
            mass = f"{r['mzp_gev']:g}{'*' if r['off_grid'] else ''}" if label == "network" else ""
            print(f"{mass:>8} {label:>7} {y['eps']:6.3f} {y['background']:9.3g} {y['background_mc_count']:5d} {y['fom_eff']:12.3e}{tail}")
    print("* off grid: never trained on; network cut and hand cuts interpolated between the neighbouring grid masses")

    out = args.output_dir
    report = {
        "fileset": str(args.fileset),
        "features": str(args.features),
        "lumi_fb": args.lumi,
        "part": "evaluation split: events with (event - 1) mod 3 = 2, weights xsec L / generated events of the split",
        "cuts_source": "hand cuts of the cut table (interpolated off grid) on the same evaluation events",
        "command": " ".join(["python", "scripts/train_punzi_net.py", *(argv if argv is not None else sys.argv[1:])]),
        "punzi_loss": loss,
        "fit_parts": fit_parts,
        "punzi_loss_parts": {**fit_parts, EVALUATION: loss_part},
        "training_seconds": t_train,
        "threads": config.threads,
        "peak_memory_mb": peak_rss_mb,
        "punzi_epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "config": dataclasses.asdict(config),
        "thresholds_mzp_mev": model.thresholds,
        "hypotheses": rows,
    }
    (out / "fom.json").write_text(json.dumps(report, indent=1, default=float))
    with open(out / "fom.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["mzp_gev", "off_grid", "threshold"] + [f"{s}_{c}" for s in ("network", "cuts") for c in CSV_COLUMNS]
                        + ["ratio_fom_eff", "ratio_fom_eff_error"])  # fmt: skip
        for r in rows:
            writer.writerow([r["mzp_gev"], int(r["off_grid"]), r["threshold"]] + [r[s][c] for s in ("network", "cuts") for c in CSV_COLUMNS]
                            + [r["ratio_fom_eff"], r["ratio_fom_eff_error"]])  # fmt: skip
    plot_fom(rows, out / "fom_vs_mass.png", args.lumi)
    shown = [m for m in (0.5, 2.0, 4.5, 8.0) if m in every_mass.masses_gev] or list(every_mass.masses_gev[:: max(1, len(every_mass.hypotheses) // 3)])
    plot_outputs(outputs, [r["threshold"] for r in rows], evaluation, every_mass, dataset_metadata, shown, out / "network_output.png")
    metadata = {"lumi_fb": args.lumi, "part": EVALUATION, "dataset_metadata": pn.part_metadata(dataset_metadata, EVALUATION),
                "off_grid_mzp_gev": [r["mzp_gev"] for r in rows if r["off_grid"]]}  # fmt: skip
    for name, selection, passed in (("network_selected", "punzi_net", network), ("cuts_selected", "cuts", cuts)):
        result = {"metadata": {**metadata, "selection": selection, **({"model": str(model_path)} if selection == "punzi_net" else {})},
                  "datasets": pn.selected_histograms(passed, evaluation, every_mass)}  # fmt: skip
        with open(out / f"{name}.pkl", "wb") as f:
            pickle.dump(result, f)
    print(f"wrote {out}/fom.json, fom.csv, fom_vs_mass.png, network_output.png, network_selected.pkl, cuts_selected.pkl "
          f"({time.perf_counter() - t0:.0f} s in all)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
