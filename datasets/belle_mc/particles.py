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

from core import constants as c



@numba.njit(cache=True)
def charge_of_pdg(pdg: int) -> int:
    """Electric charge (+1, -1, 0) of a particle from its PDG code.

    Charged: e, mu, tau (negative particles), pi+, K+, p (positive particles); every other code
    the generators emit (photons, neutrinos, K_L, n, the invisible Z') is neutral.
    """
    apdg = abs(pdg)
    sign = 1 if pdg > 0 else -1
    if apdg == c.PDG_ELECTRON or apdg == c.PDG_MUON or apdg == c.PDG_TAU:
        return -sign
    if apdg == c.PDG_PI_PLUS or apdg == c.PDG_KAON_PLUS or apdg == c.PDG_PROTON:
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
    def concatenate(cls, tables: list[ParticleTable]) -> ParticleTable:
        """Join tables that are each ordered by event into one ordered by event.

        Within an event, the rows of the first table come first, then those of the second, and so on
        (a k-way merge that writes every row once, in its final place).
        """
        tables = [t for t in tables if len(t)]
        n = sum(len(t) for t in tables)
        out = cls(np.empty(n, np.int64), np.empty(n, np.int32), np.empty((n, 4)), np.empty((n, 4)))
        if n == 0:
            return out
        columns = [tuple(np.ascontiguousarray(getattr(t, col)) for t in tables) for col in ("event", "pdg", "p4", "x4")]
        if _merge_by_event(*columns, out.event, out.pdg, out.p4, out.x4) != n:
            raise ValueError("ParticleTable.concatenate needs tables ordered by event")
        return out

    def select(self, mask: np.ndarray) -> ParticleTable:
        return ParticleTable(self.event[mask], self.pdg[mask], self.p4[mask], self.x4[mask])

    @property
    def charge(self) -> np.ndarray:
        """Electric charge (+1, -1, 0) of each particle, from its PDG code."""
        return _charges(self.pdg)


@numba.njit(cache=True)
def _merge_by_event(events, pdgs, p4s, x4s, out_event, out_pdg, out_p4, out_x4):  # pragma: no cover - jitted
    """Merge tables (tuples of their columns), each ordered by event; returns the rows written.

    Fewer rows than the tables hold means that some table was not ordered by event.
    """
    n_tables = len(events)
    cursor = np.zeros(n_tables, dtype=np.int64)
    n_events = 0
    for t in range(n_tables):
        n_events = max(n_events, events[t][-1] + 1)
    k = 0
    for e in range(n_events):
        for t in range(n_tables):
            event, pdg, p4, x4 = events[t], pdgs[t], p4s[t], x4s[t]
            i = cursor[t]
            while i < len(event) and event[i] == e:
                out_event[k] = e
                out_pdg[k] = pdg[i]
                for j in range(4):
                    out_p4[k, j] = p4[i, j]
                    out_x4[k, j] = x4[i, j]
                i += 1
                k += 1
            cursor[t] = i
    return k


def four_vector(energy: np.ndarray, momentum: np.ndarray) -> np.ndarray:
    """Stack energy [n] and three-momentum [n, 3] into four-vectors [n, 4]."""
    out = np.empty((len(energy), 4))
    out[:, 0] = energy
    out[:, 1:] = momentum
    return out


def invariant_mass2(p4: np.ndarray) -> np.ndarray:
    """Invariant mass squared E^2 - |p|^2 of four-vectors [..., 4], GeV^2."""
    return p4[..., 0] ** 2 - np.sum(p4[..., 1:] ** 2, axis=-1)
