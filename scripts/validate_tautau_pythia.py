"""Validate the ``kkmc_tautau`` channel of belle_mc against Pythia 8 e+e- -> tau+ tau-.

Our tau-pair background is a fast model (ISR radiator, tau-pair angular
distribution, six tau-decay modes without polarisation, docs/physics.md §4). This
script generates the same number of Pythia 8 events (gamma*/Z -> tau tau with
lepton-PDF ISR, QED showers and Pythia's tau decays with hadronic currents) at
the Belle sqrt(s), feeds the Pythia final state through *our* ``to_lab`` and
``detector.simulate``, and applies the production skim (nTrack >= 2), so any
difference is one of the generator, not of the detector model. It compares
track and ECL-cluster multiplicities, the CM-frame track momentum spectrum
(with a two-sample Kolmogorov-Smirnov test), muon-ID multiplicity, the ECL
energy sum, the 2-track opposite-charge fraction, the 1-/3-prong fractions of
the taus and the cross sections (Pythia's sigmaGen, our KKMC normalisation and
our model's own integral). Not run in CI: it needs the ``validation`` extra.

    python scripts/validate_tautau_pythia.py --events 20000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import stats

from belle_mc import detector
from belle_mc.channels import CHANNELS, FSR_PHOTON_MIN_GEV
from belle_mc.montecarlo import integrate, sample_unweighted
from belle_mc.particles import ParticleTable
from belle_mc.production import BLOCK_SIZE, INTEGRATION_POINTS, SKIM_MIN_TRACKS, generate_block, to_lab
from core import belle_detector as det
from core import constants as c
from core.beams import lab_to_cms, sqrt_s_gev

CHANNEL = "kkmc_tautau"
MB_TO_PB = 1e9
MM_TO_CM = 0.1
PYTHIA_MHAT_MIN_GEV = 3.0
"""Below the tau-pair threshold, so hard ISR down to threshold is kept (Pythia's default is 4 GeV)."""
PYTHIA_PTHAT_MIN_DIVERGE_GEV = 0.01
"""Below the allowed minimum 0.5 GeV, hence forced (docs/physics.md §10)."""
PRONG_STOP = {c.PDG_PI_ZERO, 130, 310, 311, c.PDG_PHOTON}
"""Prong counting does not descend into these (K0S -> pi pi and Dalitz pairs are not prongs, as in the PDG)."""
SAMPLES = ("pythia", "belle_mc")


def pythia_settings(seed: int, spin_correlations: bool) -> list[str]:
    """Pythia 8 settings for e+e- -> gamma*/Z -> tau+ tau- in the CM frame, e- along +z (our beam frame)."""
    return [
        "Beams:frameType = 1", f"Beams:eCM = {sqrt_s_gev():.6f}", "Beams:idA = 11", "Beams:idB = -11",
        "WeakSingleBoson:ffbar2ffbar(s:gmZ) = on", "23:onMode = off", "23:onIfMatch = 15 -15",
        f"PhaseSpace:mHatMin = {PYTHIA_MHAT_MIN_GEV}",
        # mode 1: helicity-correlated tau pair; mode 3: each tau decays alone with polarisation 0 (~10x faster),
        # the same assumption as belle_mc.tau_decays
        f"TauDecays:mode = {1 if spin_correlations else 3}", "TauDecays:tauPolarization = 0",
        "Random:setSeed = on", f"Random:seed = {seed}", "Next:numberCount = 0", "Print:quiet = on",
    ]


def _count_prongs(event, i: int) -> int:
    """Charged stable descendants of tau ``i``, not looking inside pi0, K0 and photons."""
    n, todo = 0, list(event[i].daughterList())
    while todo:
        d = event[todo.pop()]
        if d.isFinal():
            n += d.isCharged()
        elif d.idAbs() not in PRONG_STOP:
            todo.extend(d.daughterList())
    return n


def generate_pythia(n_events: int, seed: int, spin_correlations: bool) -> dict:
    """Pythia events as a beam-frame ParticleTable (production points in cm), prongs per tau and cross section."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(seed, spin_correlations):
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected setting {line!r}")
    pythia.settings.forceParm("PhaseSpace:pTHatMinDiverge", PYTHIA_PTHAT_MIN_DIVERGE_GEV)
    if not pythia.init():
        raise RuntimeError("Pythia initialisation failed")
    rows: list[tuple] = []
    prongs: list[int] = []
    dropped: Counter = Counter()
    n_done = n_failed = 0
    while n_done < n_events:
        if not pythia.next():
            n_failed += 1
            if n_failed > 100:
                raise RuntimeError("Pythia failed to generate 100 events")
            continue
        event = pythia.event
        for i in range(event.size()):
            p = event[i]
            pid, apid = p.id(), p.idAbs()
            if apid == c.PDG_TAU and p.iBotCopyId(False) == i and not p.isFinal():
                prongs.append(_count_prongs(event, i))
            if not p.isFinal():
                continue
            if apid in (c.PDG_PI_PLUS, 321):  # kaons are treated as pions
                pid = int(np.sign(pid)) * c.PDG_PI_PLUS
            elif apid == c.PDG_PHOTON and p.e() < FSR_PHOTON_MIN_GEV:
                continue  # as belle_mc.channels: far below the ECL threshold
            elif apid not in (c.PDG_ELECTRON, c.PDG_MUON, c.PDG_PHOTON):
                dropped[apid] += 1  # neutrinos, K0L
                continue
            rows.append((n_done, pid, p.e(), p.px(), p.py(), p.pz(), p.tProd(), p.xProd(), p.yProd(), p.zProd()))
        n_done += 1
    info = pythia.infoPython()
    a = np.array(rows, dtype=np.float64).reshape(-1, 10)
    table = ParticleTable.from_arrays(a[:, 0].astype(np.int64), a[:, 1].astype(np.int32), a[:, 2:6], a[:, 6:] * MM_TO_CM)
    return {
        "particles": table,
        "prongs": np.asarray(prongs),
        "xsec_pb": info.sigmaGen() * MB_TO_PB,
        "xsec_error_pb": info.sigmaErr() * MB_TO_PB,
        "dropped": {str(k): v for k, v in sorted(dropped.items())},
        "has_vertices": bool(np.any(a[:, 7:] != 0.0)),
    }


def _concat(blocks: list[detector.DetectorEvents]) -> detector.DetectorEvents:
    return detector.DetectorEvents(
        sum(b.n_events for b in blocks),
        np.concatenate([b.n_track for b in blocks]),
        {k: np.concatenate([b.track[k] for b in blocks]) for k in blocks[0].track},
        np.concatenate([b.n_cluster for b in blocks]),
        {k: np.concatenate([b.cluster[k] for b in blocks]) for k in blocks[0].cluster},
    )


def generate_belle_mc(n_events: int, seed: int) -> dict:
    """Our kkmc_tautau events exactly as production makes them (skimmed), plus generator-level prongs."""
    channel = CHANNELS[CHANNEL]
    process = channel.make_process(None)
    xsec = integrate(process, INTEGRATION_POINTS)
    sizes = [min(BLOCK_SIZE, n_events - b * BLOCK_SIZE) for b in range(math.ceil(n_events / BLOCK_SIZE))]
    reco = _concat([generate_block(channel, process, xsec, seed, CHANNEL, b, n).detector_events for b, n in enumerate(sizes)])
    # generator level (an independent sample): only 1- and 3-prong modes exist, so the charged count per
    # event (2, 4, 6) gives the prongs of the two taus
    rng = np.random.default_rng([seed, 2])
    truth = channel.build_particles(rng, sample_unweighted(process, rng, n_events, xsec.max_weight))
    n_charged = np.bincount(truth.event[truth.charge != 0], minlength=n_events)
    three = np.count_nonzero(n_charged == 4) + 2 * np.count_nonzero(n_charged == 6)
    prongs = np.r_[np.full(three, 3), np.full(2 * n_events - three, 1)]
    return {"reco": reco, "prongs": prongs, "prongs_per_event": n_charged, "xsec_model_pb": xsec.xsec_pb,
            "xsec_model_error_pb": xsec.error_pb, "xsec_pb": channel.fixed_xsec_pb}


def simulate_pythia(particles: ParticleTable, n_events: int, seed: int) -> detector.DetectorEvents:
    """Our lab boost, beam spot and detector response for the Pythia events, then the production skim."""
    rng = np.random.default_rng([seed, 1])
    reco = detector.simulate(rng, to_lab(rng, particles, n_events), n_events)
    return reco.select(reco.n_track >= SKIM_MIN_TRACKS)


def observables(reco: detector.DetectorEvents) -> dict[str, np.ndarray]:
    """Per-event and per-track detector-level quantities."""
    n = reco.n_events
    t_event = np.repeat(np.arange(n), reco.n_track)
    c_event = np.repeat(np.arange(n), reco.n_cluster)
    p3 = np.stack([reco.track[k].astype(np.float64) for k in ("px", "py", "pz")], axis=1)
    p4_lab = np.column_stack([np.sqrt(np.sum(p3**2, axis=1) + c.CHARGED_PION_MASS_GEV**2), p3])
    charge_sum = np.bincount(t_event, weights=reco.track["charge"], minlength=n)
    return {
        "n_track": reco.n_track,
        "p_cms": np.linalg.norm(lab_to_cms(p4_lab)[:, 1:], axis=1),
        "n_muon_id": np.bincount(t_event, weights=reco.track["muonID"] > det.PID_CUT, minlength=n),
        "n_cluster": reco.n_cluster,
        "e_cluster_sum": np.bincount(c_event, weights=reco.cluster["E"], minlength=n),
        "two_track_os": (reco.n_track == 2) & (charge_sum == 0),
    }


def summarise(obs: dict[str, np.ndarray], prongs: np.ndarray, n_generated: int) -> dict[str, float]:
    n_skim = len(obs["n_track"])
    return {
        "n_generated": n_generated,
        "n_skimmed": n_skim,
        "skim_efficiency": n_skim / n_generated,
        "mean_n_track": float(np.mean(obs["n_track"])),
        "mean_p_cms_gev": float(np.mean(obs["p_cms"])),
        "mean_n_muon_id": float(np.mean(obs["n_muon_id"])),
        "mean_n_cluster": float(np.mean(obs["n_cluster"])),
        "mean_e_cluster_sum_gev": float(np.mean(obs["e_cluster_sum"])),
        "frac_two_track_os": float(np.mean(obs["two_track_os"])),
        "frac_no_cluster": float(np.mean(obs["n_cluster"] == 0)),
        "frac_tau_1prong": float(np.mean(prongs == 1)),
        "frac_tau_3prong": float(np.mean(prongs == 3)),
        "frac_tau_5prong": float(np.mean(prongs == 5)),
    }


PLOTS = [  # observable, bins, x label, log y
    ("n_track", np.arange(1.5, 9.5), r"$N_\mathrm{track}$", True),
    ("p_cms", np.linspace(0.0, 5.5, 45), r"track $p^*$ [GeV] (CM frame)", False),
    ("n_muon_id", np.arange(-0.5, 4.5), r"$N_\mathrm{track}$ with muonID $> 0.9$", True),
    ("n_cluster", np.arange(-0.5, 15.5), r"$N_\mathrm{cluster}$ (ECL)", False),
    ("e_cluster_sum", np.linspace(0.0, 8.0, 41), r"$\sum E_\mathrm{cluster}$ [GeV] (lab)", True),
    ("prongs_per_event", np.arange(1.5, 8.5), r"generator: prongs of $\tau^+$ + $\tau^-$", True),
]


def plot(obs: dict[str, dict[str, np.ndarray]], n_generated: int, path: Path) -> None:
    """Distributions per generated event (their integral is the skim efficiency) with belle_mc / Pythia ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep

    fig = plt.figure(figsize=(18, 12))
    grid = fig.add_gridspec(5, 3, height_ratios=[3, 1, 0.55, 3, 1], hspace=0.06, wspace=0.25)
    style = {"pythia": dict(color="black", label="Pythia 8.317"), "belle_mc": dict(color="tab:red", label="belle_mc kkmc_tautau")}
    for k, (name, bins, xlabel, log) in enumerate(PLOTS):
        row, col = 3 * (k // 3), k % 3
        ax, rax = fig.add_subplot(grid[row, col]), fig.add_subplot(grid[row + 1, col])
        counts = {s: np.histogram(obs[s][name], bins)[0].astype(float) for s in SAMPLES}
        for s in SAMPLES:
            hep.histplot(counts[s] / n_generated, bins, yerr=np.sqrt(counts[s]) / n_generated, ax=ax, **style[s])
        ref, ours = counts["pythia"], counts["belle_mc"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = ours / ref
            err = ratio * np.sqrt(1 / ours + 1 / ref)
        ok = (ours > 0) & (ref > 0)
        centers = 0.5 * (bins[1:] + bins[:-1])
        rax.errorbar(centers[ok], ratio[ok], yerr=err[ok], fmt="o", ms=3, color="tab:red")
        rax.axhline(1.0, color="black", lw=0.8)
        rax.set_ylim(0.5, 1.5)
        rax.set_ylabel("belle_mc / Pythia", fontsize=10)
        rax.set_xlabel(xlabel)
        rax.set_xlim(bins[0], bins[-1])
        ax.set_xlim(bins[0], bins[-1])
        ax.set_ylabel("per generated event")
        if log:
            ax.set_yscale("log")
            ax.set_ylim(top=ax.get_ylim()[1] * 20)
        ax.tick_params(labelbottom=False)
        ax.legend(fontsize=10, loc="upper right", title=r"$e^+e^-\to\tau^+\tau^-$", title_fontsize=10)
        hep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"$\sqrt{{s}}={sqrt_s_gev():.2f}$ GeV", ax=ax, fontsize=12)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="generated events per sample (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of both samples (Pythia needs 0 < seed < 9e8)")
    parser.add_argument("--spin-correlations", action="store_true",
                        help="Pythia tau-pair spin correlations (TauDecays:mode 1, ~10x slower)")
    parser.add_argument("--output", type=Path, default=Path("results/validation"), help="output directory")
    args = parser.parse_args(argv)
    if args.events <= 0 or not 0 < args.seed < 900_000_000:
        parser.error("--events must be positive and 0 < --seed < 900000000")
    args.output.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    py = generate_pythia(args.events, args.seed, args.spin_correlations)
    t_pythia = time.perf_counter() - t0
    ours = generate_belle_mc(args.events, args.seed)
    obs = {"pythia": observables(simulate_pythia(py["particles"], args.events, args.seed)),
           "belle_mc": observables(ours["reco"])}
    if len(py["prongs"]) != 2 * args.events:
        raise RuntimeError(f"expected two decayed taus per Pythia event, found {len(py['prongs'])} in {args.events}")
    obs["pythia"]["prongs_per_event"] = py["prongs"].reshape(-1, 2).sum(axis=1)
    obs["belle_mc"]["prongs_per_event"] = ours["prongs_per_event"]
    summary = {"pythia": summarise(obs["pythia"], py["prongs"], args.events),
               "belle_mc": summarise(obs["belle_mc"], ours["prongs"], args.events)}
    ks = stats.ks_2samp(obs["belle_mc"]["p_cms"], obs["pythia"]["p_cms"])
    result = {
        "summary": summary,
        "ks_p_cms": {"statistic": float(ks.statistic), "pvalue": float(ks.pvalue)},
        "xsec_pb": {"pythia_sigma_gen": py["xsec_pb"], "pythia_sigma_gen_error": py["xsec_error_pb"],
                    "belle_mc_kkmc_normalisation": ours["xsec_pb"], "belle_mc_model": ours["xsec_model_pb"],
                    "belle_mc_model_error": ours["xsec_model_error_pb"]},
        "pythia": {"settings": pythia_settings(args.seed, args.spin_correlations),
                   "forced": {"PhaseSpace:pTHatMinDiverge": PYTHIA_PTHAT_MIN_DIVERGE_GEV},
                   "production_vertices": "Pythia vProd (mm -> cm)" if py["has_vertices"] else "none (all zero)",
                   "dropped_final_state": py["dropped"], "seconds": t_pythia},
        "events": args.events, "seed": args.seed, "skim": f"nTrack >= {SKIM_MIN_TRACKS}",
        "seconds": time.perf_counter() - t0,
    }
    png = args.output / "tautau_pythia_vs_belle_mc.png"
    plot(obs, args.events, png)
    (args.output / "tautau_pythia_vs_belle_mc.json").write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"plot: {png}")
    return result


