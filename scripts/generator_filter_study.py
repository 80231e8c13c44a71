"""Which events of a background channel survive the invisible-Z' selection, with their truth, in memory.

    python scripts/generator_filter_study.py --channel kkmc_mumu --events 2000000
    python scripts/generator_filter_study.py --channel kkmc_tautau --events 1000000 --slice kkmc_tautau_mu_mu

Draws ``--events`` events of ``--channel`` (optionally of one generator slice, docs/generator.md),
builds them and runs the detector response exactly as ``belle_mc.production`` does (without
writing), then the invisible-Z' preselection, cuts and recoil-mass windows of the cut table.
Prints the raw MC count and the weight-equivalent luminosity per window, the truth class of the
selected events, and, for every registered slice of the channel, the fraction of the selected
events the slice's truth filter keeps: on an unfiltered sample a filter that may be used alone
for the windows must keep 100% of them. Prints the drawn events/s of the run (one core).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np
from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate
from belle_mc.production import BLOCK_SIZE, INTEGRATION_POINTS, simulate_block
from belle_mc.slices import SLICES, pair_in_cdc, select_events, truth_recoil_mass2

from core import constants as c
from selections.zprime_selection import CODE_IN_WINDOW, load_cut_table, selection_codes
from selections.zprime_variables import COLUMN, STAGE_TWO_MUON_ID, dimuon_event_variables


def truth_class(pdg: np.ndarray, event: np.ndarray, n_events: int) -> list[str]:
    """Per event, the charged and neutral visible truth particles as 'n mu, n e, n pi, n gamma'."""
    names = {13: "mu", 11: "e", 211: "pi", 22: "gamma"}
    counts = {k: np.bincount(event[np.abs(pdg) == k], minlength=n_events) for k in names}
    return [", ".join(f"{counts[k][i]}{names[k]}" for k in names if counts[k][i]) for i in range(n_events)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channel", required=True, choices=[ch for ch in CHANNELS if not CHANNELS[ch].needs_mass])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to draw")
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--slice", default=None, help="draw only this generator slice (slices.SLICES)")
    parser.add_argument(
        "--dataset", default=None,
        help="dataset name of the random streams (default study_<channel>); with the production's name and --seed "
        "the events are those of its files",
    )  # fmt: skip
    parser.add_argument("--lumi", type=float, default=c.DATA_LUMI_FB, help="fb^-1 for the equivalent-luminosity target")
    args = parser.parse_args(argv)
    channel = CHANNELS[args.channel]
    gen_slice = SLICES.get(args.slice) if args.slice else None
    if args.slice and (gen_slice is None or gen_slice.channel != args.channel):
        print(f"error: {args.slice!r} is not a slice of {args.channel}", file=sys.stderr)
        return 2
    table = load_cut_table()
    masses = table.masses_gev
    process = channel.make_process(None)
    xsec = integrate(process, INTEGRATION_POINTS)
    xsec_pb = (channel.fixed_xsec_pb or xsec.xsec_pb) * (gen_slice.decay_fraction if gen_slice else 1.0)
    own_slices = [s for s in SLICES.values() if s.channel == args.channel and s.tau_pair_modes is None]
    particle_filters = [s for s in SLICES.values() if s.channel == args.channel and s.particle_filter is not None]

    stream = args.dataset or f"study_{args.channel}"
    window_counts = np.zeros(len(masses), dtype=np.int64)
    rows: list[tuple[int, float, float, bool, str, list[bool]]] = []
    n_passed = 0
    t0 = time.process_time()
    for block in range((args.events + BLOCK_SIZE - 1) // BLOCK_SIZE):
        n_b = min(BLOCK_SIZE, args.events - block * BLOCK_SIZE)
        sim = simulate_block(channel, process, xsec, args.seed, stream, block, n_b, None, gen_slice)
        n_passed += len(sim.drawn_index)
        reco = sim.reco
        stage, variables = dimuon_event_variables(reco.n_track, reco.track, reco.n_cluster, reco.cluster)
        codes = selection_codes(variables, table)
        presel = np.flatnonzero(stage == STAGE_TWO_MUON_ID)
        in_window = codes == CODE_IN_WINDOW
        window_counts += in_window.sum(axis=1)
        picked = np.flatnonzero(in_window.any(axis=0))
        if len(picked) == 0:
            continue
        events = presel[picked]
        mask = np.zeros(len(sim.drawn_index), dtype=bool)
        mask[events] = True
        truth = select_events(sim.events, mask)
        m2 = truth_recoil_mass2(truth) if "lepton_minus" in truth else np.full(len(events), np.nan)
        cdc = pair_in_cdc(truth) if "lepton_minus" in truth else np.zeros(len(events), bool)
        if "lepton_minus" in truth:
            pair = truth["lepton_minus"] + truth["lepton_plus"]
            pt_pair = np.hypot(pair[:, 1], pair[:, 2])
        else:
            pt_pair = np.full(len(events), np.nan)
        classes = truth_class(sim.particles.pdg, sim.particles.event, len(sim.drawn_index))
        filters = [s.accept(truth) for s in own_slices]
        filters += [s.particle_filter(sim.particles, len(sim.drawn_index))[events] for s in particle_filters]
        for j, (ev, col) in enumerate(zip(events, picked)):
            hyps = ",".join(f"{m:g}" for m in masses[in_window[:, col]])
            reco_m2 = variables[COLUMN["recoil_mass2"], col]
            rows.append((hyps, float(m2[j]), float(reco_m2), bool(cdc[j]), classes[ev], [bool(f[j]) for f in filters],
                         float(pt_pair[j])))
    cpu = time.process_time() - t0

    print(f"{args.channel}{' slice ' + args.slice if args.slice else ''}: {args.events} drawn, "
          f"{n_passed} passed the slice filter, xsec {xsec_pb:.6g} pb, "
          f"{args.events / xsec_pb / 1000:.4g} fb^-1 equivalent, {cpu:.1f} CPU s ({args.events / cpu:.0f} drawn/s)")
    print("window counts (raw MC) per hypothesis [GeV]: "
          + ", ".join(f"{m:g}: {n}" for m, n in zip(masses, window_counts)))
    need = window_counts.max() * args.lumi / (args.events / xsec_pb / 1000) if window_counts.any() else 0
    print(f"events in the busiest window at {args.lumi:g} fb^-1 equivalent: {need:.0f}")
    print(f"selected events (in >= 1 window): {len(rows)}")
    print("classes:", dict(Counter(r[4] for r in rows).most_common()))
    if rows:
        m2 = np.array([r[1] for r in rows])
        if np.isnan(m2).all():
            m2 = np.zeros(1)
        print(f"truth recoil M^2 of the selected: min {np.nanmin(m2):.3f}, max {np.nanmax(m2):.3f} GeV^2; "
              f"pair in CDC: {sum(r[3] for r in rows)} of {len(rows)}")
    low = [r[6] for r in rows if r[1] < 1.0]
    if low and not np.isnan(low).all():
        print(f"selected with truth recoil M^2 < 1 GeV^2: {len(low)}, smallest truth pt(mu mu) CM {np.nanmin(low):.3f} GeV")
    for k, s in enumerate(own_slices):
        kept = sum(r[5][k] for r in rows)
        print(f"slice {s.name} event filter ({s.describe()}): keeps {kept} of {len(rows)} selected")
    for k, s in enumerate(particle_filters, start=len(own_slices)):
        kept = sum(r[5][k] for r in rows)
        print(f"slice {s.name} particle filter ({s.particle_filter.describe()}): keeps {kept} of {len(rows)} selected")
    for r in rows[:40]:
        print(f"  windows {r[0]:>16}  truth M^2 {r[1]:8.3f}  reco M^2 {r[2]:8.3f}  pt {r[6]:6.3f}  cdc {r[3]!s:5}  {r[4]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
