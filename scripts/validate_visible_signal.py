"""Validate the visible-Z' signal with generator truth: pairing fraction, true-pair m_R width, efficiencies.

For every signal dataset (channels ``signal_visible`` and ``signal_visible_isr``) of a
fileset, over the preselected events (four tracks, zero net charge, muon ID, total CM
energy; :mod:`selections.visible_zprime`):

- sigma(m_R) of the true Z' pair, with the resolution definition of every search
  (:func:`sensitivity.resolution.robust_sigma`), GeV;
- the pairing fraction: how often the pair chosen for the true mass hypothesis (m_R
  closest to m_R(m_Z')) is the true pair;
- the preselection and window efficiencies (preselected or in-window events / generated).

The true pair comes from the generator's order (``belle_mc.channels``): in an event
with four reconstructed tracks the Z' daughters are tracks 2 and 3: a check of the generator
and of the pairing rule, which a real ntuple cannot make. The resolution table itself is
measured on reconstructed quantities only, by ``scripts/measure_resolution.py``.

    python scripts/validate_visible_signal.py                 # visible default sample (made if missing)
    python scripts/validate_visible_signal.py --fileset F.json --json results/validation/visible_signal.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uproot

from core.fileset import InputError, load_fileset
from core.ntuple_schema import read_flat_buffers
from sensitivity.resolution import robust_sigma
from selections.visible_zprime import (
    MR_ROWS,
    STAGE_TOTAL_ENERGY,
    WINDOW_HALF_WIDTH_SIGMA,
    load_resolution_table,
    chosen_pair,
    four_muon_event_variables,
    reduced_mass_gev,
)

TRUE_PAIR_BITS = 0b1100
"""Track bit mask of the Z' daughters in the visible signal channels (tracks 2 and 3 of a four-track event)."""
SIGNAL_CHANNELS = ("signal_visible", "signal_visible_isr")


@dataclass(frozen=True)
class SignalMeasurement:
    """What one signal dataset gives: m_R of the true pair and the pairing choice, over preselected events."""

    mzp_gev: float
    n_generated: int
    mr_true_pair_gev: np.ndarray
    chosen_is_true: np.ndarray
    mr_chosen_gev: np.ndarray

    @property
    def sigma_mr_gev(self) -> float:
        return robust_sigma(self.mr_true_pair_gev)

    @property
    def median_mr_gev(self) -> float:
        return float(np.median(self.mr_true_pair_gev))

    @property
    def pairing_fraction(self) -> float:
        return float(np.mean(self.chosen_is_true))

    @property
    def preselection_efficiency(self) -> float:
        return len(self.mr_true_pair_gev) / self.n_generated

    def window_efficiency(self, sigma_mr_gev: float, k: float = WINDOW_HALF_WIDTH_SIGMA) -> float:
        """Preselected events whose chosen pair is within +-k sigma of m_R(m_Z'), over generated events."""
        inside = np.abs(self.mr_chosen_gev - reduced_mass_gev(self.mzp_gev)) < k * sigma_mr_gev
        return float(np.count_nonzero(inside)) / self.n_generated


