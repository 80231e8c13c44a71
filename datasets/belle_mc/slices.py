"""Generator slices: truth-level filters and forced tau decays with exact weights (docs/generator.md).

A :class:`GeneratorSlice` is a dataset of one channel that holds only part of the channel's
phase space, chosen at generator level, so that the rare events a search keeps can be made
at a far higher equivalent luminosity than the whole channel:

- an *event filter* is applied to the truth event dict right after the kinematics are drawn
  (before the tau decays, the detector response and the writing, which cost most). Every
  drawn event counts in ``n_generated``; the dataset's ``xsec_pb`` stays the channel's. So
  ``xsec_pb x lumi x 1000 / n_generated`` is the weight of every written event and the sum of
  weights in any region inside the filter is the channel's expected yield there: exact by
  construction, whatever the filter's efficiency;
- *forced tau-pair decays* make every event decay in one of a set of (tau-, tau+) mode pairs,
  drawn with probabilities proportional to the branching-fraction products. The decays do not
  depend on the kinematics (:mod:`belle_mc.tau_decays`: polarisation neglected), so the slice is
  the channel times the exact fraction ``decay_fraction = sum BR(a) BR(b)`` over its pairs; the
  dataset's ``xsec_pb`` is the channel's times that fraction and ``n_generated`` the drawn events.

Slices of one channel are made disjoint and, together with their complements, cover the
channel: the processors add the datasets of a channel (histograms are per channel), so
the sum over the slices is the channel. The slices used by a sample are declared in
:data:`SLICES`; ``belle_mc.catalog`` says how many events of each to draw.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from core import belle_detector as det
from core.beams import cms_frame

from .channels import CHANNELS, FORCED_TAU_MODES_KEY
from .detector import muon_id_efficiency
from .particles import ParticleTable
from .tau_decays import BRANCHING_FRACTIONS, MODES

SLICE_ROLES = ("search", "complement")
"""Values of a slice's ``role`` (fileset key ``generator_slice_role``, docs/fileset.md)."""

EventFilter = Callable[[dict], np.ndarray]
"""A truth-level filter: the event dict of n drawn events (generator beam frame = CM) -> bool [n], True to keep."""


@functools.cache
def _cm_to_lab() -> np.ndarray:
    """The Lorentz matrix of ``production.to_lab`` (generator beam frame = CM -> Belle lab), computed once."""
    return np.ascontiguousarray(cms_frame()[2], dtype=np.float64)


def _lab_components(p4: np.ndarray, rows: tuple[int, ...]) -> list[np.ndarray]:
    """Rows ``rows`` of L p4 for CM four-momenta [n, 4] (element-wise: no BLAS call, cheap on a busy machine)."""
    lorentz = _cm_to_lab()
    cols = [np.ascontiguousarray(p4[:, k]) for k in range(4)]
    return [sum(lorentz[r, k] * cols[k] for k in range(4)) for r in rows]


def _lab_cos_theta(p4: np.ndarray) -> np.ndarray:
    """cos(theta) in the Belle lab frame of CM-frame four-momenta [n, 4] (the boost of production.to_lab)."""
    px, py, pz = _lab_components(p4, (1, 2, 3))
    return pz / np.maximum(np.sqrt(px * px + py * py + pz * pz), 1e-300)


def truth_recoil_mass2(ev: dict, minus_key: str = "lepton_minus", plus_key: str = "lepton_plus") -> np.ndarray:
    """Recoil mass squared against the true lepton pair, (sqrt(s), 0) - p- - p+ squared, GeV^2.

    The event's own ``sqrt_s`` (beam-energy spread included) in the CM frame of the generator:
    the truth version of the invisible-Z' ``recoil_mass2``.
    """
    return _recoil_mass2(ev["sqrt_s"], ev[minus_key] + ev[plus_key])


