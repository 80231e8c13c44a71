"""Beam kinematics of KEKB: beam four-momenta, sqrt(s) and the lab -> CM boost.

Everything is derived from the beam energies and crossing angle in
:mod:`core.constants`; nothing (not even sqrt(s)) is typed in.
Four-vectors are arrays ``[..., 4]`` ordered ``(E, px, py, pz)`` in GeV.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from core import constants as c


@functools.cache
def beam_four_momenta_lab() -> tuple[np.ndarray, np.ndarray]:
    """Four-momenta (E, px, py, pz) of the e- (HER) and e+ (LER) beams in the lab frame, GeV."""
    m = c.ELECTRON_MASS_GEV
    p_her = np.sqrt(c.HER_ENERGY_GEV**2 - m**2)
    p_ler = np.sqrt(c.LER_ENERGY_GEV**2 - m**2)
    theta = c.CROSSING_ANGLE_RAD
    electron = np.array([c.HER_ENERGY_GEV, p_her * np.sin(theta), 0.0, p_her * np.cos(theta)])
    positron = np.array([c.LER_ENERGY_GEV, 0.0, 0.0, -p_ler])
    electron.setflags(write=False)
    positron.setflags(write=False)
    return electron, positron


@functools.cache
def sqrt_s_gev() -> float:
    """Nominal centre-of-mass energy sqrt(s) of the two beams, GeV (10.580 at KEKB)."""
    total = np.add(*beam_four_momenta_lab())
    return float(np.sqrt(total[0] ** 2 - total[1:] @ total[1:]))


@functools.cache
def cms_boost_vector() -> np.ndarray:
    """Velocity beta of the CM frame in the lab (lab = boost(cms, +beta)), shape (3,)."""
    total = np.add(*beam_four_momenta_lab())
    beta = total[1:] / total[0]
    beta.setflags(write=False)
    return beta


@numba.njit(cache=True, fastmath=False)
def _boost_kernel(p4: np.ndarray, beta: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - jitted
    """Boost rows of p4 [n, 4] by rows of beta [n or 1, 3] into out [n, 4]."""
    one_beta = beta.shape[0] == 1
    for i in range(p4.shape[0]):
        j = 0 if one_beta else i
        bx, by, bz = beta[j, 0], beta[j, 1], beta[j, 2]
        b2 = bx * bx + by * by + bz * bz
        gamma = 1.0 / np.sqrt(1.0 - b2)
        bp = bx * p4[i, 1] + by * p4[i, 2] + bz * p4[i, 3]
        k = gamma * gamma / (gamma + 1.0)  # (gamma - 1) / beta^2, stable at small beta
        f = k * bp + gamma * p4[i, 0]
        out[i, 0] = gamma * (p4[i, 0] + bp)
        out[i, 1] = p4[i, 1] + f * bx
        out[i, 2] = p4[i, 2] + f * by
        out[i, 3] = p4[i, 3] + f * bz


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors ``p4`` (shape [..., 4]) by velocity ``beta`` (shape [3] or [..., 3]).

    A particle at rest in a frame moving with ``beta`` ends up with velocity ``beta``.
    Works for momenta (E, p) and for space-time displacements (ct, x) alike.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    shape = np.broadcast_shapes(p4.shape[:-1], beta.shape[:-1]) + (4,)
    rows = np.ascontiguousarray(np.broadcast_to(p4, shape).reshape(-1, 4))
    if beta.ndim == 1:
        b = np.ascontiguousarray(beta.reshape(1, 3))
    else:
        b = np.ascontiguousarray(np.broadcast_to(beta, shape[:-1] + (3,)).reshape(-1, 3))
    out = np.empty_like(rows)
    _boost_kernel(rows, b, out)
    return out.reshape(shape)


def lab_to_cms(p4_lab: np.ndarray) -> np.ndarray:
    """Four-vectors from the lab frame to the e+e- CM frame (pure boost, no rotation)."""
    return boost(p4_lab, -cms_boost_vector())


def cms_to_lab(p4_cms: np.ndarray) -> np.ndarray:
    """Four-vectors from the e+e- CM frame to the lab frame (pure boost, no rotation)."""
    return boost(p4_cms, cms_boost_vector())


@functools.cache
def electron_beam_axis_cms() -> np.ndarray:
    """Unit vector of the e- beam direction in the CM frame (tilted slightly from +z by the crossing angle)."""
    electron, _ = beam_four_momenta_lab()
    p = lab_to_cms(electron)[1:]
    axis = p / np.linalg.norm(p)
    axis.setflags(write=False)
    return axis


@functools.cache
def beam_frame_to_cms_rotation() -> np.ndarray:
    """Rotation matrix taking the generator's beam frame (e- along +z) to the CM frame.

    Generators work in a frame where the e- beam is the +z axis; this rotation
    (about the axis z x n) aligns +z with the e- direction ``n`` in the CM frame.
    """
    z = np.array([0.0, 0.0, 1.0])
    n = electron_beam_axis_cms()
    axis = np.cross(z, n)
    sin_a = np.linalg.norm(axis)
    cos_a = float(z @ n)
    if sin_a == 0:
        return np.eye(3)
    k = axis / sin_a
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + sin_a * kx + (1 - cos_a) * (kx @ kx)
    rot.setflags(write=False)
    return rot


@functools.cache
def cms_frame() -> tuple[float, np.ndarray, np.ndarray]:
    """(sqrt(s) in GeV, lab -> ``_cms`` Lorentz matrix (4, 4), ``_cms`` -> lab matrix (4, 4)).

    Derived from the beam four-vectors of :mod:`core.beams`: a boost by the
    CM velocity followed by the rotation that turns the e- beam direction into +z.
    Matrices act on column four-vectors (E, px, py, pz).
    """
    rotation = np.eye(4)
    rotation[1:, 1:] = beam_frame_to_cms_rotation().T
    boost_to_cms = lab_to_cms(np.eye(4)).T  # columns: images of the unit four-vectors
    to_cms = np.ascontiguousarray(rotation @ boost_to_cms)
    to_lab = np.ascontiguousarray(np.linalg.inv(to_cms))
    to_cms.setflags(write=False)
    to_lab.setflags(write=False)
    return sqrt_s_gev(), to_cms, to_lab
