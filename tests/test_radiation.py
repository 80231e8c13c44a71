"""Initial-state radiation: the radiator W(x) and the lepton-pair samples built on it."""

import numpy as np
import pytest
from scipy import integrate as sint

from belle_mc.montecarlo import integrate, sample_unweighted
from belle_mc.processes import LeptonPairISR, born_lepton_pair_pb, isr_beta, isr_radiator
from core import constants as c
from core.beams import sqrt_s_gev


def test_isr_beta_at_the_upsilon_4s():
    assert isr_beta(sqrt_s_gev() ** 2) == pytest.approx(0.0877, abs=2e-4)


def test_radiator_is_normalised():
    beta = 0.0877
    # integrate the singular x^(beta-1) part analytically, the regular part numerically
    regular, _ = sint.quad(lambda x: -beta * (1 - x / 2), 0, 1)
    assert (1 + 0.75 * beta) + regular == pytest.approx(1.0, abs=1e-12)
    assert isr_radiator(np.array([0.5]), beta)[0] == pytest.approx(
        beta * 0.5 ** (beta - 1) * (1 + 0.75 * beta) - beta * 0.75
    )


def test_isr_photon_spectrum_follows_the_radiator():
    """Unweighted x, reweighted by 1/sigma_Born(s'), is distributed as W(x) on [0, x_max]."""
    proc = LeptonPairISR(c.MUON_MASS_GEV, energy_spread=0.0, final_state_radiation=False)
    rng = np.random.default_rng(2)
    xs = integrate(proc, 400_000)
    n = 400_000
    from belle_mc.montecarlo import UnweightingStats

    ev = sample_unweighted(proc, rng, n, xs.max_weight, UnweightingStats())
    x = ev["x_isr"]
    w = 1.0 / born_lepton_pair_pb(ev["sqrt_s"] * np.sqrt(1 - x), c.MUON_MASS_GEV)
    edges = np.concatenate([[0.0], np.logspace(-6, np.log10(proc.x_max), 13)])
    observed, _ = np.histogram(x, edges, weights=w)
    observed /= observed.sum()
    beta = proc.beta

    def cdf(t):  # integral of W from 0 to t
        return (1 + 0.75 * beta) * t**beta - beta * (t - t**2 / 4)

    expected = np.diff(cdf(edges))
    expected /= expected.sum()
    counts, _ = np.histogram(x, edges)
    assert counts.min() > 200, counts
    # relative statistical error of a weighted bin ~ 1/sqrt(count) times the weight spread
    rel_err = 1.0 / np.sqrt(counts)
    pulls = (observed - expected) / (expected * rel_err * 2)
    assert np.all(np.abs(pulls) < 5), np.round(pulls, 2)


def test_isr_photon_is_collinear_with_the_beams():
    proc = LeptonPairISR(c.MUON_MASS_GEV)
    rng = np.random.default_rng(4)
    ev = sample_unweighted(proc, rng, 50_000, integrate(proc, 200_000).max_weight)
    k = ev["isr_photon"]
    hard = k[:, 0] > 0.1
    cos_t = np.abs(k[hard, 3]) / k[hard, 0]
    # the 1/(1 - beta^2 cos^2) pole is flat in ln(1 - beta |cos|) between ln(1 - beta) and ln 2
    one_minus_beta = 2 * c.ELECTRON_MASS_GEV**2 / sqrt_s_gev() ** 2
    span = np.log(2 / one_minus_beta)
    for angle in (0.001, 0.01, np.radians(20)):
        expected = np.log((1 - np.cos(angle)) / one_minus_beta) / span
        assert np.mean(cos_t > np.cos(angle)) == pytest.approx(expected, abs=0.01)
    # the tail beyond the CDC/ECL acceptance edge is what makes mu mu a background to a recoil search
    assert np.mean(cos_t < np.cos(np.radians(17))) > 0.1


@pytest.mark.parametrize("m_lepton,kkmc_pb", [(c.MUON_MASS_GEV, 1148.0), (c.TAU_MASS_GEV, 919.0)])
def test_isr_lepton_pair_cross_section_near_kkmc(m_lepton, kkmc_pb):
    """Born x radiator alone is below KKMC by the vacuum-polarisation and higher-order corrections (< 10%)."""
    xs = integrate(LeptonPairISR(m_lepton, final_state_radiation=False), 400_000)
    assert 0.88 * kkmc_pb < xs.xsec_pb < 1.0 * kkmc_pb
