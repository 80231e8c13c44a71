"""Systematic uncertainties of the limits: the table of sizes and the pyhf ``normsys`` modifiers they become.

The sizes live in one place, ``sensitivity/systematics.json`` (:data:`SYSTEMATICS_PATH`); their
sources are in docs/systematics.md. Every entry is one ``normsys`` modifier of relative size
delta (hi = 1 + delta, lo = 1 - delta, a unit-Gaussian nuisance parameter):

- ``signal``: luminosity, tracking, muon ID, trigger and the signal shape (the window acceptance
  change when the resolution is widened, :func:`window_acceptance_shift`) scale the signal sample;
- ``background``: one normalisation per fileset channel (process). The workspaces keep one
  background sample (B and its MC-statistics ``shapesys``); the normalisation of channel c, a
  fraction f_c = B_c / B of the window's background, enters as a ``normsys`` ``bkg_norm_<c>`` of
  size f_c delta_c on that sample. To first order in delta this is the same model as one sample per
  process with a normsys delta_c each (B(theta) = B + sum_c theta_c f_c delta_c B).

:class:`SystematicsTable` ``.disabled()`` (every size 0) is the switch that turns them off: modifiers
of size 0 are left out, so the workspaces are then those of the MC-statistics-only model.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scipy import special

SYSTEMATICS_PATH = Path(__file__).with_name("systematics.json")
"""The table of sizes (docs/systematics.md)."""
SIGNAL_SHAPE = "signal_shape"
"""Name of the signal-shape (resolution) entry: its size depends on the window (:func:`window_acceptance_shift`)."""
BACKGROUND_PREFIX = "bkg_norm_"
"""Background normalisation modifiers are named ``bkg_norm_<channel>``."""
SIGNAL_PREFIX = "sig_"
"""Signal modifiers are named ``sig_<name>``."""


def window_acceptance_shift(window_n_sigma: float, resolution_rel: float) -> float:
    """Relative loss of window acceptance of a Gaussian peak when its width grows by ``resolution_rel``.

    The window is +-``window_n_sigma`` nominal widths around the peak: acceptance erf(k / sqrt 2);
    with the width sigma (1 + r) it is erf(k / ((1 + r) sqrt 2)). Returns 1 - ratio (>= 0).
    """
    if window_n_sigma <= 0 or resolution_rel < 0:
        raise ValueError(f"need window_n_sigma > 0 and resolution_rel >= 0, got {window_n_sigma}, {resolution_rel}")
    nominal = special.erf(window_n_sigma / math.sqrt(2.0))
    wider = special.erf(window_n_sigma / ((1.0 + resolution_rel) * math.sqrt(2.0)))
    return float(1.0 - wider / nominal)


@dataclass(frozen=True)
class SystematicsTable:
    """Relative 1-sigma sizes of the signal and per-channel background normalisation uncertainties."""

    signal: dict[str, float] = field(default_factory=dict)
    """Signal normsys sizes by name (fractions; the signal shape already converted to an acceptance change)."""
    background: dict[str, float] = field(default_factory=dict)
    """Background normalisation size per fileset channel (fraction)."""
    background_default: float = 0.0
    """Size of a background channel without an entry of its own."""

    def background_size(self, channel: str) -> float:
        """Normalisation uncertainty of the background ``channel`` (fraction)."""
        return float(self.background.get(channel, self.background_default))

    @property
    def enabled(self) -> bool:
        """Whether any size is nonzero."""
        sizes = [*self.signal.values(), *self.background.values(), self.background_default]
        return any(s > 0 for s in sizes)

    def disabled(self) -> SystematicsTable:
        """The same names with every size 0: the MC-statistics-only model."""
        return SystematicsTable({k: 0.0 for k in self.signal}, {k: 0.0 for k in self.background}, 0.0)

    def only(self, name: str) -> SystematicsTable:
        """Only the entry ``name`` (a signal name, a background channel, or ``"background"`` for all of them)."""
        off = self.disabled()
        if name in self.signal:
            return replace(off, signal={**off.signal, name: self.signal[name]})
        if name == "background":
            return replace(off, background=dict(self.background), background_default=self.background_default)
        if name in self.background:
            return replace(off, background={**off.background, name: self.background[name]})
        raise KeyError(f"no systematic {name!r}: one of {', '.join([*self.signal, 'background', *self.background])}")

    def scaled(self, factor: float) -> SystematicsTable:
        """Every size times ``factor``."""
        return SystematicsTable(
            {k: v * factor for k, v in self.signal.items()},
            {k: v * factor for k, v in self.background.items()},
            self.background_default * factor,
        )

    @property
    def signal_total(self) -> float:
        """Quadrature sum of the signal sizes (fraction)."""
        return math.sqrt(sum(v**2 for v in self.signal.values()))


def load_systematics(
    path: str | os.PathLike = SYSTEMATICS_PATH, window_n_sigma: float | None = None
) -> SystematicsTable:
    """The :class:`SystematicsTable` of ``path`` (default ``sensitivity/systematics.json``).

    The signal-shape entry (``resolution_rel``) becomes :func:`window_acceptance_shift` of the
    window half-width ``window_n_sigma`` (default: the invisible search's cut table,
    :class:`selections.zprime_selection.CutTable`).
    """
    raw = json.loads(Path(path).read_text())
    signal: dict[str, float] = {}
    for name, entry in raw.get("signal", {}).items():
        if name == SIGNAL_SHAPE:
            if window_n_sigma is None:
                from selections.zprime_selection import load_cut_table

                window_n_sigma = float(load_cut_table().window_n_sigma)
            signal[name] = window_acceptance_shift(window_n_sigma, float(entry["resolution_rel"]))
        else:
            signal[name] = float(entry["size"])
    background = {name: float(entry["size"]) for name, entry in raw.get("background", {}).items()}
    default = float(raw.get("background_default", {}).get("size", 0.0))
    return SystematicsTable(signal, background, default)


def normsys_modifiers(
    systematics: SystematicsTable, background_by_channel: Mapping[str, float], background: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(signal modifiers, background modifiers) of one window: pyhf ``normsys`` dicts, sizes 0 left out.

    ``background_by_channel`` holds B_c per channel (events) and ``background`` their sum B; the
    modifier of channel c has size (B_c / B) delta_c (module docstring).
    """
    signal = [
        {"name": f"{SIGNAL_PREFIX}{name}", "type": "normsys", "data": {"hi": 1.0 + size, "lo": 1.0 - size}}
        for name, size in systematics.signal.items()
        if size > 0
    ]
    backgrounds = []
    if background > 0:
        for channel, b_c in sorted(background_by_channel.items()):
            size = systematics.background_size(channel) * float(b_c) / background
            if size > 0:
                backgrounds.append(
                    {
                        "name": f"{BACKGROUND_PREFIX}{channel}",
                        "type": "normsys",
                        "data": {"hi": 1.0 + size, "lo": 1.0 - size},
                    }
                )
    return signal, backgrounds


