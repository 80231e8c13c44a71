"""The generated channels: process, normalisation and the particles each event leaves.

``CHANNELS`` maps the fileset channel names of docs/fileset.md to a
:class:`Channel`. A channel's cross section comes from integrating its own
process, except where Belle's generator has a well-known total that our model
only approximates in shape (KKMC mu mu and tau tau, docs/physics.md §4): those are
normalised to the KKMC total and the model's own integral is kept as
``xsec_model_pb`` for reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core import constants as c
from core.scalar_model import decay_lepton_pdg

from .four_lepton import FourLeptonConversion
from .montecarlo import MixtureProcess
from .particles import ParticleTable
from .processes import (
    BhabhaISR,
    LeptonPairMultiPhoton,
    PairEmission,
    ScalarEmission,
    TwoPhotonLeptonPair,
    VectorEmission,
    VectorEmissionISR,
    isotropic_pair_decay,
)
from .radiation import FSR_PHOTON_MIN_GEV
from .tau_decays import decay_taus

KKMC_MUMU_XSEC_PB = 1148.0
"""KKMC e+e- -> mu+ mu- (gamma) cross section at the Upsilon(4S), pb (docs/physics.md §4)."""
KKMC_TAUTAU_XSEC_PB = 919.0
"""KKMC e+e- -> tau+ tau- (gamma) cross section at the Upsilon(4S), pb (docs/physics.md §4)."""
AAFH_EEMUMU_W_MIN_GEV = 0.5
"""Generator-level cut m(mu mu) > 0.5 GeV of the two-photon e e mu mu sample (as AAFH in docs/physics.md §4)."""
AAFH_EEMUMU_Q2_MAX_GEV2 = 1.0
"""Largest photon virtuality in the equivalent-photon approximation, GeV^2."""


FORCED_TAU_MODES_KEY = "forced_tau_modes"
"""Event-dict key a forced-decay slice sets before the particles are built: int [n, 2], the
:data:`~belle_mc.tau_decays.MODES` index of the tau- and the tau+ (docs/generator.md)."""


def _event_index(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64)


def _pair(event, p4_minus, p4_plus, pdg) -> list[ParticleTable]:
    return [ParticleTable.from_arrays(event, pdg, p4_minus), ParticleTable.from_arrays(event, -pdg, p4_plus)]


def _photons(event, p4, e_min=FSR_PHOTON_MIN_GEV) -> ParticleTable:
    keep = p4[:, 0] > e_min
    return ParticleTable.from_arrays(event[keep], c.PDG_PHOTON, p4[keep])


def _decayed_pair(rng, event, p4_minus, p4_plus, modes=None) -> list[ParticleTable]:
    # taus interleaved event by event (tau-, tau+), so that the daughters come out ordered by event;
    # `modes` [n, 2] (tau-, tau+) forces the decay modes (the event key FORCED_TAU_MODES_KEY)
    taus = np.stack([p4_minus, p4_plus], axis=1).reshape(-1, 4)
    charge = np.tile(np.array([-1, 1], dtype=np.int32), len(event))
    forced = None if modes is None else np.asarray(modes).reshape(-1)
    daughters, _ = decay_taus(rng, np.repeat(event, 2), taus, charge, forced)
    return [daughters]


def _signal_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _pair(e, ev["lepton_minus"], ev["lepton_plus"], c.PDG_MUON)
    parts.append(ParticleTable.from_arrays(e, c.PDG_ZPRIME, ev["vector"]))
    return ParticleTable.concatenate(parts)


def _signal_visible_particles(rng, ev) -> ParticleTable:
    """mu- mu+ (the emitters), then the Z' daughters mu- mu+, then the ISR photon if any.

    Truth convention of the visible channels: in every event the Z' daughters are the last two
    muons, so an event with four reconstructed tracks has them as tracks 2 and 3 (0-based; the
    detector keeps the particle order). Tests and the resolution script use this to know the true pair.
    """
    e = _event_index(len(ev["sqrt_s"]))
    parts = _pair(e, ev["lepton_minus"], ev["lepton_plus"], c.PDG_MUON)
    z_minus, z_plus = isotropic_pair_decay(rng, ev["vector"], c.MUON_MASS_GEV)
    parts += _pair(e, z_minus, z_plus, c.PDG_MUON)
    if "isr_photon" in ev:
        parts.append(_photons(e, ev["isr_photon"]))
    return ParticleTable.concatenate(parts)


def scalar_decay_lepton(m_scalar_gev: float) -> tuple[int, float]:
    """(PDG code, mass in GeV) of the lepton phi_L decays to in ``signal_ttphi``: e up to 2 m_mu, mu above.

    Above 2 m_tau phi_L decays mostly to tau pairs; the sample still holds the mu+mu- decay the search
    reconstructs, and the limit applies BR(mu mu) (``core.scalar_model``). The decay is prompt.
    That holds above 2 m_mu (c tau < 1e-4 cm for xi = 1) but not below: a phi_L decaying only to e+e-
    has c tau = 2.3 cm / xi^2 at 50 MeV and 1.1 cm / xi^2 at 100 MeV, before its boost.
    """
    if decay_lepton_pdg(m_scalar_gev) == c.PDG_ELECTRON:
        return c.PDG_ELECTRON, c.ELECTRON_MASS_GEV
    return c.PDG_MUON, c.MUON_MASS_GEV


def _ttphi_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _decayed_pair(rng, e, ev["lepton_minus"], ev["lepton_plus"])
    # one phi_L mass per dataset; prompt decay, isotropic in the phi_L rest frame (a scalar has no spin)
    pdg, m_lepton = scalar_decay_lepton(float(ev["m_scalar"]))
    l_minus, l_plus = isotropic_pair_decay(rng, ev["scalar"], m_lepton)
    parts += _pair(e, l_minus, l_plus, pdg)
    return ParticleTable.concatenate(parts)


def _photon_slots(event, photons) -> ParticleTable:
    """Photons [n, k, 4] (zero rows unused) of :class:`~belle_mc.processes.LeptonPairMultiPhoton`, above the threshold."""
    return _photons(np.repeat(event, photons.shape[1]), photons.reshape(-1, 4))


def _mumu_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _pair(e, ev["lepton_minus"], ev["lepton_plus"], c.PDG_MUON)
    parts += [_photon_slots(e, ev["isr_photons"]), _photon_slots(e, ev["fsr_photons"])]
    return ParticleTable.concatenate(parts)


def _bhabha_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _pair(e, ev["lepton_minus"], ev["lepton_plus"], c.PDG_ELECTRON)
    parts += [_photons(e, ev["isr_photon"]), _photons(e, ev["fsr_minus"]), _photons(e, ev["fsr_plus"])]
    return ParticleTable.concatenate(parts)


def _eetautau_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _decayed_pair(rng, e, ev["tau_minus"], ev["tau_plus"])
    parts += _pair(e, ev["electron_minus"], ev["electron_plus"], c.PDG_ELECTRON)
    return ParticleTable.concatenate(parts)


def _generator_particles(rng, ev) -> ParticleTable:
    """Channels whose generator (Pythia) hands over the final-state particles directly."""
    return ev["particles"]


def _tautau_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _decayed_pair(rng, e, ev["lepton_minus"], ev["lepton_plus"], ev.get(FORCED_TAU_MODES_KEY))
    parts += [_photon_slots(e, ev["isr_photons"]), _photon_slots(e, ev["fsr_photons"])]
    return ParticleTable.concatenate(parts)


def _eemumu_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _pair(e, ev["lepton_minus"], ev["lepton_plus"], c.PDG_MUON)
    parts += _pair(e, ev["electron"], ev["positron"], c.PDG_ELECTRON)
    return ParticleTable.concatenate(parts)


def _four_muon_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _pair(e, ev["emitter_minus"], ev["emitter_plus"], c.PDG_MUON)
    parts += _pair(e, ev["pair_minus"], ev["pair_plus"], c.PDG_MUON)
    return ParticleTable.concatenate(parts)


def _mumutautau_particles(rng, ev) -> ParticleTable:
    e = _event_index(len(ev["sqrt_s"]))
    parts = _pair(e, ev["muon_minus"], ev["muon_plus"], c.PDG_MUON)
    parts += _decayed_pair(rng, e, ev["tau_minus"], ev["tau_plus"])
    return ParticleTable.concatenate(parts)


@dataclass
class Channel:
    """A generated channel: how to build its process and turn its events into particles."""

    name: str
    make_process: Callable[[float | None], object]
    build_particles: Callable[[np.random.Generator, dict], ParticleTable]
    description: str
    fixed_xsec_pb: float | None = None
    needs_mass: bool = False
    notes: list[str] = field(default_factory=list)
    model_version: int = 1
    """Raised whenever the channel's physics changes, so that samples made before are remade (fileset ``model_version``)."""


