"""Generators of the leptophilic-scalar search: e+e- -> tau tau phi_L, radiative Bhabha, tau tau e e (docs/physics.md §5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from belle_mc.catalog import SCALAR_MASSES_GEV, scalar_requests
from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate, sample_unweighted
from belle_mc.processes import ScalarEmission, scalar_emission_density
from core import constants as c

# docs/physics.md §5: sigma(e+e- -> tau tau phi_L) for xi = 1, Born level, fb
PHYSICS_MD_XSEC_FB = {0.05: 7.3, 0.1: 5.7, 0.3: 3.4, 0.5: 2.45, 1.0: 1.39, 2.0: 0.57, 3.0: 0.24, 4.0: 0.095, 5.0: 0.029, 6.0: 0.005}

GENERATE = Path(__file__).resolve().parents[1] / "datasets" / "generate.py"


# ---------------------------------------------------------------------------------------------
# The Dalitz density against the Dirac trace it was derived from
# ---------------------------------------------------------------------------------------------
def _gamma_matrices():
    i2, z2 = np.eye(2), np.zeros((2, 2))
    pauli = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]])]
    g0 = np.block([[i2, z2], [z2, -i2]]).astype(complex)
    return [g0] + [np.block([[z2, s], [-s, z2]]).astype(complex) for s in pauli]


_GAMMA = _gamma_matrices()
_METRIC = np.array([1.0, -1.0, -1.0, -1.0])


def _slash(p):
    return sum(_METRIC[m] * p[m] * _GAMMA[m] for m in range(4))


def _dot(a, b):
    return a[0] * b[0] - a[1:] @ b[1:]


def _hadronic_tensor(p1, p2, k, m):
    """H^mu nu = sum_spins Tr[(p1/ + m) G^mu (p2/ - m) Gbar^nu] of gamma* -> l-(p1) l+(p2) phi(k), explicit matrices.

    G^mu = (p1/ + k/ + m) gamma^mu / D1 + gamma^mu (-p2/ - k/ + m) / D2: phi leaves the outgoing l- or l+.
    """
    one = np.eye(4)
    d1, d2 = _dot(p1 + k, p1 + k) - m * m, _dot(p2 + k, p2 + k) - m * m
    g = [(_slash(p1 + k) + m * one) @ _GAMMA[mu] / d1 + _GAMMA[mu] @ (-_slash(p2 + k) + m * one) / d2 for mu in range(4)]
    gbar = [_GAMMA[mu] @ (_slash(p1 + k) + m * one) / d1 + (-_slash(p2 + k) + m * one) @ _GAMMA[mu] / d2 for mu in range(4)]
    a, b = _slash(p1) + m * one, _slash(p2) - m * one
    return np.array([[np.trace(a @ g[mu] @ b @ gbar[nu]) for nu in range(4)] for mu in range(4)])


def _trace_density(p1, p2, k, m):
    """-g_mu nu H^mu nu / 8: the Dalitz density of scalar_emission_density before normalisation."""
    h = _hadronic_tensor(p1, p2, k, m)
    return -sum(_METRIC[mu] * h[mu, mu].real for mu in range(4)) / 8.0


def test_dalitz_density_is_the_dirac_trace_of_the_yukawa_amplitude():
    rng = np.random.default_rng(3)
    n_checked = 0
    for m_phi in (0.05, 1.0, 4.0):
        proc = ScalarEmission(m_phi, energy_spread=0.0)
        ev = sample_unweighted(proc, rng, 20, integrate(proc, 50_000).max_weight)
        rs = proc.sqrt_s
        for p1, p2, k in zip(ev["lepton_minus"], ev["lepton_plus"], ev["scalar"]):
            x1, x2 = 2 * p1[0] / rs, 2 * p2[0] / rs
            analytic = scalar_emission_density(x1, x2, m_phi**2 / rs**2, c.TAU_MASS_GEV**2 / rs**2)
            assert analytic == pytest.approx(_trace_density(p1, p2, k, c.TAU_MASS_GEV), rel=1e-9)
            n_checked += 1
    assert n_checked == 60


def test_the_electromagnetic_current_is_conserved():
    """q_mu H^mu nu = 0 (in the CM frame H^0 nu = 0): what lets the beam average be -g_mu nu H^mu nu."""
    proc = ScalarEmission(2.0, energy_spread=0.0)
    ev = sample_unweighted(proc, np.random.default_rng(4), 10, integrate(proc, 50_000).max_weight)
    for p1, p2, k in zip(ev["lepton_minus"], ev["lepton_plus"], ev["scalar"]):
        h = _hadronic_tensor(p1, p2, k, c.TAU_MASS_GEV)
        assert np.max(np.abs(h[0])) < 1e-12 * np.max(np.abs(h))
        assert np.max(np.abs(h[:, 0])) < 1e-12 * np.max(np.abs(h))


def test_beam_average_of_the_full_squared_matrix_element_is_four_thirds_s_times_the_trace():
    """<L_mu nu H^mu nu> over event orientations = (4 s / 3) (-g_mu nu H^mu nu), with the massless-beam tensor
    L^mu nu = 4 (k1^mu k2^nu + k2^mu k1^nu - (k1.k2) g^mu nu): the step from the full |M|^2 to the Dalitz density."""
    rng = np.random.default_rng(8)
    proc = ScalarEmission(1.0, energy_spread=0.0)
    ev = sample_unweighted(proc, rng, 1, integrate(proc, 50_000).max_weight)
    p1, p2, k = ev["lepton_minus"][0], ev["lepton_plus"][0], ev["scalar"][0]
    rs = proc.sqrt_s
    k1, k2 = np.array([rs / 2, 0, 0, rs / 2]), np.array([rs / 2, 0, 0, -rs / 2])
    g = np.diag(_METRIC)
    l_upper = 4 * (np.outer(k1, k2) + np.outer(k2, k1) - _dot(k1, k2) * g)
    l_lower = g @ l_upper @ g
    trace = 8 * _trace_density(p1, p2, k, c.TAU_MASS_GEV)
    ratios = []
    for _ in range(400):
        rotation, r = np.linalg.qr(rng.normal(size=(3, 3)))
        rotation = rotation @ np.diag(np.sign(np.diag(r)))  # uniform random rotation
        turned = [np.r_[v[0], rotation @ v[1:]] for v in (p1, p2, k)]
        ratios.append(np.sum(l_lower * _hadronic_tensor(*turned, c.TAU_MASS_GEV)).real / (4 * rs**2 / 3 * trace))
    assert np.mean(ratios) == pytest.approx(1.0, abs=max(0.02, 4 * np.std(ratios) / np.sqrt(len(ratios))))


def test_orientation_weight_is_the_full_squared_matrix_element_over_its_average():
    from belle_mc.processes import scalar_orientation_weight

    rng = np.random.default_rng(12)
    for m_phi in (0.1, 2.0, 5.0):
        proc = ScalarEmission(m_phi, energy_spread=0.0)
        rs = proc.sqrt_s
        k1, k2 = np.array([rs / 2, 0, 0, rs / 2]), np.array([rs / 2, 0, 0, -rs / 2])
        g = np.diag(_METRIC)
        l_lower = g @ (4 * (np.outer(k1, k2) + np.outer(k2, k1) - _dot(k1, k2) * g)) @ g
        ev = sample_unweighted(proc, rng, 10, integrate(proc, 50_000).max_weight)
        for p1, p2, k in zip(ev["lepton_minus"], ev["lepton_plus"], ev["scalar"]):
            full = np.sum(l_lower * _hadronic_tensor(p1, p2, k, c.TAU_MASS_GEV)).real
            expected = full / (4 * rs**2 / 3 * 8 * _trace_density(p1, p2, k, c.TAU_MASS_GEV))
            y1, y2 = 1 - 2 * p1[0] / rs, 1 - 2 * p2[0] / rs
            products = [_dot(beam, lepton) / rs**2 for beam in (k1, k2) for lepton in (p1, p2)]
            weight = scalar_orientation_weight(y1, y2, m_phi**2 / rs**2, c.TAU_MASS_GEV**2 / rs**2, *products)
            assert weight == pytest.approx(expected, rel=1e-8)


def _cross_section_fb(m_phi: float) -> tuple[float, float]:
    xs = integrate(ScalarEmission(m_phi, energy_spread=0.0), n_points=400_000)
    return xs.xsec_pb * 1e3, xs.error_pb * 1e3


@pytest.mark.parametrize("m_phi", sorted(PHYSICS_MD_XSEC_FB))
def test_cross_section_agrees_with_physics_md(m_phi):
    # the table is quoted to 2-3 digits and "reproduced to 1%" by the exact matrix element: 3% here (issue: 10%)
    sigma_fb, error_fb = _cross_section_fb(m_phi)
    assert error_fb / sigma_fb < 0.005
    assert sigma_fb == pytest.approx(PHYSICS_MD_XSEC_FB[m_phi], rel=0.03)


def test_cross_section_is_the_deterministic_dalitz_integral():
    """The sampler's integral equals a midpoint-rule integral of the density over the massive Dalitz region."""
    m_phi, rs = 2.0, ScalarEmission(2.0).sqrt_s
    m = c.TAU_MASS_GEV
    # grid in (x1, x2); inside the region when |cos(angle between the taus)| <= 1
    n = 1500
    x_lo, x_hi = 2 * m / rs, 1 - (m_phi**2 + 2 * m * m_phi) / rs**2
    edges = np.linspace(x_lo, x_hi, n + 1)
    x = 0.5 * (edges[1:] + edges[:-1])
    x1, x2 = np.meshgrid(x, x, indexing="ij")
    e1, e2 = 0.5 * x1 * rs, 0.5 * x2 * rs
    e3 = rs - e1 - e2
    p1, p2 = np.sqrt(np.clip(e1**2 - m**2, 1e-300, None)), np.sqrt(np.clip(e2**2 - m**2, 1e-300, None))
    cos12 = (e3**2 - m_phi**2 - p1**2 - p2**2) / (2 * p1 * p2)
    inside = (np.abs(cos12) <= 1) & (e3 > m_phi)
    density = np.where(inside, scalar_emission_density(x1, x2, m_phi**2 / rs**2, m**2 / rs**2), 0.0)
    alpha_y = (m / c.HIGGS_VEV_GEV) ** 2 / (4 * np.pi)
    grid_fb = c.sigma_point_pb(rs) * alpha_y / (2 * np.pi) * density.sum() * (edges[1] - edges[0]) ** 2 * 1e3
    sigma_fb, error_fb = _cross_section_fb(m_phi)
    assert sigma_fb == pytest.approx(grid_fb, rel=0.005)


