"""Multi-photon QED radiation off both beams and off the final-state leptons (docs/physics.md §4).

Given the fraction x_b of each beam's energy lost to initial-state radiation, this module makes the
photons, YFS-like, and lets the final-state leptons radiate:

* **Both beams.** Each beam radiates independently with its own structure function, the
  first-order radiator with half the e+e- exponent, gamma = beta / 2 (Kuraev-Fadin /
  Nicrosini-Trentadue per beam, convoluted): the hard process runs at
  s' = s (1 - x_1)(1 - x_2). The fractions x_b are drawn by the process (its weight carries the
  structure functions); this module turns them into photons.
* **Many photons per emitter.** The energy E of an emitter's photons is split by stick-breaking:
  each photon takes a fraction V ~ Beta(1, gamma) of what is left. -ln(remainder) then grows as a
  Poisson process of rate gamma, so beyond the first photon there are Poisson(gamma ln(E / e_min))
  photons above e_min - the YFS multiplicity of a dk/k spectrum. The remainder below e_min (or
  beyond ``PHOTON_SLOTS`` photons) goes to the last photon, so energy is conserved.
* **Eikonal angles.** Two back-to-back charges of velocity beta (the beams in the CM frame, the
  final leptons in their rest frame) radiate with the dipole density
  beta^2 sin^2(theta) / (1 - beta^2 cos^2(theta))^2, theta from the axis of charge 1. A photon
  is given to charge 1 with probability (1 + beta cos) / 2 (the partition of the two poles), so
  about its own emitter it follows
  beta^2 sin^2(theta) / [(1 - beta cos)^2 (1 + beta cos)]: the 1/(1 - beta cos) collinear peak,
  the dead cone of width ~ 1/gamma_Lorentz (mass term) and a wide-angle tail.
* **Recoil.** The photons' momenta are balanced by the lepton pair, which so gets a transverse
  momentum; for ISR all photon energies are scaled by a common factor (1 for collinear photons)
  that keeps the pair mass at exactly sqrt(s'), the value the cross section was weighted with.
* **Final-state radiation.** In the pair rest frame each lepton radiates a total fraction y of
  its energy from the first-order radiator gamma_f y^(gamma_f - 1)(1 + 3 gamma_f / 4) -
  gamma_f (1 - y / 2) with gamma_f = half the dipole exponent :func:`dipole_exponent`, split and
  oriented as above about the lepton; the leptons then share what is left, keeping the direction
  of the l- in the rest frame of the remainder. FSR leaves the cross section unchanged (inclusive
  over photons).

Kernels draw their random numbers from the ``numpy.random.Generator`` passed in (numba supports
Generators in nopython mode), so runs are reproducible from the caller's seed.
"""

from __future__ import annotations

import numba
import numpy as np

from core import constants as c
from core.beams import boost

from .kinematics import direction_about_axis, two_body_in_direction

FSR_PHOTON_MIN_GEV = 1e-3
"""Photons softer than this are not stored, and the multi-photon split stops there (far below the ECL threshold), GeV."""
PHOTON_SLOTS = 4
"""Photons stored per emitter (beam or final lepton); beyond them, the rest of the split goes to the last one."""
FSR_MIN_PAIR_MASS_MARGIN_GEV = 1e-3
"""After hard FSR the lepton pair keeps at least 2 m_l + this mass (photon energies scaled down if needed), GeV."""


@numba.njit(cache=True)
def dipole_exponent(beta: float) -> float:
    """Exponent of the soft-photon spectrum of a back-to-back pair of charges with velocity ``beta``.

    (alpha / pi) [(1 + beta^2) / beta ln((1 + beta) / (1 - beta)) - 2], the angular integral of the
    eikonal dipole (photons per d ln k); it tends to (2 alpha / pi)(ln(s / m^2) - 1) for beta -> 1.
    Each charge radiates half of it.
    """
    one_minus_beta = (1.0 - beta * beta) / (1.0 + beta)
    return c.ALPHA_EM / np.pi * ((1.0 + beta * beta) / beta * np.log((1.0 + beta) / one_minus_beta) - 2.0)


@numba.njit(cache=True)
def dipole_cos(rng, one_minus_beta: float) -> tuple[float, float]:
    """(cos, sin) of the angle between a photon and its emitter in a back-to-back dipole.

    Density beta^2 sin^2 / [(1 - beta cos)^2 (1 + beta cos)] on [-1, 1] (see the module doc):
    t = 1 - beta cos is drawn from 1/t and kept with probability 1 - (1 - beta^2) / (t (2 - t)).
    ``one_minus_beta`` is given directly so that beams (1 - beta ~ 5e-9) keep their precision.
    """
    omb = one_minus_beta
    beta = 1.0 - omb
    one_minus_beta2 = omb * (1.0 + beta)
    log_span = np.log((1.0 + beta) / omb)
    while True:
        t = omb * np.exp(rng.random() * log_span)
        tu = t * (2.0 - t)
        if rng.random() * tu < tu - one_minus_beta2:
            one_minus_cos = (t - omb) / beta
            one_plus_cos = 2.0 - one_minus_cos
            return 1.0 - one_minus_cos, np.sqrt(max(one_minus_cos * one_plus_cos, 0.0))


