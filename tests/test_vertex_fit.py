"""The two-track vertex fit of :mod:`selections.vertex_fit`.

The closed-form chi-square survival function is checked against scipy, the
hand-summed normal equations against a generic weighted least-squares solve of
the six rows of the module docstring, and the whole fit statistically: prompt
muon pairs from the beam spot, with impact parameters smeared by the Belle SVD
resolutions, give uniform p-values; pairs displaced by a tau-like flight do not.
"""

import numpy as np
import pytest
from scipy import stats

from core import belle_detector as det
from core import constants as c
from selections.vertex_fit import (
    VERTEX_FIT_NDF,
    chi2_survival_3dof,
    two_track_vertex_chi2,
    two_track_vertex_pvalue,
)

SIGMA_X, SIGMA_Y, _ = det.BEAM_SPOT_SIGMA_CM


def test_chi2_survival_matches_scipy():
    assert VERTEX_FIT_NDF == 3
    for x in [1e-8, 1e-3, 0.1, 0.5, 1.0, 2.366, 3.0, 7.815, 11.34, 20.0, 50.0, 100.0]:
        assert chi2_survival_3dof(x) == pytest.approx(stats.chi2.sf(x, 3), rel=1e-10, abs=1e-300)
    assert chi2_survival_3dof(7.814727903251178) == pytest.approx(0.05, rel=1e-12)  # 95% quantile of chi2_3
    assert chi2_survival_3dof(0.0) == 1.0
    assert chi2_survival_3dof(-1.0) == 1.0


def _rows(dr, dz, c_, s, k, sdr, sdz):
    """Weighted design rows and measurements of one track: dr = (s, -c, 0).v, dz = (-c k, -s k, 1).v."""
    return [np.array([s, -c_, 0.0]) / sdr, np.array([-c_ * k, -s * k, 1.0]) / sdz], [dr / sdr, dz / sdz]


def _lstsq_chi2(track0, track1, sigma_x, sigma_y):
    a0, b0 = _rows(*track0)
    a1, b1 = _rows(*track1)
    design = np.array(a0 + a1 + [np.array([1.0, 0, 0]) / sigma_x, np.array([0, 1.0, 0]) / sigma_y])
    measured = np.array(b0 + b1 + [0.0, 0.0])
    vertex, *_ = np.linalg.lstsq(design, measured, rcond=None)
    return float(((design @ vertex - measured) ** 2).sum())


def test_chi2_equals_generic_weighted_least_squares():
    rng = np.random.default_rng(21)
    for _ in range(200):
        tracks = []
        for _ in range(2):
            phi = rng.uniform(-np.pi, np.pi)
            tracks.append(
                (
                    rng.normal(scale=0.02),  # dr
                    rng.normal(scale=0.3),  # dz
                    np.cos(phi),
                    np.sin(phi),
                    rng.uniform(-2.0, 2.0),  # cot(theta)
                    rng.uniform(0.002, 0.02),  # sigma dr
                    rng.uniform(0.003, 0.03),  # sigma dz
                )
            )
        sigma_x, sigma_y = rng.uniform(0.0005, 0.02, size=2)
        expected = _lstsq_chi2(*tracks, sigma_x, sigma_y)
        assert two_track_vertex_chi2(*tracks[0], *tracks[1], sigma_x, sigma_y) == pytest.approx(expected, rel=1e-8)


def test_tracks_from_a_vertex_on_the_beam_line_fit_perfectly():
    # z of the vertex is free: any point (0, 0, z0) reproduces the impact parameters exactly
    z0 = 0.7
    k0, k1 = 0.4, -1.3
    track0 = (0.0, z0, 0.6, 0.8, k0, 0.003, 0.004)
    track1 = (0.0, z0, -1.0, 0.0, k1, 0.003, 0.004)
    chi2 = two_track_vertex_chi2(*track0, *track1, SIGMA_X, SIGMA_Y)
    assert chi2 == pytest.approx(0.0, abs=1e-18)
    assert two_track_vertex_pvalue(0.0, z0, 1.0, 2.0, 0.5, 0.0, z0, -1.0, -2.0, -0.3, c.MUON_MASS_GEV) == 1.0


def _muon_pairs(rng, n, displacement_cm=0.0):
    """Impact parameters and lab momenta of ``n`` muon pairs from a common vertex drawn from the beam spot.

    ``displacement_cm`` moves the vertex by that distance in a random transverse direction.
    """
    vertex = rng.normal(scale=det.BEAM_SPOT_SIGMA_CM, size=(n, 3))
    if displacement_cm:
        a = rng.uniform(-np.pi, np.pi, n)
        vertex[:, 0] += displacement_cm * np.cos(a)
        vertex[:, 1] += displacement_cm * np.sin(a)
    x0, y0, z0 = vertex.T
    tracks = []
    for _ in range(2):
        p = rng.uniform(0.5, 5.0, n)
        theta = np.arccos(rng.uniform(np.cos(det.CDC_THETA_MAX_RAD), np.cos(det.CDC_THETA_MIN_RAD), n))
        phi = rng.uniform(-np.pi, np.pi, n)
        cos_phi, sin_phi, cot = np.cos(phi), np.sin(phi), 1.0 / np.tan(theta)
        dr = x0 * sin_phi - y0 * cos_phi
        dz = z0 - (x0 * cos_phi + y0 * sin_phi) * cot
        beta = p / np.sqrt(p**2 + c.MUON_MASS_GEV**2)
        dr = dr + rng.normal(size=n) * det.dr_resolution_cm(p, beta, theta)
        dz = dz + rng.normal(size=n) * det.dz_resolution_cm(p, beta, theta)
        pt = p * np.sin(theta)
        tracks.append((dr, dz, pt * cos_phi, pt * sin_phi, p * np.cos(theta)))
    return tracks


def _pvalues(tracks):
    rows = np.column_stack([*tracks[0], *tracks[1]])  # dr0, dz0, px0, py0, pz0, dr1, ..., pz1
    return np.array([two_track_vertex_pvalue(*row, c.MUON_MASS_GEV) for row in rows])


def test_prompt_muon_pairs_give_uniform_pvalues():
    pvalues = _pvalues(_muon_pairs(np.random.default_rng(2024), 20_000))
    assert ((pvalues >= 0) & (pvalues <= 1)).all()
    # binomial sigma at 20k pairs: 0.0015 at 5%, 0.0035 at 50%
    assert np.mean(pvalues < 0.05) == pytest.approx(0.05, abs=0.01)
    assert np.mean(pvalues < 0.01) == pytest.approx(0.01, abs=0.004)
    assert np.mean(pvalues < 0.5) == pytest.approx(0.5, abs=0.02)
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-3


def test_pairs_displaced_by_a_tau_flight_have_small_pvalues():
    # 300 um transverse flight: about the mean decay length beta gamma c tau ~ 260 um of a 5.3 GeV tau,
    # 60 sigma of the vertical beam-spot size and ~ 10 sigma of the dr resolution
    pvalues = _pvalues(_muon_pairs(np.random.default_rng(2025), 5_000, displacement_cm=0.03))
    assert np.mean(pvalues < 0.05) > 0.8
    assert np.median(pvalues) < 1e-3