def _recoil_mass2(sqrt_s: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """(sqrt(s), 0) - pair squared, GeV^2, for CM four-momenta ``pair`` [n, 4]."""
    energy = sqrt_s - pair[:, 0]
    return energy**2 - np.einsum("ij,ij->i", pair[:, 1:], pair[:, 1:])


def _in_pair_region(
    pair: np.ndarray, m2: np.ndarray, pt_min: float | None, m2_above: float | None, m2_below: float | None,
    m2_max: float, margin: float = 0.0,
) -> np.ndarray:
    """Recoil M^2 ``m2`` at most ``m2_max`` and, if any is given, CM pt of ``pair`` above ``pt_min``, or ``m2`` above
    ``m2_above``, or below ``m2_below``; every bound loosened by ``margin``."""
    keep = m2 <= m2_max + margin
    if pt_min is None and m2_above is None and m2_below is None:
        return keep
    either = np.zeros(len(m2), dtype=bool)
    if pt_min is not None:
        either |= np.hypot(pair[:, 1], pair[:, 2]) > pt_min - margin
    if m2_above is not None:
        either |= m2 > m2_above - margin
    if m2_below is not None:
        either |= m2 < m2_below + margin
    return keep & either


def pair_in_cdc(ev: dict, minus_key: str = "lepton_minus", plus_key: str = "lepton_plus") -> np.ndarray:
    """Both true leptons inside the CDC acceptance (17-150 deg in the lab)."""
    return det.in_cdc_acceptance_cos(_lab_cos_theta(ev[minus_key])) & det.in_cdc_acceptance_cos(
        _lab_cos_theta(ev[plus_key])
    )


def _lab_track_like(p4: np.ndarray) -> np.ndarray:
    """True where a charged particle with CM four-momentum p4 [n, 4] makes a track: lab polar angle in the
    CDC and lab pt above the tracking threshold (the rule of the detector response, docs/generator.md)."""
    px, py, pz = _lab_components(p4, (1, 2, 3))
    pt2 = px * px + py * py
    cos_theta = pz / np.maximum(np.sqrt(pt2 + pz * pz), 1e-300)
    return det.in_cdc_acceptance_cos(cos_theta) & (pt2 > det.TRACK_PT_MIN_GEV**2)


@dataclass(frozen=True)
class TwoTruthTracks:
    """Exactly two of the charged particles ``keys`` (event-dict keys, charges ``charges``) make tracks, and
    they have opposite charge: the preselection's "exactly two tracks of opposite charge" on the truth.

    The detector makes tracks only from charged particles in the CDC above the pt threshold, with
    their true direction and charge, so an event this rejects can never pass the preselection.
    """

    keys: tuple[str, ...]
    charges: tuple[int, ...]

    def __call__(self, ev: dict) -> np.ndarray:
        tracked = np.stack([_lab_track_like(ev[k]) for k in self.keys], axis=1)
        charge = (tracked * np.asarray(self.charges)).sum(axis=1)
        return (tracked.sum(axis=1) == 2) & (charge == 0)

    def describe(self) -> str:
        return f"exactly two of {', '.join(self.keys)} are tracks (CDC 17-150 deg lab, pt > {det.TRACK_PT_MIN_GEV:g} GeV), opposite charge"


@dataclass(frozen=True)
class MuonPairRegion:
    """The true muon pair (``minus_key``, ``plus_key``): both are tracks (as :class:`TwoTruthTracks`), its truth
    recoil M^2 is at most ``m2_max_gev2``, and, if any of them is given, one of: truth pt of the pair in the
    CM above ``pt_min_gev``, truth recoil M^2 above ``m2_above_gev2``, truth recoil M^2 below ``m2_below_gev2``
    (GeV, GeV^2)."""

    pt_min_gev: float | None = None
    m2_above_gev2: float | None = None
    m2_below_gev2: float | None = None
    m2_max_gev2: float = np.inf
    minus_key: str = "lepton_minus"
    plus_key: str = "lepton_plus"

    def __call__(self, ev: dict) -> np.ndarray:
        pair = ev[self.minus_key] + ev[self.plus_key]
        region = _in_pair_region(pair, _recoil_mass2(ev["sqrt_s"], pair), self.pt_min_gev, self.m2_above_gev2,
                                 self.m2_below_gev2, self.m2_max_gev2)  # fmt: skip
        return _lab_track_like(ev[self.minus_key]) & _lab_track_like(ev[self.plus_key]) & region

    def describe(self) -> str:
        parts = ["both true muons are tracks"]
        if np.isfinite(self.m2_max_gev2):
            parts.append(f"truth recoil M^2 <= {self.m2_max_gev2:g} GeV^2")
        either = []
        if self.pt_min_gev is not None:
            either.append(f"truth pt(mu mu) CM > {self.pt_min_gev:g} GeV")
        if self.m2_above_gev2 is not None:
            either.append(f"truth recoil M^2 > {self.m2_above_gev2:g} GeV^2")
        if self.m2_below_gev2 is not None:
            either.append(f"truth recoil M^2 < {self.m2_below_gev2:g} GeV^2")
        if either:
            parts.append("(" + " or ".join(either) + ")")
        return " and ".join(parts)


@dataclass(frozen=True)
class PairMomentumRegion:
    """The pre-decay form of :class:`MuonPairRegion` (without its track conditions): the lepton pair's four-momentum
    ``key`` (before the pair decays) has truth recoil M^2 at most ``m2_max_gev2``, and, if given, CM pt above
    ``pt_min_gev`` or recoil M^2 below ``m2_below_gev2`` (GeV, GeV^2), each bound loosened by ``margin`` against
    the rounding between the pair and the sum of its decay products. Every event that :class:`MuonPairRegion`
    with the same bounds keeps passes this one."""

    pt_min_gev: float | None = None
    m2_below_gev2: float | None = None
    m2_max_gev2: float = np.inf
    key: str = "lepton_pair"
    margin: float = 1e-6

    def __call__(self, ev: dict) -> np.ndarray:
        pair = ev[self.key]
        return _in_pair_region(pair, _recoil_mass2(ev["sqrt_s"], pair), self.pt_min_gev, None, self.m2_below_gev2,
                               self.m2_max_gev2, self.margin)  # fmt: skip

    def describe(self) -> str:
        parts = [f"pair recoil M^2 <= {self.m2_max_gev2:g} GeV^2"] if np.isfinite(self.m2_max_gev2) else []
        either = ([f"pair pt CM > {self.pt_min_gev:g} GeV"] if self.pt_min_gev is not None else []) + (
            [f"pair recoil M^2 < {self.m2_below_gev2:g} GeV^2"] if self.m2_below_gev2 is not None else []
        )
        if either:
            parts.append("(" + " or ".join(either) + ")")
        return " and ".join(parts) + f" (before the decay, bounds loosened by {self.margin:g})"


@dataclass(frozen=True)
class AnyTrack:
    """At least one of the charged particles ``keys`` makes a track (as in :class:`TwoTruthTracks`)."""

    keys: tuple[str, ...]

    def __call__(self, ev: dict) -> np.ndarray:
        keep = np.zeros(len(ev["sqrt_s"]), dtype=bool)
        for k in self.keys:
            keep |= _lab_track_like(ev[k])
        return keep

    def describe(self) -> str:
        return f"one of {', '.join(self.keys)} is a track"


@dataclass(frozen=True)
class AllOf:
    """Every one of ``filters`` keeps the event."""

    filters: tuple

    def __call__(self, ev: dict) -> np.ndarray:
        keep = np.asarray(self.filters[0](ev), bool)
        for f in self.filters[1:]:
            keep = keep & f(ev)
        return keep

    def describe(self) -> str:
        return " and ".join(f"[{f.describe()}]" for f in self.filters)


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``filters`` keeps the event."""

    filters: tuple

    def __call__(self, ev: dict) -> np.ndarray:
        keep = np.asarray(self.filters[0](ev), bool)
        for f in self.filters[1:]:
            keep = keep | f(ev)
        return keep

    def describe(self) -> str:
        return " or ".join(f"[{f.describe()}]" for f in self.filters)


@dataclass(frozen=True)
class Not:
    """The complement of ``inner``: with it, the two slices are disjoint and cover the channel."""

    inner: object

    def __call__(self, ev: dict) -> np.ndarray:
        return ~np.asarray(self.inner(ev), bool)

    def describe(self) -> str:
        return f"NOT [{self.inner.describe()}]"


@numba.njit(cache=True)
def _muon_candidate_kernel(event, pdg, charge, px, py, pz, n_events, pt_min, cos_lo, cos_hi):  # pragma: no cover
    """Per event: the tracks (charged, CDC, pt above threshold), their net charge, and the tracks that can pass
    muonID (``detector.muon_id_efficiency`` > 0 at their true lab momentum and angle)."""
    n_track = np.zeros(n_events, np.int64)
    net = np.zeros(n_events, np.int64)
    n_muon_like = np.zeros(n_events, np.int64)
    for i in range(len(pdg)):
        if charge[i] == 0:
            continue
        pt2 = px[i] * px[i] + py[i] * py[i]
        p = np.sqrt(pt2 + pz[i] * pz[i])
        cos_theta = pz[i] / p
        if not (cos_lo < cos_theta < cos_hi) or pt2 <= pt_min * pt_min:
            continue
        n_track[event[i]] += 1
        net[event[i]] += charge[i]
        if muon_id_efficiency(abs(pdg[i]), p, np.arccos(cos_theta)) > 0.0:
            n_muon_like[event[i]] += 1
    return n_track, net, n_muon_like


@dataclass(frozen=True)
class TwoMuonCandidateTracks:
    """Particle-level filter (after the tau decays, before the detector): exactly two charged particles make
    tracks (CDC, pt threshold), of opposite charge, and both can pass muon identification (a muon, pion or
    electron whose muonID probability at its true lab momentum and angle is not zero: ``detector.muon_id_efficiency``).

    Exact for the preselection: the detector response gives any other event a probability 0 of
    "exactly two tracks of opposite charge, both muonID > 0.9".
    """

    def __call__(self, particles: ParticleTable, n_events: int) -> np.ndarray:
        px, py, pz = _lab_components(particles.p4, (1, 2, 3))
        cos_lo, cos_hi = float(np.cos(det.CDC_THETA_MAX_RAD)), float(np.cos(det.CDC_THETA_MIN_RAD))
        n_track, net, n_muon_like = _muon_candidate_kernel(
            np.ascontiguousarray(particles.event), np.ascontiguousarray(particles.pdg),
            np.ascontiguousarray(particles.charge, dtype=np.int64), px, py, pz, n_events,
            det.TRACK_PT_MIN_GEV, cos_lo, cos_hi,
        )  # fmt: skip
        return (n_track == 2) & (net == 0) & (n_muon_like == 2)

    def describe(self) -> str:
        return (
            f"exactly two charged particles are tracks (CDC 17-150 deg lab, pt > {det.TRACK_PT_MIN_GEV:g} GeV), "
            "opposite charge, both with a non-zero muonID probability"
        )


@dataclass(frozen=True)
class PhotonVirtualityRegion:
    """A region of a two-photon channel's phase space: the virtuality Q^2 of the photon of the electron in
    ``electron_q2_gev2`` and of the positron's in ``positron_q2_gev2`` ((lo, hi), GeV^2). The slice's process
    draws only inside it (``processes.TwoPhotonLeptonPair.restricted``), so its events cost nothing outside
    it, and its cross section is the region's (integrated like the channel's). Disjoint regions whose union
    is every Q^2 are disjoint slices covering the channel."""

    electron_q2_gev2: tuple[float, float] = (0.0, np.inf)
    positron_q2_gev2: tuple[float, float] = (0.0, np.inf)

    def restrict(self, process):
        """The channel's process restricted to the region (a process with ``restricted``, else TypeError)."""
        if not hasattr(process, "restricted"):
            raise TypeError(f"{type(process).__name__} has no photon virtualities to restrict")
        return process.restricted((self.electron_q2_gev2, self.positron_q2_gev2))

    def describe(self) -> str:
        def side(name, bounds):
            lo, hi = bounds
            if lo > 0 and np.isfinite(hi):
                return f"{lo:g} < Q^2({name}) <= {hi:g} GeV^2"
            if lo > 0:
                return f"Q^2({name}) > {lo:g} GeV^2"
            return f"Q^2({name}) <= {hi:g} GeV^2" if np.isfinite(hi) else ""

        parts = [p for p in (side("e- photon", self.electron_q2_gev2), side("e+ photon", self.positron_q2_gev2)) if p]
        return "drawn only where " + (" and ".join(parts) or "anywhere")