def test_cross_section_scales_as_xi_squared():
    a = integrate(ScalarEmission(0.5, xi=0.1), n_points=100_000)
    b = integrate(ScalarEmission(0.5), n_points=100_000)
    assert a.xsec_pb / b.xsec_pb == pytest.approx(1e-2, rel=1e-9)


def test_scalar_heavier_than_the_phase_space_is_rejected():
    with pytest.raises(ValueError, match="scalar mass"):
        ScalarEmission(7.1)


# ---------------------------------------------------------------------------------------------
# Events: four-momentum conservation, phi_L decay products and the mass peak
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("m_phi", "lepton_pdg"), [(0.1, c.PDG_ELECTRON), (0.3, c.PDG_MUON), (3.0, c.PDG_MUON)])
def test_phi_decays_to_the_right_lepton_pair_with_the_phi_mass(m_phi, lepton_pdg):
    proc = ScalarEmission(m_phi)
    rng = np.random.default_rng(17)
    n = 5_000
    ev = sample_unweighted(proc, rng, n, integrate(proc, 100_000).max_weight)
    total = ev["lepton_minus"] + ev["lepton_plus"] + ev["scalar"]
    np.testing.assert_allclose(total[:, 0], ev["sqrt_s"], rtol=1e-12)
    np.testing.assert_allclose(total[:, 1:], 0.0, atol=1e-9)
    parts = CHANNELS["signal_ttphi"].build_particles(rng, ev)
    # the phi_L daughters are the last two rows of each event: l- then l+
    last = np.flatnonzero(np.r_[parts.event[1:] != parts.event[:-1], True])
    np.testing.assert_array_equal(parts.pdg[last - 1], lepton_pdg)
    np.testing.assert_array_equal(parts.pdg[last], -lepton_pdg)
    pair = parts.p4[last - 1] + parts.p4[last]
    mass = np.sqrt(pair[:, 0] ** 2 - (pair[:, 1:] ** 2).sum(1))
    np.testing.assert_allclose(mass, m_phi, rtol=1e-9)
    np.testing.assert_allclose(pair, ev["scalar"], atol=1e-9)


