#!/usr/bin/env python
"""Generate Belle-like ntuples for one channel (interfaces.md §3).

    python datasets/generate.py --channel CH [--mass M] --events N --output DIR [--seed S]

writes N generated events of channel CH as ROOT files (TTree ``events``) in DIR
and adds the dataset to DIR/fileset.json, ready for ``run.py --fileset``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

try:
    from belle_mc.channels import CHANNELS
except ModuleNotFoundError:  # running from a source checkout without `pip install -e .`
    sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
    from belle_mc.channels import CHANNELS

from belle_mc.ntuple import COMPRESSION, DEFAULT_COMPRESSION
from belle_mc.production import produce


def _positive_int(text: str) -> int:
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _mass(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"mass must be positive (GeV), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channel", required=True, choices=list(CHANNELS), help="physics channel (interfaces.md §2)")
    p.add_argument("--mass", type=_mass, help="m_Z' (signal, signal_visible, signal_visible_isr) or m_phi (signal_ttphi), GeV")
    p.add_argument("--events", type=_positive_int, required=True, help="number of generated events (n_generated)")
    p.add_argument("--output", type=Path, required=True, help="output directory (fileset.json is written there)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1); same seed, same events")
    p.add_argument("--events-per-file", type=_positive_int, default=1_000_000, help="generated events per ROOT file")
    p.add_argument("--compression", choices=sorted(COMPRESSION), default=DEFAULT_COMPRESSION, help="ROOT compression")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        entry = produce(
            args.channel,
            args.events,
            args.output,
            mass=args.mass,
            seed=args.seed,
            events_per_file=args.events_per_file,
            compression=args.compression,
            progress=not args.quiet,
        )
    except ValueError as err:
        print(f"generate.py: error: {err}", file=sys.stderr)
        return 2
    meta = entry["metadata"]
    print(
        f"{args.channel}: {meta['n_generated']} generated, {meta['n_events_in_files']} written, "
        f"xsec {meta['xsec_pb']:.6g} pb -> {args.output / 'fileset.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
