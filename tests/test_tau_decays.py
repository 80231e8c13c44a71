"""Tau decays: branching fractions, the V-A lepton spectrum and charge conservation."""

import numpy as np
import pytest

from belle_mc.tau_decays import BRANCHING_FRACTIONS, MODES, decay_taus, michel_lepton_fraction
from core import constants as c


def _taus_at_rest(n):
    p4 = np.zeros((n, 4))
    p4[:, 0] = c.TAU_MASS_GEV
    charge = np.where(np.arange(n) % 2 == 0, -1, 1).astype(np.int32)
    return np.arange(n, dtype=np.int64), p4, charge


def test_michel_spectrum_follows_x2_3_minus_2x():
    x = michel_lepton_fraction(np.random.default_rng(1), 400_000, 0.0)
    edges = np.linspace(0, 1, 21)
    counts, _ = np.histogram(x, edges)
    cdf = 2 * edges**3 - edges**4  # integral of 2 x^2 (3 - 2x)
    expected = np.diff(cdf) * len(x)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 45  # 20 bins: p ~ 1e-3


def test_muon_energy_in_tau_rest_frame_follows_the_spectrum():
    event, p4, charge = _taus_at_rest(200_000)
    daughters, mode = decay_taus(np.random.default_rng(2), event, p4, charge)
    mu = np.abs(daughters.pdg) == c.PDG_MUON
    e_max = (c.TAU_MASS_GEV**2 + c.MUON_MASS_GEV**2) / (2 * c.TAU_MASS_GEV)
    x = daughters.p4[mu, 0] / e_max
    assert np.count_nonzero(mu) == np.count_nonzero(mode == MODES.index("mu_nu_nu"))
    # mean of x for x^2(3-2x) on [0,1] is 0.7 (the muon-mass cut-off shifts it by < 0.002)
    assert np.mean(x) == pytest.approx(0.7, abs=0.004)
    assert x.max() <= 1.0 + 1e-12


def test_branching_fractions_and_prongs():
    n = 200_000
    event, p4, charge = _taus_at_rest(n)
    daughters, mode = decay_taus(np.random.default_rng(3), event, p4, charge)
    frac = np.bincount(mode, minlength=len(MODES)) / n
    np.testing.assert_allclose(frac, BRANCHING_FRACTIONS, atol=5 * np.sqrt(0.25 / n))
    assert frac[MODES.index("mu_nu_nu")] == pytest.approx(0.1739, abs=0.005)
    charged = daughters.charge != 0
    prongs = np.bincount(daughters.event[charged], minlength=n)
    assert set(np.unique(prongs)) == {1, 3}
    assert np.mean(prongs == 3) == pytest.approx(0.152, abs=0.005)
    net = np.bincount(daughters.event, weights=daughters.charge, minlength=n)
    np.testing.assert_array_equal(net, charge)


def test_visible_energy_never_exceeds_tau_energy_and_vertices_are_displaced():
    rng = np.random.default_rng(4)
    n = 50_000
    p4 = np.zeros((n, 4))
    p4[:, 3] = 5.0
    p4[:, 0] = np.hypot(5.0, c.TAU_MASS_GEV)
    daughters, _ = decay_taus(rng, np.arange(n), p4, -np.ones(n, np.int32))
    visible = np.bincount(daughters.event, weights=daughters.p4[:, 0], minlength=n)
    assert np.all(visible <= p4[:, 0] + 1e-9)
    flight = np.linalg.norm(daughters.x4[:, 1:], axis=1)
    # mean flight = beta gamma c tau
    assert np.mean(np.unique(flight)) == pytest.approx(5.0 / c.TAU_MASS_GEV * c.TAU_CTAU_CM, rel=0.03)