@pytest.fixture(scope="module")
def ttphi_ntuple(tmp_path_factory):
    out = tmp_path_factory.mktemp("ttphi")
    subprocess.run(
        [sys.executable, str(GENERATE), "--channel", "signal_ttphi", "--mass", "1.0", "--events", "5000",
         "--output", str(out), "--seed", "3", "--quiet"],
        check=True,
    )
    return out


def test_generate_cli_writes_the_scalar_dataset(ttphi_ntuple):
    entry = json.loads((ttphi_ntuple / "fileset.json").read_text())["signal_ttphi_mphi_1p0"]
    meta = entry["metadata"]
    assert meta["channel"] == "signal_ttphi" and meta["mphi"] == 1.0 and meta["n_generated"] == 5000
    assert meta["xsec_pb"] == pytest.approx(1.39e-3, rel=0.01)  # docs/physics.md §5: 1.39 fb
    assert 0.8 * 5000 < meta["n_events_in_files"] <= 5000


def test_reconstructed_dimuon_mass_peaks_at_the_phi_mass(ttphi_ntuple):
    files = [str(ttphi_ntuple / f) for f in json.loads((ttphi_ntuple / "fileset.json").read_text())["signal_ttphi_mphi_1p0"]["files"]]
    t = ak.concatenate([uproot.open(f)["events"].arrays(filter_name="Track_*") for f in files])
    tracks = ak.zip({"px": t.Track_px, "py": t.Track_py, "pz": t.Track_pz, "q": t.Track_charge, "mu": t.Track_muonID})
    muons = tracks[tracks.mu > 0.9]
    pairs = ak.cartesian([muons[muons.q < 0], muons[muons.q > 0]])
    a, b = pairs["0"], pairs["1"]
    ea = np.sqrt(a.px**2 + a.py**2 + a.pz**2 + c.MUON_MASS_GEV**2)
    eb = np.sqrt(b.px**2 + b.py**2 + b.pz**2 + c.MUON_MASS_GEV**2)
    m2 = (ea + eb) ** 2 - (a.px + b.px) ** 2 - (a.py + b.py) ** 2 - (a.pz + b.pz) ** 2
    mass = np.sqrt(np.clip(ak.to_numpy(ak.flatten(m2)), 0, None))
    counts, edges = np.histogram(mass, bins=np.arange(0.2, 3.0, 0.02))
    peak = 0.5 * (edges[np.argmax(counts)] + edges[np.argmax(counts) + 1])
    assert peak == pytest.approx(1.0, abs=0.02)
    # the peak holds a large part of all pairs (tau-decay muons add a smooth combinatorial spread)
    assert counts[np.abs(0.5 * (edges[1:] + edges[:-1]) - 1.0) < 0.03].sum() > 0.3 * len(mass)


