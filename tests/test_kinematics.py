"""Physics checks of the scalar kinematics kernels of :mod:`selections.kinematics`.

The CM frame is checked against the beams (sqrt(s), beam images, Lorentz
metric), the recoil mass against hand-built two- and three-body final states,
and the geometric helpers (opening angle, transverse projections, thrust)
against hand-computed values and brute-force definitions.
"""

import math

import numpy as np
import pytest

from core import constants as c
from core.beams import beam_four_momenta_lab, cms_frame
from selections.kinematics import (
    axis_angle_transverse,
    energy,
    invariant_mass_squared,
    lorentz_transform,
    opening_angle,
    recoil_mass_squared,
    signed_sqrt,
    transverse_projection,
    two_body_thrust,
)

M_MU = c.MUON_MASS_GEV
METRIC = np.diag([1.0, -1.0, -1.0, -1.0])


def _minkowski2(p4):
    return p4[0] ** 2 - p4[1] ** 2 - p4[2] ** 2 - p4[3] ** 2


# --- CM frame ---------------------------------------------------------------------


def test_sqrt_s_is_derived_from_the_beam_energies_and_crossing_angle():
    # s = 2 m_e^2 + 2 (E- E+ - p-.p+), p-.p+ = -|p-||p+| cos(crossing angle), by hand from the constants
    m, e1, e2 = c.ELECTRON_MASS_GEV, c.HER_ENERGY_GEV, c.LER_ENERGY_GEV
    p1, p2 = math.sqrt(e1**2 - m**2), math.sqrt(e2**2 - m**2)
    s = 2 * m**2 + 2 * (e1 * e2 + p1 * p2 * math.cos(c.CROSSING_ANGLE_RAD))
    sqrt_s = cms_frame()[0]
    assert sqrt_s == pytest.approx(math.sqrt(s), rel=1e-12)
    assert sqrt_s == pytest.approx(10.58, abs=0.001)  # Upsilon(4S)


def test_lab_to_cms_maps_the_beams_onto_the_collision_axis():
    sqrt_s, to_cms, _ = cms_frame()
    electron, positron = beam_four_momenta_lab()
    half = sqrt_s / 2
    p_beam = math.sqrt(half**2 - c.ELECTRON_MASS_GEV**2)  # = sqrt(s)/2 up to 2.5e-8 GeV
    np.testing.assert_allclose(to_cms @ electron, [half, 0, 0, p_beam], rtol=0, atol=1e-12)
    np.testing.assert_allclose(to_cms @ positron, [half, 0, 0, -p_beam], rtol=0, atol=1e-12)
    np.testing.assert_allclose(to_cms @ (electron + positron), [sqrt_s, 0, 0, 0], rtol=0, atol=1e-12)


def test_cms_matrices_are_proper_lorentz_transformations_and_inverse():
    _, to_cms, to_lab = cms_frame()
    for lam in (to_cms, to_lab):
        np.testing.assert_allclose(lam.T @ METRIC @ lam, METRIC, atol=1e-12)
        assert np.linalg.det(lam) == pytest.approx(1.0, abs=1e-12)
        assert lam[0, 0] > 1.0  # orthochronous, a real boost (gamma beta ~ 0.43)
    np.testing.assert_allclose(to_lab @ to_cms, np.eye(4), atol=1e-12)


def test_round_trip_lab_cms_lab_is_identity_and_preserves_masses():
    _, to_cms, to_lab = cms_frame()
    rng = np.random.default_rng(11)
    for _ in range(200):
        p = rng.normal(scale=3.0, size=3)
        mass = rng.uniform(0.0, 5.0)
        p4 = np.array([energy(*p, mass), *p])
        cms = np.array(lorentz_transform(*p4, to_cms))
        back = np.array(lorentz_transform(*cms, to_lab))
        np.testing.assert_allclose(back, p4, rtol=0, atol=1e-12)
        assert _minkowski2(cms) == pytest.approx(mass**2, abs=1e-9)


def test_lorentz_transform_is_matrix_times_column_vector():
    # a non-symmetric matrix catches a transposed index
    matrix = np.arange(16.0).reshape(4, 4) ** 1.5
    v = np.array([2.0, -1.0, 0.5, 3.0])
    np.testing.assert_allclose(lorentz_transform(*v, matrix), matrix @ v, rtol=1e-15)


# --- masses -----------------------------------------------------------------------


