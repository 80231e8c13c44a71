"""The L_mu - L_tau Z' model: widths, BR(invisible), Delta a_mu and the (g-2)_mu band (docs/physics.md §3, §7)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.constants import MUON_MASS_GEV, TAU_MASS_GEV
from core.zprime_model import (
    DELTA_A_MU_GAP,
    DELTA_A_MU_GAP_ERROR,
    branching_fraction_invisible,
    delta_a_mu,
    g2_band,
    total_width_gev,
    width_to_leptons_gev,
    width_to_neutrinos_gev,
)


def test_br_invisible_is_one_below_the_muon_pair_threshold():
    masses = np.array([0.01, 0.1, 0.2, 2 * MUON_MASS_GEV * 0.999])
    np.testing.assert_array_equal(branching_fraction_invisible(masses), 1.0)


@pytest.mark.parametrize("mzp_gev", [0.5, 1.0, 2.0, 3.0, 3.5])
def test_br_invisible_is_about_half_between_the_muon_and_tau_thresholds(mzp_gev):
    assert 2 * MUON_MASS_GEV < mzp_gev < 2 * TAU_MASS_GEV
    assert branching_fraction_invisible(mzp_gev) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(("mzp_gev", "br"), [(4.0, 0.38), (8.0, 0.335)])
def test_br_invisible_above_the_tau_threshold_matches_physics_md(mzp_gev, br):
    assert branching_fraction_invisible(mzp_gev) == pytest.approx(br, abs=0.003)


def test_widths_follow_the_formulae_and_scale_as_gprime_squared():
    m, g = 3.0, 0.02
    r = (MUON_MASS_GEV / m) ** 2
    assert width_to_leptons_gev(m, MUON_MASS_GEV, g) == pytest.approx(
        g**2 * m / (12 * math.pi) * (1 + 2 * r) * math.sqrt(1 - 4 * r)
    )
    assert width_to_neutrinos_gev(m, g) == pytest.approx(2 * g**2 * m / (24 * math.pi))  # nu_mu and nu_tau
    assert width_to_leptons_gev(m, TAU_MASS_GEV, g) == 0.0  # below 2 m_tau
    assert total_width_gev(m, 2 * g) == pytest.approx(4 * total_width_gev(m, g))
    # far above both thresholds: mu, tau and the two neutrinos share 1/3 each of the total
    assert branching_fraction_invisible(1e4) == pytest.approx(1 / 3, rel=1e-6)


def test_br_invisible_rejects_a_non_positive_mass():
    with pytest.raises(ValueError):
        branching_fraction_invisible([1.0, 0.0])


def test_delta_a_mu_tends_to_g2_over_8pi2_for_a_light_zprime():
    g = 1e-3
    assert delta_a_mu(g, 1e-6) == pytest.approx(g**2 / (8 * math.pi**2), rel=1e-4)
    assert delta_a_mu(g, 0.0) == pytest.approx(g**2 / (8 * math.pi**2), rel=1e-12)


def test_delta_a_mu_of_a_heavy_zprime_and_its_shape():
    m_heavy = 100.0
    limit = MUON_MASS_GEV**2 / (12 * math.pi**2 * m_heavy**2)  # g'^2 m_mu^2 / (12 pi^2 M^2)
    assert delta_a_mu(1.0, m_heavy) == pytest.approx(limit, rel=1e-3)
    masses = np.geomspace(1e-3, 10, 30)
    values = delta_a_mu(1.0, masses)
    assert np.all(np.diff(values) < 0)  # a heavier Z' contributes less
    np.testing.assert_allclose(delta_a_mu(3.0, masses), 9.0 * values, rtol=1e-12)


def test_delta_a_mu_against_a_plain_trapezoid_integral():
    m = 0.7
    z = np.linspace(0.0, 1.0, 200_001)
    integrand = MUON_MASS_GEV**2 * z * (1 - z) ** 2 / (MUON_MASS_GEV**2 * (1 - z) ** 2 + m**2 * z)
    assert delta_a_mu(1.0, m) == pytest.approx(np.trapezoid(integrand, z) / (4 * math.pi**2), rel=1e-6)


def test_g2_band_brackets_the_gap():
    masses = np.array([1e-4, 0.1, 1.0, 5.0])
    band = g2_band(masses)
    assert np.all(band.lower < band.central) and np.all(band.central < band.upper)
    np.testing.assert_allclose(delta_a_mu(band.central, masses), DELTA_A_MU_GAP, rtol=1e-10)
    np.testing.assert_allclose(delta_a_mu(band.upper, masses), DELTA_A_MU_GAP + 2 * DELTA_A_MU_GAP_ERROR, rtol=1e-10)
    np.testing.assert_allclose(delta_a_mu(band.lower, masses), DELTA_A_MU_GAP - 2 * DELTA_A_MU_GAP_ERROR, rtol=1e-10)
    assert band.central[0] == pytest.approx(4.5e-4, rel=0.02)  # docs/physics.md: "g' ~ 4.5e-4 explains the gap"
