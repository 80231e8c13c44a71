"""Compare two run outputs (docs/output.md): every cutflow count and every histogram, exactly.

    python scripts/compare_outputs.py REFERENCE.pkl NEW.pkl [--rtol 0]
    python scripts/compare_outputs.py REFERENCE.json NEW.pkl        # a summary written by --write-summary
    python scripts/compare_outputs.py NEW.pkl --write-summary OUT.json

A refactor must not change a number: this walks both outputs, compares the integer counts
exactly and the histograms' sums of weights (values and variances, bin by bin) within
``--rtol`` (default 0: bit-identical), and prints one line per difference. Keys present in
only one of the two are listed too (a new key is allowed with ``--allow-new-keys``). Exit
status 0 when they agree, 1 when they differ, 2 on unreadable input.

The summary JSON (``--write-summary``) holds the cutflows and, per histogram, its total sum of
weights and variance: small enough to commit as a test reference (``tests/reference/``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from processors.compare import flatten, differences, load, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="reference output pickle or summary JSON")
    parser.add_argument("new", type=Path, nargs="?", help="output pickle to compare")
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance of histogram contents (default 0)")
    parser.add_argument("--allow-new-keys", action="store_true", help="keys only in the new output are not differences")
    parser.add_argument("--write-summary", type=Path, metavar="JSON", help="write the summary of REFERENCE to JSON and stop")
    args = parser.parse_args(argv)
    try:
        reference = load(args.reference)
        if args.write_summary:
            args.write_summary.write_text(json.dumps(summary(reference), indent=1, sort_keys=True) + "\n")
            print(f"wrote {args.write_summary}")
            return 0
        if args.new is None:
            parser.error("give NEW.pkl, or --write-summary")
        new = load(args.new)
    except ValueError as err:
        print(f"compare_outputs.py: error: {err}", file=sys.stderr)
        return 2
    lines = differences(reference, new, args.rtol, args.allow_new_keys)
    for line in lines:
        print(line)
    n = len(flatten(reference))
    print(f"{'identical' if not lines else f'{len(lines)} differences'}: {n} entries of {args.reference} vs {args.new}")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