# ---------------------------------------------------------------------------------------------
# The scalar sample
# ---------------------------------------------------------------------------------------------
def test_scalar_requests_cover_every_mass_and_background():
    requests = scalar_requests()
    signal_masses = sorted(m for ch, m, _ in requests if ch == "signal_ttphi")
    assert signal_masses == sorted(SCALAR_MASSES_GEV)
    assert all(0.04 <= m <= 6.5 for m in signal_masses)
    for channel, mass, n in requests:
        assert channel in CHANNELS and n > 0
        assert (mass is not None) == CHANNELS[channel].needs_mass


# ---------------------------------------------------------------------------------------------
# Radiative Bhabha
# ---------------------------------------------------------------------------------------------
def _textbook_bhabha_dsigma_dcos_pb(sqrt_s, cos_theta):
    """dsigma/dcos = 2 pi (alpha^2 / 2s) [(1 + cos^4(t/2)) / sin^4(t/2) - 2 cos^4(t/2) / sin^2(t/2) + (1 + cos^2 t) / 2]."""
    s = sqrt_s**2
    half_c2, half_s2 = 0.5 * (1 + cos_theta), 0.5 * (1 - cos_theta)
    bracket = (1 + half_c2**2) / half_s2**2 - 2 * half_c2**2 / half_s2 + 0.5 * (1 + cos_theta**2)
    return 2 * np.pi * c.ALPHA_EM**2 / (2 * s) * bracket * c.HBARC2_PB_GEV2


