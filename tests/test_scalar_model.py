"""The leptophilic scalar model: phi_L widths and branching fractions (docs/physics.md §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.constants import ELECTRON_MASS_GEV, HIGGS_VEV_GEV, MUON_MASS_GEV, TAU_MASS_GEV
from core.scalar_model import (
    branching_fraction,
    branching_fraction_ee,
    branching_fraction_mumu,
    branching_fraction_tautau,
    proper_decay_length_cm,
    total_width_gev,
    visible_decay_channel,
    width_to_leptons_gev,
)


def test_width_follows_the_formula_and_scales_as_xi_squared():
    m, xi = 1.5, 0.3
    expected = xi**2 * MUON_MASS_GEV**2 * m / (8 * math.pi * HIGGS_VEV_GEV**2) * (1 - 4 * MUON_MASS_GEV**2 / m**2) ** 1.5
    assert width_to_leptons_gev(m, MUON_MASS_GEV, xi) == pytest.approx(expected, rel=1e-12)
    assert width_to_leptons_gev(m, MUON_MASS_GEV, 2 * xi) == pytest.approx(4 * expected, rel=1e-12)


def test_width_has_the_p_wave_threshold_and_vanishes_below_it():
    # Gamma / (m_l^2 m) ~ beta^3 just above threshold; exactly zero below
    m_thr = 2 * TAU_MASS_GEV
    assert width_to_leptons_gev(0.999 * m_thr, TAU_MASS_GEV) == 0.0
    w1 = width_to_leptons_gev(m_thr * 1.001, TAU_MASS_GEV) / (m_thr * 1.001)
    w2 = width_to_leptons_gev(m_thr * 1.004, TAU_MASS_GEV) / (m_thr * 1.004)
    beta = lambda m: math.sqrt(1 - m_thr**2 / m**2)  # noqa: E731
    assert w2 / w1 == pytest.approx((beta(m_thr * 1.004) / beta(m_thr * 1.001)) ** 3, rel=1e-9)


def test_branching_fractions_sum_to_one_at_every_mass():
    masses = np.geomspace(0.02, 10.0, 200)
    total = sum(branching_fraction(masses, ch) for ch in ("ee", "mumu", "tautau"))
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)


def test_br_ee_is_one_below_the_muon_threshold():
    masses = np.array([0.01, 0.05, 0.1, 0.2, 2 * MUON_MASS_GEV * 0.9999])
    np.testing.assert_array_equal(branching_fraction_ee(masses), 1.0)
    assert all(visible_decay_channel(m) == "ee" for m in masses)


@pytest.mark.parametrize("mphi_gev", [0.3, 0.5, 1.0, 2.0, 3.0, 3.5])
def test_br_mumu_between_the_muon_and_tau_thresholds(mphi_gev):
    # only e e competes, suppressed by (m_e / m_mu)^2 = 2.3e-5 times the threshold factors
    beta_e3 = (1 - 4 * ELECTRON_MASS_GEV**2 / mphi_gev**2) ** 1.5
    beta_mu3 = (1 - 4 * MUON_MASS_GEV**2 / mphi_gev**2) ** 1.5
    ratio = (ELECTRON_MASS_GEV / MUON_MASS_GEV) ** 2 * beta_e3 / beta_mu3
    assert branching_fraction_mumu(mphi_gev) == pytest.approx(1 / (1 + ratio), rel=1e-12)
    assert branching_fraction_mumu(mphi_gev) > 0.9999
    assert branching_fraction_tautau(mphi_gev) == 0.0
    assert visible_decay_channel(mphi_gev) == "mumu"


@pytest.mark.parametrize("mphi_gev", [4.0, 5.0, 6.0])
def test_tau_pairs_dominate_above_their_threshold(mphi_gev):
    # BR(mumu) / BR(tautau) = (m_mu / m_tau)^2 (beta_mu / beta_tau)^3
    br_mumu, br_tautau = branching_fraction_mumu(mphi_gev), branching_fraction_tautau(mphi_gev)
    beta = lambda m_l: (1 - 4 * m_l**2 / mphi_gev**2) ** 1.5  # noqa: E731
    assert br_mumu / br_tautau == pytest.approx((MUON_MASS_GEV / TAU_MASS_GEV) ** 2 * beta(MUON_MASS_GEV) / beta(TAU_MASS_GEV))
    assert br_tautau > 0.9


def test_proper_decay_length_is_hbar_c_over_the_total_width():
    # a 50 MeV phi_L decaying only to e+e- at xi = 1: Gamma = 8.5e-15 GeV, c tau ~ 2 cm (not prompt: see signal_ttphi)
    gamma = total_width_gev(0.05)
    assert gamma == pytest.approx(ELECTRON_MASS_GEV**2 * 0.05 / (8 * math.pi * HIGGS_VEV_GEV**2) * (1 - 4 * ELECTRON_MASS_GEV**2 / 0.05**2) ** 1.5)
    assert proper_decay_length_cm(0.05) == pytest.approx(1.973269804e-14 / gamma)
    assert proper_decay_length_cm(0.05, xi=0.1) == pytest.approx(100 * proper_decay_length_cm(0.05))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_bad_mass_is_rejected(bad):
    with pytest.raises(ValueError, match="phi_L mass"):
        total_width_gev(bad)


def test_unknown_channel_is_rejected():
    with pytest.raises(ValueError, match="unknown phi_L decay channel"):
        branching_fraction(1.0, "gammagamma")
