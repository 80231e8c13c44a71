"""Beam kinematics of KEKB: beam four-momenta, sqrt(s) and the lab -> CM boost.

Everything is derived from the beam energies and crossing angle in
:mod:`selections.constants`; nothing (not even sqrt(s)) is typed in.
Four-vectors are arrays ``[..., 4]`` ordered ``(E, px, py, pz)`` in GeV.
"""

from __future__ import annotations

import functools

import numpy as np

from selections import constants as c


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


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors ``p4`` (shape [..., 4]) by velocity ``beta`` (shape [3] or [..., 3]).

    A particle at rest in a frame moving with ``beta`` ends up with velocity ``beta``.
    Works for momenta (E, p) and for space-time displacements (ct, x) alike.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    b2 = np.sum(beta * beta, axis=-1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[..., 1:], axis=-1)
    # (gamma - 1) / b2 written stably for small beta
    k = np.where(b2 > 0, gamma**2 / (gamma + 1.0), 0.0)
    out = np.empty(np.broadcast_shapes(p4.shape, beta.shape[:-1] + (4,)))
    out[..., 0] = gamma * (p4[..., 0] + bp)
    out[..., 1:] = p4[..., 1:] + ((k * bp + gamma * p4[..., 0])[..., None]) * beta
    return out


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
