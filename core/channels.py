"""The channel registry: every fileset ``channel`` name, what it is, and where its mass sits.

A fileset's metadata ``channel`` (docs/fileset.md) names the process a dataset holds.
This table is the one list of names: the generator makes these channels, the searches
accept subsets of them, and a name is never reused for a different process. Recorded
data carries ``channel: "data"`` (and no ``xsec_pb``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelRole:
    """What a channel is to the searches.

    ``mass_key`` is the fileset metadata key of the signal mass hypothesis in GeV
    (``mzp`` for the Z' signals, ``mphi`` for phi_L), None for backgrounds and data.
    """

    name: str
    mass_key: str | None = None
    description: str = ""

    @property
    def is_signal(self) -> bool:
        return self.mass_key is not None


DATA_CHANNEL = "data"
"""Channel name of recorded data (metadata without ``xsec_pb``)."""

CHANNEL_ROLES: dict[str, ChannelRole] = {
    role.name: role
    for role in (
        ChannelRole("signal", "mzp", "e+e- -> mu+ mu- Z', Z' -> invisible"),
        ChannelRole("signal_visible", "mzp", "e+e- -> mu+ mu- Z', Z' -> mu+ mu- (no ISR)"),
        ChannelRole("signal_visible_isr", "mzp", "e+e- -> mu+ mu- Z', Z' -> mu+ mu- with initial-state radiation"),
        ChannelRole("signal_ttphi", "mphi", "e+e- -> tau+ tau- phi_L, phi_L -> e+e- / mu+ mu-"),
        ChannelRole("kkmc_mumu", None, "e+e- -> mu+ mu- (gamma)"),
        ChannelRole("kkmc_tautau", None, "e+e- -> tau+ tau- (gamma)"),
        ChannelRole("aafh_eemumu", None, "e+e- -> e+e- mu+ mu- (two-photon)"),
        ChannelRole("aafh_mumumumu", None, "e+e- -> mu+ mu- mu+ mu-"),
        ChannelRole("aafh_mumutautau", None, "e+e- -> mu+ mu- tau+ tau-"),
        ChannelRole("aafh_eetautau", None, "e+e- -> e+e- tau+ tau-"),
        ChannelRole("bhwide_ee", None, "e+e- -> e+e- (gamma), Bhabha"),
        ChannelRole("pythia_uds", None, "e+e- -> q qbar, q = u, d, s"),
        ChannelRole("pythia_charm", None, "e+e- -> c cbar"),
        ChannelRole("pythia_bbbar", None, "e+e- -> Upsilon(4S) -> B Bbar"),
        ChannelRole(DATA_CHANNEL, None, "recorded data"),
    )
}
"""Every channel name a fileset may carry."""

DIMUON_SEARCH_CHANNELS = (
    "signal", "kkmc_mumu", "kkmc_tautau", "aafh_eemumu", "aafh_mumumumu", "aafh_mumutautau", "signal_ttphi",
    "signal_visible", "signal_visible_isr",
)  # fmt: skip
"""Channels the invisible- and visible-Z' searches accept (besides data)."""

ZPRIME_SIGNAL_CHANNELS = tuple(n for n, r in CHANNEL_ROLES.items() if r.mass_key == "mzp")
"""Channels whose mass metadata is m_Z' (``mzp``, GeV)."""


def channel_role(channel: str) -> ChannelRole:
    """The registry entry of ``channel``; KeyError naming it when unknown."""
    try:
        return CHANNEL_ROLES[channel]
    except KeyError:
        raise KeyError(f"unknown channel {channel!r}") from None


def signal_mass_gev(metadata: Mapping) -> float | None:
    """The signal mass hypothesis (GeV) of a dataset's metadata, None for backgrounds and data."""
    role = CHANNEL_ROLES.get(metadata.get("channel", ""))
    if role is None or role.mass_key is None:
        return None
    return float(metadata[role.mass_key])


def signal_mass_mev(metadata: Mapping) -> int | None:
    """:func:`signal_mass_gev` in whole MeV (the key of the per-hypothesis cutflows)."""
    m = signal_mass_gev(metadata)
    return None if m is None else round(1000 * m)
