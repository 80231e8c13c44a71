"""Validate the lepton backgrounds of belle_mc against Pythia 8 through the same lab transform and detector.

Channels: ``kkmc_mumu`` (e+e- -> mu+ mu- (gamma)), ``kkmc_tautau`` (e+e- -> tau+ tau- (gamma)) and
``aafh_eemumu`` (e+e- -> e+e- mu+ mu- via two photons). For each, our events are made exactly as
production makes them (``generate_block``: generate, ``to_lab``, ``detector.simulate``, skim nTrack >= 2)
and Pythia 8 generates the same process in the CM frame at the Belle sqrt(s) (``Beams:frameType = 1``,
e- = idA along +z, our beam frame); the Pythia final state goes through *our* ``to_lab``,
``detector.simulate`` and skim, so only the generator differs (docs/validation-pythia.md).

Pythia settings: lepton pairs by ``WeakSingleBoson:ffbar2ffbar(s:gmZ)`` with Z -> mu mu (tau tau) only,
ISR from the lepton PDF and the QED shower, ``PhaseSpace:mHatMin`` lowered (Pythia's 4 GeV default drops
hard ISR) and ``PhaseSpace:pTHatMinDiverge`` forced to 0.01 GeV (the 1 GeV floor silently cuts hard ISR).
Tau decays without spin correlations (``TauDecays:mode = 3``, each tau alone, polarisation 0: ~10x faster,
the same assumption as belle_mc.tau_decays; ``--spin-correlations`` switches mode 1 on). Two-photon mu
pairs by ``PDF:lepton2gamma`` and ``PhotonCollision:gmgm2mumu`` with our generator cuts
(``belle_mc.channels``: W = m(mu mu) > 0.5 GeV, Q^2 < 1 GeV^2), ``Photon:Wmin`` and
``PhaseSpace:pTHatMinDiverge`` forced down, multiparton interactions off (they do not initialise at
W = 0.5 GeV). Pythia's events carry weights (two-photon pairs: 7% above 1, up to ~6.6; lepton pairs:
2-4% above 1, up to ~1.3, from the lepton-PDF ISR), which every Pythia fraction, histogram and test uses.

Quantities, for the two-muon class of the invisible-Z' preselection (``selections.zprime_variables``:
exactly two opposite-charge tracks, both muonID > ``PID_CUT`` = 0.9):

* its cross section, pb: sigma x (class events / generated events) for both generators (Pythia's
  sigmaGen; ours the channel cross section, the KKMC normalisation for the KKMC channels), with the
  MC statistical error (binomial on the fraction, plus the cross-section error);
* CM-frame spectra of the muon momentum, the dimuon mass and the recoil M^2 against the beams;
* the fractions of class events with recoil M^2 above 4, 16 and 36 GeV^2 (binomial errors) and the
  ratio ours / Pythia;
* a two-sample Kolmogorov-Smirnov test on the CM muon momentum of the class events (weighted CDFs,
  p-value from the effective sample sizes, :func:`weighted_ks`);
* skim-level checks kept from the former tau-pair script: skim efficiency, mean track and cluster
  multiplicities, the fraction of two-track opposite-charge events.

Tolerances (each line prints PASS or FAIL; a FAIL is a finding, not an error of the script):

* generated and class cross sections: ours / Pythia within :data:`XSEC_TOLERANCE` of the expected ratio
  :data:`XSEC_EXPECTED_RATIO` (Pythia's tau pair ~3% and mu pair ~10% below KKMC; two equivalent-photon
  models for the two-photon pairs), or within 2 sigma of it;
* tail fractions: ours / Pythia within 25% of 1, or the difference within 2 sigma;
* skim-level means and fractions: within 10% or 2 sigma (the KS statistic is reported, not judged by p-value;
  PASS when D < :data:`KS_D_MAX`).

Not run in CI (it needs Pythia, the ``validation`` extra)::

    nice python scripts/validate_pythia.py --events 400000 60000 400000 --seed 1 --label before
    python scripts/validate_pythia.py --write-docs
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from belle_mc import detector
from belle_mc.channels import AAFH_EEMUMU_Q2_MAX_GEV2, AAFH_EEMUMU_W_MIN_GEV, CHANNELS
from belle_mc.montecarlo import integrate
from belle_mc.production import BLOCK_SIZE, INTEGRATION_POINTS, SKIM_MIN_TRACKS, generate_block, to_lab

from core import belle_detector as det
from core import constants as c
from core.beams import lab_to_cms, sqrt_s_gev
from selections.zprime_variables import COLUMN, STAGE_TWO_MUON_ID, dimuon_event_variables

VALIDATED_CHANNELS = ("kkmc_mumu", "kkmc_tautau", "aafh_eemumu")
RECOIL_TAIL_THRESHOLDS_GEV2 = (4.0, 16.0, 36.0)
"""Recoil M^2 thresholds of the tail fractions, GeV^2."""
TAIL_REL_TOL = 0.25
"""Tail fractions agree when ours / Pythia is within this of 1 ..."""
N_SIGMA_TOL = 2.0
"""... or when the difference is within this many standard deviations (every tolerance)."""
SUMMARY_REL_TOL = 0.10
"""Skim-level means and fractions agree within this relative difference (or N_SIGMA_TOL sigma)."""
XSEC_EXPECTED_RATIO = {"kkmc_mumu": 1.0 / 0.90, "kkmc_tautau": 1.0 / 0.97, "aafh_eemumu": 1.0}
"""Expected class cross-section ratio ours / Pythia: Pythia's mu pair ~10% and tau pair ~3% below KKMC."""
XSEC_TOLERANCE = {"kkmc_mumu": 0.10, "kkmc_tautau": 0.10, "aafh_eemumu": 0.30}
"""Allowed relative deviation of the class cross-section ratio from the expected one (two EPA models: 30%)."""
KS_D_MAX = 0.05
"""The CM muon-momentum spectra agree when the KS distance D is below this."""
PYTHIA_PTHAT_MIN_DIVERGE_GEV = 0.01
"""Forced below Pythia's 0.5 GeV minimum (default 1 GeV), docs/physics.md §10."""
PYTHIA_ISR_SCALE_MODE = 4
"""``SigmaProcess:factorScale2`` of the lepton pairs: 4 = sHat (Pythia's default 1 = the smaller mT^2)."""
PYTHIA_MHAT_MIN_GEV = {"kkmc_mumu": 2 * c.MUON_MASS_GEV + 0.01, "kkmc_tautau": 3.6, "aafh_eemumu": AAFH_EEMUMU_W_MIN_GEV}
"""PhaseSpace:mHatMin per channel, GeV: far below sqrt(s) so hard ISR is kept; mu pairs down to belle_mc's
smallest pair mass (2 m_mu + 10 MeV), tau pairs above 2 m_tau."""
PYTHIA_CHUNK = 5_000
"""Events per ``nextBatch`` call (one progress step)."""
MB_TO_PB = 1e9
HIST_BINS = {
    "p_cms": np.linspace(0.0, 5.6, 57),
    "m_mumu": np.linspace(0.0, 11.0, 56),
    "recoil_mass2": np.linspace(-10.0, 110.0, 61),
}
"""Histogram edges: muon CM momentum (GeV), dimuon mass (GeV), recoil M^2 (GeV^2)."""
HIST_LABELS = {"p_cms": r"muon $p^*$ [GeV]", "m_mumu": r"$m_{\mu\mu}$ [GeV]", "recoil_mass2": r"recoil $M^2$ [GeV$^2$]"}
SAMPLES = ("pythia", "belle_mc")


