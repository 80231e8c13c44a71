"""The visible Z' signal generator: e+e- -> mu+ mu- Z', Z' -> mu+ mu-, with and without ISR."""

import numpy as np
import pytest
from scipy import integrate as quad_integrate
from scipy.interpolate import CubicSpline

from belle_mc.catalog import VISIBLE_MASSES_GEV, default_requests, visible_requests
from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate, sample_unweighted
from belle_mc.processes import VectorEmission, VectorEmissionISR
from belle_mc.production import dataset_name, produce
from core import constants as c
from core.zprime_model import branching_fraction_mumu, decay_length_cm
from core.zprime_model import branching_fraction_invisible, total_width_gev, width_to_leptons_gev


@pytest.mark.parametrize("mass", [0.5, 4.0])
def test_no_isr_cross_section_is_the_invisible_production_cross_section(mass):
    visible = integrate(CHANNELS["signal_visible"].make_process(mass), 400_000, seed=1)
    invisible = integrate(CHANNELS["signal"].make_process(mass), 400_000, seed=2)
    error = np.hypot(visible.error_pb, invisible.error_pb)
    assert abs(visible.xsec_pb - invisible.xsec_pb) < 3 * error
    assert error / invisible.xsec_pb < 0.01


def test_fileset_cross_section_is_the_production_cross_section_before_br(tmp_path):
    entry = produce("signal_visible", 2000, tmp_path, mass=2.0, seed=5, progress=False)
    meta = entry["metadata"]
    assert meta["channel"] == "signal_visible" and meta["mzp"] == 2.0
    production = integrate(VectorEmission(2.0)).xsec_pb
    assert meta["xsec_pb"] == pytest.approx(production, rel=1e-12)  # g' = 1, no BR(Z' -> mu mu) applied
    assert (tmp_path / "signal_visible_mzp_2p0_0000.root").exists()


def test_isr_cross_section_is_the_radiator_convolution():
    """sigma_ISR = int W(x) sigma(s (1 - x)) dx, with sigma(s') from the no-ISR process at fixed sqrt(s')."""
    mass = 3.0
    isr = VectorEmissionISR(mass, energy_spread=0.0)
    x_nodes = np.linspace(0.0, isr.x_max, 13)
    sigma_nodes = [
        integrate(VectorEmission(mass, sqrt_s=isr.sqrt_s * np.sqrt(1 - x), energy_spread=0.0), 100_000, seed=3).xsec_pb
        if isr.sqrt_s * np.sqrt(1 - x) > isr.sqrt_s_prime_min else 0.0
        for x in x_nodes
    ]  # fmt: skip
    sigma = CubicSpline(x_nodes, sigma_nodes)
    beta = isr.beta
    # W(x) = beta x^(beta-1) (1 + 3 beta / 4) - beta (1 - x/2): the integrable pole is taken analytically
    pole = (1 + 0.75 * beta) * (
        sigma(0.0) * isr.x_max**beta
        + quad_integrate.quad(lambda x: beta * x ** (beta - 1) * (sigma(x) - sigma(0.0)), 0, isr.x_max, limit=200)[0]
    )
    rest = quad_integrate.quad(lambda x: -beta * (1 - x / 2) * sigma(x), 0, isr.x_max)[0]
    expected = pole + rest
    generated = integrate(isr, 1_000_000)
    assert generated.xsec_pb == pytest.approx(expected, rel=0.01)


