"""Equivalent luminosity of every background channel in every signal window of a processed output.

    python scripts/equivalent_luminosity.py results/zprime_invisible.pkl
    python scripts/equivalent_luminosity.py OUT.pkl --fileset data/x/fileset.json --markdown OUT_lumi.md

Reads a run.py output pickle (docs/output.md): its per-hypothesis cutflows give the raw MC count
N of each dataset in each mass window, its ``dataset_metadata`` the weight
w = xsec_pb x lumi x 1000 / n_generated (docs/conventions.md). Datasets of one channel (the whole
channel, or its generator slices, docs/generator.md) are added. Per background channel and window:

- N, the MC events in the window;
- B = sum of N w, the expected events at the run's luminosity;
- L_eq = N / B x lumi, fb^-1: the luminosity of data whose Poisson error equals the MC error of B.

A window without MC events of a channel gets no L_eq; the table gives the smallest sample
luminosity n_generated / (xsec_pb x 1000) of the channel's datasets instead (in parentheses), leaving
out complement generator slices (``generator_slice_role``), which the cut floors keep out of the windows.
Prints the table and, with ``--markdown``, writes it. ``--target`` (default the data luminosity)
marks each L_eq below it. ``--fileset`` checks that the pickle's datasets are those of the fileset.
Exit status 2 with one line on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import constants as c
from core.channels import channel_role
from core.weights import PB_PER_FB_INVERSE, event_weight, is_complement_slice, is_data
from sensitivity.limits import load_result


def window_counts(dataset: dict) -> dict[int, int]:
    """Raw MC count in the window of every hypothesis (MeV) of one dataset of the output."""
    return {int(m): int(list(flow.values())[-1]) for m, flow in dataset["cutflow_hypotheses"].items()}


def sample_lumi_fb(metadata: dict) -> float:
    """n_generated / (xsec_pb x 1000): the luminosity a dataset's draws amount to, fb^-1."""
    return metadata["n_generated"] / (metadata["xsec_pb"] * PB_PER_FB_INVERSE)


def equivalent_luminosity_table(
    result: dict, drawn: dict[str, int] | None = None
) -> tuple[list[int], dict[str, dict]]:
    """(hypotheses in MeV, per background channel: datasets, sample lumi and per-window N, B, L_eq).

    ``drawn`` (dataset -> drawn events, e.g. ``belle_mc.catalog.SENSITIVITY_SLICES``) projects the table to
    a larger production of the same datasets: each dataset's B is kept (it is the expectation) and its
    MC count becomes B x its projected sample luminosity / lumi (N_projected = N x n_drawn / n_generated).
    """
    lumi = float(result["metadata"]["lumi_fb"])
    meta = result["metadata"]["dataset_metadata"]
    channels: dict[str, dict] = {}
    masses: set[int] = set()
    for name, out in result["datasets"].items():
        m = meta[name]
        if is_data(m) or channel_role(m["channel"]).is_signal:
            continue
        w = event_weight(m, lumi)
        scale = 1.0 if drawn is None or name not in drawn else drawn[name] / m["n_generated"]
        ch = channels.setdefault(m["channel"], {"datasets": [], "min_sample_lumi_fb": float("inf"), "windows": {}})
        ch["datasets"].append(name)
        if not is_complement_slice(m):  # a complement slice is kept out of every window by the cut floors
            ch["min_sample_lumi_fb"] = min(ch["min_sample_lumi_fb"], sample_lumi_fb(m) * scale)
        for mass, n in window_counts(out).items():
            masses.add(mass)
            cell = ch["windows"].setdefault(mass, {"n_mc": 0, "sum_w": 0.0, "by_dataset": {}})
            cell["n_mc"] += n * scale
            cell["sum_w"] += n * w
            if n:
                cell["by_dataset"][name] = n
    for ch in channels.values():
        for cell in ch["windows"].values():
            cell["lumi_eq_fb"] = cell["n_mc"] / cell["sum_w"] * lumi if cell["n_mc"] else None
    return sorted(masses), channels


def markdown_table(masses: list[int], channels: dict[str, dict], target_fb: float) -> str:
    """One row per channel and window: N, B, L_eq (``< target`` marked)."""
    lines = [
        "| channel | MC events per dataset (measured) | m_Z' [GeV] | MC events N | expected B | L_eq [fb^-1] |",
        "|---|---|---|---|---|---|",
    ]
    for name in sorted(channels):
        ch = channels[name]
        for mass in masses:
            cell = ch["windows"].get(mass, {"n_mc": 0, "sum_w": 0.0, "lumi_eq_fb": None})
            if cell["lumi_eq_fb"] is None:
                lumi_text = f"- (sample {ch['min_sample_lumi_fb']:.4g})"
            else:
                lumi_text = f"{cell['lumi_eq_fb']:.4g}" + (" **< target**" if cell["lumi_eq_fb"] < target_fb else "")
            held = ", ".join(f"{d} {k}" for d, k in sorted(cell.get("by_dataset", {}).items())) or "none"
            n_text = f"{cell['n_mc']:.0f}" if float(cell["n_mc"]).is_integer() or cell["n_mc"] > 100 else f"{cell['n_mc']:.1f}"
            lines.append(
                f"| {name} | {held} | {mass / 1000:g} | {n_text} | "
                f"{cell['sum_w']:.4g} | {lumi_text} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="run.py output pickle")
    parser.add_argument("--fileset", type=Path, default=None, help="check the datasets against this fileset")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    parser.add_argument("--target", type=float, default=c.DATA_LUMI_FB, help="fb^-1 to compare with (default: data)")
    parser.add_argument(
        "--project-sensitivity-slices", action="store_true",
        help="project N and L_eq to the drawn events of belle_mc.catalog.SENSITIVITY_SLICES (the datasets it names)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        result = load_result(args.output)
        drawn = None
        if args.project_sensitivity_slices:
            from belle_mc.catalog import SENSITIVITY_SLICES

            drawn = {name: n for name, (n, _) in SENSITIVITY_SLICES.items()}
        masses, channels = equivalent_luminosity_table(result, drawn)
        if args.fileset is not None:
            listed = set(json.loads(args.fileset.read_text()))
            missing = set(result["datasets"]) - listed
            if missing:
                raise ValueError(f"datasets {sorted(missing)} of {args.output} are not in {args.fileset}")
    except (OSError, ValueError, KeyError) as err:  # ResultFormatError is a ValueError
        print(f"equivalent_luminosity.py: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    text = markdown_table(masses, channels, args.target)
    projected = ", projected to SENSITIVITY_SLICES" if drawn else ""
    print(f"{args.output}: lumi {result['metadata']['lumi_fb']:g} fb^-1, target {args.target:g} fb^-1{projected}")
    print(text, end="")
    if args.markdown is not None:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