@numba.njit(cache=True)
def split_energy(rng, e_total: float, exponent: float, e_min: float, energies: np.ndarray) -> int:
    """Split ``e_total`` (GeV) into photon energies by stick-breaking; returns how many were written.

    Each photon takes V ~ Beta(1, exponent) of what is left; the split stops when the remainder is
    below ``e_min`` (GeV) or ``energies`` is full, and the remainder goes to the last photon. Beyond
    the first, the number of photons is Poisson(exponent ln(e_total / e_min)), capped by the slots.
    """
    slots = len(energies)
    rest = e_total
    for j in range(slots):
        if j == slots - 1:
            take = rest
        else:
            take = rest * (1.0 - rng.random() ** (1.0 / exponent))
            if rest - take < e_min:
                take = rest
        energies[j] = take
        rest -= take
        if rest <= 0.0:
            return j + 1
    return slots


@numba.njit(cache=True)
def energy_scale(sqrt_s: float, k0: float, k_mass2: float, target_mass2: float) -> float:
    """Factor lambda on all photon energies so that (sqrt_s - lambda K)^2 = target_mass2 for the recoiling system.

    K = (k0, k) is the photons' total four-momentum with K^2 = ``k_mass2`` (GeV^2); the smaller root
    of s - 2 lambda sqrt_s k0 + lambda^2 K^2 = target, written without cancellation. 1 when k0 = 0.
    """
    if k0 <= 0.0:
        return 1.0
    s = sqrt_s * sqrt_s
    drop = s - target_mass2
    disc = max(s * k0 * k0 - k_mass2 * drop, 0.0)
    return drop / (sqrt_s * k0 + np.sqrt(disc))


@numba.njit(cache=True)
def _emit_about_axis(rng, e_total, exponent, e_min, one_minus_beta, ax, ay, az, slots, out, first):
    """Split ``e_total`` and give each photon a dipole angle about the unit axis (ax, ay, az); returns K (E, px, py, pz)."""
    k0 = kx = ky = kz = 0.0
    m = split_energy(rng, e_total, exponent, e_min, slots)
    for j in range(m):
        cos_t, _ = dipole_cos(rng, one_minus_beta)
        ux, uy, uz = direction_about_axis(ax, ay, az, cos_t, 2.0 * np.pi * rng.random())
        e = slots[j]
        out[first + j, 0], out[first + j, 1], out[first + j, 2], out[first + j, 3] = e, e * ux, e * uy, e * uz
        k0 += e
        kx += e * ux
        ky += e * uy
        kz += e * uz
    return k0, kx, ky, kz


@numba.njit(cache=True)
def _isr_kernel(rng, sqrt_s, x_beams, exponent, one_minus_beta, e_min, photons):  # pragma: no cover - jitted
    n = len(sqrt_s)
    slots = np.empty(PHOTON_SLOTS)
    for i in range(n):
        rs = sqrt_s[i]
        photons[i, :, :] = 0.0
        k0 = kx = ky = kz = 0.0
        for b in range(2):
            a0, a1, a2, a3 = _emit_about_axis(
                rng, 0.5 * rs * x_beams[i, b], exponent, e_min, one_minus_beta[i], 0.0, 0.0, 1.0 if b == 0 else -1.0,
                slots, photons[i], b * PHOTON_SLOTS,
            )
            k0 += a0
            kx += a1
            ky += a2
            kz += a3
        target = rs * rs * (1.0 - x_beams[i, 0]) * (1.0 - x_beams[i, 1])
        lam = energy_scale(rs, k0, k0 * k0 - kx * kx - ky * ky - kz * kz, target)
        for j in range(2 * PHOTON_SLOTS):
            for r in range(4):
                photons[i, j, r] *= lam


def initial_state_photons(
    rng: np.random.Generator, sqrt_s: np.ndarray, x_beams: np.ndarray, exponent: float, e_min: float
) -> np.ndarray:
    """Photons off both beams, beam b losing the fraction ``x_beams[:, b]`` of its energy (CM frame, e- along +z).

    ``sqrt_s`` [n] in GeV, ``x_beams`` [n, 2] the per-beam fractions of the structure functions (e-, e+),
    ``exponent`` the per-beam exponent (beta / 2), ``e_min`` (GeV) the energy below which the multi-photon
    split stops. Returns photons [n, 2 PHOTON_SLOTS, 4] in GeV, zero rows unused; slots
    0..PHOTON_SLOTS-1 from the e- beam, the rest from the e+ beam. The system recoiling against the
    photons has mass sqrt(s (1 - x_1)(1 - x_2)) exactly (photon energies scaled by a common factor, 1
    when every photon is exactly collinear).
    """
    sqrt_s = np.ascontiguousarray(sqrt_s, dtype=np.float64)
    photons = np.empty((len(sqrt_s), 2 * PHOTON_SLOTS, 4))
    one_minus_beta = 2.0 * c.ELECTRON_MASS_GEV**2 / sqrt_s**2  # of a beam electron of energy sqrt(s) / 2
    _isr_kernel(
        rng, sqrt_s, np.ascontiguousarray(x_beams, dtype=np.float64), float(exponent), one_minus_beta, float(e_min),
        photons,
    )
    return photons


