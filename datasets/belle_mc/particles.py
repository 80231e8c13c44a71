"""Flat tables of generated particles.

A :class:`ParticleTable` holds the stable particles of many events as flat
arrays: the event each belongs to, its PDG code, its four-momentum
``p4 = (E, px, py, pz)`` in GeV and its production point ``x4 = (ct, x, y, z)`` in
cm relative to the event's primary vertex. Both four-vectors are Lorentz
vectors, so the whole table moves between frames with one boost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from selections import constants as c



@numba.njit(cache=True)
def charge_of_pdg(pdg: int) -> int:
    """Electric charge (+1, -1, 0) of a particle from its PDG code (leptons, charged pions, the rest neutral)."""
    apdg = abs(pdg)
    sign = 1 if pdg > 0 else -1
    if apdg == c.PDG_ELECTRON or apdg == c.PDG_MUON or apdg == c.PDG_TAU:
        return -sign
    if apdg == c.PDG_PI_PLUS:
        return sign
    return 0


@numba.njit(cache=True)
def _charges(pdg: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    out = np.empty(len(pdg), dtype=np.int32)
    for i in range(len(pdg)):
        out[i] = charge_of_pdg(pdg[i])
    return out


@dataclass
class ParticleTable:
    """Stable particles of a set of events, flat, one row per particle."""

    event: np.ndarray  # int64, index of the event within its block
    pdg: np.ndarray  # int32, PDG code (sign = particle / antiparticle)
    p4: np.ndarray  # float64 [n, 4], (E, px, py, pz) GeV
    x4: np.ndarray  # float64 [n, 4], (ct, x, y, z) cm, relative to the primary vertex

    def __len__(self) -> int:
        return len(self.event)

    @classmethod
    def empty(cls) -> ParticleTable:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros((0, 4)), np.zeros((0, 4)))

    @classmethod
    def from_arrays(cls, event, pdg, p4, x4=None) -> ParticleTable:
        """Build a table; ``pdg`` may be a scalar broadcast to every row."""
        event = np.asarray(event, dtype=np.int64)
        pdg = np.broadcast_to(np.asarray(pdg, dtype=np.int32), event.shape).copy()
        p4 = np.asarray(p4, dtype=np.float64).reshape(-1, 4)
        x4 = np.zeros_like(p4) if x4 is None else np.asarray(x4, dtype=np.float64).reshape(-1, 4)
        return cls(event, pdg, p4, x4)

    @classmethod
    def concatenate(cls, tables: list[ParticleTable], sort: bool = True) -> ParticleTable:
        """Join tables; with ``sort``, order the rows by event (stable: order within an event is kept)."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls.empty()
        event = np.concatenate([t.event for t in tables])
        pdg = np.concatenate([t.pdg for t in tables])
        p4 = np.concatenate([t.p4 for t in tables])
        x4 = np.concatenate([t.x4 for t in tables])
        if not sort:
            return cls(event, pdg, p4, x4)
        order = _stable_order_by_event(event)
        return cls(event[order], pdg[order], _gather_rows(p4, order), _gather_rows(x4, order))

    def select(self, mask: np.ndarray) -> ParticleTable:
        return ParticleTable(self.event[mask], self.pdg[mask], self.p4[mask], self.x4[mask])

    @property
    def charge(self) -> np.ndarray:
        """Electric charge (+1, -1, 0) of each particle, from its PDG code."""
        return _charges(self.pdg)


@numba.njit(cache=True)
def _stable_order_by_event(event: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    """Stable counting sort of non-negative event indices: the permutation that orders them."""
    n_events = event.max() + 1 if len(event) else 0
    start = np.zeros(n_events + 1, dtype=np.int64)
    for e in event:
        start[e + 1] += 1
    for k in range(n_events):
        start[k + 1] += start[k]
    order = np.empty(len(event), dtype=np.int64)
    for i in range(len(event)):
        e = event[i]
        order[start[e]] = i
        start[e] += 1
    return order


@numba.njit(cache=True)
def _gather_rows(a: np.ndarray, order: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    """a[order] for a 2-d array (faster than numpy's fancy indexing for short rows)."""
    out = np.empty((len(order), a.shape[1]))
    for i in range(len(order)):
        out[i] = a[order[i]]
    return out


def four_vector(energy: np.ndarray, momentum: np.ndarray) -> np.ndarray:
    """Stack energy [n] and three-momentum [n, 3] into four-vectors [n, 4]."""
    out = np.empty((len(energy), 4))
    out[:, 0] = energy
    out[:, 1:] = momentum
    return out


def invariant_mass2(p4: np.ndarray) -> np.ndarray:
    """Invariant mass squared E^2 - |p|^2 of four-vectors [..., 4], GeV^2."""
    return p4[..., 0] ** 2 - np.sum(p4[..., 1:] ** 2, axis=-1)
