"""Vectorised sampling of decay kinematics (numpy, [n, 4] four-vectors)."""

from __future__ import annotations

import numpy as np

from selections.beams import boost

from .particles import four_vector


def isotropic_directions(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` unit vectors uniform on the sphere, shape [n, 3]."""
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


def orthonormal_basis(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors that complete unit vectors ``u`` [n, 3] to right-handed bases."""
    helper = np.where(np.abs(u[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(helper, u)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(u, e1)
    return e1, e2


def directions_about_axis(axis: np.ndarray, cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors at polar angle arccos(cos_theta) and azimuth phi around unit vectors ``axis``."""
    e1, e2 = orthonormal_basis(axis)
    sin_t = np.sqrt(np.clip(1.0 - cos_theta**2, 0.0, None))[:, None]
    return cos_theta[:, None] * axis + sin_t * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)


def two_body_momentum(mass: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Momentum of either daughter in the rest frame of a two-body decay, GeV."""
    mass = np.asarray(mass, dtype=np.float64)
    lam = (mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)
    return np.sqrt(np.clip(lam, 0.0, None)) / (2.0 * mass)


def velocity(p4: np.ndarray) -> np.ndarray:
    """Velocity vector p/E of four-vectors [n, 4]."""
    return p4[:, 1:] / p4[:, :1]


def two_body_decay(
    rng: np.random.Generator,
    parent_p4: np.ndarray,
    m1: np.ndarray | float,
    m2: np.ndarray | float,
    directions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decay parents [n, 4] to two daughters of masses m1, m2 (isotropic in the rest frame).

    ``directions`` [n, 3] optionally fixes daughter 1's rest-frame direction.
    Returns the daughters' four-momenta in the frame of ``parent_p4``.
    """
    n = len(parent_p4)
    mass = np.sqrt(np.clip(parent_p4[:, 0] ** 2 - np.sum(parent_p4[:, 1:] ** 2, axis=1), 0.0, None))
    m1 = np.broadcast_to(np.asarray(m1, dtype=np.float64), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=np.float64), (n,))
    p = two_body_momentum(mass, m1, m2)
    u = isotropic_directions(rng, n) if directions is None else directions
    d1 = four_vector(np.sqrt(p**2 + m1**2), p[:, None] * u)
    d2 = four_vector(np.sqrt(p**2 + m2**2), -p[:, None] * u)
    beta = velocity(parent_p4)
    return boost(d1, beta), boost(d2, beta)


def sample_cos_theta_1_plus_a_cos2(rng: np.random.Generator, a: np.ndarray | float, n: int) -> np.ndarray:
    """cos(theta) distributed as 1 + a cos^2(theta) on [-1, 1] for 0 <= a <= 1 (rejection)."""
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), (n,))
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        c = rng.uniform(-1.0, 1.0, len(todo))
        keep = rng.uniform(0.0, 1.0 + a[todo]) < 1.0 + a[todo] * c**2
        out[todo[keep]] = c[keep]
        todo = todo[~keep]
    return out


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
