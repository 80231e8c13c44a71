"""Decay kinematics: numba scalar functions for hot kernels, and [n, 4] / [n, 3] array wrappers around them."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, fastmath=True)
def direction_about_axis(ax: float, ay: float, az: float, cos_theta: float, phi: float) -> tuple[float, float, float]:
    """Unit vector at polar angle arccos(cos_theta) and azimuth phi around the unit vector (ax, ay, az).

    The azimuth is counted from e1 = h x a / |h x a| towards e2 = a x e1, with the helper h = z
    (or x when a is within 26 degrees of z).
    """
    if abs(az) < 0.9:  # h = z: e1 = (-ay, ax, 0) / norm
        norm = np.sqrt(ax * ax + ay * ay)
        e1x, e1y, e1z = -ay / norm, ax / norm, 0.0
    else:  # h = x: e1 = (0, -az, ay) / norm
        norm = np.sqrt(ay * ay + az * az)
        e1x, e1y, e1z = 0.0, -az / norm, ay / norm
    e2x, e2y, e2z = ay * e1z - az * e1y, az * e1x - ax * e1z, ax * e1y - ay * e1x
    sin_theta = np.sqrt(max(1.0 - cos_theta * cos_theta, 0.0))
    c, s = sin_theta * np.cos(phi), sin_theta * np.sin(phi)
    return cos_theta * ax + c * e1x + s * e2x, cos_theta * ay + c * e1y + s * e2y, cos_theta * az + c * e1z + s * e2z


@numba.njit(cache=True, fastmath=True)
def two_body_in_direction(parent, m1: float, m2: float, ux: float, uy: float, uz: float):
    """Daughters (tuples E, px, py, pz) of ``parent`` (tuple E, px, py, pz) -> 1 + 2.

    Daughter 1 flies along the unit vector u in the parent's rest frame (reached from the
    parent's frame by a pure boost); both are returned in the frame of ``parent``.
    """
    e, px, py, pz = parent
    mass = np.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))
    lam = (mass * mass - (m1 + m2) ** 2) * (mass * mass - (m1 - m2) ** 2)
    p = np.sqrt(max(lam, 0.0)) / (2.0 * mass)
    kx, ky, kz = p * ux, p * uy, p * uz
    e1, e2 = np.sqrt(p * p + m1 * m1), np.sqrt(p * p + m2 * m2)
    # boost both by the parent velocity
    inv_e = 1.0 / e
    bx, by, bz = px * inv_e, py * inv_e, pz * inv_e
    gamma = e / mass
    k = gamma * gamma / (gamma + 1.0)  # (gamma - 1) / beta^2, stable at small beta
    bp = bx * kx + by * ky + bz * kz
    f1 = k * bp + gamma * e1
    f2 = -k * bp + gamma * e2
    d1 = (gamma * (e1 + bp), kx + f1 * bx, ky + f1 * by, kz + f1 * bz)
    d2 = (gamma * (e2 - bp), -kx + f2 * bx, -ky + f2 * by, -kz + f2 * bz)
    return d1, d2


@numba.njit(cache=True, fastmath=True)
def cos_theta_1_plus_a_cos2(u: float, a: float) -> float:
    """Inverse CDF of 1 + a cos^2(theta) on [-1, 1] (a >= 0) at the uniform number u.

    The CDF condition c + a c^3 / 3 = y is a cubic with one real root, written in the
    hyperbolic form that stays exact as a -> 0 (where c = y).
    """
    y = (2.0 + 2.0 * a / 3.0) * u - 1.0 - a / 3.0
    if a < 1e-12:
        return y
    root_a = np.sqrt(a)
    return min(max(2.0 / root_a * np.sinh(np.arcsinh(1.5 * y * root_a) / 3.0), -1.0), 1.0)


@numba.njit(cache=True)
def _cos_theta_1_plus_a_cos2_kernel(u, a, out):  # pragma: no cover - jitted
    for i in range(len(u)):
        out[i] = cos_theta_1_plus_a_cos2(u[i], a[i])


def sample_cos_theta_1_plus_a_cos2(rng: np.random.Generator, a: np.ndarray | float, n: int) -> np.ndarray:
    """cos(theta) distributed as 1 + a cos^2(theta) on [-1, 1] for a >= 0 (inverse CDF, one uniform each)."""
    a = np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)))
    out = np.empty(n)
    _cos_theta_1_plus_a_cos2_kernel(rng.random(n), a, out)
    return out


@numba.njit(cache=True)
def _directions_about_axis_kernel(axis, cos_theta, phi, out):  # pragma: no cover - jitted
    for i in range(len(out)):
        out[i, 0], out[i, 1], out[i, 2] = direction_about_axis(axis[i, 0], axis[i, 1], axis[i, 2], cos_theta[i], phi[i])


def directions_about_axis(axis: np.ndarray, cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors [n, 3] at polar angle arccos(cos_theta) and azimuth phi around unit vectors ``axis`` [n, 3]."""
    out = np.empty((len(cos_theta), 3))
    _directions_about_axis_kernel(axis, cos_theta, phi, out)
    return out


@numba.njit(cache=True)
def _two_body_kernel(parent, m1, m2, directions, d1, d2):  # pragma: no cover - jitted
    for i in range(len(parent)):
        p = (parent[i, 0], parent[i, 1], parent[i, 2], parent[i, 3])
        d1[i], d2[i] = two_body_in_direction(p, m1, m2, directions[i, 0], directions[i, 1], directions[i, 2])


def two_body_decay(
    parent_p4: np.ndarray, m1: float, m2: float, directions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Decay parents [n, 4] to two daughters of masses m1, m2; daughter 1 along ``directions`` [n, 3] in the rest frame.

    Returns the daughters' four-momenta [n, 4] in the frame of ``parent_p4``.
    """
    d1, d2 = np.empty((len(parent_p4), 4)), np.empty((len(parent_p4), 4))
    _two_body_kernel(parent_p4, float(m1), float(m2), directions, d1, d2)
    return d1, d2


def sample_collinear_cos(rng: np.random.Generator, one_minus_beta: np.ndarray) -> np.ndarray:
    """cos(theta) with density proportional to 1/(1 - beta cos theta) on [-1, 1].

    The angular distribution of a photon radiated by a particle of velocity beta
    (the leading collinear pole). The argument is 1 - beta, given directly so
    that ultra-relativistic beams (1 - beta ~ 1e-9) keep full precision.
    """
    omb = np.asarray(one_minus_beta, dtype=np.float64)
    beta = 1.0 - omb
    u = rng.uniform(0.0, 1.0, omb.shape)
    t = omb * ((1.0 + beta) / omb) ** u  # t = 1 - beta cos(theta), density ~ 1/t
    return np.clip((1.0 - t) / beta, -1.0, 1.0)