@numba.njit(cache=True)
def sample_first_order_fraction(rng, exponent: float) -> float:
    """Fraction y on (0, 1) from g y^(g - 1)(1 + 3 g / 4) - g (1 - y / 2), g = ``exponent`` (normalised to 1).

    Proposed from g y^(g - 1) and kept with probability W(y) / [(1 + 3 g / 4) g y^(g - 1)], which lies in (0, 1]
    and tends to 1 as y -> 0.
    """
    norm = 1.0 + 0.75 * exponent
    while True:
        y = rng.random() ** (1.0 / exponent)
        if y <= 0.0:  # below the smallest double (likely for exponents ~ 1e-5, taus near threshold): no radiation
            return 0.0
        if rng.random() * norm < norm - (1.0 - 0.5 * y) * y ** (1.0 - exponent):
            return y


@numba.njit(cache=True)
def _fsr_kernel(rng, sqrt_s_prime, direction, m_lepton, e_min, lm, lp, photons):  # pragma: no cover - jitted
    n = len(sqrt_s_prime)
    slots = np.empty(PHOTON_SLOTS)
    floor_mass = 2.0 * m_lepton + FSR_MIN_PAIR_MASS_MARGIN_GEV
    for i in range(n):
        rs = sqrt_s_prime[i]
        r = 4.0 * m_lepton * m_lepton / (rs * rs)
        beta = np.sqrt(1.0 - r)
        omb = r / (1.0 + beta)
        half_exponent = 0.5 * dipole_exponent(beta)
        dx, dy, dz = direction[i, 0], direction[i, 1], direction[i, 2]
        photons[i, :, :] = 0.0
        k0 = kx = ky = kz = 0.0
        for b in range(2):
            sign = 1.0 if b == 0 else -1.0
            y = sample_first_order_fraction(rng, half_exponent)
            a0, a1, a2, a3 = _emit_about_axis(
                rng, 0.5 * rs * y, half_exponent, e_min, omb, sign * dx, sign * dy, sign * dz, slots, photons[i],
                b * PHOTON_SLOTS,
            )
            k0 += a0
            kx += a1
            ky += a2
            kz += a3
        q2 = (rs - k0) ** 2 - kx * kx - ky * ky - kz * kz
        if k0 > 0.0 and (rs - k0 < floor_mass or q2 < floor_mass * floor_mass):
            lam = energy_scale(rs, k0, k0 * k0 - kx * kx - ky * ky - kz * kz, floor_mass * floor_mass)
            for j in range(2 * PHOTON_SLOTS):
                for col in range(4):
                    photons[i, j, col] *= lam
            k0, kx, ky, kz = lam * k0, lam * kx, lam * ky, lam * kz
        d1, d2 = two_body_in_direction((rs - k0, -kx, -ky, -kz), m_lepton, m_lepton, dx, dy, dz)
        lm[i, 0], lm[i, 1], lm[i, 2], lm[i, 3] = d1
        lp[i, 0], lp[i, 1], lp[i, 2], lp[i, 3] = d2


def final_state_photons(
    rng: np.random.Generator, pair: np.ndarray, direction: np.ndarray, m_lepton: float, e_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Let a lepton pair of four-momentum ``pair`` [n, 4] (GeV, any frame) radiate; returns (l-, l+, photons).

    ``direction`` [n, 3] is the unit l- direction in the pair rest frame (reached by a pure boost),
    ``m_lepton`` the lepton mass (GeV), ``e_min`` (GeV) where the multi-photon split stops. Photons
    [n, 2 PHOTON_SLOTS, 4] (zero rows unused; the first PHOTON_SLOTS from the l-) and leptons [n, 4]
    are returned in the frame of ``pair``; l- + l+ + photons = pair exactly.
    """
    pair = np.ascontiguousarray(pair, dtype=np.float64)
    n = len(pair)
    mass = np.sqrt(np.maximum(pair[:, 0] ** 2 - np.sum(pair[:, 1:] ** 2, axis=1), 0.0))
    lm, lp = np.empty((n, 4)), np.empty((n, 4))
    photons = np.empty((n, 2 * PHOTON_SLOTS, 4))
    _fsr_kernel(rng, mass, np.ascontiguousarray(direction, dtype=np.float64), float(m_lepton), float(e_min), lm, lp, photons)
    velocity = pair[:, 1:] / pair[:, :1]
    return boost(lm, velocity), boost(lp, velocity), boost(photons, velocity[:, None, :])