def test_invariant_mass_squared_of_a_muon_and_signed_sqrt():
    e = energy(1.0, 2.0, 2.0, M_MU)  # |p| = 3
    assert e == pytest.approx(math.sqrt(9 + M_MU**2), rel=1e-15)
    assert invariant_mass_squared(e, 1.0, 2.0, 2.0) == pytest.approx(M_MU**2, rel=1e-9)
    assert invariant_mass_squared(3.0, 0.0, 5.0, 0.0) == -16.0  # space-like
    assert signed_sqrt(4.0) == 2.0
    assert signed_sqrt(-9.0) == -3.0
    assert signed_sqrt(0.0) == 0.0


def test_recoil_mass_of_back_to_back_dimuon_with_full_energy_is_zero():
    sqrt_s = cms_frame()[0]
    p = math.sqrt((sqrt_s / 2) ** 2 - M_MU**2)
    n = np.array([0.3, -0.4, math.sqrt(1 - 0.25)])
    mu1, mu2 = p * n, -p * n
    e = energy(*mu1, M_MU) + energy(*mu2, M_MU)
    assert e == pytest.approx(sqrt_s, rel=1e-15)
    assert recoil_mass_squared(sqrt_s, e, *(mu1 + mu2)) == pytest.approx(0.0, abs=1e-12)
    # and a dimuon at rest carrying less energy recoils against the missing energy: M^2 = (sqrt(s) - E)^2
    assert recoil_mass_squared(sqrt_s, 4.0, 0.0, 0.0, 0.0) == pytest.approx((sqrt_s - 4.0) ** 2, rel=1e-15)


def _three_body_cms(sqrt_s, m_x, q):
    """mu+ mu- X in the CM: X of mass m_x along -z with |p| = q, the muons symmetric in the x-z plane."""
    e_x = math.sqrt(q**2 + m_x**2)
    e_mu = (sqrt_s - e_x) / 2
    p_mu = math.sqrt(e_mu**2 - M_MU**2)
    cos_a = q / (2 * p_mu)
    sin_a = math.sqrt(1 - cos_a**2)
    mu_plus = np.array([e_mu, p_mu * sin_a, 0.0, p_mu * cos_a])
    mu_minus = np.array([e_mu, -p_mu * sin_a, 0.0, p_mu * cos_a])
    x = np.array([e_x, 0.0, 0.0, -q])
    return mu_plus, mu_minus, x


def test_recoil_mass_of_a_three_body_final_state_seen_from_the_lab():
    sqrt_s, to_cms, to_lab = cms_frame()
    mu_plus, mu_minus, x = _three_body_cms(sqrt_s, 3.0, 2.0)
    np.testing.assert_allclose(mu_plus + mu_minus + x, [sqrt_s, 0, 0, 0], atol=1e-14)  # conservation
    assert _minkowski2(mu_plus) == pytest.approx(M_MU**2, rel=1e-9)
    lab = [np.array(lorentz_transform(*v, to_lab)) for v in (mu_plus, mu_minus)]
    # back to the CM through the analysis frame, as the kernel does
    cms = [np.array(lorentz_transform(*v, to_cms)) for v in lab]
    dimuon = cms[0] + cms[1]
    assert recoil_mass_squared(sqrt_s, *dimuon) == pytest.approx(9.0, rel=1e-12)
    # the same invariant from the beams directly in the lab
    electron, positron = beam_four_momenta_lab()
    assert _minkowski2(electron + positron - lab[0] - lab[1]) == pytest.approx(9.0, rel=1e-10)


# --- angles and projections -------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-7, 1e-4, 0.3])
def test_opening_angle_is_exact_near_zero_and_pi(eps):
    a = (2.0, 0.0, 0.0)
    assert opening_angle(*a, 3 * math.cos(eps), 3 * math.sin(eps), 0.0) == pytest.approx(eps, rel=1e-9)
    anti = opening_angle(*a, -5 * math.cos(eps), 0.0, 5 * math.sin(eps))
    assert math.pi - anti == pytest.approx(eps, rel=1e-6)


def test_opening_angle_matches_arccos_on_random_vectors():
    rng = np.random.default_rng(5)
    for a, b in rng.normal(size=(100, 2, 3)):
        expected = np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        assert opening_angle(*a, *b) == pytest.approx(expected, abs=1e-9)
        assert opening_angle(*a, *a) == pytest.approx(0.0, abs=1e-12)
        assert opening_angle(*a, *(-a)) == pytest.approx(math.pi, abs=1e-12)


