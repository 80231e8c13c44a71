#!/usr/bin/env python
"""Run the invisible-Z' (default), visible-Z' or leptophilic-scalar analysis over a fileset (interfaces.md §3-4).

    python run.py                       # whole analysis on the embedded default sample
    python run.py --analysis visible    # visible Z' -> mu mu (m_R scan) on its own sample (made if missing)
    python run.py --analysis scalar     # leptophilic scalar on its own sample (made if missing)
    python run.py --fileset F.json --executor {iterative,futures,dask} [--workers N] ...

This file only wires options to coffea's Runner and executors; the analysis
lives in ``processors/`` and ``selections/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import shutil
import sys
import time
from pathlib import Path

import uproot

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "results" / "zprime_invisible.pkl"
DEFAULT_SCALAR_OUTPUT = HERE / "results" / "scalar.pkl"
DEFAULT_VISIBLE_OUTPUT = HERE / "results" / "visible_zprime.pkl"
ANALYSES = ("zprime", "visible", "scalar")
"""``--analysis`` choices: invisible Z' (recoil mass), visible Z' -> mu mu (four muons, m_R scan), leptophilic scalar."""
DEFAULT_LUMI_FB = 626.0
KNOWN_CHANNELS = (
    "signal", "kkmc_mumu", "kkmc_tautau", "aafh_eemumu", "aafh_mumumumu", "aafh_mumutautau", "signal_ttphi",
    "signal_visible", "signal_visible_isr",
)  # fmt: skip
SCALAR_EXTRA_CHANNELS = ("bhwide_ee", "aafh_eetautau", "pythia_uds", "pythia_charm", "pythia_bbbar")
"""Channels a fileset of the leptophilic-scalar analysis may hold beyond :data:`KNOWN_CHANNELS`."""

log = logging.getLogger("run")


class InputError(Exception):
    """Bad user input: reported as one line naming the thing at fault."""


class ProcessingError(Exception):
    """The run did not process every event it should have: reported as one line, nonzero exit."""


def checkpoint_directory(output: Path) -> Path:
    """Where a run keeps its per-chunk results until the output is written (for --resume)."""
    return output.with_name(f"{output.name}.chunks")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--analysis", choices=ANALYSES, default="zprime",
        help="zprime: invisible Z' (default); visible: Z' -> mu mu in four-muon events (m_R scan, sample data/visible); "
        "scalar: leptophilic scalar e+e- -> tau tau phi_L(-> ll) (sample data/scalar)",
    )  # fmt: skip
    p.add_argument("--fileset", type=Path, help="fileset JSON (default: the embedded default sample, made if missing)")
    p.add_argument(
        "--executor", choices=("iterative", "futures", "dask"), default="futures",
        help="coffea executor: iterative (one process), futures (local processes), dask (a Dask cluster, see --cluster)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=_positive_int, default=min(2, os.cpu_count() or 1),
        help="worker processes (futures, dask local) or HTCondor jobs (dask condor)",
    )  # fmt: skip
    p.add_argument(
        "--cluster", choices=("local", "condor"), default=None,
        help="Dask cluster: a LocalCluster, or an HTCondorCluster configured from condor/ "
        "(default: condor where a pool answers and condor_submit is on PATH, else local)",
    )  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler to join (implies --executor dask)")
    p.add_argument("--chunksize", type=_positive_int, default=1_000_000, help="events per chunk (default 1000000; see README for large pools)")
    p.add_argument("--maxchunks", type=_positive_int, help="process at most this many chunks per dataset (quick looks; a partial run)")
    p.add_argument("--lumi", type=_positive_float, default=DEFAULT_LUMI_FB, help="integrated luminosity, fb^-1 (default 626)")
    p.add_argument("--skip-bad-files", action="store_true", help="skip unreadable files and list them in metadata.skipped_files")
    p.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted run: reuse the chunk results it saved next to --output (same options and inputs)",
    )  # fmt: skip
    p.add_argument(
        "--output", type=Path, default=None,
        help="output pickle; the figure goes next to it (default results/zprime_invisible.pkl, results/visible_zprime.pkl or results/scalar.pkl for --analysis visible or scalar)",
    )  # fmt: skip
    p.add_argument("--cut-table", type=Path, default=None, help="cut table JSON (default: selections/zprime_cut_table.json)")
    p.add_argument(
        "--window-table", type=Path, default=None,
        help="--analysis scalar: pair-mass window table JSON (default: selections/scalar_mass_windows.json)",
    )  # fmt: skip
    p.add_argument(
        "--features", type=Path, metavar="DIR",
        help="also write the network features (Z': 14 of preselected events; scalar: the BDT features of phi_L candidates) to parquet under DIR",
    )  # fmt: skip
    return p


def load_fileset(path: Path, known_channels: tuple[str, ...] = KNOWN_CHANNELS) -> dict:
    """Read and check a fileset JSON; paths become absolute (relative ones are relative to the JSON)."""
    if not path.exists():
        raise InputError(f"fileset {path} does not exist")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"fileset {path} is not valid JSON: {err}") from None
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"fileset {path} holds no datasets")
    fileset = {}
    for name, entry in raw.items():
        meta = entry.get("metadata", {}) if isinstance(entry, dict) else {}
        channel = meta.get("channel")
        if channel not in known_channels:
            raise InputError(f"dataset {name!r} in {path}: unknown channel {channel!r}")
        if "xsec_pb" in meta and not meta.get("n_generated"):
            raise InputError(f"dataset {name!r} in {path}: MC metadata needs n_generated")
        files = {}
        for f, tree in entry.get("files", {}).items():
            if "://" in f:  # a URL (root://, https://): read as given, through fsspec
                files[f] = tree
                continue
            fp = Path(f) if Path(f).is_absolute() else (path.parent / f)
            files[str(fp.resolve())] = tree
        if not files:
            raise InputError(f"dataset {name!r} in {path} lists no files")
        fileset[name] = {"files": files, "metadata": meta}
    return fileset


def check_inputs(fileset: dict, skip_bad_files: bool) -> tuple[list[str], dict[str, int]]:
    """Open every file's header and check tree, entries and branches.

    Returns the files skipped (removed from ``fileset``) and the number of entries of
    every file kept, against which the run's event count is checked at the end.
    """
    from core.ntuple_schema import branch_types

    needed = branch_types()
    bad: list[str] = []
    entries: dict[str, int] = {}
    for name, entry in fileset.items():
        for path, tree in list(entry["files"].items()):
            try:
                with uproot.open(path) as f:
                    if tree not in f:
                        raise InputError(f"{path}: no tree {tree!r} (has {', '.join(f.keys()) or 'nothing'})")
                    t = f[tree]
                    if not isinstance(t, uproot.behaviors.TTree.TTree):
                        raise InputError(f"{path}: {tree!r} is a {type(t).__name__}, not a TTree")
                    if t.num_entries == 0:
                        raise InputError(f"{path}: tree {tree!r} has no entries")
                    entries[path] = t.num_entries
                    for branch, (dtype, jagged) in needed.items():
                        if branch not in t:
                            raise InputError(f"{path}: tree {tree!r} has no branch {branch!r}")
                        interp = t[branch].interpretation
                        content = getattr(interp, "content", interp)
                        got = getattr(content, "from_dtype", None)
                        if got is not None and got.newbyteorder("=") != dtype:
                            raise InputError(f"{path}: branch {branch!r} has type {got}, expected {dtype}")
            except InputError:
                if not skip_bad_files:
                    raise
                bad.append(path)
            except Exception as err:  # unreadable, truncated, not ROOT
                if not skip_bad_files:
                    raise InputError(f"{path}: cannot be read as ROOT ({type(err).__name__}: {err})") from None
                bad.append(path)
            if path in bad:
                del entry["files"][path]
                entries.pop(path, None)
                log.warning("skipping bad file %s", path)
    return bad, entries


def uproot_options(fileset: dict) -> dict:
    """Options for ``uproot.open`` in every chunk.

    No array or object cache: each chunk is read once, and uproot's per-file caches
    otherwise keep every chunk's arrays alive, so worker memory grew with the number of
    chunks (measured: 0.5 -> 1.2 GB over 36 chunks of 500k events; flat at 0.5 GB without).
    Memory-mapped reading when every file is local (faster than the default fsspec source).
    """
    local = all("://" not in path for entry in fileset.values() for path in entry["files"])
    return {"array_cache": None, "object_cache": None} | ({"handler": uproot.MemmapSource} if local else {})


def make_executor(args):
    """The coffea executor of the options, and for Dask the (client, cluster) to close afterwards."""
    from coffea import processor

    if args.executor == "iterative":
        return processor.IterativeExecutor(status=True), None
    if args.executor == "futures":
        return processor.FuturesExecutor(workers=args.workers, status=True), None
    from distributed import Client, LocalCluster

    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    elif args.cluster == "condor":
        from execution.htcondor import make_htcondor_cluster

        cluster = make_htcondor_cluster(args.workers)
        client = Client(cluster)
    else:
        if args.workers > (os.cpu_count() or 1):
            log.warning("%d workers on %d cores: they will share cores", args.workers, os.cpu_count())
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True)
        client = Client(cluster)
    print(f"Dask dashboard: {client.dashboard_link}", flush=True)
    return processor.DaskExecutor(client=client, status=True), (client, cluster)


def default_cluster() -> str:
    """``condor`` where an HTCondor pool answers and condor_submit is on PATH, ``local`` otherwise."""
    from execution.htcondor import condor_pool_available

    return "condor" if condor_pool_available() else "local"


def write_pickle_atomic(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def resolve_output(args) -> Path:
    """The output pickle of the options: ``--output``, else the analysis' default under results/."""
    if args.output is None:
        args.output = {"scalar": DEFAULT_SCALAR_OUTPUT, "visible": DEFAULT_VISIBLE_OUTPUT}.get(args.analysis, DEFAULT_OUTPUT)
    return args.output


