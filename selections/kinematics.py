"""Kinematics of the dimuon recoil analysis as numba kernels on scalars.

Every function here is ``numba.njit``-compiled and takes and returns plain
floats, so it can be called from Python (tests, notebooks) and from the fused
per-event kernel of :mod:`selections.zprime_variables` alike.

Units: GeV for energies and momenta, rad for angles, cm for lengths.
Frames are explicit in the names: ``_lab`` is the Belle lab frame (e- beam at
+22 mrad in the x-z plane, e+ beam along -z); ``_cms`` is the e+e- centre-of-mass
frame *with its z axis along the e- beam* (boost, then a rotation of a few mrad),
so that "transverse" and "polar angle" in the CM frame refer to the collision axis.
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True, inline="always")
def energy(px, py, pz, mass):
    """Energy (GeV) of a particle of momentum (px, py, pz) and ``mass`` (GeV)."""
    return math.sqrt(px * px + py * py + pz * pz + mass * mass)


@numba.njit(cache=True, inline="always")
def lorentz_transform(e, px, py, pz, matrix):
    """Four-vector (E, px, py, pz) transformed by a 4x4 ``matrix`` from :func:`cms_frame` (GeV).

    ``cms_frame()[1]`` takes the lab frame to ``_cms``, ``cms_frame()[2]`` back.
    """
    m = matrix
    return (
        m[0, 0] * e + m[0, 1] * px + m[0, 2] * py + m[0, 3] * pz,
        m[1, 0] * e + m[1, 1] * px + m[1, 2] * py + m[1, 3] * pz,
        m[2, 0] * e + m[2, 1] * px + m[2, 2] * py + m[2, 3] * pz,
        m[3, 0] * e + m[3, 1] * px + m[3, 2] * py + m[3, 3] * pz,
    )


@numba.njit(cache=True, inline="always")
def photon_four_vector_cms(e_lab, theta_lab, phi_lab, to_cms):
    """CM four-vector (E, px, py, pz) of a massless ECL cluster of energy ``e_lab`` (GeV) and direction
    ``theta_lab``, ``phi_lab`` (rad) in the lab; ``to_cms`` is ``cms_frame()[1]``."""
    sin_t = math.sin(theta_lab)
    return lorentz_transform(
        e_lab, e_lab * sin_t * math.cos(phi_lab), e_lab * sin_t * math.sin(phi_lab), e_lab * math.cos(theta_lab), to_cms
    )


@numba.njit(cache=True, inline="always")
def recoil_mass_squared(sqrt_s, e_cms, px_cms, py_cms, pz_cms):
    """Mass squared recoiling against a visible system, GeV^2.

    M^2 = (sqrt(s) - E*)^2 - |p*|^2 = s + m^2 - 2 E* sqrt(s), with the system's
    energy and momentum in the CM frame and ``sqrt_s`` in GeV.
    """
    r = sqrt_s - e_cms
    return r * r - (px_cms * px_cms + py_cms * py_cms + pz_cms * pz_cms)


@numba.njit(cache=True, inline="always")
def invariant_mass_squared(e, px, py, pz):
    """Invariant mass squared E^2 - |p|^2 of a four-vector, GeV^2."""
    return e * e - (px * px + py * py + pz * pz)


@numba.njit(cache=True, inline="always")
def signed_sqrt(x):
    """sqrt(x) for x >= 0 and -sqrt(-x) otherwise (a mass from a possibly negative mass squared)."""
    return math.sqrt(x) if x >= 0.0 else -math.sqrt(-x)


@numba.njit(cache=True, inline="always")
def opening_angle(ax, ay, az, bx, by, bz):
    """Angle between two three-vectors, rad in [0, pi] (atan2 form, exact near 0 and pi)."""
    cx = ay * bz - az * by
    cy = az * bx - ax * bz
    cz = ax * by - ay * bx
    return math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), ax * bx + ay * by + az * bz)


@numba.njit(cache=True, inline="always")
def transverse_projection(tx, ty, ux, uy):
    """|t| sin(alpha) for two transverse vectors t and u at angle alpha: |t x u| / |u| (GeV for t in GeV)."""
    norm = math.sqrt(ux * ux + uy * uy)
    if norm == 0.0:
        return 0.0
    return abs(tx * uy - ty * ux) / norm


@numba.njit(cache=True, inline="always")
def axis_angle_transverse(tx, ty, nx, ny):
    """Angle (rad, [0, pi/2]) between a transverse vector t and the transverse projection of an axis n.

    An axis has no sign, so the angle is folded: pi/2 is perpendicular, 0 along.
    Degenerate (zero) vectors give pi/2.
    """
    norm = math.sqrt((tx * tx + ty * ty) * (nx * nx + ny * ny))
    if norm == 0.0:
        return 0.5 * math.pi
    return math.acos(min(1.0, abs(tx * nx + ty * ny) / norm))


@numba.njit(cache=True, inline="always")
def two_body_thrust(ax, ay, az, bx, by, bz):
    """Thrust axis (unit vector) and thrust momentum sum_i |p_i . n| (GeV) of two momenta.

    For two particles the axis maximising sum |p_i . n| is along a + b or a - b,
    whichever is longer, and the maximum is that length.
    """
    sx, sy, sz = ax + bx, ay + by, az + bz
    dx, dy, dz = ax - bx, ay - by, az - bz
    s = math.sqrt(sx * sx + sy * sy + sz * sz)
    d = math.sqrt(dx * dx + dy * dy + dz * dz)
    if d >= s:
        if d == 0.0:
            return 0.0, 0.0, 1.0, 0.0
        return dx / d, dy / d, dz / d, d
    return sx / s, sy / s, sz / s, s
