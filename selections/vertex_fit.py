"""Common-vertex fit of two tracks from their impact parameters (cut 2 of the talk).

The ntuple carries, per track, the signed transverse and longitudinal distances
of closest approach to the nominal IP, ``dr`` and ``dz`` (cm). Near the IP a
track is a straight line of azimuth phi and polar angle theta, so a track from a
vertex (x0, y0, z0) has

    dr = x0 sin(phi) - y0 cos(phi)
    dz = z0 - (x0 cos(phi) + y0 sin(phi)) cot(theta)

Two tracks give four such measurements, linear in the vertex; the transverse
beam-spot size adds two constraints x0 ~ 0, y0 ~ 0. The least-squares vertex
leaves a chi-square with 6 - 3 = 3 degrees of freedom, whose p-value is the
confidence level of the fit: uniform for two tracks from one prompt vertex,
small for tracks from displaced decays (tau leptons) or from different vertices.
Errors of dr and dz are the parametrised Belle SVD resolutions of
:mod:`core.belle_detector`, evaluated for the muon hypothesis.
"""

from __future__ import annotations

import math

import numba

from core import belle_detector as det

VERTEX_FIT_NDF = 3
"""Degrees of freedom of the two-track fit with a transverse beam-spot constraint."""

_BEAM_SPOT_X_CM, _BEAM_SPOT_Y_CM, _ = det.BEAM_SPOT_SIGMA_CM


@numba.njit(cache=True, inline="always")
def chi2_survival_3dof(chi2):
    """P(chi^2_3 > chi2): the p-value of a chi-square with three degrees of freedom (closed form)."""
    if chi2 <= 0.0:
        return 1.0
    return math.erfc(math.sqrt(0.5 * chi2)) + math.sqrt(2.0 * chi2 / math.pi) * math.exp(-0.5 * chi2)


@numba.njit(cache=True, inline="always")
def two_track_vertex_chi2(dr0, dz0, c0, s0, cot0, sdr0, sdz0, dr1, dz1, c1, s1, cot1, sdr1, sdz1, sigma_x, sigma_y):
    """Chi-square (3 degrees of freedom) of the common-vertex fit of two tracks with a beam-spot constraint.

    Per track: impact parameters ``dr``, ``dz`` (cm), cos and sin of the azimuth
    ``c``, ``s`` and cot(theta) at the IP, and the errors ``sdr``, ``sdz`` of dr and dz (cm).
    ``sigma_x``, ``sigma_y``: transverse beam-spot sizes (cm). Scalar code (no
    allocation): the normal equations of the six linear rows, track rows
    dr = (s, -c, 0) . v and dz = (-c k, -s k, 1) . v with k = cot(theta), are
    summed by hand and solved with the adjugate of the symmetric 3x3 matrix.
    """
    wx, wy = 1.0 / (sigma_x * sigma_x), 1.0 / (sigma_y * sigma_y)
    wr0, wz0 = 1.0 / (sdr0 * sdr0), 1.0 / (sdz0 * sdz0)
    wr1, wz1 = 1.0 / (sdr1 * sdr1), 1.0 / (sdz1 * sdz1)
    ck0, sk0, ck1, sk1 = c0 * cot0, s0 * cot0, c1 * cot1, s1 * cot1
    n00 = wx + wr0 * s0 * s0 + wz0 * ck0 * ck0 + wr1 * s1 * s1 + wz1 * ck1 * ck1
    n01 = -wr0 * s0 * c0 + wz0 * ck0 * sk0 - wr1 * s1 * c1 + wz1 * ck1 * sk1
    n02 = -wz0 * ck0 - wz1 * ck1
    n11 = wy + wr0 * c0 * c0 + wz0 * sk0 * sk0 + wr1 * c1 * c1 + wz1 * sk1 * sk1
    n12 = -wz0 * sk0 - wz1 * sk1
    n22 = wz0 + wz1
    r0 = wr0 * s0 * dr0 - wz0 * ck0 * dz0 + wr1 * s1 * dr1 - wz1 * ck1 * dz1
    r1 = -wr0 * c0 * dr0 - wz0 * sk0 * dz0 - wr1 * c1 * dr1 - wz1 * sk1 * dz1
    r2 = wz0 * dz0 + wz1 * dz1
    a00 = n11 * n22 - n12 * n12
    a01 = n02 * n12 - n01 * n22
    a02 = n01 * n12 - n02 * n11
    a11 = n00 * n22 - n02 * n02
    a12 = n01 * n02 - n00 * n12
    a22 = n00 * n11 - n01 * n01
    inv_det = 1.0 / (n00 * a00 + n01 * a01 + n02 * a02)
    x = (a00 * r0 + a01 * r1 + a02 * r2) * inv_det
    y = (a01 * r0 + a11 * r1 + a12 * r2) * inv_det
    z = (a02 * r0 + a12 * r1 + a22 * r2) * inv_det
    res_r0 = dr0 - (s0 * x - c0 * y)
    res_z0 = dz0 - (z - ck0 * x - sk0 * y)
    res_r1 = dr1 - (s1 * x - c1 * y)
    res_z1 = dz1 - (z - ck1 * x - sk1 * y)
    return (
        wx * x * x + wy * y * y
        + wr0 * res_r0 * res_r0 + wz0 * res_z0 * res_z0 + wr1 * res_r1 * res_r1 + wz1 * res_z1 * res_z1
    )  # fmt: skip


@numba.njit(cache=True, inline="always")
def _track_at_ip(px, py, pz, mass):
    """(cos phi, sin phi, cot theta, sigma_dr, sigma_dz) of a track of lab momentum (GeV), mass hypothesis (GeV)."""
    pt = math.sqrt(px * px + py * py)
    p = math.sqrt(pt * pt + pz * pz)
    beta = p / math.sqrt(p * p + mass * mass)
    sin_theta = pt / p
    return px / pt, py / pt, pz / pt, det.dr_resolution_sin_cm(p, beta, sin_theta), det.dz_resolution_sin_cm(p, beta, sin_theta)


@numba.njit(cache=True, inline="always")
def two_track_vertex_pvalue(dr0, dz0, px0, py0, pz0, dr1, dz1, px1, py1, pz1, mass):
    """Confidence level (p-value) in [0, 1] of the common-vertex fit of two tracks.

    Impact parameters ``dr``, ``dz`` in cm and lab momenta in GeV of tracks 0 and 1;
    ``mass`` (GeV) is the mass hypothesis used for beta in the impact-parameter
    resolution; the beam-spot constraint uses :data:`belle_detector.BEAM_SPOT_SIGMA_CM`.
    """
    c0, s0, cot0, sdr0, sdz0 = _track_at_ip(px0, py0, pz0, mass)
    c1, s1, cot1, sdr1, sdz1 = _track_at_ip(px1, py1, pz1, mass)
    chi2 = two_track_vertex_chi2(
        dr0, dz0, c0, s0, cot0, sdr0, sdz0, dr1, dz1, c1, s1, cot1, sdr1, sdz1, _BEAM_SPOT_X_CM, _BEAM_SPOT_Y_CM
    )
    return chi2_survival_3dof(chi2)