def profile_equivalent_normsys(modifiers: Sequence[Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """One ``normsys`` named ``name`` with the profile likelihood of all the ``normsys`` of ``modifiers`` on one sample.

    A ``normsys`` scales its sample by hi^theta (theta >= 0) or lo^-theta (theta < 0) with a unit-Gaussian
    constraint (pyhf's exponential interpolation; its default, code 4, replaces it by a polynomial
    inside |theta| < 1 that matches value and two derivatives at +-1). For a total log-factor L > 0 the
    cheapest way to get it is every theta_i >= 0 along ln(hi_i), costing sum theta_i^2 / 2 =
    L^2 / (2 sum ln(hi_i)^2): the same as one parameter with ln(hi) = sqrt(sum ln(hi_i)^2), and
    likewise below with the lo sides. So the profiled likelihood and the limits are those of all the
    modifiers, exactly with exponential interpolation and closely with code 4 (in the test, q~_mu within
    0.0065 of the full workspace for q~ up to 6.7), for k - 1 fewer fit parameters. The constant of -2 ln L drops by ln(2 pi) per parameter
    removed. Empty without ``normsys`` entries.
    """
    entries = [m for m in modifiers if m["type"] == "normsys"]
    if not entries:
        return []
    hi = math.exp(math.sqrt(sum(math.log(m["data"]["hi"]) ** 2 for m in entries)))
    lo = math.exp(-math.sqrt(sum(math.log(m["data"]["lo"]) ** 2 for m in entries)))
    return [{"name": name, "type": "normsys", "data": {"hi": hi, "lo": lo}}]


def profile_equivalent_workspace(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the pyhf workspace ``spec`` with the ``normsys`` of each sample replaced by the one
    :func:`profile_equivalent_normsys` (named ``<sample>_normsys``): the same fits and limits."""
    out = json.loads(json.dumps(dict(spec)))
    for channel in out["channels"]:
        for sample in channel["samples"]:
            mods = sample["modifiers"]
            sample["modifiers"] = [m for m in mods if m["type"] != "normsys"] + profile_equivalent_normsys(
                mods, f"{sample['name']}_normsys"
            )
    return out


def normsys_total(modifiers: list[Mapping[str, Any]]) -> float:
    """Quadrature sum of the relative sizes (hi - lo) / 2 of the ``normsys`` entries of ``modifiers``."""
    return math.sqrt(sum(((m["data"]["hi"] - m["data"]["lo"]) / 2.0) ** 2 for m in modifiers if m["type"] == "normsys"))