def test_isr_events_have_a_photon_and_a_lower_sqrt_s_prime():
    mass = 2.0
    proc = VectorEmissionISR(mass)
    rng = np.random.default_rng(9)
    ev = sample_unweighted(proc, rng, 5000, integrate(proc, 200_000).max_weight)
    photon = ev["isr_photon"]
    assert np.all(photon[:, 0] > 0) and np.all(ev["sqrt_s_prime"] <= ev["sqrt_s"])
    assert np.mean(ev["sqrt_s"] - ev["sqrt_s_prime"] > 0.01) > 0.1  # a tenth of the events lose more than 10 MeV
    np.testing.assert_allclose(ev["sqrt_s_prime"], ev["sqrt_s"] * np.sqrt(1 - ev["x_isr"]), rtol=1e-12)
    # four-momentum conservation in the CM frame and the hard system at sqrt(s')
    hard = ev["lepton_minus"] + ev["lepton_plus"] + ev["vector"]
    total = hard + photon
    np.testing.assert_allclose(total[:, 0], ev["sqrt_s"], rtol=1e-9)
    np.testing.assert_allclose(total[:, 1:], 0.0, atol=1e-8)
    m_hard = np.sqrt(hard[:, 0] ** 2 - (hard[:, 1:] ** 2).sum(1))
    np.testing.assert_allclose(m_hard, ev["sqrt_s_prime"], rtol=1e-8)
    m_vector = np.sqrt(ev["vector"][:, 0] ** 2 - (ev["vector"][:, 1:] ** 2).sum(1))
    np.testing.assert_allclose(m_vector, mass, rtol=1e-8)
    # hard photons are rare but present: the radiator puts ~beta ln(1/x) above x
    assert 0.01 < np.mean(ev["x_isr"] > 0.1) < 0.3
    # collinear with a beam: the photon's polar angle is within a few mrad of the axis for most events
    cos_g = np.abs(photon[:, 3]) / photon[:, 0]
    assert np.median(1 - cos_g) < 1e-3


def test_zprime_daughters_are_muons_with_the_zprime_mass():
    proc = VectorEmission(1.0)
    rng = np.random.default_rng(4)
    ev = sample_unweighted(proc, rng, 3000, integrate(proc, 100_000).max_weight)
    parts = CHANNELS["signal_visible"].build_particles(rng, ev)
    assert len(parts) == 4 * 3000 and np.all(np.abs(parts.pdg) == c.PDG_MUON)
    p4 = parts.p4.reshape(3000, 4, 4)
    assert np.all(parts.charge.reshape(3000, 4) == [-1, 1, -1, 1])  # emitters, then the Z' daughters
    pair = p4[:, 2] + p4[:, 3]
    np.testing.assert_allclose(np.sqrt(pair[:, 0] ** 2 - (pair[:, 1:] ** 2).sum(1)), 1.0, rtol=1e-9)
    np.testing.assert_allclose(p4.sum(1)[:, 0], ev["sqrt_s"], rtol=1e-12)


def test_branching_fractions_from_the_widths():
    m = np.array([0.2, 0.25, 1.0, 3.0, 5.0, 8.0])
    br_mumu = branching_fraction_mumu(m)
    br_tautau = width_to_leptons_gev(m, c.TAU_MASS_GEV) / total_width_gev(m)
    np.testing.assert_allclose(br_mumu + br_tautau + branching_fraction_invisible(m), 1.0, rtol=1e-12)
    assert br_mumu[0] == 0.0  # below 2 m_mu
    # Gamma(mu mu) = M / 12 pi (1 + 2r) sqrt(1 - 4r) against 2 x M / 24 pi of the neutrinos
    r = (c.MUON_MASS_GEV / 0.25) ** 2
    phase = (1 + 2 * r) * np.sqrt(1 - 4 * r)
    assert br_mumu[1] == pytest.approx(phase / (phase + 1), rel=1e-12)
    assert br_mumu[2] == pytest.approx(0.5, abs=0.002)  # mu pairs and two neutrino flavours: 1/2 below 2 m_tau
    assert br_mumu[5] == pytest.approx(0.335, abs=0.002)  # ~1/3 well above 2 m_tau
    # prompt: c tau below 5 um for g' = 1e-4 over the whole grid
    assert np.all(decay_length_cm(np.array(VISIBLE_MASSES_GEV), 1e-4) < 5e-4)


def test_visible_sample_requests_and_names():
    requests = visible_requests()
    names = {dataset_name(ch, m) for ch, m, _ in requests}
    assert "signal_visible_mzp_2p0" in names and "signal_visible_isr_mzp_0p25" in names and "aafh_mumumumu" in names
    assert len(names) == 2 * len(VISIBLE_MASSES_GEV) + 1
    assert all(m is None or 2 * c.MUON_MASS_GEV < m < 10.58 - 2 * c.MUON_MASS_GEV for _, m, _ in requests)
    # the invisible default sample is what it was
    assert [r[0] for r in default_requests()].count("signal") == 12 and ("aafh_mumumumu", None, 100_000) in default_requests()