@dataclass(frozen=True)
class GeneratorSlice:
    """One slice of a channel: a truth event filter and/or forced tau-pair decays (see the module docstring)."""

    name: str
    """Dataset name of the slice (fileset key; ``<channel>_<what>``)."""
    channel: str
    event_filter: EventFilter | None = None
    tau_pair_modes: tuple[tuple[str, str], ...] | None = None
    """(tau- mode, tau+ mode) pairs of :data:`~belle_mc.tau_decays.MODES`; None: the decays are drawn freely."""
    particle_filter: Callable[[ParticleTable, int], np.ndarray] | None = None
    """Filter on the built particles (truth, CM frame, before the detector response): (particles, n) -> bool [n]."""
    pre_decay_filter: EventFilter | None = None
    """A necessary condition of ``event_filter`` on what an accepted proposal fixes before the random decay
    (``process.pre_decay_event(state)``, e.g. the scattered electrons and the gamma gamma system of two-photon
    events): events it rejects are counted as drawn and never built (the cost of building and filtering the
    events no slice can keep). Every event ``event_filter`` keeps must pass it (a test per slice); the slice's
    events are unchanged in distribution, its random stream is not that of the unfiltered channel."""
    phase_space: PhotonVirtualityRegion | None = None
    """A region of the channel's own phase-space variables that the slice's process draws in (None: all of it):
    the dataset's cross section is the region's, integrated like the channel's, so the channel's expected yield
    is kept while the draws outside the region cost nothing."""
    role: str = "search"
    """``"search"``: the slice holds the events a signal window can select; ``"complement"``: the rest of its
    channel, kept out of every window by the cut floors (:func:`pt_mumu_cut_floor_gev`) and made at a far lower
    equivalent luminosity. Written to the fileset as ``generator_slice_role`` (:data:`SLICE_ROLES`)."""

    def __post_init__(self):
        if self.pre_decay_filter is not None and self.event_filter is None:
            raise ValueError(f"slice {self.name!r}: a pre-decay filter needs the event filter it is a condition of")
        if self.role not in SLICE_ROLES:
            raise ValueError(f"slice {self.name!r}: role must be one of {', '.join(SLICE_ROLES)}, got {self.role!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"slice {self.name!r}: unknown channel {self.channel!r}")
        if self.phase_space is not None and CHANNELS[self.channel].fixed_xsec_pb is not None:
            raise ValueError(f"slice {self.name!r}: {self.channel} has a fixed cross section, not one of a region")
        if self.tau_pair_modes is not None:
            if not self.tau_pair_modes or len(set(self.tau_pair_modes)) != len(self.tau_pair_modes):
                raise ValueError(f"slice {self.name!r}: tau mode pairs must be distinct and not empty")
            unknown = {m for pair in self.tau_pair_modes for m in pair} - set(MODES)
            if unknown:
                raise ValueError(f"slice {self.name!r}: unknown tau modes {sorted(unknown)}")

    @property
    def decay_fraction(self) -> float:
        """Exact fraction of the channel's events in the forced decay modes, sum BR(a) BR(b) (1 without forcing)."""
        if self.tau_pair_modes is None:
            return 1.0
        return float(sum(BRANCHING_FRACTIONS[MODES.index(a)] * BRANCHING_FRACTIONS[MODES.index(b)]
                         for a, b in self.tau_pair_modes))  # fmt: skip

    def describe(self) -> str:
        """One line for the fileset's ``generator_filter``."""
        parts = []
        if self.event_filter is not None:
            parts.append(self.event_filter.describe())
        if self.tau_pair_modes is not None:
            pairs = ", ".join(f"({a}, {b})" for a, b in self.tau_pair_modes)
            parts.append(f"forced (tau-, tau+) decays {pairs}, fraction {self.decay_fraction:.6g}")
        if self.particle_filter is not None:
            parts.append(self.particle_filter.describe())
        if self.pre_decay_filter is not None:
            parts.append(f"drawn through the pre-decay filter [{self.pre_decay_filter.describe()}]")
        if self.phase_space is not None:
            parts.append(self.phase_space.describe())
        return "; ".join(parts) or "none"

    def accept(self, events: dict) -> np.ndarray:
        """bool [n]: the drawn events the slice keeps (all without an event filter)."""
        n = len(events["sqrt_s"])
        return np.ones(n, dtype=bool) if self.event_filter is None else np.asarray(self.event_filter(events), bool)

    def force_decays(self, rng: np.random.Generator, events: dict) -> None:
        """Set the forced (tau-, tau+) modes of every event (``FORCED_TAU_MODES_KEY``), drawn with probability
        BR(a) BR(b) / decay_fraction among the slice's pairs; no-op without forced decays."""
        if self.tau_pair_modes is None:
            return
        index = np.array([[MODES.index(a), MODES.index(b)] for a, b in self.tau_pair_modes], dtype=np.int64)
        p = BRANCHING_FRACTIONS[index[:, 0]] * BRANCHING_FRACTIONS[index[:, 1]]
        choice = rng.choice(len(index), size=len(events["sqrt_s"]), p=p / p.sum())
        events[FORCED_TAU_MODES_KEY] = index[choice]


def select_events(events: dict, keep: np.ndarray) -> dict:
    """The events where ``keep`` (bool [n]) is True: every per-event array (first axis n) is masked, scalars kept."""
    n = len(keep)
    return {k: (v[keep] if isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) == n else v) for k, v in events.items()}


