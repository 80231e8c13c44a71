"""90% CL limits on g' of the visible Z' (Z' -> mu+ mu-) from the output of ``run.py --analysis visible``.

Each mass hypothesis m is a one-bin counting experiment in its m_R window
(:mod:`selections.visible_zprime`): the signal yield at g' = 1 is

    S1(m) = sigma(e+e- -> mu mu Z', g' = 1) x BR(Z' -> mu mu) x lumi x eps(m),

with sigma the ``xsec_pb`` of the signal sample (g' = 1, before BR; interfaces.md §2),
BR(Z' -> mu mu) = Gamma(mu mu) / Gamma_total from the partial widths of
:mod:`core.zprime_model`, and eps the window count over the generated events of
the signal sample of that mass. The background is the four-muon MC in the window,
B = sum n_d w_d with its MC statistical uncertainty sigma_B^2 = sum n_d w_d^2. Since
the signal scales as g'^2 and the BR does not depend on g', the statistics are those
of the invisible search: :func:`sensitivity.limits.compute_limits` (pyhf counting
workspaces, exact Poisson-sum CLs for small counts, MC uncertainty as ``shapesys``).

Signal samples: ``signal_visible_isr`` (ISR included, the physical prediction) is the
default signal; ``signal_visible`` (no ISR) gives the comparison limit.

The Z' decays promptly (as generated): c tau = hbar c / Gamma_total (:func:`decay_length_cm`)
is below 2 um at g' = 1e-4 for m_Z' >= 0.25 GeV and scales as 1/g'^2; at the couplings this
search reaches (g' > 6e-4) even a boost of 20 leaves a flight of ~1 um, far below the SVD
impact-parameter resolution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.weights import event_weight
from core.constants import MUON_MASS_GEV
from sensitivity.limits import (
    BAND_LABELS,
    CONFIDENCE_LEVEL,
    PB_PER_FB_INVERSE,
    LimitTable,
    ResultFormatError,
    SignalEfficiency,
    _require,
    compute_limits,
    counting_workspace,
    reference_coupling,
    upper_limits,
)
from core.zprime_model import branching_fraction_mumu

WINDOW_KEY = "mr_window"
"""Key of the raw count in the m_R window of each ``cutflow_mzp`` entry of the visible output."""
SIGNAL_CHANNELS = ("signal_visible_isr", "signal_visible")
"""Signal channels of the visible search: with ISR (default for the limits) and without."""
@dataclass(frozen=True)
class VisibleWindowYields(SignalEfficiency):
    """Inputs of the counting experiment of every mass hypothesis (arrays over ``mzp_mev``), for one signal channel.

    Has the attributes :func:`sensitivity.limits.compute_limits` reads (``mzp_mev``, ``background``,
    ``background_stat``, ``signal_yield_g1``).
    """

    signal_channel: str
    mzp_mev: NDArray[np.int64]
    lumi_fb: float
    signal_window_count: NDArray[np.int64]
    signal_generated: NDArray[np.int64]
    signal_xsec_pb: NDArray[np.float64]
    """sigma(e+e- -> mu mu Z') at g' = 1 before BR(Z' -> mu mu), pb."""
    background: NDArray[np.float64]
    background_stat: NDArray[np.float64]
    background_mc_count: NDArray[np.int64]

    @property
    def br_mumu(self) -> NDArray[np.float64]:
        return branching_fraction_mumu(self.mzp_gev)

    @property
    def signal_yield_g1(self) -> NDArray[np.float64]:
        """Expected signal events at g' = 1: xsec x BR(mu mu) x lumi x eps."""
        return self.signal_xsec_pb * self.br_mumu * self.lumi_fb * PB_PER_FB_INVERSE * self.efficiency


def visible_window_yields(
    result: Mapping[str, Any], signal_channel: str = SIGNAL_CHANNELS[0], lumi_fb: float | None = None
) -> VisibleWindowYields:
    """Signal efficiency of ``signal_channel``, background and its MC uncertainty per hypothesis of ``result``.

    ``result`` is the dict of ``results/visible_zprime.pkl``. Datasets with ``xsec_pb`` and no ``mzp`` are
    background; signal datasets of the other signal channel are ignored. Raises ResultFormatError otherwise.
    """
    if signal_channel not in SIGNAL_CHANNELS:
        raise ValueError(f"unknown signal channel {signal_channel!r}: {', '.join(SIGNAL_CHANNELS)}")
    metadata = _require(result, "metadata", "result")
    datasets = _require(result, "datasets", "result")
    dataset_metadata = _require(metadata, "dataset_metadata", "metadata")
    lumi_fb = float(_require(metadata, "lumi_fb", "metadata")) if lumi_fb is None else float(lumi_fb)
    if not datasets:
        raise ResultFormatError("result['datasets'] is empty")
    hypotheses = sorted({int(m) for out in datasets.values() for m in _require(out, "cutflow_mzp", "a dataset")})
    index = {m: i for i, m in enumerate(hypotheses)}
    n_hyp = len(hypotheses)
    count, generated, xsec = np.zeros(n_hyp, np.int64), np.zeros(n_hyp, np.int64), np.full(n_hyp, np.nan)
    background, background_var, background_mc = np.zeros(n_hyp), np.zeros(n_hyp), np.zeros(n_hyp, np.int64)
    for name, out in datasets.items():
        meta = _require(dataset_metadata, name, "metadata['dataset_metadata']")
        flow = out["cutflow_mzp"]
        counts = np.array([_require(flow[m], WINDOW_KEY, f"datasets[{name!r}]['cutflow_mzp'][{m}]") for m in hypotheses])
        if "xsec_pb" not in meta:
            continue  # data: the limits here are expected ones
        channel = meta.get("channel")
        if "mzp" in meta:
            if channel != signal_channel:
                continue
            m = round(1000.0 * float(meta["mzp"]))
            if m not in index:
                continue
            i = index[m]
            if not math.isnan(xsec[i]) and not math.isclose(xsec[i], float(meta["xsec_pb"]), rel_tol=1e-3):
                raise ResultFormatError(f"signal datasets of {m} MeV disagree on xsec_pb")
            count[i] += counts[i]
            generated[i] += int(meta["n_generated"])
            xsec[i] = float(meta["xsec_pb"])
            continue
        weight = event_weight(meta, lumi_fb)
        background += counts * weight
        background_var += counts * weight**2
        background_mc += counts
    keep = generated > 0
    if not keep.any():
        raise ResultFormatError(f"no {signal_channel} dataset matches any mass hypothesis")
    return VisibleWindowYields(
        signal_channel=signal_channel,
        mzp_mev=np.asarray(hypotheses, dtype=np.int64)[keep],
        lumi_fb=lumi_fb,
        signal_window_count=count[keep],
        signal_generated=generated[keep],
        signal_xsec_pb=xsec[keep],
        background=background[keep],
        background_stat=np.sqrt(background_var[keep]),
        background_mc_count=background_mc[keep],
    )


def visible_limits(yields: VisibleWindowYields) -> LimitTable:
    """Expected (and Asimov-observed) 90% CL limits of every hypothesis, with :func:`sensitivity.limits.compute_limits`.

    The table's ``gprime`` limits are on g' for Z' -> mu mu (the signal strength is relative to g' = 1
    with BR(mu mu) applied); its ``xsec_br_pb`` property assumes the invisible BR and is not used here.
    """
    return compute_limits(yields)  # type: ignore[arg-type]  # duck-typed: the attributes compute_limits reads


def limit_rows(table: LimitTable) -> list[dict[str, Any]]:
    """One flat dict per hypothesis: inputs (eps, BR(mu mu), B, sigma_B) and the g' limits."""
    y: VisibleWindowYields = table.yields  # type: ignore[assignment]
    rows = []
    for i, m in enumerate(y.mzp_mev):
        row = {
            "mzp_gev": float(y.mzp_gev[i]),
            "signal_channel": y.signal_channel,
            "signal_xsec_pb_g1": float(y.signal_xsec_pb[i]),
            "br_mumu": float(y.br_mumu[i]),
            "efficiency": float(y.efficiency[i]),
            "efficiency_stat": float(y.efficiency_stat[i]),
            "signal_yield_g1": float(y.signal_yield_g1[i]),
            "background": float(y.background[i]),
            "background_stat": float(y.background_stat[i]),
            "background_mc_count": int(y.background_mc_count[i]),
            "calculator": table.calculator[i],
        }
        for key, values in table.gprime.items():
            row[f"gprime_{key}"] = float(values[i])
        rows.append(row)
    return rows


# --- the fine m_R scan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanYields:
    """Counting experiments of the fine m_R scan (arrays over ``mzp_gev``) for one signal channel.

    The background is counted in every window by the processor (``mr_scan``); the signal efficiency and
    cross section are interpolated between the masses with signal samples (linearly in mass for eps,
    in log sigma vs log mass for sigma; constant beyond the ends), BR(Z' -> mu mu) is exact.
    """

    signal_channel: str
    mzp_gev: NDArray[np.float64]
    lumi_fb: float
    efficiency: NDArray[np.float64]
    signal_xsec_pb: NDArray[np.float64]
    background: NDArray[np.float64]
    background_stat: NDArray[np.float64]

    @property
    def br_mumu(self) -> NDArray[np.float64]:
        return branching_fraction_mumu(self.mzp_gev)

    @property
    def signal_yield_g1(self) -> NDArray[np.float64]:
        return self.signal_xsec_pb * self.br_mumu * self.lumi_fb * PB_PER_FB_INVERSE * self.efficiency


def scan_yields(result: Mapping[str, Any], signal_channel: str = SIGNAL_CHANNELS[0]) -> ScanYields:
    """:class:`ScanYields` of ``result`` (the output of ``run.py --analysis visible``)."""
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
    m = grid.mzp_gev
    efficiency = np.interp(scan, m, grid.efficiency)
    xsec = np.exp(np.interp(np.log(scan), np.log(m), np.log(grid.signal_xsec_pb)))
    return ScanYields(signal_channel, scan, grid.lumi_fb, efficiency, xsec, background, np.sqrt(variance))


def scan_limits(yields: ScanYields, cl: float = CONFIDENCE_LEVEL) -> dict[str, NDArray[np.float64]]:
    """Expected 90% CL g' limits (keys ``exp_m2`` .. ``exp_p2``) of every scan window, exact CLs.

    The one-bin workspaces of :func:`sensitivity.limits.counting_workspace` with the exact Poisson-sum CLs
    of :func:`sensitivity.limits.upper_limits` (with the MC uncertainty as a Gamma-distributed background):
    ~10 ms per window where pyhf's asymptotic fits take seconds; at the masses with signal samples the two
    agree (``scripts/run_visible_sensitivity.py`` prints both).
    """
    n = len(yields.mzp_gev)
    out = {key: np.full(n, np.nan) for key in BAND_LABELS}
    s1 = yields.signal_yield_g1
    for i in range(n):
        b, sb = float(yields.background[i]), float(yields.background_stat[i])
        if not s1[i] > 0:
            continue
        observed = float(np.rint(b))
        g_ref = reference_coupling(s1[i], b, sb, observed)
        spec = counting_workspace(g_ref**2 * s1[i], b, sb, observed, name=f"zprime_visible_scan_{i}")
        limit = upper_limits(spec, cl=cl, calculator="exact")
        for key, value in zip(BAND_LABELS, limit.expected, strict=True):
            out[key][i] = g_ref * math.sqrt(value)
    return out
