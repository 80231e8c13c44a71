#!/usr/bin/env python
"""Particle-identification curves of the belle_mc detector model (docs/pid-curves.md, docs/generator.md).

Generates small samples with belle_mc's generation chain (the process, its unweighting,
the channel's particles, the lab boost and the detector response, as ``production.generate_block``
does), keeps the true species of every track, and writes

* the efficiency / fake rate of muonID > x and electronID > x versus the threshold x, per true
  species (muon, electron, pion/kaon/proton) and lab-momentum bin, as a table in docs/pid-curves.md
  and as a figure docs/pid-curves.png;
* the tau-pair two-muon class (exactly two opposite-charge tracks, both muonID > x, after the
  production skim) as a cross section at x = 0.5 and 0.9.

    python scripts/pid_curves.py [--events 40000] [--seed 1] [--output docs]

Muons come from kkmc_mumu and kkmc_tautau, electrons from bhwide_ee and kkmc_tautau, pions
(with kaons and protons, identified alike) from kkmc_tautau.
"""

from __future__ import annotations

import argparse
import itertools
import zlib
from pathlib import Path

import numpy as np

from belle_mc import detector
from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate, sample_unweighted
from belle_mc.production import INTEGRATION_POINTS, SKIM_MIN_TRACKS, to_lab
from core import belle_detector as det
from core import constants as c

SAMPLES = ("kkmc_mumu", "kkmc_tautau", "bhwide_ee")
SPECIES = {"muon": (c.PDG_MUON,), "electron": (c.PDG_ELECTRON,), "pion/kaon/proton": (c.PDG_PI_PLUS, c.PDG_KAON_PLUS, c.PDG_PROTON)}
MOMENTUM_BINS_GEV = (0.1, 0.6, 1.0, 2.0, 4.0, 8.0)
"""Edges of the lab-momentum bins of the table, GeV."""
TABLE_THRESHOLDS = (0.1, 0.5, 0.9, 0.99)
CURVE_THRESHOLDS = np.linspace(0.0, 0.999, 400)
TWO_MUON_THRESHOLDS = (0.5, 0.9)
TAUTAU_EVENT_FACTOR = 5
"""kkmc_tautau gets this many times ``--events`` (its two-muon class is ~1% of the events)."""


def simulate_sample(channel_name: str, n_events: int, seed: int) -> dict[str, np.ndarray]:
    """One sample through the generation chain: per track the true |pdg|, lab momentum (GeV), muonID, electronID,
    charge and event index; plus the channel cross section (pb) and the number of generated events."""
    channel = CHANNELS[channel_name]
    process = channel.make_process(None)
    xsec = integrate(process, INTEGRATION_POINTS)
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(channel_name.encode()), 0]))
    events = sample_unweighted(process, rng, n_events, xsec.max_weight)
    lab = to_lab(rng, channel.build_particles(rng, events), n_events)
    kind = np.empty(len(lab.pdg), dtype=np.int8)
    detector._classify_kernel(
        np.ascontiguousarray(lab.event), np.ascontiguousarray(lab.pdg), np.ascontiguousarray(lab.p4), kind,
        np.zeros(n_events, dtype=np.int32),
    )
    reco = detector.simulate(rng, lab, n_events)  # tracks come in the order of the particles of kind track
    t = reco.track
    return {
        "abs_pdg": np.abs(lab.pdg[kind == detector.KIND_TRACK]),
        "p": np.sqrt(t["px"].astype(np.float64) ** 2 + t["py"] ** 2 + t["pz"] ** 2),
        "muonID": t["muonID"], "electronID": t["electronID"], "charge": t["charge"],
        "event": np.repeat(np.arange(n_events), reco.n_track), "n_track": reco.n_track,
        "xsec_pb": channel.fixed_xsec_pb if channel.fixed_xsec_pb is not None else xsec.xsec_pb,
        "n_generated": n_events,
    }


