"""90% CL limits on g' of the visible Z' (Z' -> mu+ mu-) from the output of ``run.py --analysis visible``.

Each mass hypothesis m is a one-bin counting experiment in its m_R window
(:mod:`selections.visible_zprime`): the signal yield at g' = 1 is

    S1(m) = sigma(e+e- -> mu mu Z', g' = 1) x BR(Z' -> mu mu) x lumi x eps(m),

with sigma the ``xsec_pb`` of the signal sample (g' = 1, before BR; docs/output.md),
BR(Z' -> mu mu) = Gamma(mu mu) / Gamma_total from the partial widths of
:mod:`core.zprime_model`, and eps the window count over the generated events of
the signal sample of that mass. The background is the four-muon MC in the window,
B = sum n_d w_d with its MC statistical uncertainty sigma_B^2 = sum n_d w_d^2. The yields are
the one container of every search (:func:`sensitivity.limits.window_yields` with the visible
signal channel) and the statistics those of the invisible search:
:func:`sensitivity.limits.compute_limits` (pyhf counting workspaces, exact Poisson-sum CLs for
small counts, MC uncertainty as ``shapesys``), written by :func:`sensitivity.limits.write_limits`.

Signal samples: ``signal_visible_isr`` (ISR included, the physical prediction) is the
default signal; ``signal_visible`` (no ISR) gives the comparison limit.

The Z' decays promptly (as generated): c tau = hbar c / Gamma_total (:func:`decay_length_cm`)
is below 2 um at g' = 1e-4 for m_Z' >= 0.25 GeV and scales as 1/g'^2; at the couplings this
search reaches (g' > 6e-4) even a boost of 20 leaves a flight of ~1 um, far below the SVD
impact-parameter resolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensitivity.limits import (
    CONFIDENCE_LEVEL,
    LimitTable,
    ResultFormatError,
    WindowYields,
    _require,
    compute_limits,
    window_yields,
)

SIGNAL_CHANNELS = ("signal_visible_isr", "signal_visible")
"""Signal channels of the visible search: with ISR (default for the limits) and without."""


def visible_window_yields(
    result: Mapping[str, Any], signal_channel: str = SIGNAL_CHANNELS[0], lumi_fb: float | None = None
) -> WindowYields:
    """:func:`sensitivity.limits.window_yields` of ``result`` (``results/visible_zprime.pkl``) for ``signal_channel``.

    Datasets with ``xsec_pb`` of a non-signal channel are background; signal datasets of the other
    signal channel are ignored. Raises ResultFormatError (one line) otherwise.
    """
    if signal_channel not in SIGNAL_CHANNELS:
        raise ValueError(f"unknown signal channel {signal_channel!r}: {', '.join(SIGNAL_CHANNELS)}")
    return window_yields(result, lumi_fb, signal_channel=signal_channel)


def visible_limits(yields: WindowYields) -> LimitTable:
    """Expected (and Asimov-observed) 90% CL limits of every hypothesis, with :func:`sensitivity.limits.compute_limits`.

    The table's ``coupling`` limits are on g' for Z' -> mu mu (the signal strength is relative to g' = 1
    with BR(mu mu) applied); its ``xsec_br_pb`` is on sigma x BR(Z' -> mu mu).
    """
    return compute_limits(yields)


# --- the fine m_R scan --------------------------------------------------------------------------------


def scan_yields(result: Mapping[str, Any], signal_channel: str = SIGNAL_CHANNELS[0]) -> WindowYields:
    """The counting experiments of the fine m_R scan of ``result`` (``run.py --analysis visible``), one signal channel.

    The background is counted in every window by the processor (``mr_scan``); the signal efficiency (and
    its uncertainty) and cross section are interpolated between the masses with signal samples (linearly in
    mass for eps, in log sigma vs log mass for sigma; constant beyond the ends), BR(Z' -> mu mu) is exact.
    """
    grid = visible_window_yields(result, signal_channel)
    metadata = result["metadata"]
    scan = np.asarray(_require(metadata, "scan_mzp_gev", "metadata"), dtype=float)
    dataset_metadata = metadata["dataset_metadata"]
    background = np.zeros(len(scan))
    variance = np.zeros(len(scan))
    for name, out in result["datasets"].items():
        meta = dataset_metadata[name]
        if "xsec_pb" not in meta or "mzp" in meta:
            continue
        h = _require(out, "mr_scan", f"datasets[{name!r}]")
        # the processor fills with weight xsec lumi / n_generated at the run's luminosity: rescale to grid.lumi_fb
        scale = grid.lumi_fb / float(metadata["lumi_fb"])
        background += h.values() * scale
        variance += h.variances() * scale**2
    m = grid.mass_gev
    efficiency = np.interp(scan, m, grid.efficiency)
    xsec = np.exp(np.interp(np.log(scan), np.log(m), np.log(grid.signal_xsec_pb)))
    br = grid.model.branching_fraction(scan)
    return WindowYields(
        signal_channel=signal_channel,
        mass_gev=scan,
        lumi_fb=grid.lumi_fb,
        efficiency=efficiency,
        efficiency_stat=np.interp(scan, m, grid.efficiency_stat),
        signal_xsec_pb=xsec,
        branching_fraction=br,
        signal_yield=xsec * br * grid.lumi_fb * 1000.0 * efficiency,
        background=background,
        background_stat=np.sqrt(variance),
        background_mc_count=np.zeros(len(scan), dtype=np.int64),
    )


def scan_limits(yields: WindowYields, cl: float = CONFIDENCE_LEVEL) -> dict[str, NDArray[np.float64]]:
    """Expected 90% CL g' limits (keys ``exp_m2`` .. ``exp_p2``) of every scan window, exact CLs.

    :func:`sensitivity.limits.compute_limits` with the exact Poisson-sum CLs (the MC uncertainty as a
    Gamma-distributed background): ~10 ms per window where pyhf's asymptotic fits take seconds; at the
    masses with signal samples the two agree (``scripts/run_visible_sensitivity.py`` prints both).
    """
    coupling = compute_limits(yields, cl=cl, calculator="exact").coupling
    return {key: coupling[key] for key in ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")}


__all__ = ["SIGNAL_CHANNELS", "ResultFormatError", "scan_limits", "scan_yields", "visible_limits", "visible_window_yields"]