def measure_signal(files: list[str], mzp_gev: float, n_generated: int, tree: str = "events") -> SignalMeasurement:
    """Read the four-muon variables of a signal dataset's ``files`` and collect its :class:`SignalMeasurement`."""
    mr_true, is_true, mr_chosen = [], [], []
    mr_hyp = np.array([float(reduced_mass_gev(mzp_gev))])
    for path in files:
        with uproot.open(path) as f:
            n_track, tracks, _, _ = read_flat_buffers(f[tree])
        stage, variables, pair_bits, rows = four_muon_event_variables(n_track, tracks)
        keep = stage[rows] == STAGE_TOTAL_ENERGY
        variables, pair_bits = variables[:, keep], pair_bits[:, keep]
        columns = np.arange(variables.shape[1])
        true_pair = np.argmax(pair_bits == TRUE_PAIR_BITS, axis=0)
        if not np.all(pair_bits[true_pair, columns] == TRUE_PAIR_BITS):
            raise ValueError(f"{path}: a preselected event has no pair of tracks 2 and 3 (not a visible-signal file?)")
        chosen = chosen_pair(variables, mr_hyp)[0]
        mr = variables[MR_ROWS]
        mr_true.append(mr[true_pair, columns])
        is_true.append(chosen == true_pair)
        mr_chosen.append(mr[chosen, columns])
    return SignalMeasurement(mzp_gev, n_generated, np.concatenate(mr_true), np.concatenate(is_true), np.concatenate(mr_chosen))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", default=None, help="fileset JSON (default: the visible default sample)")
    parser.add_argument("--json", default=None, help="also write every measured number to this JSON file")
    args = parser.parse_args(argv)
    if args.fileset is None:
        from belle_mc.catalog import VISIBLE_SAMPLE_DIR, ensure_default_sample, visible_requests

        args.fileset = ensure_default_sample(VISIBLE_SAMPLE_DIR, requests=visible_requests())
    fileset_path = Path(args.fileset)
    try:
        fileset = load_fileset(fileset_path)
    except InputError as err:
        print(f"validate_visible_signal.py: error: {err}", file=sys.stderr)
        return 2
    measured: dict[str, dict[float, SignalMeasurement]] = {ch: {} for ch in SIGNAL_CHANNELS}
    for entry in fileset.values():
        meta = entry["metadata"]
        if meta.get("channel") not in SIGNAL_CHANNELS:
            continue
        files = list(entry["files"])
        tree = next(iter(entry["files"].values()))
        try:
            measured[meta["channel"]][float(meta["mzp"])] = measure_signal(files, float(meta["mzp"]), int(meta["n_generated"]), tree)
        except (OSError, ValueError) as err:
            print(f"validate_visible_signal.py: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
    plain = measured["signal_visible"]
    if not plain:
        print(f"validate_visible_signal.py: error: no signal_visible dataset in {fileset_path}", file=sys.stderr)
        return 2

    masses = np.array(sorted(plain))
    table = load_resolution_table()
    header = (
        f"{'m_Z [GeV]':>9} {'m_R true':>9} {'median':>9} {'sigma(m_R)':>10} {'sig/m_R':>7} {'pairing':>8} "
        f"{'eff pre':>8} {'eff win':>8} {'ISR: sigma':>10} {'pairing':>8} {'eff pre':>8} {'eff win':>8}"
    )
    print(header)
    report = []
    for m in masses:
        a = plain[m]
        sigma = float(table.sigma_at(m))
        row = {
            "mzp_gev": float(m), "mr_true_gev": float(reduced_mass_gev(m)), "median_mr_gev": a.median_mr_gev,
            "sigma_mr_gev": a.sigma_mr_gev, "pairing_fraction": a.pairing_fraction,
            "efficiency_preselection": a.preselection_efficiency, "efficiency_window": a.window_efficiency(sigma),
        }  # fmt: skip
        line = (
            f"{m:>9g} {row['mr_true_gev']:>9.4f} {a.median_mr_gev:>9.4f} {a.sigma_mr_gev:>10.4f} "
            f"{a.sigma_mr_gev / row['mr_true_gev']:>7.4f} {a.pairing_fraction:>8.3f} {a.preselection_efficiency:>8.3f} "
            f"{row['efficiency_window']:>8.3f}"
        )
        isr = measured["signal_visible_isr"].get(float(m))
        if isr is not None:
            row.update({
                "isr_sigma_mr_gev": isr.sigma_mr_gev, "isr_pairing_fraction": isr.pairing_fraction,
                "isr_efficiency_preselection": isr.preselection_efficiency, "isr_efficiency_window": isr.window_efficiency(sigma),
            })  # fmt: skip
            line += (
                f" {isr.sigma_mr_gev:>10.4f} {isr.pairing_fraction:>8.3f} {isr.preselection_efficiency:>8.3f} "
                f"{row['isr_efficiency_window']:>8.3f}"
            )
        report.append(row)
        print(line)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