def test_bhabha_born_cross_section_is_the_textbook_integral_in_the_angular_cut():
    from scipy.integrate import quad

    from belle_mc.processes import BhabhaISR

    born = BhabhaISR(isr=False, final_state_radiation=False, energy_spread=0.0)
    # both e- (at theta) and e+ (at pi - theta) inside [theta_min, theta_max]
    lo, hi = max(born.cos_min, -born.cos_max), min(born.cos_max, -born.cos_min)
    expected_pb, _ = quad(lambda x: _textbook_bhabha_dsigma_dcos_pb(born.sqrt_s, x), lo, hi, limit=200)
    xs = integrate(born, n_points=400_000)
    assert xs.xsec_pb == pytest.approx(expected_pb, abs=4 * xs.error_pb)
    assert xs.error_pb / xs.xsec_pb < 0.002
    # radiation moves the cross section in the same cut by a few per cent only (leading log, soft + virtual in W(x))
    radiative = integrate(BhabhaISR(), n_points=400_000)
    assert radiative.xsec_pb == pytest.approx(expected_pb, rel=0.05)


def test_bhabha_events_lie_inside_the_cm_angular_cut_and_are_forward_peaked():
    from belle_mc.processes import BhabhaISR

    proc = BhabhaISR()
    rng = np.random.default_rng(23)
    ev = sample_unweighted(proc, rng, 20_000, integrate(proc, 200_000).max_weight)
    for key in ("lepton_minus", "lepton_plus"):
        cos_cms = ev[key][:, 3] / np.linalg.norm(ev[key][:, 1:], axis=1)
        assert np.all((cos_cms >= proc.cos_min - 1e-9) & (cos_cms <= proc.cos_max + 1e-9))
    # t-channel: the e- keeps going forward, the e+ backward
    cos_minus = ev["lepton_minus"][:, 3] / np.linalg.norm(ev["lepton_minus"][:, 1:], axis=1)
    assert np.mean(cos_minus > 0.5) > 0.7
    # energy is conserved exactly; momentum up to the collinear-FSR approximation (the electron keeps its direction)
    total = ev["lepton_minus"] + ev["lepton_plus"] + ev["isr_photon"] + ev["fsr_minus"] + ev["fsr_plus"]
    np.testing.assert_allclose(total[:, 0], ev["sqrt_s"], rtol=1e-9)
    assert np.median(np.linalg.norm(total[:, 1:], axis=1)) < 0.01