def print_table(result: dict) -> None:
    s = result["summary"]
    print(f"means and fractions over skimmed events ({result['skim']}); tau prong fractions per generated tau")
    print(f"{'quantity':<28}{'Pythia 8':>12}{'belle_mc':>12}{'ratio':>9}")
    for key in s["pythia"]:
        a, b = s["pythia"][key], s["belle_mc"][key]
        ratio = f"{b / a:9.3f}" if a else f"{'-':>9}"
        fmt = "d" if isinstance(a, int) else ".4g"
        print(f"{key:<28}{a:>12{fmt}}{b:>12{fmt}}{ratio}")
    ks = result["ks_p_cms"]
    print(f"KS test p_cms (belle_mc vs Pythia): D = {ks['statistic']:.4f}, p-value = {ks['pvalue']:.3g}")
    x = result["xsec_pb"]
    print(f"cross section: Pythia sigmaGen {x['pythia_sigma_gen']:.1f} +- {x['pythia_sigma_gen_error']:.1f} pb; "
          f"belle_mc KKMC normalisation {x['belle_mc_kkmc_normalisation']:.1f} pb; "
          f"belle_mc model integral {x['belle_mc_model']:.1f} +- {x['belle_mc_model_error']:.1f} pb")
    print(f"Pythia production vertices: {result['pythia']['production_vertices']}; "
          f"dropped final-state |PDG|: {result['pythia']['dropped_final_state']}; total {result['seconds']:.1f} s")


if __name__ == "__main__":
    main()
