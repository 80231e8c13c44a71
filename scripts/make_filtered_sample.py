"""Make the filtered invisible-Z' sensitivity sample (generator slices at >= 626 fb^-1), or a scaled trial of it.

    python scripts/make_filtered_sample.py --scale 0.01                       # 1/100 trial, one process
    python scripts/make_filtered_sample.py --executor dask --cluster condor --workers 50   # the full sample

The datasets are ``belle_mc.catalog``'s: the signals and four-lepton channels of the sensitivity
sample, and the generator slices :data:`~belle_mc.catalog.SENSITIVITY_SLICES` with their drawn
events times ``--scale`` (docs/generator.md, "Generator slices"). Datasets already complete in
``--output`` are kept, and an interrupted run resumes: the same command keeps the finished files
(generation tasks) of an incomplete dataset and makes the rest. The full sample is ~45 GB and
~7 CPU hours (measured rates, docs/generator.md): give it an executor with many workers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from belle_mc.catalog import (
    SENSITIVITY_FILTERED_COMPRESSION,
    SENSITIVITY_FILTERED_SAMPLE_DIR,
    SENSITIVITY_SEED,
    ensure_default_sample,
    sensitivity_filtered_requests,
    sensitivity_filtered_slices,
)
from belle_mc.production import GenerationError

from execution.runner import ExecutionOptions, open_executor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=SENSITIVITY_FILTERED_SAMPLE_DIR, help="sample directory")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the slices' drawn events (default 1)")
    parser.add_argument("--executor", choices=("futures", "dask"), default=None, help="default: this process")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cluster", default=None, help="dask cluster: local, condor, slurm, lsf")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        print("make_filtered_sample.py: error: --scale must be in (0, 1]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    slices = sensitivity_filtered_slices(args.scale)
    try:
        if args.executor is None:
            path = ensure_default_sample(
                args.output, progress=not args.quiet, requests=sensitivity_filtered_requests(), seed=SENSITIVITY_SEED,
                slices=slices, compression=SENSITIVITY_FILTERED_COMPRESSION,
            )  # fmt: skip
        else:
            options = ExecutionOptions(executor=args.executor, workers=args.workers, cluster=args.cluster)
            with open_executor(options) as executor:
                path = ensure_default_sample(
                    args.output, progress=False, requests=sensitivity_filtered_requests(), seed=SENSITIVITY_SEED,
                    slices=slices, executor=executor, compression=SENSITIVITY_FILTERED_COMPRESSION,
                )  # fmt: skip
    except (GenerationError, ValueError) as err:
        print(f"make_filtered_sample.py: error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