def _mumumumu_process(_mass=None):
    # pair emission mu mu gamma*(-> mu mu) and conversion gamma* gamma* -> (mu mu)(mu mu), payload emitter/pair
    return MixtureProcess(
        [
            PairEmission(c.MUON_MASS_GEV, c.MUON_MASS_GEV),
            FourLeptonConversion(c.MUON_MASS_GEV, c.MUON_MASS_GEV),
        ]
    )


def _mumutautau_process(_mass=None):
    # mu mu gamma*(-> tau tau), tau tau gamma*(-> mu mu) and gamma* gamma* -> (mu mu)(tau tau),
    # all with the payload named by flavour
    return MixtureProcess(
        [
            PairEmission(c.MUON_MASS_GEV, c.TAU_MASS_GEV, names=("muon", "tau")),
            PairEmission(c.TAU_MASS_GEV, c.MUON_MASS_GEV, names=("tau", "muon")),
            FourLeptonConversion(c.MUON_MASS_GEV, c.TAU_MASS_GEV, names=("muon", "tau")),
        ]
    )


PYTHIA_BBBAR_XSEC_PB = c.B_BBAR_XSEC_PB
"""Normalisation of ``pythia_bbbar``: Belle's B Bbar cross section (core.constants), pb."""
PYTHIA_CHANNELS = ("pythia_uds", "pythia_charm", "pythia_bbbar")
"""Channels generated by Pythia 8 (their processes are :class:`~belle_mc.montecarlo.EventGenerator`)."""
UDS_QUARKS = (1, 2, 3)
CHARM_QUARKS = (4,)