def select_particles(particles: ParticleTable, keep: np.ndarray) -> ParticleTable:
    """The particles of the events where ``keep`` (bool [n events]) is True, events renumbered 0, 1, ..."""
    new_index = np.cumsum(keep) - 1
    rows = keep[particles.event]
    return ParticleTable(new_index[particles.event[rows]], particles.pdg[rows], particles.p4[rows], particles.x4[rows])


def complementary_tau_pairs(*slices: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Every (tau-, tau+) mode pair not in any of ``slices``: the rest, so that the slices cover the channel."""
    taken = {pair for s in slices for pair in s}
    return tuple((a, b) for a in MODES for b in MODES if (a, b) not in taken)


def _both_ways(a: str, b: str) -> tuple[tuple[str, str], ...]:
    return ((a, b),) if a == b else ((a, b), (b, a))


TAUTAU_MU_MU = _both_ways("mu_nu_nu", "mu_nu_nu")
"""Both taus -> mu nu nu."""
TAUTAU_MU_PI = _both_ways("mu_nu_nu", "pi_nu")
"""One tau -> mu nu nu, the other -> pi nu (the pion can pass muon identification)."""

SLICES: dict[str, GeneratorSlice] = {}
"""The generator slices, by dataset name (filled by :func:`register`; ``belle_mc.catalog`` declares the samples)."""


def register(*slices: GeneratorSlice) -> None:
    """Add slices to :data:`SLICES` (a name can be registered once)."""
    for s in slices:
        if s.name in SLICES or s.name in CHANNELS:
            raise ValueError(f"slice name {s.name!r} is taken")
        SLICES[s.name] = s


# --- the slices of the invisible-Z' backgrounds (docs/generator.md, "Generator slices") ------------------
# Each filter is either exact for the preselection (two truth tracks: an event it rejects cannot pass
# "exactly two tracks of opposite charge") or is checked to keep every selected event of an unfiltered
# sample (scripts/generator_filter_study.py); the complement of a non-exact filter is a slice of its own.

MUMU_TAIL_PT_MIN_GEV = 0.15
"""kkmc_mumu tail: truth pt(mu mu) in the CM above this (GeV; the windows that reach M^2 < 2 GeV^2 cut pt > 0.39 GeV) ..."""
MUMU_TAIL_M2_MIN_GEV2 = 1.0
"""... or truth recoil M^2 above this (GeV^2; the windows of m >= 2 GeV start at M^2 > 2.9 GeV^2)."""
EEMUMU_M2_MAX_GEV2 = 90.0
"""aafh_eemumu windows slice: truth recoil M^2 against the muons at most this (GeV^2; the highest window ends at 81.4) ..."""
EEMUMU_PT_MIN_GEV = 0.8
"""... and truth pt(mu mu) in the CM above this (GeV; the windows above M^2 = 42 GeV^2 cut pt > 1.16 GeV) ..."""
EEMUMU_M2_LOW_GEV2 = 42.0
"""... or truth recoil M^2 below this (GeV^2; the windows of m <= 6 GeV end at M^2 < 36.8 GeV^2)."""

EEMUMU_HARD_PHOTON_Q2_GEV2 = 0.1
"""aafh_eemumu windows: the slices at the data luminosity draw only events with a photon of virtuality above this
(GeV^2); the soft rest has pt(mu mu) = |pt(photon 1) + pt(photon 2)| < 2 sqrt(Q^2) = 0.63 GeV and no scattered
electron as a track (docs/generator.md, "Photon-virtuality strata")."""
EEMUMU_SOFT_PAIR_PT_MAX_GEV = 2.0 * float(np.sqrt(EEMUMU_HARD_PHOTON_Q2_GEV2))
"""Largest truth pt(mu mu) in the CM of an e e mu mu event whose photons both have Q^2 <= EEMUMU_HARD_PHOTON_Q2_GEV2
(GeV): each photon's pt is its scattered electron's, at most sqrt(Q^2 (1 - z))."""

PT_CUT_MARGIN_GEV = 0.15
"""A reco pt(mu mu) cut must lie this far above a filter's truth pt bound (GeV; pt resolution and FSR) ..."""
MUMU_WINDOW_M2_MARGIN_GEV2 = 1.0
"""... and a window this far from the mu mu tail filter's truth M^2 bound (GeV^2) ..."""
EEMUMU_WINDOW_M2_MARGIN_GEV2 = 3.0
"""... or from the e e mu mu windows filter's (GeV^2), for the filter to keep every event the cut keeps."""


def pt_mumu_cut_floor_gev(window_m2_low: float, window_m2_high: float) -> float:
    """The smallest reco pt(mu mu) cut (GeV) with which the filtered slices hold every background event a recoil-M^2
    window [``window_m2_low``, ``window_m2_high``] (GeV^2) can select: a window reaching the mu mu tail filter's
    M^2 bound must cut above its pt bound, one reaching the e e mu mu filter's M^2 bound above that one's, and one
    reaching M^2 < 45 GeV^2 (where the soft photon-virtuality region passes the e e mu mu windows filter) above
    :data:`EEMUMU_SOFT_PAIR_PT_MAX_GEV` (each plus :data:`PT_CUT_MARGIN_GEV`); 0 elsewhere. Below the floor, the
    selection reaches the low-luminosity complement slices (``kkmc_mumu_core``, ``aafh_eemumu_windows_soft``,
    ``aafh_eemumu_rest``), so a cut optimisation on the filtered sample must stay above it."""
    floor = 0.0
    if window_m2_low < MUMU_TAIL_M2_MIN_GEV2 + MUMU_WINDOW_M2_MARGIN_GEV2:
        floor = max(floor, MUMU_TAIL_PT_MIN_GEV + PT_CUT_MARGIN_GEV)
    if window_m2_high > EEMUMU_M2_LOW_GEV2 - EEMUMU_WINDOW_M2_MARGIN_GEV2:
        floor = max(floor, EEMUMU_PT_MIN_GEV + PT_CUT_MARGIN_GEV)
    if window_m2_low < EEMUMU_M2_LOW_GEV2 + EEMUMU_WINDOW_M2_MARGIN_GEV2:
        floor = max(floor, EEMUMU_SOFT_PAIR_PT_MAX_GEV + PT_CUT_MARGIN_GEV)
    return floor


_MUON_PAIR_TRACKS = MuonPairRegion()
_MUMU_TAIL = MuonPairRegion(pt_min_gev=MUMU_TAIL_PT_MIN_GEV, m2_above_gev2=MUMU_TAIL_M2_MIN_GEV2)
_EEMUMU_TRACKS = TwoTruthTracks(("electron", "positron", "lepton_minus", "lepton_plus"), (-1, 1, -1, 1))
_EEMUMU_WINDOWS = MuonPairRegion(
    pt_min_gev=EEMUMU_PT_MIN_GEV, m2_below_gev2=EEMUMU_M2_LOW_GEV2, m2_max_gev2=EEMUMU_M2_MAX_GEV2
)
_EEMUMU_WINDOWS_PRE_DECAY = AnyOf((
    PairMomentumRegion(pt_min_gev=EEMUMU_PT_MIN_GEV, m2_below_gev2=EEMUMU_M2_LOW_GEV2, m2_max_gev2=EEMUMU_M2_MAX_GEV2),
    AnyTrack(("electron", "positron")),
))  # fmt: skip
"""What the e e mu mu windows filter needs before the muons exist: the muon pair in the windows region (its
momentum is the gamma gamma system's) or a scattered electron as a track (else both tracks are the muons, which
then must be in the region). About 14% of the drawn events pass; the rest are never built."""
_MUON_CANDIDATES = TwoMuonCandidateTracks()
_EEMUMU_WINDOWS_FILTER = AllOf((_EEMUMU_TRACKS, AnyOf((_EEMUMU_WINDOWS, Not(_MUON_PAIR_TRACKS)))))
_Q2_HARD = EEMUMU_HARD_PHOTON_Q2_GEV2
HADRONIC_MODES = ("pi_nu", "rho_nu", "three_prong", "pi_2pi0_nu")
"""Hadronic tau decays: a charged pion fakes a muon (``PION_MUON_FAKE_RATE``); of three prongs, two may be lost."""
TAUTAU_MU_OTHER = tuple(pair for other in ("e_nu_nu", *HADRONIC_MODES) for pair in _both_ways("mu_nu_nu", other))
"""One tau -> mu nu nu, the other not."""
TAUTAU_HADRONIC = tuple((a, b) for a in HADRONIC_MODES for b in HADRONIC_MODES)
"""Both taus -> hadrons: two pion fakes."""
TAUTAU_REST = complementary_tau_pairs(TAUTAU_MU_MU, TAUTAU_MU_OTHER, TAUTAU_HADRONIC)
"""The rest: one tau -> e nu nu and the other not -> mu nu nu (an electron fakes a muon at 0.1%)."""

register(
    GeneratorSlice("kkmc_mumu_tail", "kkmc_mumu", event_filter=_MUMU_TAIL, particle_filter=_MUON_CANDIDATES),
    GeneratorSlice(
        "kkmc_mumu_core", "kkmc_mumu", event_filter=AllOf((_MUON_PAIR_TRACKS, Not(_MUMU_TAIL))),
        particle_filter=_MUON_CANDIDATES, role="complement",
    ),
    *(
        GeneratorSlice(
            name, "aafh_eemumu", event_filter=_EEMUMU_WINDOWS_FILTER, particle_filter=_MUON_CANDIDATES,
            pre_decay_filter=_EEMUMU_WINDOWS_PRE_DECAY, phase_space=region, role=role,
        )
        for name, region, role in (
            ("aafh_eemumu_windows_hard_e", PhotonVirtualityRegion(electron_q2_gev2=(_Q2_HARD, np.inf)), "search"),
            (
                "aafh_eemumu_windows_hard_p",
                PhotonVirtualityRegion(electron_q2_gev2=(0.0, _Q2_HARD), positron_q2_gev2=(_Q2_HARD, np.inf)),
                "search",
            ),
            ("aafh_eemumu_windows_soft", PhotonVirtualityRegion((0.0, _Q2_HARD), (0.0, _Q2_HARD)), "complement"),
        )
    ),
    GeneratorSlice(
        "aafh_eemumu_rest", "aafh_eemumu",
        event_filter=AllOf((_EEMUMU_TRACKS, _MUON_PAIR_TRACKS, Not(_EEMUMU_WINDOWS))),
        particle_filter=_MUON_CANDIDATES, role="complement",
    ),
    GeneratorSlice("kkmc_tautau_mu_mu", "kkmc_tautau", tau_pair_modes=TAUTAU_MU_MU, particle_filter=_MUON_CANDIDATES),
    GeneratorSlice(
        "kkmc_tautau_mu_other", "kkmc_tautau", tau_pair_modes=TAUTAU_MU_OTHER, particle_filter=_MUON_CANDIDATES
    ),
    GeneratorSlice(
        "kkmc_tautau_hadronic", "kkmc_tautau", tau_pair_modes=TAUTAU_HADRONIC, particle_filter=_MUON_CANDIDATES
    ),
    GeneratorSlice("kkmc_tautau_rest", "kkmc_tautau", tau_pair_modes=TAUTAU_REST, particle_filter=_MUON_CANDIDATES),
)
