#!/usr/bin/env python
"""Generate Belle-like ntuples for one channel (docs/command-line.md).

    python datasets/generate.py --channel CH [--mass M] --events N --output DIR [--seed S]
        [--events-per-file K] [--executor {iterative,futures,dask} [--workers W] [--cluster {local,condor}]]
        [--resume]

writes N generated events of channel CH as ROOT files (TTree ``events``) in DIR
and adds the dataset to DIR/fileset.json, ready for ``run.py --fileset``.

The production is split into independent tasks of whole files (one per file of
K >= 100k events; files smaller than the 100k-event random-number block are grouped
up to a block boundary). Without --executor they run one after the other in this
process. With --executor they run on coffea's executors like run.py's chunks:
iterative (this process), futures (W local processes) or dask (a LocalCluster of W
workers, or W HTCondor jobs with --cluster condor, or a running scheduler with
--scheduler). Block b of the dataset always draws from the seed sequence
(seed, dataset, b), so the same seed gives the same files whichever executor made
them. The cross section is computed once, here, and fileset.json is written once,
after every task has finished; a failed task fails the run with one line naming
its block and file, and nothing is registered; the files of the tasks that did
finish stay, with a receipt each (DIR/.<dataset>.tasks/), and --resume makes only
the rest. DIR must be visible to the workers (a shared file system for a batch
pool). run.py's --chunksize, --maxchunks and --skip-bad-files do not apply to
generation and are refused.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

try:
    from belle_mc.channels import CHANNELS
except ModuleNotFoundError:  # running from a source checkout without `pip install -e .`
    sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
    from belle_mc.channels import CHANNELS

from belle_mc.ntuple import COMPRESSION, DEFAULT_COMPRESSION
from belle_mc.production import BLOCK_SIZE, GenerationError, plan_tasks, produce
from execution.runner import ExecutionOptions, add_executor_options, open_executor, positive_float, positive_int

log = logging.getLogger("generate")

NOT_FOR_GENERATION = ("chunksize", "maxchunks", "skip_bad_files")
"""Executor options of run.py that have no meaning for generation (refused when given)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channel", required=True, choices=list(CHANNELS), help="physics channel (docs/fileset.md)")
    p.add_argument("--mass", type=positive_float, help="m_Z' (signal, signal_visible, signal_visible_isr) or m_phi (signal_ttphi), GeV")
    p.add_argument("--events", type=positive_int, required=True, help="number of generated events (n_generated)")
    p.add_argument("--output", type=Path, required=True, help="output directory (fileset.json is written there)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1); same seed, same events")
    p.add_argument(
        "--events-per-file", type=positive_int, default=1_000_000,
        help="generated events per ROOT file (default 1000000); one generation task per file, files under 100k grouped",
    )  # fmt: skip
    p.add_argument("--compression", choices=sorted(COMPRESSION), default=DEFAULT_COMPRESSION, help="ROOT compression")
    p.add_argument(
        "--slice", default=None,
        help="make one generator slice of the channel (belle_mc.slices.SLICES: a truth filter or forced tau decays, "
        "exact weights; docs/generator.md); --events counts every drawn event",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_executor_options(p)
    # None = not given: no --executor keeps the single-process production; the rest are refused if given
    p.set_defaults(executor=None, workers=None, cluster=None, **dict.fromkeys(NOT_FOR_GENERATION))
    for action in p._actions:
        if action.dest in NOT_FOR_GENERATION:
            action.help = "run.py only: refused here (one generation task is one output file, see --events-per-file)"
        elif action.dest == "executor":
            action.help += "; default: none, the tasks run one after the other in this process"
        elif action.dest == "workers":
            action.help += " (default 2)"
        elif action.dest == "resume":
            action.help = (
                "continue a production that failed or was interrupted: the tasks (files) it finished, with the "
                "same channel, seed, --events and --events-per-file, are kept and not made again"
            )
    return p


def execution_options(args: argparse.Namespace) -> ExecutionOptions | None:
    """The executor options of the command line, or None for the in-process production; ValueError names a misuse."""
    for name in NOT_FOR_GENERATION:
        if getattr(args, name) is not None:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} does not apply to generation (a task is one output file: use --events-per-file)")
    if args.scheduler:
        args.executor = "dask"
    if args.executor is None:
        for flag, value in (("--workers", args.workers), ("--cluster", args.cluster)):
            if value is not None:
                raise ValueError(f"{flag} needs --executor")
        return None
    if args.cluster is not None and args.executor != "dask":
        raise ValueError(f"--cluster needs --executor dask, not {args.executor}")
    workers = args.workers if args.workers is not None else min(2, os.cpu_count() or 1)
    return ExecutionOptions(executor=args.executor, workers=workers, cluster=args.cluster, scheduler=args.scheduler)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        options = execution_options(args)
        production = {
            "mass": args.mass,
            "seed": args.seed,
            "events_per_file": args.events_per_file,
            "compression": args.compression,
            "progress": not args.quiet,
            "resume": bool(args.resume),
            "generator_slice": args.slice,
        }
        if options is None:
            entry = produce(args.channel, args.events, args.output, **production)
        else:
            plan = plan_tasks(
                args.channel, args.events, args.output, args.mass, args.seed, args.events_per_file,
                generator_slice=args.slice,
            )  # fmt: skip
            n_tasks = len(plan)
            if n_tasks < options.workers and not options.scheduler and options.executor != "iterative":
                log.warning(
                    "%d generation task(s) for %d workers: a task is one file (--events-per-file), "
                    "or the files within one %d-event block",
                    n_tasks, options.workers, BLOCK_SIZE,
                )  # fmt: skip
            with contextlib.ExitStack() as stack:
                try:
                    executor = stack.enter_context(open_executor(options))
                except Exception as err:  # no cluster, no scheduler at that address, ...
                    text = " ".join(str(err).split())
                    message = f"cannot start the {options.executor} executor: {type(err).__name__}: {text}"
                    raise GenerationError(message) from None
                executor = executor.copy(status=not args.quiet, desc=f"Generating {args.channel}", unit="tasks")
                entry = produce(args.channel, args.events, args.output, executor=executor, **production)
    except ValueError as err:
        print(f"generate.py: error: {err}", file=sys.stderr)
        return 2
    except GenerationError as err:
        print(f"generate.py: error: {err}", file=sys.stderr)
        return 1
    meta = entry["metadata"]
    print(
        f"{args.channel}: {meta['n_generated']} generated, {meta['n_events_in_files']} written, "
        f"xsec {meta['xsec_pb']:.6g} pb -> {args.output / 'fileset.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