def pass_fraction(values: np.ndarray, threshold: float) -> tuple[float, float]:
    """Fraction of ``values`` above ``threshold`` and its binomial error."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    f = float(np.mean(values > threshold))
    return f, float(np.sqrt(max(f * (1 - f), 1.0 / n) / n))


def two_muon_class_xsec_pb(sample: dict, threshold: float) -> tuple[float, float]:
    """Cross section (pb) of skimmed events with exactly two tracks, opposite charges, both muonID > ``threshold``."""
    n_track = sample["n_track"]
    two = (n_track == 2) & (n_track >= SKIM_MIN_TRACKS)
    on = two[sample["event"]]
    ev = sample["event"][on]
    q = np.bincount(ev, weights=sample["charge"][on], minlength=len(n_track))
    n_mu = np.bincount(ev, weights=sample["muonID"][on] > threshold, minlength=len(n_track))
    k = int(np.count_nonzero(two & (q == 0) & (n_mu == 2)))
    scale = sample["xsec_pb"] / sample["n_generated"]
    return k * scale, np.sqrt(k) * scale


def tracks_of(samples: dict[str, dict], species: str) -> dict[str, np.ndarray]:
    """All tracks of true ``species`` from every sample, concatenated."""
    out = {}
    for key in ("p", "muonID", "electronID"):
        out[key] = np.concatenate([s[key][np.isin(s["abs_pdg"], SPECIES[species])] for s in samples.values()])
    return out


def markdown(samples: dict[str, dict], command: str) -> str:
    """docs/pid-curves.md: tables of efficiency / fake rate vs threshold and the tau-pair two-muon class."""
    lines = [
        "# Particle-identification curves of the generator",
        "",
        f"Generated by `{command}` (not edited by hand). The model is described in",
        '[generator.md](generator.md), "Particle identification"; the figure is [pid-curves.png](pid-curves.png).',
        "",
        "Fraction of tracks of each true species with muonID (electronID) above the threshold, per lab-momentum bin",
        "(all polar angles of the samples; kaons and protons are identified like pions). The column 0.9 is the",
        "calibration (`muon_id_efficiency`, `electron_id_efficiency`); the others follow from the likelihood-ratio model.",
        "Statistical errors are binomial; `n` is the number of tracks.",
        "",
    ]
    for lr in ("muonID", "electronID"):
        lines += [f"## {lr}", "", "| true species | p_lab (GeV) | n | " + " | ".join(f"> {x}" for x in TABLE_THRESHOLDS)
                  + " | 0.5-0.9 |", "|---|---|---|" + "---|" * (len(TABLE_THRESHOLDS) + 1)]
        for species in SPECIES:
            trk = tracks_of(samples, species)
            edges = list(itertools.pairwise(MOMENTUM_BINS_GEV)) + [(MOMENTUM_BINS_GEV[0], MOMENTUM_BINS_GEV[-1])]
            for lo, hi in edges:
                sel = (trk["p"] >= lo) & (trk["p"] < hi)
                v = trk[lr][sel]
                if len(v) < 100:
                    continue
                cells = [f"{f:.4f} ± {e:.4f}" for f, e in (pass_fraction(v, x) for x in TABLE_THRESHOLDS)]
                mid = float(np.mean((v > 0.5) & (v <= 0.9)))
                label = "all" if (lo, hi) == edges[-1] else f"{lo}-{hi}"
                lines.append(f"| {species} | {label} | {len(v)} | " + " | ".join(cells) + f" | {mid:.4f} |")
        lines.append("")
    tau = samples["kkmc_tautau"]
    lines += [
        "## Tau-pair two-muon class",
        "",
        f"kkmc_tautau ({tau['n_generated']} generated events, {tau['xsec_pb']} pb): events after the skim with exactly",
        "two tracks of opposite charge, both muonID above the threshold.",
        "",
        "| muonID > | cross section (pb) |",
        "|---|---|",
    ]
    xs = {x: two_muon_class_xsec_pb(tau, x) for x in TWO_MUON_THRESHOLDS}
    for x, (v, e) in xs.items():
        lines.append(f"| {x} | {v:.2f} ± {e:.2f} |")
    lo, hi = TWO_MUON_THRESHOLDS
    lines += ["", f"Ratio {lo} / {hi}: {xs[lo][0] / xs[hi][0]:.3f}.", ""]
    return "\n".join(lines)


def figure(samples: dict[str, dict], path: Path) -> None:
    """Efficiency / fake rate vs threshold for muonID and electronID, per species (p_lab > 1 GeV), log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, lr in zip(axes, ("muonID", "electronID")):
        for species in SPECIES:
            trk = tracks_of(samples, species)
            v = np.sort(trk[lr][trk["p"] > 1.0])
            frac = 1.0 - np.searchsorted(v, CURVE_THRESHOLDS, side="right") / len(v)
            ax.plot(CURVE_THRESHOLDS, np.maximum(frac, 1e-5), label=f"true {species}")
        ax.axvline(det.PID_CUT, color="grey", ls=":", label=f"calibration point {det.PID_CUT}")
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 1.5)
        ax.set_xlabel(f"threshold x on {lr}")
        ax.set_ylabel(f"fraction of tracks with {lr} > x (p_lab > 1 GeV)")
        ax.legend(fontsize=8, loc="center left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=40_000, help="generated events per sample (kkmc_tautau: 5x)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = p.parse_args(argv)
    samples = {
        name: simulate_sample(name, args.events * (TAUTAU_EVENT_FACTOR if name == "kkmc_tautau" else 1), args.seed)
        for name in SAMPLES
    }
    command = f"python scripts/pid_curves.py --events {args.events} --seed {args.seed}"
    text = markdown(samples, command)
    (args.output / "pid-curves.md").write_text(text)
    figure(samples, args.output / "pid-curves.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
