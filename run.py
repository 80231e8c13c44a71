#!/usr/bin/env python
"""Run one search's processor over a fileset and write the output pickle (docs/command-line.md, docs/output.md).

    python run.py                       # invisible Z' on the embedded default sample (made if missing)
    python run.py --analysis visible    # visible Z' -> mu mu on its own sample (made if missing)
    python run.py --analysis scalar     # leptophilic scalar on its own sample (made if missing)
    python run.py --fileset F.json --executor {iterative,futures,dask} [--workers N] ...

This file only wires options to a search (``processors/searches.py``) and an executor
(``execution/runner.py``); the physics lives in ``processors/`` and ``selections/``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from core.constants import DATA_LUMI_FB
from core.fileset import InputError, load_fileset
from core.provenance import code_version
from execution.runner import (
    ExecutionOptions,
    ProcessingError,
    add_executor_options,
    checkpoint_directory,
    positive_float,
    run_processor,
    write_pickle_atomic,
)
from processors.base import clear_feature_files
from processors.searches import DEFAULT_SEARCH, SEARCHES
from processors.summary import print_summary

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_LUMI_FB = DATA_LUMI_FB

log = logging.getLogger("run")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--analysis", choices=tuple(SEARCHES), default=DEFAULT_SEARCH,
        help="; ".join(f"{name}: {s.title}" for name, s in SEARCHES.items()) + f" (default {DEFAULT_SEARCH})",
    )  # fmt: skip
    p.add_argument("--fileset", type=Path, help="fileset JSON (default: the search's default sample, made if missing)")
    p.add_argument("--lumi", type=positive_float, default=DATA_LUMI_FB, help=f"integrated luminosity, fb^-1 (default {DATA_LUMI_FB:g})")
    p.add_argument(
        "--output", type=Path, default=None,
        help="output pickle; figures go next to it (default results/<search output>: "
        + ", ".join(s.output_name for s in SEARCHES.values()) + ")",
    )  # fmt: skip
    for s in SEARCHES.values():
        p.add_argument(s.table.option, type=Path, default=None, help=f"--analysis {s.name}: its table JSON (default {s.table.default.relative_to(HERE)})")
    p.add_argument("--features", type=Path, metavar="DIR", help="also export the search's per-event features to parquet under DIR")
    p.add_argument("--no-figures", action="store_true", help="write the pickle and the cutflow CSVs but draw no figure (saves ~10 s)")
    add_executor_options(p)
    return p


def output_path(args: argparse.Namespace) -> Path:
    """The output pickle of the options: ``--output``, else the search's default under results/."""
    return args.output if args.output is not None else RESULTS / SEARCHES[args.analysis].output_name


def run(args: argparse.Namespace) -> dict:
    """Run the search of ``args`` and return the output of docs/output.md (not yet written)."""
    search = SEARCHES[args.analysis]
    for other in SEARCHES.values():
        if other is not search and getattr(args, other.table.dest) is not None:
            raise InputError(f"{other.table.option} belongs to --analysis {other.name}")
    if args.features is not None and not search.exports_features:
        raise InputError(f"--features does not apply to --analysis {search.name}")
    try:
        table = search.load_table(getattr(args, search.table.dest))
    except ValueError as err:
        raise InputError(str(err)) from None
    fileset_path = args.fileset if args.fileset is not None else search.default_sample()
    fileset = load_fileset(fileset_path, search.channels)
    processor_instance = search.make_processor(args.lumi, table, args.features)
    if args.features is not None and not args.resume:  # a new run: chunks of an earlier one would overlap
        removed = clear_feature_files(args.features, fileset)
        if removed:
            log.info("removed %d feature files of an earlier run under %s", removed, args.features)
    selection = processor_instance.describe()
    output = output_path(args)
    configuration = {"processor": type(processor_instance).__name__, "lumi_fb": args.lumi, **selection, "features": str(args.features)}
    options = ExecutionOptions.from_args(args)
    out, report = run_processor(fileset, processor_instance, list(search.branches), options, checkpoint_directory(output), configuration)
    return {
        "metadata": {
            "lumi_fb": args.lumi,
            "code_version": code_version(),
            **report.metadata(),
            "fileset": str(fileset_path),
            "dataset_metadata": {name: entry["metadata"] for name, entry in fileset.items() if name in out},
            "analysis": search.name,
            **selection,
        },
        "datasets": out,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    output = output_path(args)
    try:
        result = run(args)
    except InputError as err:
        print(f"run.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except ProcessingError as err:
        print(f"run.py: error: {' '.join(str(err).split())}; no output written", file=sys.stderr)
        return 1
    except Exception as err:  # a chunk failed after its retries, a cluster could not start, ...
        print(
            f"run.py: error: processing failed ({type(err).__name__}: {' '.join(str(err).split())[:300]}); "
            f"finished chunks are kept in {checkpoint_directory(output)}, rerun with --resume to continue",
            file=sys.stderr,
        )
        return 1
    write_pickle_atomic(result, output)
    shutil.rmtree(checkpoint_directory(output), ignore_errors=True)  # the run is complete
    search = SEARCHES[args.analysis]
    print_summary(result, search.title)
    print(f"wrote {output}")
    for figure in search.figures(result, output, images=not args.no_figures):
        print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