# --------------------------------------------------------------------------- pure statistics


def weighted_fraction(passed: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Fraction of (weighted) events with ``passed`` True and its binomial error.

    Error: sqrt(sum_pass w^2 (1-f)^2 + sum_fail w^2 f^2) / sum w, which is sqrt(f (1-f) / N) for unit
    weights. An empty sample gives (nan, nan).
    """
    passed = np.asarray(passed, dtype=bool)
    w = np.ones(len(passed)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if len(passed) == 0 or total <= 0:
        return math.nan, math.nan
    f = float(w[passed].sum() / total)
    var = np.sum(w[passed] ** 2) * (1 - f) ** 2 + np.sum(w[~passed] ** 2) * f**2
    return f, float(math.sqrt(var) / total)


def ratio_with_error(a: float, ea: float, b: float, eb: float) -> tuple[float, float]:
    """a / b and its error from uncorrelated errors ``ea``, ``eb``; nan when b is 0."""
    if b == 0 or not math.isfinite(b):
        return math.nan, math.nan
    return a / b, math.hypot(ea / b, a * eb / b**2)


def weighted_ks(x1: np.ndarray, w1: np.ndarray, x2: np.ndarray, w2: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov distance D of weighted samples and its asymptotic p-value.

    D = max |F1 - F2| of the weighted empirical CDFs; the p-value uses the Kolmogorov distribution
    at sqrt(n1 n2 / (n1 + n2)) D with the effective sizes n = (sum w)^2 / sum w^2 (for unit weights
    the asymptotic form of ``scipy.stats.ks_2samp``).
    """
    from scipy.stats import kstwobign

    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    w1, w2 = np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    grid = np.sort(np.concatenate([x1, x2]))

    def cdf(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        order = np.argsort(x)
        cum = np.concatenate([[0.0], np.cumsum(w[order])]) / w.sum()
        return cum[np.searchsorted(x[order], grid, side="right")]

    d = float(np.max(np.abs(cdf(x1, w1) - cdf(x2, w2))))
    n1, n2 = w1.sum() ** 2 / np.sum(w1**2), w2.sum() ** 2 / np.sum(w2**2)
    return d, float(kstwobign.sf(d * math.sqrt(n1 * n2 / (n1 + n2))))


def tail_fractions(
    recoil_mass2: np.ndarray,
    weights: np.ndarray | None = None,
    thresholds: tuple[float, ...] = RECOIL_TAIL_THRESHOLDS_GEV2,
) -> list[dict]:
    """For each threshold (GeV^2): events above it, the (weighted) fraction above it and its binomial error."""
    m2 = np.asarray(recoil_mass2, dtype=np.float64)
    out = []
    for t in thresholds:
        above = m2 > t
        f, e = weighted_fraction(above, weights)
        out.append({"threshold_gev2": t, "n_above": int(np.count_nonzero(above)), "fraction": f, "error": e})
    return out


def agrees(
    ours: float,
    e_ours: float,
    ref: float,
    e_ref: float,
    rel_tol: float,
    expected_ratio: float = 1.0,
    n_sigma: float = N_SIGMA_TOL,
) -> bool:
    """True when ours / ref is within ``rel_tol`` of ``expected_ratio`` or ours - expected x ref within n_sigma."""
    target = expected_ratio * ref
    if not (math.isfinite(ours) and math.isfinite(target)):
        return False
    if target != 0 and abs(ours / target - 1.0) <= rel_tol:
        return True
    sigma = math.hypot(e_ours, expected_ratio * e_ref)
    return sigma > 0 and abs(ours - target) <= n_sigma * sigma


def class_cross_section(
    xsec_pb: float, xsec_error_pb: float, fraction: float, fraction_error: float
) -> tuple[float, float]:
    """sigma x fraction (pb) and its error from the two relative errors added in quadrature."""
    value = xsec_pb * fraction
    return value, math.hypot(xsec_error_pb * fraction, xsec_pb * fraction_error)


def histogram(values: np.ndarray, weights: np.ndarray | None, bins: np.ndarray) -> dict[str, list[float]]:
    """Weighted counts and their sum of squared weights in ``bins`` (under/overflow not kept)."""
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    counts = np.histogram(values, bins, weights=w)[0]
    sumw2 = np.histogram(values, bins, weights=w**2)[0]
    return {"edges": [float(x) for x in bins], "counts": counts.tolist(), "sumw2": sumw2.tolist()}


# --------------------------------------------------------------------------- comparison of two samples


def compare(channel: str, samples: dict[str, dict]) -> dict:
    """The comparison lines of one channel from the per-sample summaries; each line has a ``pass`` flag.

    ``samples[s]`` holds ``xsec_pb``, ``xsec_error_pb``, ``class_fraction`` (value, error), ``tails``
    (:func:`tail_fractions`) and ``summary`` (name -> (value, error)).
    """
    py, us = samples["pythia"], samples["belle_mc"]
    lines = []
    xp = class_cross_section(py["xsec_pb"], py["xsec_error_pb"], *py["class_fraction"])
    xo = class_cross_section(us["xsec_pb"], us["xsec_error_pb"], *us["class_fraction"])
    tol = f"ratio within {XSEC_TOLERANCE[channel]:.0%} of {XSEC_EXPECTED_RATIO[channel]:.3f} or {N_SIGMA_TOL:g} sigma"
    tp, to = (py["xsec_pb"], py["xsec_error_pb"]), (us["xsec_pb"], us["xsec_error_pb"])
    lines.append(
        {
            "quantity": "generated cross section [pb]",
            "pythia": tp,
            "belle_mc": to,
            "ratio": ratio_with_error(*to, *tp),
            "expected_ratio": XSEC_EXPECTED_RATIO[channel],
            "tolerance": tol,
            "pass": agrees(*to, *tp, XSEC_TOLERANCE[channel], XSEC_EXPECTED_RATIO[channel]),
        }
    )
    r = ratio_with_error(xo[0], xo[1], xp[0], xp[1])
    lines.append(
        {
            "quantity": "two-muon class cross section [pb]",
            "pythia": xp,
            "belle_mc": xo,
            "ratio": r,
            "expected_ratio": XSEC_EXPECTED_RATIO[channel],
            "tolerance": tol,
            "pass": agrees(xo[0], xo[1], xp[0], xp[1], XSEC_TOLERANCE[channel], XSEC_EXPECTED_RATIO[channel]),
        }
    )
    for tp, to in zip(py["tails"], us["tails"]):
        a, b = (tp["fraction"], tp["error"]), (to["fraction"], to["error"])
        lines.append(
            {
                "quantity": f"fraction recoil M^2 > {tp['threshold_gev2']:g} GeV^2",
                "pythia": a,
                "belle_mc": b,
                "n_above": {"pythia": tp["n_above"], "belle_mc": to["n_above"]},
                "ratio": ratio_with_error(b[0], b[1], a[0], a[1]),
                "tolerance": f"ratio within {TAIL_REL_TOL:.0%} of 1 or {N_SIGMA_TOL:g} sigma",
                "pass": agrees(b[0], b[1], a[0], a[1], TAIL_REL_TOL),
            }
        )
    for name, a in py["summary"].items():
        b = us["summary"][name]
        lines.append(
            {
                "quantity": name,
                "pythia": a,
                "belle_mc": b,
                "ratio": ratio_with_error(b[0], b[1], a[0], a[1]),
                "tolerance": f"ratio within {SUMMARY_REL_TOL:.0%} of 1 or {N_SIGMA_TOL:g} sigma",
                "pass": agrees(b[0], b[1], a[0], a[1], SUMMARY_REL_TOL),
            }
        )
    return {"lines": lines}


def _fmt(value_error) -> str:
    v, e = value_error
    if not math.isfinite(v):
        return "-"
    if not e > 0:
        return f"{v:.5g} ± 0"
    digits = max(0, min(6, 1 - math.floor(math.log10(e))))
    return f"{v:.{digits}f} ± {e:.{digits}f}"


def markdown_table(results: dict[str, dict]) -> str:
    """One markdown table of every channel's comparison lines (``results[channel]`` as written to JSON)."""
    rows = [
        "| channel | quantity | Pythia 8 | belle_mc | belle_mc / Pythia | tolerance | |",
        "|---|---|---|---|---|---|---|",
    ]
    for channel, res in results.items():
        for line in res["comparison"]["lines"]:
            counts = line.get("n_above")
            n_py, n_us = (f" ({counts['pythia']} ev)", f" ({counts['belle_mc']} ev)") if counts else ("", "")
            rows.append(
                f"| {channel} | {line['quantity']} | {_fmt(line['pythia'])}{n_py} | {_fmt(line['belle_mc'])}{n_us} | "
                f"{_fmt(line['ratio'])} | {line['tolerance']} | {'PASS' if line['pass'] else 'FAIL'} |"
            )
        ks = res.get("ks_p_cms")
        if ks:
            rows.append(
                f"| {channel} | KS muon p* (two-muon class) | | | D = {ks['statistic']:.4f}, p = {ks['pvalue']:.3g} | "
                f"D < {KS_D_MAX} | {'PASS' if ks['pass'] else 'FAIL'} |"
            )
    return "\n".join(rows) + "\n"


TABLE_COLUMNS = ("pythia", "belle_mc", "ratio", "tolerance", "verdict")


def parse_table(table: str) -> dict[tuple[str, str], dict[str, str]]:
    """The rows of a :func:`markdown_table` as (channel, quantity) -> cells (``TABLE_COLUMNS``)."""
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(cells) == 2 + len(TABLE_COLUMNS):
            rows[(cells[0], cells[1])] = dict(zip(TABLE_COLUMNS, cells[2:]))
    return rows


def side_by_side(before: str, after: str) -> str:
    """One markdown table with the ``before`` and ``after`` cells of every (channel, quantity) next to each other."""
    b, a = parse_table(before), parse_table(after)
    rows = [
        (
            "| channel | quantity | tolerance | Pythia before | belle_mc before | ratio before | | "
            "Pythia after | belle_mc after | ratio after | |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in list(b) + [k for k in a if k not in b]:
        x, y = b.get(key, {}), a.get(key, {})
        tol = x.get("tolerance") or y.get("tolerance", "")
        cells = [x.get(k, "-") for k in ("pythia", "belle_mc", "ratio", "verdict")]
        cells += [y.get(k, "-") for k in ("pythia", "belle_mc", "ratio", "verdict")]
        rows.append(f"| {key[0]} | {key[1]} | {tol} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def docs_sections(page: str) -> dict[str, tuple[str, str]]:
    """label -> (command, table) of a page written by :func:`docs_page` (its ``## <label>`` sections)."""
    out = {}
    for part in page.split("\n## ")[1:]:
        head, _, body = part.partition("\n")
        label = head.strip()
        if label == "before and after":
            continue
        cmd = body.strip().splitlines()[0].strip("`") if body.strip().startswith("`") else ""
        table = "\n".join(x for x in body.splitlines() if x.startswith("|"))
        if table:
            out[label] = (cmd, table + "\n")
    return out


def docs_page(tables: dict[str, str], commands: dict[str, str]) -> str:
    """docs/validation-pythia.md from the markdown table of each label (``before``, ``after``, ...)."""
    parts = [
        "# Lepton backgrounds against Pythia 8\n",
        (
            "Written by `scripts/validate_pythia.py --write-docs` from `results/validation/pythia/<label>/` "
            "(a label whose directory is absent keeps its table from this page). "
            "Our `kkmc_mumu`, `kkmc_tautau` and `aafh_eemumu` events (production path: generate, `to_lab`, "
            "`detector.simulate`, skim nTrack >= 2) against Pythia 8 at the same sqrt(s), the Pythia final state "
            "passed through the same lab transform, detector response and skim. The two-muon class is the "
            "invisible-Z' preselection (exactly two opposite-charge tracks, both muonID > 0.9). Cross sections: "
            "Pythia sigmaGen, ours the channel cross section (KKMC normalisation for the KKMC channels); Pythia's "
            "mu pair is expected ~10% and tau pair ~3% below KKMC. Tail fractions are fractions of the two-muon "
            "class events with recoil M^2 above the threshold (in brackets: the events above it). Errors are "
            "MC statistical. Settings, tolerances and spectra: the script's docstring and the JSON, CSV and PNG "
            "files next to the tables.\n"
        ),
    ]
    labels = list(tables)
    if "before" in tables and "after" in tables:
        labels = ["before", "after"] + [x for x in tables if x not in ("before", "after")]
        parts.append(f"## before and after\n\n{side_by_side(tables['before'], tables['after'])}")
    for label in labels:
        parts.append(f"## {label}\n\n`{commands.get(label, '')}`\n\n{tables[label]}")
    return "\n".join(parts)


# --------------------------------------------------------------------------- generation


@dataclass
class Sample:
    """Skimmed detector-level events, their weights (None: unit weights), generated weight sum and cross section."""

    reco: detector.DetectorEvents
    weights: np.ndarray | None
    n_generated: int
    sum_weights: float
    sum_weights2: float
    xsec_pb: float
    xsec_error_pb: float
    seconds: float


def pythia_settings(channel: str, spin_correlations: bool = False) -> tuple[list[str], dict[str, float]]:
    """Pythia 8 settings (CM frame, e- along +z) and the forced parameters for ``channel`` (the seed and the quiet
    printing are added by ``belle_mc.pythia_channels.make_pythia``)."""
    settings = [
        "Beams:frameType = 1",
        f"Beams:eCM = {sqrt_s_gev()!r}",
        f"Beams:idA = {c.PDG_ELECTRON}",
        f"Beams:idB = {-c.PDG_ELECTRON}",
        f"PhaseSpace:mHatMin = {PYTHIA_MHAT_MIN_GEV[channel]}",
    ]
    forced = {"PhaseSpace:pTHatMinDiverge": PYTHIA_PTHAT_MIN_DIVERGE_GEV}
    if channel in ("kkmc_mumu", "kkmc_tautau"):
        lepton = c.PDG_MUON if channel == "kkmc_mumu" else c.PDG_TAU
        settings += [
            "PDF:lepton = on",
            "WeakSingleBoson:ffbar2ffbar(s:gmZ) = on",
            "23:onMode = off",
            f"23:onIfMatch = {lepton} {-lepton}",
            # Q^2 of the lepton PDF (the ISR logarithm) = sHat, which Pythia's manual recommends for processes
            # dominated by s-channel exchange; the default (the smaller mT^2 of the two leptons, ~ sHat/4 sin^2)
            # shortens the ISR logarithm and the hard-ISR tail (docs/validation-pythia.md)
            f"SigmaProcess:factorScale2 = {PYTHIA_ISR_SCALE_MODE}",
        ]
        if channel == "kkmc_tautau":
            # mode 1: helicity-correlated pair (~10x slower); mode 3: each tau alone, polarisation 0 (as belle_mc)
            settings += [f"TauDecays:mode = {1 if spin_correlations else 3}", "TauDecays:tauPolarization = 0"]
    elif channel == "aafh_eemumu":
        settings += [
            "PDF:lepton2gamma = on",
            "PhotonCollision:gmgm2mumu = on",
            f"Photon:Q2max = {AAFH_EEMUMU_Q2_MAX_GEV2}",
            "PartonLevel:MPI = off",
        ]
        forced["Photon:Wmin"] = AAFH_EEMUMU_W_MIN_GEV
    else:
        raise ValueError(f"no Pythia set-up for channel {channel!r}")
    return settings, forced


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ev", unit_scale=True, leave=False)


def generate_pythia(channel: str, n_events: int, seed: int, spin_correlations: bool) -> Sample:
    """Pythia events in chunks of ``nextBatch``, through our ``to_lab``, ``detector.simulate`` and skim."""
    import awkward as ak
    from belle_mc.pythia_channels import batch_particles, make_pythia, next_batch

    t0 = time.perf_counter()
    settings, forced = pythia_settings(channel, spin_correlations)
    pythia = make_pythia(settings, seed, forced)
    rng = np.random.default_rng([seed, 1])
    blocks, kept, sum_w, sum_w2 = [], [], 0.0, 0.0
    with _progress(n_events, f"Pythia {channel}") as bar:
        done = 0
        while done < n_events:
            n = min(PYTHIA_CHUNK, n_events - done)
            batch = next_batch(pythia, n)
            w = ak.to_numpy(batch["info"]["weights"])[:, 0].astype(np.float64)
            reco = detector.simulate(rng, to_lab(rng, batch_particles(batch), n), n)
            keep = reco.n_track >= SKIM_MIN_TRACKS
            blocks.append(reco.select(keep))
            kept.append(w[keep])
            sum_w, sum_w2 = sum_w + float(w.sum()), sum_w2 + float(np.sum(w**2))
            done += n
            bar.update(n)
    info = pythia.infoPython()
    weights = np.concatenate(kept)
    unit = bool(np.all(weights == 1.0)) and sum_w == n_events
    return Sample(
        _concat(blocks),
        None if unit else weights,
        n_events,
        sum_w,
        sum_w2,
        info.sigmaGen() * MB_TO_PB,
        info.sigmaErr() * MB_TO_PB,
        time.perf_counter() - t0,
    )


def generate_belle_mc(channel_name: str, n_events: int, seed: int) -> Sample:
    """Our events exactly as production makes them (``generate_block``, skimmed), with the channel cross section."""
    t0 = time.perf_counter()
    channel = CHANNELS[channel_name]
    process = channel.make_process(None)
    xsec = integrate(process, INTEGRATION_POINTS)
    sizes = [min(BLOCK_SIZE, n_events - b * BLOCK_SIZE) for b in range(math.ceil(n_events / BLOCK_SIZE))]
    blocks = []
    with _progress(n_events, f"belle_mc {channel_name}") as bar:
        for b, n in enumerate(sizes):
            blocks.append(generate_block(channel, process, xsec, seed, channel_name, b, n).detector_events)
            bar.update(n)
    if channel.fixed_xsec_pb is not None:
        value, error = channel.fixed_xsec_pb, 0.0
    else:
        value, error = xsec.xsec_pb, xsec.error_pb
    sample = Sample(
        _concat(blocks), None, n_events, float(n_events), float(n_events), value, error, time.perf_counter() - t0
    )
    sample.model_xsec = (xsec.xsec_pb, xsec.error_pb)  # type: ignore[attr-defined]
    return sample


def _concat(blocks: list[detector.DetectorEvents]) -> detector.DetectorEvents:
    return detector.DetectorEvents(
        sum(b.n_events for b in blocks),
        np.concatenate([b.n_track for b in blocks]),
        {k: np.concatenate([b.track[k] for b in blocks]) for k in blocks[0].track},
        np.concatenate([b.n_cluster for b in blocks]),
        {k: np.concatenate([b.cluster[k] for b in blocks]) for k in blocks[0].cluster},
    )


# --------------------------------------------------------------------------- analysis


def fraction_of_generated(pass_weights: np.ndarray, sum_w: float, sum_w2: float) -> tuple[float, float]:
    """Fraction of the generated (weighted) events that pass, and its binomial error.

    ``pass_weights`` are the weights of the passing events, ``sum_w`` and ``sum_w2`` the sum of the
    weights and of their squares over all generated events (same formula as :func:`weighted_fraction`).
    """
    pw = np.asarray(pass_weights, dtype=np.float64)
    if sum_w <= 0:
        return math.nan, math.nan
    f = float(pw.sum() / sum_w)
    p2 = float(np.sum(pw**2))
    var = p2 * (1 - f) ** 2 + max(sum_w2 - p2, 0.0) * f**2
    return f, math.sqrt(var) / sum_w


def analyse(sample: Sample) -> dict:
    """Two-muon class, its CM spectra and tails, and skim-level checks of one sample."""
    reco = sample.reco
    w = np.ones(reco.n_events) if sample.weights is None else sample.weights
    stage, variables = dimuon_event_variables(reco.n_track, reco.track, reco.n_cluster, reco.cluster)
    in_class = stage == STAGE_TWO_MUON_ID
    w_class = w[in_class]
    # class events have exactly two tracks: their muons are the tracks of the class events, in event order
    t_mask = np.repeat(in_class, reco.n_track)
    p3 = np.stack([reco.track[k][t_mask].astype(np.float64) for k in ("px", "py", "pz")], axis=1)
    p4 = np.column_stack([np.sqrt(np.sum(p3**2, axis=1) + c.MUON_MASS_GEV**2), p3])
    p_cms = np.linalg.norm(lab_to_cms(p4)[:, 1:], axis=1)
    values = {"p_cms": p_cms, "m_mumu": variables[COLUMN["m_mumu"]], "recoil_mass2": variables[COLUMN["recoil_mass2"]]}
    weights = {"p_cms": np.repeat(w_class, 2), "m_mumu": w_class, "recoil_mass2": w_class}
    # skim-level checks of the former tau-pair script, per generated event (skim efficiency) or per skimmed event
    t_event = np.repeat(np.arange(reco.n_events), reco.n_track)
    charge_sum = np.bincount(t_event, weights=reco.track["charge"], minlength=reco.n_events)
    n = reco.n_events

    def mean(x: np.ndarray) -> tuple[float, float]:
        wm = np.average(x, weights=w)
        n_eff = w.sum() ** 2 / np.sum(w**2)
        return float(wm), float(np.sqrt(np.average((x - wm) ** 2, weights=w) / n_eff))

    summary = {
        "skim efficiency (nTrack >= 2)": fraction_of_generated(w, sample.sum_weights, sample.sum_weights2),
        "mean nTrack (skimmed)": mean(reco.n_track.astype(float)),
        "mean nCluster (skimmed)": mean(reco.n_cluster.astype(float)),
        "fraction 2 tracks, opposite charge (skimmed)": weighted_fraction((reco.n_track == 2) & (charge_sum == 0), w),
    }
    return {
        "n_generated": sample.n_generated,
        "n_skimmed": n,
        "n_class": int(np.count_nonzero(in_class)),
        "xsec_pb": sample.xsec_pb,
        "xsec_error_pb": sample.xsec_error_pb,
        "weighted": sample.weights is not None,
        "class_fraction": fraction_of_generated(w_class, sample.sum_weights, sample.sum_weights2),
        "tails": tail_fractions(values["recoil_mass2"], w_class),
        "summary": summary,
        "histograms": {k: histogram(values[k], weights[k], HIST_BINS[k]) for k in HIST_BINS},
        "seconds": sample.seconds,
        "_p_cms": (p_cms, weights["p_cms"]),
    }


def plot(channel: str, res: dict[str, dict], path: Path) -> None:
    """The three CM spectra of the two-muon class, normalised to the class cross section (pb / bin), with ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(16, 7), height_ratios=[3, 1], sharex="col")
    style = {
        "pythia": {"color": "black", "label": "Pythia 8"},
        "belle_mc": {"color": "tab:red", "label": f"belle_mc {channel}"},
    }
    for k, name in enumerate(HIST_BINS):
        ax, rax = axes[0, k], axes[1, k]
        scaled = {}
        for s in SAMPLES:
            h, a = res[s]["histograms"][name], res[s]
            scale = a["xsec_pb"] / a["sum_weights"]
            counts, err = np.asarray(h["counts"]) * scale, np.sqrt(h["sumw2"]) * scale
            scaled[s] = (counts, err)
            edges = np.asarray(h["edges"])
            ax.stairs(counts, edges, **style[s])
            ax.errorbar(0.5 * (edges[1:] + edges[:-1]), counts, yerr=err, fmt="none", color=style[s]["color"])
        (o, eo), (p, ep) = scaled["belle_mc"], scaled["pythia"]
        ok = (o > 0) & (p > 0)
        r = np.divide(o, p, out=np.full_like(o, np.nan), where=ok)
        er = np.where(ok, r * np.sqrt((eo / np.where(ok, o, 1)) ** 2 + (ep / np.where(ok, p, 1)) ** 2), np.nan)
        centers = 0.5 * (edges[1:] + edges[:-1])
        rax.errorbar(centers[ok], r[ok], yerr=er[ok], fmt="o", ms=3, color="tab:red")
        rax.axhline(1.0, color="black", lw=0.8)
        rax.set_ylim(0.0, 2.0)
        rax.set_ylabel("belle_mc / Pythia")
        rax.set_xlabel(HIST_LABELS[name] + " (CM)")
        ax.set_ylabel("pb / bin (two-muon class)")
        ax.set_yscale("log")
        ax.legend(fontsize=9)
    fig.suptitle(f"{channel} vs Pythia 8, sqrt(s) = {sqrt_s_gev():.3f} GeV, same lab transform and detector")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def run_channel(channel: str, n_events: int, seed: int, spin_correlations: bool, out: Path) -> dict:
    """Generate both samples of ``channel``, compare them, write JSON, CSV and PNG; return the JSON content."""
    samples = {
        "pythia": generate_pythia(channel, n_events, seed, spin_correlations),
        "belle_mc": generate_belle_mc(channel, n_events, seed),
    }
    res = {s: analyse(samples[s]) for s in SAMPLES}
    for s in SAMPLES:
        res[s]["sum_weights"] = samples[s].sum_weights
    res["belle_mc"]["xsec_model_pb"] = list(samples["belle_mc"].model_xsec)
    ks = None
    if len(res["pythia"]["_p_cms"]) and len(res["belle_mc"]["_p_cms"]):
        d, pvalue = weighted_ks(*res["belle_mc"]["_p_cms"], *res["pythia"]["_p_cms"])
        ks = {"statistic": d, "pvalue": pvalue, "pass": bool(d < KS_D_MAX)}
    for s in SAMPLES:
        del res[s]["_p_cms"]
    settings, forced = pythia_settings(channel, spin_correlations)
    result = {
        "channel": channel,
        "events": n_events,
        "seed": seed,
        "sqrt_s_gev": sqrt_s_gev(),
        "pythia_settings": settings,
        "pythia_forced": forced,
        "tau_spin_correlations": spin_correlations,
        "two_muon_class": f"exactly two opposite-charge tracks, both muonID > {det.PID_CUT}",
        "samples": res,
        "comparison": compare(channel, res),
        "ks_p_cms": ks,
    }
    (out / f"{channel}.json").write_text(json.dumps(result, indent=1) + "\n")
    rows = ["sample,quantity,lo,hi,counts,sumw2"]
    for s in SAMPLES:
        for name, h in res[s]["histograms"].items():
            e = h["edges"]
            rows += [f"{s},{name},{e[i]},{e[i + 1]},{h['counts'][i]},{h['sumw2'][i]}" for i in range(len(h["counts"]))]
    (out / f"{channel}_spectra.csv").write_text("\n".join(rows) + "\n")
    plot(channel, res, out / f"{channel}.png")
    return result


def print_result(result: dict) -> None:
    """PASS/FAIL per comparison line on stdout."""
    print(
        f"\n{result['channel']}: {result['events']} events per generator; class events Pythia "
        f"{result['samples']['pythia']['n_class']}, belle_mc {result['samples']['belle_mc']['n_class']}; "
        f"seconds Pythia {result['samples']['pythia']['seconds']:.0f}, belle_mc {result['samples']['belle_mc']['seconds']:.0f}"
    )
    for line in result["comparison"]["lines"]:
        print(
            f"  {'PASS' if line['pass'] else 'FAIL'}  {line['quantity']:<46} Pythia {_fmt(line['pythia']):>22}  "
            f"belle_mc {_fmt(line['belle_mc']):>22}  ratio {_fmt(line['ratio']):>16}  [{line['tolerance']}]"
        )
    ks = result["ks_p_cms"]
    if ks:
        print(
            f"  {'PASS' if ks['pass'] else 'FAIL'}  KS muon p* D = {ks['statistic']:.4f} (p = {ks['pvalue']:.3g}) [D < {KS_D_MAX}]"
        )


def load_label(directory: Path) -> dict[str, dict]:
    """The channel JSON files of one label directory, in the order of :data:`VALIDATED_CHANNELS`."""
    return {
        ch: json.loads((directory / f"{ch}.json").read_text())
        for ch in VALIDATED_CHANNELS
        if (directory / f"{ch}.json").exists()
    }


def write_docs(root: Path, docs: Path) -> Path:
    """(Re)write docs/validation-pythia.md from the channel JSON files of every label under ``root``."""
    tables, commands = {}, {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        results = load_label(d)
        if results:
            tables[d.name] = markdown_table(results)
            cmd = d / "command.txt"
            commands[d.name] = cmd.read_text().strip() if cmd.exists() else ""
    if docs.exists():
        for label, (cmd, table) in docs_sections(docs.read_text()).items():
            if label not in tables:
                tables[label], commands[label] = table, cmd
    if not tables:
        raise FileNotFoundError(f"no <label>/<channel>.json under {root}")
    docs.write_text(docs_page(tables, commands))
    return docs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", nargs="+", default=list(VALIDATED_CHANNELS), choices=VALIDATED_CHANNELS)
    parser.add_argument(
        "--events",
        type=int,
        nargs="+",
        default=[100_000],
        help="generated events per generator: one number, or one per channel (default 100000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of both generators (0 < seed < 9e8)")
    parser.add_argument(
        "--spin-correlations", action="store_true", help="Pythia tau-pair spin correlations (~10x slower)"
    )
    parser.add_argument("--output", type=Path, default=Path("results/validation/pythia"))
    parser.add_argument("--label", default="before", help="subdirectory of the output (before, after, ...)")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="only (re)write docs/validation-pythia.md from the tables under --output",
    )
    parser.add_argument("--docs", type=Path, default=Path("docs/validation-pythia.md"))
    args = parser.parse_args(argv)
    if args.write_docs:
        print(f"wrote {write_docs(args.output, args.docs)}")
        return {}
    events = args.events * len(args.channels) if len(args.events) == 1 else args.events
    if len(events) != len(args.channels) or min(events) <= 0 or not 0 < args.seed < 900_000_000:
        parser.error("--events: one positive number or one per channel; 0 < --seed < 900000000")
    out = args.output / args.label
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for channel, n in zip(args.channels, events):
        results[channel] = run_channel(channel, n, args.seed, args.spin_correlations, out)
        print_result(results[channel])
    # the table holds every channel of this label that has a JSON (so channels can be run one at a time)
    (out / "table.md").write_text(markdown_table(load_label(out)))
    (out / "command.txt").write_text(
        " ".join(["python scripts/validate_pythia.py", *(argv if argv is not None else sys.argv[1:])]) + "\n"
    )
    print(f"\n{out / 'table.md'}; spectra and plots in {out}")
    return results


if __name__ == "__main__":
    main()