def test_transverse_projection_on_hand_made_vectors():
    assert transverse_projection(3.0, 4.0, 1.0, 0.0) == pytest.approx(4.0)
    assert transverse_projection(3.0, 4.0, 0.0, -2.0) == pytest.approx(3.0)
    assert transverse_projection(3.0, 4.0, 6.0, 8.0) == pytest.approx(0.0, abs=1e-15)  # parallel
    assert transverse_projection(3.0, 4.0, -4.0, 3.0) == pytest.approx(5.0)  # perpendicular: all of |t|
    assert transverse_projection(2.0, 0.0, 1.0, 1.0) == pytest.approx(math.sqrt(2.0))  # 2 sin 45 deg
    assert transverse_projection(3.0, 4.0, 0.0, 0.0) == 0.0  # degenerate axis


def test_transverse_projection_is_norm_times_sine_of_angle():
    rng = np.random.default_rng(6)
    for t, u in rng.normal(size=(100, 2, 2)):
        alpha = math.atan2(u[1], u[0]) - math.atan2(t[1], t[0])
        assert transverse_projection(*t, *u) == pytest.approx(np.linalg.norm(t) * abs(math.sin(alpha)), rel=1e-9)


def test_axis_angle_transverse_is_folded_into_zero_to_half_pi():
    assert axis_angle_transverse(1.0, 0.0, 2.0, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert axis_angle_transverse(1.0, 0.0, -2.0, 0.0) == pytest.approx(0.0, abs=1e-12)  # axis has no sign
    assert axis_angle_transverse(1.0, 0.0, 1.0, 1.0) == pytest.approx(math.pi / 4)
    assert axis_angle_transverse(1.0, 0.0, -1.0, 1.0) == pytest.approx(math.pi / 4)  # 135 deg folds to 45
    assert axis_angle_transverse(0.0, 3.0, 1.0, 0.0) == pytest.approx(math.pi / 2)
    assert axis_angle_transverse(0.0, 0.0, 1.0, 0.0) == pytest.approx(math.pi / 2)  # degenerate
    rng = np.random.default_rng(7)
    for t, n in rng.normal(size=(100, 2, 2)):
        alpha = math.acos(t @ n / np.linalg.norm(t) / np.linalg.norm(n))
        angle = axis_angle_transverse(*t, *n)
        assert 0.0 <= angle <= math.pi / 2
        assert angle == pytest.approx(min(alpha, math.pi - alpha), abs=1e-7)


# --- thrust -----------------------------------------------------------------------


def test_thrust_of_a_back_to_back_pair_is_the_sum_of_momenta_along_the_pair():
    a = np.array([1.0, 2.0, 2.0])  # |a| = 3
    b = -2.0 * a  # |b| = 6
    nx, ny, nz, thrust = two_body_thrust(*a, *b)
    assert thrust == pytest.approx(9.0)
    assert abs(np.dot([nx, ny, nz], a / 3)) == pytest.approx(1.0)


def test_thrust_of_perpendicular_pair_and_degenerate_input():
    nx, ny, nz, thrust = two_body_thrust(3.0, 0.0, 0.0, 0.0, 4.0, 0.0)
    assert thrust == pytest.approx(5.0)  # |a + b| = |a - b| = 5
    assert abs(3 * nx) + abs(4 * ny) == pytest.approx(5.0)
    # collinear same-direction pair: axis along the sum, thrust = |a| + |b|
    nx, ny, nz, thrust = two_body_thrust(0.0, 0.0, 1.0, 0.0, 0.0, 2.0)
    assert (nx, ny, nz, thrust) == pytest.approx((0.0, 0.0, 1.0, 3.0))
    assert two_body_thrust(0.0, 0.0, 0.0, 0.0, 0.0, 0.0) == (0.0, 0.0, 1.0, 0.0)


def test_thrust_is_the_longer_of_sum_and_difference_and_is_maximal():
    rng = np.random.default_rng(8)
    directions = rng.normal(size=(20000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    for a, b in rng.normal(scale=2.0, size=(30, 2, 3)):
        n = np.array(two_body_thrust(*a, *b)[:3])
        thrust = two_body_thrust(*a, *b)[3]
        longer = max(np.linalg.norm(a + b), np.linalg.norm(a - b))
        assert thrust == pytest.approx(longer, rel=1e-12)
        assert np.linalg.norm(n) == pytest.approx(1.0, rel=1e-12)
        assert abs(a @ n) + abs(b @ n) == pytest.approx(thrust, rel=1e-12)  # the axis attains the thrust
        brute = (np.abs(directions @ a) + np.abs(directions @ b)).max()
        assert brute <= thrust * (1 + 1e-12)  # nothing beats it
        assert brute > 0.99 * thrust