def _zprime_setup(args):
    """(known channels, processor, branches, selection JSON for metadata) of the invisible-Z' analysis; sets the default fileset."""
    from processors.invisible_zprime import InvisibleZPrimeProcessor
    from core.ntuple_schema import dimuon_branches
    from selections.zprime_selection import DEFAULT_CUT_TABLE, load_cut_table

    if args.window_table is not None:
        raise InputError("--window-table belongs to --analysis scalar")
    if args.fileset is None:
        from belle_mc.catalog import ensure_default_sample

        args.fileset = ensure_default_sample()
    table_path = args.cut_table or DEFAULT_CUT_TABLE
    try:
        cut_table = load_cut_table(table_path)
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"cut table {table_path}: {err}") from None
    processor_instance = InvisibleZPrimeProcessor(args.lumi, cut_table, features_dir=args.features)
    return KNOWN_CHANNELS, processor_instance, dimuon_branches(), {"cut_table": cut_table.to_json()}


def _scalar_setup(args):
    """(known channels, processor, branches, selection JSON for metadata) of the leptophilic-scalar analysis; sets the default fileset."""
    from processors.leptophilic_scalar import LeptophilicScalarProcessor, scalar_branches
    from selections.scalar_selection import DEFAULT_WINDOW_TABLE, load_window_table

    if args.cut_table is not None:
        raise InputError("--cut-table belongs to --analysis zprime (the scalar analysis takes --window-table)")
    table_path = args.window_table or DEFAULT_WINDOW_TABLE
    try:
        window_table = load_window_table(table_path)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise InputError(f"window table {table_path}: {err}") from None
    if args.fileset is None:
        from belle_mc.catalog import SCALAR_SAMPLE_DIR, ensure_default_sample, scalar_requests

        args.fileset = ensure_default_sample(SCALAR_SAMPLE_DIR, requests=scalar_requests())
    processor_instance = LeptophilicScalarProcessor(args.lumi, window_table, features_dir=args.features)
    return KNOWN_CHANNELS + SCALAR_EXTRA_CHANNELS, processor_instance, scalar_branches(), {"window_table": window_table.to_json()}


