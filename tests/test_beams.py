"""Beam kinematics: sqrt(s), the CM boost and frame transformations."""

import numpy as np
import pytest

from core import beams


def test_sqrt_s_is_the_upsilon_4s():
    assert beams.sqrt_s_gev() == pytest.approx(10.580, abs=0.001)


def test_boost_vector_matches_kekb():
    beta = beams.cms_boost_vector()
    gamma = 1 / np.sqrt(1 - beta @ beta)
    assert gamma * np.linalg.norm(beta) == pytest.approx(0.4254, abs=2e-4)
    assert beta[0] == pytest.approx(0.0153, abs=1e-4)
    assert beta[2] == pytest.approx(0.3911, abs=1e-4)


def test_beams_are_back_to_back_in_the_cms_with_half_sqrt_s_each():
    electron, positron = beams.beam_four_momenta_lab()
    e_cms, p_cms = beams.lab_to_cms(electron), beams.lab_to_cms(positron)
    half = beams.sqrt_s_gev() / 2
    assert e_cms[0] == pytest.approx(half, rel=1e-12)
    assert p_cms[0] == pytest.approx(half, rel=1e-12)
    np.testing.assert_allclose(e_cms[1:] + p_cms[1:], 0.0, atol=1e-12)


def test_boost_round_trip_preserves_vectors_and_masses():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(1000, 3)) * 3
    p4 = np.column_stack([np.sqrt((p**2).sum(1) + 0.1057**2), p])
    back = beams.lab_to_cms(beams.cms_to_lab(p4))
    np.testing.assert_allclose(back, p4, atol=1e-12)
    lab = beams.cms_to_lab(p4)
    np.testing.assert_allclose(lab[:, 0] ** 2 - (lab[:, 1:] ** 2).sum(1), 0.1057**2, rtol=1e-9)


def test_beam_frame_rotation_aligns_z_with_electron_beam():
    rot = beams.beam_frame_to_cms_rotation()
    np.testing.assert_allclose(rot @ [0, 0, 1], beams.electron_beam_axis_cms(), atol=1e-15)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-15)
