"""The visible-Z' selection: four-muon kernel, reduced-mass peak, pairing, efficiencies, processor and limits."""

import csv
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot
from belle_mc.production import produce

from core import constants as c
from core.beams import cms_frame
from core.ntuple_schema import read_flat_buffers
from selections.visible_zprime import (
    COLUMN,
    MR_ROWS,
    STAGE_FOUR_TRACKS,
    STAGE_MUON_ID,
    STAGE_NONE,
    STAGE_TOTAL_ENERGY,
    STAGE_ZERO_NET_CHARGE,
    STAGES,
    chosen_pair,
    four_muon_event_variables,
    load_resolution_table,
    reduced_mass_gev,
    scan_masses_gev,
    scan_window_hits,
    window_codes,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from validate_visible_signal import measure_signal  # noqa: E402

MASS_GEV = 2.0
SIGNAL_EVENTS = 10_000
PAIRING_FRACTION_MIN = 0.97
"""Measured 0.996 at 2 GeV and 0.98-1.00 over 0.25-10 GeV on the visible default sample."""


@pytest.fixture(scope="module")
def visible_sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("visible_sample")
    produce("signal_visible", SIGNAL_EVENTS, out, mass=MASS_GEV, seed=11, progress=False)
    produce("signal_visible_isr", SIGNAL_EVENTS, out, mass=MASS_GEV, seed=11, progress=False)
    produce("aafh_mumumumu", 20_000, out, seed=11, progress=False)
    return out


def _files(directory, dataset):
    fileset = json.loads((directory / "fileset.json").read_text())
    return [str(directory / f) for f in fileset[dataset]["files"]], fileset[dataset]["metadata"]


# --- the kernel on hand-built events ----------------------------------------------------------


def _muon_cms(p, cos_theta, phi):
    s = np.sqrt(1 - cos_theta**2)
    return np.array([np.sqrt(p * p + c.MUON_MASS_GEV**2), p * s * np.cos(phi), p * s * np.sin(phi), p * cos_theta])


def _to_lab(p4_cms):
    return cms_frame()[2] @ p4_cms


def _event(p4s_cms, charges, muon_id=(0.95, 0.95, 0.95, 0.95)):
    lab = np.array([_to_lab(p) for p in p4s_cms])
    return {
        "px": lab[:, 1].astype(np.float32), "py": lab[:, 2].astype(np.float32), "pz": lab[:, 3].astype(np.float32),
        "charge": np.array(charges, dtype=np.int32), "muonID": np.array(muon_id[: len(lab)], dtype=np.float32),
    }  # fmt: skip


def _concat(events):
    return np.array([len(e["px"]) for e in events], dtype=np.int32), {k: np.concatenate([e[k] for e in events]) for k in events[0]}


def test_kernel_pair_masses_on_a_hand_built_event():
    # a Z' of 3 GeV at rest... in the frame of a recoiling muon pair: build a balanced four-muon event in the CM
    sqrt_s = cms_frame()[0]
    m_zp = 3.0
    p_z = 2.0  # Z' momentum along +x, decays to two muons perpendicular to its flight in its rest frame
    e_z = np.hypot(m_zp, p_z)
    q = np.sqrt(m_zp**2 / 4 - c.MUON_MASS_GEV**2)
    gamma, beta_gamma = e_z / m_zp, p_z / m_zp
    e_mu = np.hypot(q, c.MUON_MASS_GEV)
    z_minus = np.array([gamma * e_mu, beta_gamma * e_mu, q, 0.0])
    z_plus = np.array([gamma * e_mu, beta_gamma * e_mu, -q, 0.0])
    # the recoiling pair: total (sqrt(s) - e_z, -p_z, 0, 0), split back to back in its rest frame along z
    m_rec2 = (sqrt_s - e_z) ** 2 - p_z**2
    k = np.sqrt(m_rec2 / 4 - c.MUON_MASS_GEV**2)
    g2, bg2 = (sqrt_s - e_z) / np.sqrt(m_rec2), -p_z / np.sqrt(m_rec2)
    e_k = np.hypot(k, c.MUON_MASS_GEV)
    r_minus = np.array([g2 * e_k, bg2 * e_k, 0.0, k])
    r_plus = np.array([g2 * e_k, bg2 * e_k, 0.0, -k])
    # track order: mu+ (Z'), mu- (recoil), mu- (Z'), mu+ (recoil)
    event = _event([z_plus, r_minus, z_minus, r_plus], [1, -1, -1, 1])
    n_track, tracks = _concat([event])
    stage, var, bits, rows = four_muon_event_variables(n_track, tracks)
    assert stage[0] == STAGE_TOTAL_ENERGY and list(rows) == [0]
    assert var[COLUMN["e_total_cms"], 0] == pytest.approx(sqrt_s, abs=2e-5)
    assert var[COLUMN["p_total_cms"], 0] == pytest.approx(0.0, abs=2e-5)
    mr = var[MR_ROWS, 0]
    # negatives in track order: a = track 1 (recoil), b = track 2 (Z'); positives: c = track 0 (Z'), d = track 3
    assert [int(b) for b in bits[:, 0]] == [0b0011, 0b1100, 0b1010, 0b0101]
    assert mr[3] == pytest.approx(float(reduced_mass_gev(m_zp)), rel=1e-4)  # (b, c): the Z' pair, pairing 1
    assert mr[2] == pytest.approx(float(reduced_mass_gev(np.sqrt(m_rec2))), rel=1e-4)  # (a, d): its partner
    cms = [z_plus, r_minus, z_minus, r_plus]
    for j, (t1, t2) in enumerate([(1, 0), (2, 3), (1, 3), (2, 0)]):
        pair = cms[t1] + cms[t2]
        m2 = pair[0] ** 2 - pair[1:] @ pair[1:]
        assert mr[j] == pytest.approx(np.sqrt(m2 - 4 * c.MUON_MASS_GEV**2), rel=1e-4)
    # the pairing rule picks the Z' pair for its own mass hypothesis and the partner for the recoil mass
    picked = chosen_pair(var, reduced_mass_gev(np.array([m_zp, np.sqrt(m_rec2)])))
    assert list(picked[:, 0]) == [3, 2]


def test_kernel_stages():
    p = [_muon_cms(2.6, 0.3, 0.1), _muon_cms(2.6, -0.3, 0.1 + np.pi), _muon_cms(2.6, 0.5, 1.5), _muon_cms(2.6, -0.5, 1.5 + np.pi)]
    sqrt_s = cms_frame()[0]
    scale = sqrt_s / sum(x[0] for x in p)
    balanced = [np.array([np.hypot(np.linalg.norm(x[1:]) * scale, c.MUON_MASS_GEV), *(x[1:] * scale)]) for x in p]
    events = [
        _event(balanced, [-1, 1, -1, 1]),  # passes everything
        _event(balanced[:3], [-1, 1, -1]),  # three tracks
        _event(balanced, [-1, 1, 1, 1]),  # net charge +2
        _event(balanced, [-1, 1, -1, 1], muon_id=(0.95, 0.2, 0.3, 0.1)),  # one identified muon
        _event(balanced, [-1, 1, -1, 1], muon_id=(0.95, 0.95, 0.3, 0.1)),  # two identified muons: enough
        _event([x * 0.9 for x in balanced], [-1, 1, -1, 1]),  # 1 GeV missing
    ]
    n_track, tracks = _concat(events)
    stage, var, bits, rows = four_muon_event_variables(n_track, tracks)
    assert list(stage) == [STAGE_TOTAL_ENERGY, STAGE_NONE, STAGE_FOUR_TRACKS, STAGE_ZERO_NET_CHARGE, STAGE_TOTAL_ENERGY, STAGE_MUON_ID]
    assert list(rows) == [0, 3, 4, 5]
    assert list(var[COLUMN["n_muon_id"]]) == [4, 1, 2, 4]
    assert var[COLUMN["e_total_cms"], 3] == pytest.approx(0.9 * sqrt_s, rel=1e-3)
    with pytest.raises(ValueError, match="px buffer"):
        four_muon_event_variables(n_track + 1, tracks)


# --- generated signal -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signal_measurements(visible_sample):
    out = {}
    for channel in ("signal_visible", "signal_visible_isr"):
        files, meta = _files(visible_sample, f"{channel}_mzp_2p0")
        out[channel] = measure_signal(files, meta["mzp"], meta["n_generated"])
    return out


def test_reduced_mass_peaks_at_the_true_reduced_mass(signal_measurements):
    m = signal_measurements["signal_visible"]
    true_mr = float(reduced_mass_gev(MASS_GEV))
    sigma = m.sigma_mr_gev
    assert abs(m.median_mr_gev - true_mr) < 0.1 * sigma
    # the width is the detector's: a few per mille of m_R (pt resolution 0.19% pt + 0.3%), and the table agrees
    assert 0.001 < sigma / true_mr < 0.01
    assert sigma == pytest.approx(float(load_resolution_table().sigma_at(MASS_GEV)), rel=0.15)
    # the ISR photon does not move the Z' pair's mass
    isr = signal_measurements["signal_visible_isr"]
    assert abs(isr.median_mr_gev - true_mr) < 0.1 * sigma


def test_pairing_rule_keeps_the_true_pair(signal_measurements):
    for m in signal_measurements.values():
        assert m.pairing_fraction > PAIRING_FRACTION_MIN


def test_isr_lowers_the_detection_efficiency(signal_measurements):
    """ISR photons carry energy away: the |E*_4mu - sqrt(s)| < 0.5 GeV cut drops the events with x > ~0.1."""
    plain, isr = signal_measurements["signal_visible"], signal_measurements["signal_visible_isr"]
    sigma = float(load_resolution_table().sigma_at(MASS_GEV))
    eff_plain, eff_isr = plain.window_efficiency(sigma), isr.window_efficiency(sigma)
    error = np.hypot(*(np.sqrt(e * (1 - e) / SIGNAL_EVENTS) for e in (eff_plain, eff_isr)))
    assert 0.5 < eff_plain < 0.8  # four tracks in the CDC, two muon IDs (measured 0.65 on the default sample)
    assert eff_plain - eff_isr > 5 * error
    # about the radiator's weight above x = 0.5 GeV / E_beam: beta ln(1 / x) ~ 0.2
    assert 0.05 < 1 - eff_isr / eff_plain < 0.3


def test_scan_counts_what_the_pairing_rule_counts(visible_sample):
    """An event has a pair in the window of m exactly when its pair closest to m is in it."""
    resolution = load_resolution_table()
    files, _ = _files(visible_sample, "aafh_mumumumu")
    n_track, tracks, _, _ = read_flat_buffers(uproot.open(files[0])["events"])
    stage, var, _, rows = four_muon_event_variables(n_track, tracks)
    selected = stage[rows] == STAGE_TOTAL_ENERGY
    masses = np.geomspace(0.22, 9.5, 40)
    codes, _ = window_codes(stage[rows], var, masses, resolution)
    hyp, col = scan_window_hits(var, selected, masses, resolution)
    np.testing.assert_array_equal(np.bincount(hyp, minlength=len(masses)), np.count_nonzero(codes == 2, axis=1))
    assert len(np.unique(hyp * len(rows) + col)) == len(hyp)  # an event counts once per hypothesis
    assert np.count_nonzero(codes == 2) > 100


def test_scan_grid_steps_by_two_sigma():
    resolution = load_resolution_table()
    m = scan_masses_gev(resolution)
    assert m[0] == 0.212 and m[-1] == 10.0 and np.all(np.diff(m) > 0)
    steps = np.diff(reduced_mass_gev(m))[:-1] / resolution.sigma_at(m[:-2])
    np.testing.assert_allclose(steps, 2.0, rtol=1e-9)
    assert 300 < len(m) < 1000


# --- processor, run.py and the limits -----------------------------------------------------------


@pytest.fixture(scope="module")
def visible_run(visible_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("visible_run") / "visible.pkl"
    res = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--analysis", "visible", "--fileset", str(visible_sample / "fileset.json"),
         "--executor", "iterative", "--chunksize", "7000", "--output", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    with open(out, "rb") as fh:
        return out, pickle.load(fh)


def test_cutflow_and_histograms_agree(visible_run, visible_sample):
    out, result = visible_run
    assert out.with_name("visible_mr.png").exists()
    meta = result["metadata"]["dataset_metadata"]
    lumi = result["metadata"]["lumi_fb"]
    for name, d in result["datasets"].items():
        files, _ = _files(visible_sample, name)
        assert d["cutflow"]["all"] == sum(uproot.open(f)["events"].num_entries for f in files)
        assert list(d["cutflow"]) == ["all", *STAGES]
        counts = list(d["cutflow"].values())
        assert counts == sorted(counts, reverse=True)
        n = d["cutflow"][STAGES[-1]]
        w = meta[name]["xsec_pb"] * lumi * 1000.0 / meta[name]["n_generated"]
        assert d["mr_all_pairs"].sum(flow=True).value == pytest.approx(4 * n * w, rel=1e-9)
        assert d["recoil_mass2"].sum(flow=True).value == pytest.approx(n * w, rel=1e-9)
        scan = d["mr_scan"]
        assert len(scan.values()) == len(result["metadata"]["scan_mzp_gev"])
        assert scan.sum(flow=True).value <= 4 * 3 * n * w * (1 + 1e-9)  # a pair falls into at most 3 windows
        chosen = d["mr_chosen"]
        for h, m in enumerate(d["cutflow_mzp"]):
            assert d["cutflow_mzp"][m][STAGES[-1]] == n
            assert chosen[h, :].sum(flow=True).value == pytest.approx(n * w, rel=1e-9)
            assert d["cutflow_mzp"][m]["mr_window"] <= n


def test_window_counts_match_the_direct_measurement(visible_run, signal_measurements):
    _, result = visible_run
    sigma = float(load_resolution_table().sigma_at(MASS_GEV))
    plain = signal_measurements["signal_visible"]
    window = result["datasets"]["signal_visible_mzp_2p0"]["cutflow_mzp"][2000]["mr_window"]
    assert window == round(plain.window_efficiency(sigma) * plain.n_generated)


def test_limits_script_writes_the_combined_curve(visible_run, tmp_path):
    out, _ = visible_run
    invisible = tmp_path / "limits.csv"
    invisible.write_text("mzp_gev,gprime_exp\n1.0,0.03\n2.0,0.04\n")
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_visible_sensitivity.py"), "--input", str(out), "--invisible", str(invisible),
         "--output", str(tmp_path / "limits")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    with open(tmp_path / "limits" / "limits.csv", newline="") as fh:
        rows = {(r["signal_channel"], float(r["mzp_gev"])): r for r in csv.DictReader(fh)}
    row = rows[("signal_visible", MASS_GEV)]
    g_exp = float(row["gprime_exp"])
    # the limit in events is a few x the background's spread, sqrt(B + sigma_B^2) with sigma_B its MC error
    # (a channel without MC events in the window adds its one-event weight +- itself); from the row's own inputs
    s1 = float(row["signal_yield_g1"])
    b = float(row["background"])
    spread = np.sqrt(b + float(row["background_stat"]) ** 2)
    assert 1.0 * np.sqrt(b) < g_exp**2 * s1 < 3.0 * spread + 3.0
    assert float(row["gprime_exp_m1"]) < g_exp < float(row["gprime_exp_p1"])
    assert float(row["br_mumu"]) == pytest.approx(0.5, abs=0.002)
    assert (tmp_path / "limits" / "gprime_visible_invisible.png").exists()
    curve = (tmp_path / "limits" / "gprime_visible_invisible.csv").read_text()
    assert "invisible,1,0.03" in curve
    with open(tmp_path / "limits" / "scan_limits.csv", newline="") as fh:
        scan = [r for r in csv.DictReader(fh) if r["signal_channel"] == "signal_visible"]
    m = np.array([float(r["mzp_gev"]) for r in scan])
    g = np.array([float(r["gprime_exp"]) for r in scan])
    # the scan (exact CLs, interpolated signal) agrees with pyhf at the signal mass within the window spacing
    assert np.interp(MASS_GEV, m, g) == pytest.approx(g_exp, rel=0.15)


def test_bad_options_are_one_line_errors(tmp_path):
    res = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--analysis", "visible", "--fileset", str(tmp_path / "none.json"), "--features", "x"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_visible_sensitivity.py"), "--input", str(tmp_path / "none.pkl")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and "none.pkl" in res.stderr
