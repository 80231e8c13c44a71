"""Monte Carlo integration and unweighting shared by every process.

A process proposes weighted points whose mean weight is its cross section in pb
(importance sampling); a proposal carries only the cheap random variables
(``state``), and the process builds full four-vectors (``build``) only for the
points that are kept. :func:`integrate` turns that into a cross section with a
statistical error and the largest weight seen; :func:`sample_unweighted` then
draws events with probability weight / max_weight (hit-or-miss), so the accepted
events follow the differential cross section and every accepted event counts as
one generated event.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

MAX_WEIGHT_SAFETY = 1.2
"""Factor applied to the largest weight seen in the integration sample."""


@dataclass
class Proposal:
    """Weighted phase-space points: ``weight`` [n] in pb, ``state`` arrays with first axis n."""

    weight: np.ndarray
    state: dict[str, np.ndarray]


class Process(Protocol):
    """A physics process that proposes weighted points and builds events from kept ones."""

    def propose(self, rng: np.random.Generator, n: int) -> Proposal: ...

    def build(self, rng: np.random.Generator, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class EventGenerator(ABC):
    """A process that makes unweighted events itself (an external generator such as Pythia).

    :func:`integrate` returns its :meth:`cross_section`; :func:`sample_unweighted` returns
    :meth:`generate`'s payload (which holds the final-state ``particles`` directly).
    """

    @abstractmethod
    def cross_section(self) -> CrossSection:
        """Cross section (pb) of the generated phase space."""

    @abstractmethod
    def generate(self, rng: np.random.Generator, n: int) -> dict:
        """``n`` unweighted events drawing all randomness from ``rng``."""


@dataclass(frozen=True)
class CrossSection:
    """Result of a Monte Carlo integration of a process."""

    xsec_pb: float
    error_pb: float
    max_weight: float
    n_points: int


def integrate(process: Process, n_points: int = 2_000_000, seed: int = 20231028, batch: int = 250_000) -> CrossSection:
    """Cross section (pb) of ``process`` with its statistical error, from ``n_points`` weighted points.

    The seed is fixed by default so that a cross section is a property of the model,
    not of a production run. A :class:`MixtureProcess` reports the sum of its
    components (its ``max_weight`` is not used: each component has its own).
    """
    if isinstance(process, EventGenerator):
        return process.cross_section()
    if isinstance(process, MixtureProcess):
        parts = process.cross_sections
        return CrossSection(
            sum(p.xsec_pb for p in parts), float(np.sqrt(sum(p.error_pb**2 for p in parts))), float("nan"),
            sum(p.n_points for p in parts),
        )
    rng = np.random.default_rng(seed)
    total = total2 = 0.0
    wmax = 0.0
    done = 0
    while done < n_points:
        m = min(batch, n_points - done)
        w = process.propose(rng, m).weight
        total += float(np.sum(w))
        total2 += float(np.sum(w * w))
        wmax = max(wmax, float(np.max(w, initial=0.0)))
        done += m
    mean = total / n_points
    var = max(total2 / n_points - mean**2, 0.0)
    return CrossSection(mean, float(np.sqrt(var / n_points)), wmax * MAX_WEIGHT_SAFETY, n_points)


@dataclass
class UnweightingStats:
    n_proposed: int = 0
    n_accepted: int = 0
    n_overweight: int = 0


def sample_unweighted(
    process: Process,
    rng: np.random.Generator,
    n: int,
    max_weight: float,
    stats: UnweightingStats | None = None,
) -> dict[str, np.ndarray]:
    """Exactly ``n`` unweighted events of ``process`` (hit-or-miss against ``max_weight``), built."""
    if isinstance(process, EventGenerator):
        return process.generate(rng, n)
    if isinstance(process, MixtureProcess):
        return process.sample_unweighted(rng, n, stats)
    return process.build(rng, unweighted_states(process, rng, n, max_weight, stats))


def unweighted_states(
    process: Process,
    rng: np.random.Generator,
    n: int,
    max_weight: float,
    stats: UnweightingStats | None = None,
) -> dict[str, np.ndarray]:
    """The proposal states of exactly ``n`` unweighted events of ``process`` (hit-or-miss against ``max_weight``),
    not built: :func:`sample_unweighted` is ``process.build(rng, unweighted_states(...))``."""
    if isinstance(process, (EventGenerator, MixtureProcess)):
        raise TypeError(f"{type(process).__name__} has no proposal states")
    stats = stats if stats is not None else UnweightingStats()
    pieces: list[dict[str, np.ndarray]] = []
    have = 0
    efficiency = None  # measured on a first pilot batch, then refined
    while have < n:
        if efficiency is None:
            m = min(20_000, 4 * n + 1000)
        else:
            m = int(min(max((n - have) / efficiency * 1.05, 1000), 2_000_000))
        prop = process.propose(rng, m)
        over = prop.weight > max_weight
        if np.any(over):
            stats.n_overweight += int(np.count_nonzero(over))
        accept = rng.uniform(0.0, max_weight, m) < prop.weight
        stats.n_proposed += m
        hits = np.flatnonzero(accept)
        stats.n_accepted += len(hits)
        idx = hits[: n - have]
        have += len(idx)
        pieces.append({k: v[idx] for k, v in prop.state.items()})
        efficiency = max(stats.n_accepted / stats.n_proposed, 1e-4)
    if stats.n_overweight:
        log.warning(
            "%d of %d proposed points exceeded the maximum weight; raise MAX_WEIGHT_SAFETY",
            stats.n_overweight,
            stats.n_proposed,
        )
    return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}


class MixtureProcess:
    """A sum of processes whose events have the same payload keys (e.g. two diagrams' classes).

    Each component is integrated once; each event of an unweighted sample comes from
    component k with probability proportional to its cross section, and its events are
    unweighted against the component's own maximum weight. The payload gains a
    ``component`` index.
    """

    def __init__(self, components: list, n_points: int = 1_000_000, seed: int = 20231028):
        self.components = list(components)
        self.cross_sections = [integrate(p, n_points, seed=seed + k) for k, p in enumerate(self.components)]

    def sample_unweighted(self, rng: np.random.Generator, n: int, stats: UnweightingStats | None = None) -> dict:
        xsec = np.array([cs.xsec_pb for cs in self.cross_sections])
        component = rng.choice(len(xsec), n, p=xsec / xsec.sum()).astype(np.int8)
        out: dict[str, np.ndarray] = {}
        for k, (proc, cs) in enumerate(zip(self.components, self.cross_sections)):
            slots = np.flatnonzero(component == k)
            if len(slots) == 0:
                continue
            events = sample_unweighted(proc, rng, len(slots), cs.max_weight, stats)
            for key, v in events.items():
                if key not in out:
                    out[key] = np.empty((n,) + v.shape[1:], dtype=v.dtype)
                out[key][slots] = v  # the slots are increasing: a near-sequential copy, not a shuffle
        out["component"] = component
        return out