def _visible_setup(args):
    """(known channels, processor, branches, selection JSON for metadata) of the visible-Z' analysis; sets the default fileset."""
    from core.ntuple_schema import dimuon_branches
    from processors.visible_zprime import VisibleZPrimeProcessor

    for option, value in (("--features", args.features), ("--cut-table", args.cut_table), ("--window-table", args.window_table)):
        if value is not None:
            raise InputError(f"{option} does not apply to --analysis visible")
    if args.fileset is None:
        from belle_mc.catalog import VISIBLE_SAMPLE_DIR, ensure_default_sample, visible_requests

        args.fileset = ensure_default_sample(VISIBLE_SAMPLE_DIR, requests=visible_requests())
    processor_instance = VisibleZPrimeProcessor(args.lumi)
    selection = {
        "resolution_table": processor_instance.resolution.to_json(),
        "masses_mev": processor_instance.masses_mev,
        "scan_mzp_gev": [float(m) for m in processor_instance.scan_mzp_gev],
    }
    return KNOWN_CHANNELS, processor_instance, dimuon_branches(), selection


def run(args) -> dict:
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    from execution.checkpoints import ChunkCheckpointer

    resolve_output(args)
    if args.scheduler:
        args.executor = "dask"
    if args.executor == "dask" and not args.scheduler and args.cluster is None:
        args.cluster = default_cluster()
    setup = {"scalar": _scalar_setup, "visible": _visible_setup}.get(args.analysis, _zprime_setup)
    known_channels, processor_instance, branches, selection = setup(args)
    fileset = load_fileset(args.fileset, known_channels)
    skipped, entries = check_inputs(fileset, args.skip_bad_files)
    # read the analysis branches of a chunk in one go (coffea's bulk preload) rather than one by one
    fileset = {k: {**v, "preload": branches} for k, v in fileset.items() if v["files"]}

    checkpointer = ChunkCheckpointer(
        checkpoint_directory(args.output),
        {
            "processor": type(processor_instance).__name__,
            "lumi_fb": args.lumi,
            **selection,
            "features": str(args.features),
            "chunksize": args.chunksize,
        },
    )
    resumed = checkpointer.stored_chunks() if args.resume else 0
    if args.resume:
        log.info("resuming: %d chunk results on disk in %s", resumed, checkpointer.directory)
    else:
        checkpointer.clear()
    executor, dask_handles = make_executor(args)
    runner = processor.Runner(
        executor=executor,
        chunksize=args.chunksize,
        maxchunks=args.maxchunks,
        schema=BaseSchema,
        skipbadfiles=args.skip_bad_files,
        savemetrics=True,
        checkpointer=checkpointer,
    )
    t0 = time.perf_counter()
    try:
        out, metrics = runner(fileset, processor_instance=processor_instance, uproot_options=uproot_options(fileset))
    finally:
        if dask_handles:
            client, cluster = dask_handles
            client.close()
            if cluster is not None:
                cluster.close()
    elapsed = time.perf_counter() - t0
    missing = [name for name in fileset if name not in out]
    if missing:
        raise ProcessingError(f"no output for dataset(s) {', '.join(missing)}")
    if args.maxchunks is None:
        for name, entry in fileset.items():
            expected = sum(entries[f] for f in entry["files"])
            got = out[name]["cutflow"]["all"]
            if got != expected:
                shortfall = f"dataset {name}: processed {got} of {expected} events in its files"
                if not args.skip_bad_files:
                    raise ProcessingError(shortfall)
                skipped.append(f"{shortfall} (unreadable chunks skipped)")
                log.warning(shortfall)
    n_read = sum(d["cutflow"]["all"] for d in out.values())
    log.info("processed %d events in %.1f s (%.0f events/s)", n_read, elapsed, n_read / elapsed)
    return {
        "metadata": {
            "lumi_fb": args.lumi,
            "code_version": _code_version(),
            "executor": args.executor,
            "skipped_files": skipped,
            "resumed_chunks": resumed,
            "chunksize": args.chunksize,
            "maxchunks": args.maxchunks,
            "fileset": str(args.fileset),
            "dataset_metadata": {name: entry["metadata"] for name, entry in fileset.items()},
            "analysis": args.analysis,
            **selection,
        },
        "datasets": out,
    }