def _pythia_continuum(quarks):
    def make(_mass=None):
        from .pythia_channels import PythiaContinuum

        return PythiaContinuum(quarks)

    return make


def _pythia_bbbar(_mass=None):
    from .pythia_channels import PythiaUpsilon4S

    return PythiaUpsilon4S(xsec_pb=PYTHIA_BBBAR_XSEC_PB)


CHANNELS: dict[str, Channel] = {
    ch.name: ch
    for ch in [
        Channel(
            "signal",
            lambda mass: VectorEmission(mass),
            _signal_particles,
            "e+e- -> mu+ mu- Z', Z' -> invisible, Z' from final-state emission (g' = 1)",
            needs_mass=True,
        ),
        Channel(
            "signal_visible",
            lambda mass: VectorEmission(mass),
            _signal_visible_particles,
            "e+e- -> mu+ mu- Z', Z' -> mu+ mu- (prompt, isotropic), Z' from final-state emission, no ISR (g' = 1, before BR)",
            needs_mass=True,
        ),
        Channel(
            "signal_visible_isr",
            lambda mass: VectorEmissionISR(mass),
            _signal_visible_particles,
            "e+e- -> gamma_ISR mu+ mu- Z', Z' -> mu+ mu-: radiator W(x) x sigma(s'), hard process at sqrt(s') (g' = 1, before BR)",
            needs_mass=True,
        ),
        Channel(
            "signal_ttphi",
            lambda mass: ScalarEmission(mass),
            _ttphi_particles,
            "e+e- -> tau+ tau- phi_L, phi_L radiated from the tau line (Yukawa xi m_tau / v, xi = 1, tau mass kept, "
            "Born level); phi_L -> e+e- (m_phi <= 2 m_mu) or mu+mu- (above), prompt and isotropic",
            needs_mass=True,
            model_version=2,  # 2: vertex order on the tau line fixed, exact event-plane orientation
        ),
        Channel(
            "kkmc_mumu",
            lambda mass=None: LeptonPairMultiPhoton(c.MUON_MASS_GEV),
            _mumu_particles,
            "e+e- -> mu+ mu- (n gamma): ISR structure function per beam, several photons per beam and per muon "
            "with dipole angles and recoil, 1 + cos^2; normalised to KKMC",
            fixed_xsec_pb=KKMC_MUMU_XSEC_PB,
            model_version=3,  # 2: multi-photon ISR off both beams with dipole angles, wide-angle FSR; 3: ISR scale Q^2 = s'
        ),
        Channel(
            "kkmc_tautau",
            lambda mass=None: LeptonPairMultiPhoton(c.TAU_MASS_GEV),
            _tautau_particles,
            "e+e- -> tau+ tau- (n gamma): ISR structure function per beam, several photons per beam with dipole "
            "angles and recoil, FSR off the taus before decay, 1 + cos^2 + (1 - b^2) sin^2, main tau decays; "
            "normalised to KKMC",
            fixed_xsec_pb=KKMC_TAUTAU_XSEC_PB,
            model_version=3,  # 2: multi-photon ISR off both beams with dipole angles, FSR off the taus; 3: ISR scale Q^2 = s'
        ),
        Channel(
            "aafh_eemumu",
            lambda mass=None: TwoPhotonLeptonPair(c.MUON_MASS_GEV, AAFH_EEMUMU_W_MIN_GEV, AAFH_EEMUMU_Q2_MAX_GEV2),
            _eemumu_particles,
            "e+e- -> e+e- mu+ mu- via gamma gamma (EPA x Breit-Wheeler), m(mu mu) > 0.5 GeV, Q^2 < 1 GeV^2",
        ),
        Channel(
            "aafh_mumumumu",
            _mumumumu_process,
            _four_muon_particles,
            "e+e- -> mu+ mu- mu+ mu-: final-state pair emission mu mu gamma*(-> mu mu) plus conversion "
            "gamma* gamma* -> (mu mu)(mu mu) by t/u electron exchange, added without interference",
            model_version=2,  # 2: conversion diagrams added (belle_mc.four_lepton)
        ),
        Channel(
            "aafh_mumutautau",
            _mumutautau_process,
            _mumutautau_particles,
            "e+e- -> mu+ mu- tau+ tau-: pair emission mu mu gamma*(-> tau tau) and tau tau gamma*(-> mu mu) plus "
            "conversion gamma* gamma* -> (mu mu)(tau tau) by t/u electron exchange, added without interference",
            model_version=2,  # 2: conversion diagrams added (belle_mc.four_lepton)
        ),
        Channel(
            "aafh_eetautau",
            lambda mass=None: PairEmission(c.TAU_MASS_GEV, c.ELECTRON_MASS_GEV, names=("tau", "electron")),
            _eetautau_particles,
            "e+e- -> tau+ tau- gamma*, gamma* -> e+ e- (final-state pair emission from the taus only; no two-photon, "
            "no pair emission from the beams, no interference)",
        ),
        Channel(
            "bhwide_ee",
            lambda mass=None: BhabhaISR(),
            _bhabha_particles,
            "e+e- -> e+ e- (gamma), both e+- at 15-167 deg in the CM: Born Bhabha (s + t channel photon), "
            "ISR radiator W(x) with collinear photon and e+e- mass > 1 GeV, collinear FSR",
        ),
        Channel(
            "pythia_uds",
            _pythia_continuum(UDS_QUARKS),
            _generator_particles,
            "e+e- -> q qbar (q = u, d, s) by Pythia 8.317 (gamma*/Z, ISR, shower, string hadronisation), CM frame; "
            "xsec = Pythia sigmaGen",
        ),
        Channel(
            "pythia_charm",
            _pythia_continuum(CHARM_QUARKS),
            _generator_particles,
            "e+e- -> c cbar by Pythia 8.317 (gamma*/Z, ISR, shower, string hadronisation), CM frame; xsec = Pythia sigmaGen",
        ),
        Channel(
            "pythia_bbbar",
            _pythia_bbbar,
            _generator_particles,
            "e+e- -> Upsilon(4S) -> B Bbar (B+B- 51.4%, B0 B0bar 48.6%), Upsilon(4S) at rest in the CM, "
            "B decays by Pythia 8.317 (Upsilon(4S) events read from a Les Houches file); normalised to 1.05 nb",
            fixed_xsec_pb=PYTHIA_BBBAR_XSEC_PB,
            model_version=2,  # 2: Upsilon(4S) events through a Les Houches file and nextBatch (new random stream)
        ),
    ]
}