# ---------------------------------------------------------------------------------------------
# tau tau e e
# ---------------------------------------------------------------------------------------------
def test_eetautau_events_conserve_momentum_and_carry_a_light_ee_pair():
    proc = CHANNELS["aafh_eetautau"].make_process(None)
    rng = np.random.default_rng(29)
    ev = sample_unweighted(proc, rng, 10_000, integrate(proc, 200_000).max_weight)
    total = ev["tau_minus"] + ev["tau_plus"] + ev["electron_minus"] + ev["electron_plus"]
    np.testing.assert_allclose(total[:, 0], ev["sqrt_s"], rtol=1e-9)
    pair = ev["electron_minus"] + ev["electron_plus"]
    m_ee = np.sqrt(np.clip(pair[:, 0] ** 2 - (pair[:, 1:] ** 2).sum(1), 0, None))
    assert np.all(m_ee >= 2 * c.ELECTRON_MASS_GEV * (1 - 1e-6))
    # dM^2 / M^2 times the emission phase space: fewer pairs in every higher decade of pair mass
    per_decade = np.histogram(np.log10(m_ee), bins=[-3.0, -2.0, -1.0, 0.0, 1.0])[0]
    assert np.all(np.diff(per_decade) < 0)
    parts = CHANNELS["aafh_eetautau"].build_particles(rng, ev)
    assert np.count_nonzero(np.abs(parts.pdg) == c.PDG_ELECTRON) >= 2 * 10_000


def test_ensure_default_sample_makes_exactly_the_requested_datasets_once(tmp_path):
    from belle_mc.catalog import ensure_default_sample

    requests = [("signal_ttphi", 0.5, 2_000), ("aafh_eetautau", None, 2_000)]
    path = ensure_default_sample(tmp_path, progress=False, requests=requests)
    fileset = json.loads(path.read_text())
    assert sorted(fileset) == ["aafh_eetautau", "signal_ttphi_mphi_0p5"]
    assert all(entry["metadata"]["n_generated"] == 2_000 for entry in fileset.values())
    files = [tmp_path / f for entry in fileset.values() for f in entry["files"]]
    stamps = [f.stat().st_mtime_ns for f in files]
    ensure_default_sample(tmp_path, progress=False, requests=requests)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # complete datasets are not made again


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--channel", "signal_ttphi", "--mass", "8", "--events", "10"], "scalar mass 8"),
        (["--channel", "signal_ttphi", "--events", "10"], "needs --mass"),
        (["--channel", "pythia_uds", "--mass", "1", "--events", "10"], "takes no --mass"),
    ],
)
def test_bad_scalar_options_fail_with_one_clear_line(tmp_path, args, needle):
    proc = subprocess.run([sys.executable, str(GENERATE), *args, "--output", str(tmp_path), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr


def test_a_sample_made_with_an_older_model_is_made_again(tmp_path):
    from belle_mc.catalog import ensure_default_sample

    requests = [("signal_ttphi", 2.0, 1_000)]
    path = ensure_default_sample(tmp_path, progress=False, requests=requests)
    fileset = json.loads(path.read_text())
    assert fileset["signal_ttphi_mphi_2p0"]["metadata"]["model_version"] == CHANNELS["signal_ttphi"].model_version
    fileset["signal_ttphi_mphi_2p0"]["metadata"]["model_version"] = CHANNELS["signal_ttphi"].model_version - 1
    fileset["signal_ttphi_mphi_2p0"]["metadata"]["xsec_pb"] = -1.0
    path.write_text(json.dumps(fileset))
    ensure_default_sample(tmp_path, progress=False, requests=requests)
    remade = json.loads(path.read_text())["signal_ttphi_mphi_2p0"]["metadata"]
    assert remade["model_version"] == CHANNELS["signal_ttphi"].model_version
    assert remade["xsec_pb"] == pytest.approx(0.57e-3, rel=0.03)  # docs/physics.md §5 at 2 GeV