def _code_version() -> str:
    try:
        from importlib.metadata import version

        v = version("belle-dark-sector")
    except Exception:
        v = "unknown"
    try:
        import subprocess

        sha = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except Exception:
        sha = ""
    return f"{v}+{sha}" if sha else v


def print_cutflow(result: dict) -> None:
    """Terminal summary: preselection cutflow per dataset, and expected events in each mass window."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)  # one column per background channel: never truncate the numbers
    datasets = result["datasets"]
    lumi = result["metadata"]["lumi_fb"]
    cuts = list(next(iter(datasets.values()))["cutflow"])
    table = Table(title=f"Preselection cutflow (raw events); expected events at {lumi:g} fb^-1")
    table.add_column("dataset")
    for cut in cuts:
        table.add_column(cut, justify="right")
    table.add_column("expected events", justify="right")
    for name in sorted(datasets):
        d = datasets[name]
        table.add_row(name, *(str(d["cutflow"][c]) for c in cuts), f"{d['recoil_mass2'].sum().value:.4g}")
    console.print(table)

    from processors.invisible_zprime import event_weight
    from selections.zprime_selection import WINDOW

    meta = result["metadata"]["dataset_metadata"]
    masses = list(next(iter(datasets.values()))["cutflow_mzp"])
    channels = sorted({m["channel"] for m in meta.values() if m["channel"] != "signal"})
    windows = Table(title=f"Selected events per m_Z' window (ten cuts, +-3 sigma): raw counts; expected background at {lumi:g} fb^-1")
    for column in ("m_Z' [GeV]", "signal eff.", *channels, "exp. bkg"):
        windows.add_column(column, justify="right")
    for m in masses:
        own = [n for n, md in meta.items() if md["channel"] == "signal" and round(md["mzp"] * 1000) == m]
        eff = sum(datasets[n]["cutflow_mzp"][m][WINDOW] for n in own) / sum(meta[n]["n_generated"] for n in own) if own else None
        raw = {ch: sum(datasets[n]["cutflow_mzp"][m][WINDOW] for n, md in meta.items() if md["channel"] == ch) for ch in channels}
        expected = sum(
            datasets[n]["cutflow_mzp"][m][WINDOW] * event_weight(md, lumi) for n, md in meta.items() if md["channel"] != "signal"
        )
        windows.add_row(f"{m / 1000:g}", "-" if eff is None else f"{eff:.3f}", *(str(raw[ch]) for ch in channels), f"{expected:.3g}")
    console.print(windows)


def print_scalar_cutflow(result: dict) -> None:
    """Terminal summary of the scalar analysis: cutflow per dataset, and per phi_L mass the window counts."""
    from rich.console import Console
    from rich.table import Table

    from processors.invisible_zprime import event_weight
    from selections.scalar_selection import SIGNAL_CHANNEL, WINDOW

    console = Console(width=200)  # the cutflow has eight columns
    datasets = result["datasets"]
    lumi = result["metadata"]["lumi_fb"]
    meta = result["metadata"]["dataset_metadata"]
    cuts = list(next(iter(datasets.values()))["cutflow"])
    table = Table(title=f"Leptophilic scalar cutflow (raw events); expected events after the rectangular cut at {lumi:g} fb^-1")
    table.add_column("dataset")
    for cut in cuts:
        table.add_column(cut, justify="right")
    table.add_column("expected", justify="right")
    for name in sorted(datasets):
        d = datasets[name]
        table.add_row(name, *(str(d["cutflow"][c]) for c in cuts), f"{d['pair_mass_selected'].sum().value:.4g}")
    console.print(table)

    masses = list(next(iter(datasets.values()))["cutflow_mphi"])
    channels = sorted({m["channel"] for m in meta.values() if m["channel"] != SIGNAL_CHANNEL})
    windows = Table(title=f"Events per m_phi window after the rectangular cut: raw counts; expected background at {lumi:g} fb^-1")
    for column in ("m_phi [GeV]", "signal eff.", *channels, "exp. bkg"):
        windows.add_column(column, justify="right")
    for m in masses:
        own = [n for n, md in meta.items() if md["channel"] == SIGNAL_CHANNEL and round(md["mphi"] * 1000) == m]
        eff = sum(datasets[n]["cutflow_mphi"][m][WINDOW] for n in own) / sum(meta[n]["n_generated"] for n in own) if own else None
        raw = {ch: sum(datasets[n]["cutflow_mphi"][m][WINDOW] for n, md in meta.items() if md["channel"] == ch) for ch in channels}
        expected = sum(
            datasets[n]["cutflow_mphi"][m][WINDOW] * event_weight(md, lumi)
            for n, md in meta.items()
            if md["channel"] != SIGNAL_CHANNEL
        )
        windows.add_row(f"{m / 1000:g}", "-" if eff is None else f"{eff:.3f}", *(str(raw[ch]) for ch in channels), f"{expected:.3g}")
    console.print(windows)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    resolve_output(args)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        result = run(args)
    except InputError as err:
        print(f"run.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except ProcessingError as err:
        print(f"run.py: error: {' '.join(str(err).split())}; no output written", file=sys.stderr)
        return 1
    except Exception as err:  # a chunk failed after its retries, a cluster could not start, ...
        saved = checkpoint_directory(args.output)
        print(
            f"run.py: error: processing failed ({type(err).__name__}: {' '.join(str(err).split())[:300]}); "
            f"finished chunks are kept in {saved}, rerun with --resume to continue",
            file=sys.stderr,
        )
        return 1
    write_pickle_atomic(result, args.output)
    shutil.rmtree(checkpoint_directory(args.output), ignore_errors=True)  # the run is complete
    if args.analysis == "visible":
        from processors.plots import plot_reduced_mass
        from processors.visible_zprime import print_visible_summary

        print_visible_summary(result)
        print(f"wrote {args.output}")
        figure = plot_reduced_mass(
            result["datasets"], result["metadata"]["dataset_metadata"], args.lumi, args.output.with_name(f"{args.output.stem}_mr.png")
        )
        print(f"wrote {figure}")
        return 0
    if args.analysis == "scalar":
        print_scalar_cutflow(result)
        print(f"wrote {args.output}")
        from processors.plots import plot_pair_mass

        figure = plot_pair_mass(
            result["datasets"], result["metadata"]["dataset_metadata"], args.lumi, args.output.with_name(f"{args.output.stem}_pair_mass.png")
        )
        print(f"wrote {figure}")
        return 0
    print_cutflow(result)
    print(f"wrote {args.output}")
    from processors.plots import plot_recoil_mass

    figure = plot_recoil_mass(
        result["datasets"], result["metadata"]["dataset_metadata"], args.lumi, args.output.with_name(f"{args.output.stem}_recoil_mass2.png")
    )
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
