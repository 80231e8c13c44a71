"""90% CL upper limits on the leptophilic-scalar coupling xi vs m_phi, and the (g-2)_mu favoured band.

Per phi_L mass, one counting experiment in the pair-mass window after the BDT score
cut (:mod:`sensitivity.scalar_bdt`): signal S(xi) = xi^2 S1 BR(phi_L -> l l), with S1
the expected signal for xi = 1 (cross section of the fileset's ``xsec_pb`` x lumi x
efficiency) and BR from :mod:`core.scalar_model` for the lepton pair the search
reconstructs at that mass; background B with its MC uncertainty. The BDT yields fill the
one window-yield container of every search (:func:`scalar_window_yields` ->
:class:`sensitivity.limits.WindowYields`); the workspace, the reference coupling, the CLs limit
and the files are those of :mod:`sensitivity.limits` (:func:`~sensitivity.limits.compute_limits`,
:func:`~sensitivity.limits.write_limits`): ``mu = (xi / xi_ref)^2``.

The (g-2)_mu band of phi_L (:func:`core.scalar_model.g2_band_xi`, re-exported here) shares its
loop integral with the Z' (:func:`core.zprime_model.one_loop_integral`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.channels import signal_mass_mev
from core.scalar_model import delta_a_mu_scalar, g2_band_xi, visible_decay_channel
from sensitivity.limits import (
    CONFIDENCE_LEVEL,
    PB_PER_FB_INVERSE,
    Calculator,
    LimitTable,
    ResultFormatError,
    WindowYields,
    compute_limits,
    signal_model,
)
from sensitivity.scalar_bdt import WindowYields as BdtWindowYields

BELLE_2022_ARXIV = "2207.07476"
"""Belle's leptophilic-scalar search with 626 fb^-1 (limits about 19% stronger than BaBar's)."""
SCALAR_SIGNAL_CHANNEL = "signal_ttphi"
"""Fileset channel of the phi_L signal."""
DEFAULT_LUMI_FB = 626.0
"""Luminosity of the Belle data set, the default of ``scripts/run_scalar_sensitivity.py --lumi``."""
BDT_COLUMN_NOTES = {
    "score_cut": "cut on the BDT P(signal), chosen on the optimisation part",
    "signal_yield_xi1": "expected signal events at xi = 1 before BR(phi_L -> l l)",
    "background_direct": "MC background passing window and score cut directly (evaluation part)",
    "background_direct_mc_count": "raw MC events of background_direct",
    "background_window": "background in the window before the score cut",
    "bdt_background_fraction": "fraction of the same-flavour background above the score cut",
    "background_direct_<class>": "background_direct per BDT class",
    "decay_channel": "lepton pair reconstructed at this mass (ee up to 2 m_mu, mumu above)",
}
"""What the BDT-path columns of the scalar limit table hold (``notes`` of :func:`sensitivity.limits.write_limits`)."""


def signal_cross_sections(result: Mapping[str, Any]) -> dict[int, float]:
    """``xsec_pb`` (xi = 1, before BR) of each phi_L mass in MeV, from the processor output's metadata."""
    try:
        dataset_metadata = result["metadata"]["dataset_metadata"]
    except (KeyError, TypeError):
        raise ResultFormatError("result has no metadata['dataset_metadata']") from None
    out: dict[int, float] = {}
    for name, meta in dataset_metadata.items():
        if meta.get("channel") != SCALAR_SIGNAL_CHANNEL:
            continue
        if "xsec_pb" not in meta:
            raise ResultFormatError(f"metadata['dataset_metadata'][{name!r}] has no 'xsec_pb'")
        out[int(signal_mass_mev(meta))] = float(meta["xsec_pb"])
    return out


def scalar_window_yields(
    yields: Sequence[BdtWindowYields], lumi_fb: float = DEFAULT_LUMI_FB, signal_xsec_pb: Mapping[int, float] | None = None
) -> WindowYields:
    """The BDT-path yields of every mass (:func:`sensitivity.scalar_bdt.window_yields`) as one :class:`WindowYields`.

    ``lumi_fb`` is the luminosity the BDT yields are weighted to; ``signal_xsec_pb`` (MeV -> pb, e.g. from
    :func:`signal_cross_sections`) fills the cross-section column, which otherwise is derived from the
    yield as S1 / (lumi eps) (NaN where eps = 0). The BDT quantities become extra columns of the table.
    """
    if not yields:
        raise ValueError("scalar_window_yields needs the yields of at least one mass")
    model = signal_model(SCALAR_SIGNAL_CHANNEL)
    mass = np.array([y.mphi_gev for y in yields], dtype=float)
    mass_mev = [round(m * 1000) for m in mass]
    efficiency = np.array([y.efficiency for y in yields], dtype=float)
    yield_xi1 = np.array([y.signal_yield_xi1 for y in yields], dtype=float)
    if signal_xsec_pb is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            xsec = np.where(efficiency > 0, yield_xi1 / (lumi_fb * PB_PER_FB_INVERSE * efficiency), np.nan)
    else:
        missing = [m for m in mass_mev if m not in signal_xsec_pb]
        if missing:
            raise ResultFormatError(f"no signal cross section for m_phi = {', '.join(map(str, missing))} MeV")
        xsec = np.array([signal_xsec_pb[m] for m in mass_mev], dtype=float)
    br = model.branching_fraction(mass)
    classes = list(yields[0].composition)
    extra: dict[str, np.ndarray] = {
        "score_cut": np.array([y.score_cut for y in yields]),
        "signal_yield_xi1": yield_xi1,
        "background_direct": np.array([y.background_direct for y in yields]),
        "background_direct_mc_count": np.array([y.background_direct_mc_count for y in yields], dtype=np.int64),
        "background_window": np.array([y.background_window for y in yields]),
        "bdt_background_fraction": np.array([y.bdt_background_fraction for y in yields]),
        **{f"background_direct_{c}": np.array([y.composition[c] for y in yields]) for c in classes},
        "decay_channel": np.array([visible_decay_channel(m) for m in mass]),
    }
    return WindowYields(
        signal_channel=SCALAR_SIGNAL_CHANNEL,
        mass_gev=mass,
        lumi_fb=float(lumi_fb),
        efficiency=efficiency,
        efficiency_stat=np.array([y.efficiency_stat for y in yields], dtype=float),
        signal_xsec_pb=xsec,
        branching_fraction=br,
        signal_yield=yield_xi1 * br,
        background=np.array([y.background for y in yields], dtype=float),
        background_stat=np.array([y.background_stat for y in yields], dtype=float),
        background_mc_count=extra["background_direct_mc_count"],
        extra_columns=extra,
    )


def scalar_limit_table(
    yields: Sequence[BdtWindowYields],
    lumi_fb: float = DEFAULT_LUMI_FB,
    signal_xsec_pb: Mapping[int, float] | None = None,
    cl: float = CONFIDENCE_LEVEL,
    calculator: Calculator = "auto",
) -> LimitTable:
    """Expected (Asimov: observed = round(B)) limits on xi of every mass of the BDT ``yields``."""
    return compute_limits(scalar_window_yields(yields, lumi_fb, signal_xsec_pb), cl=cl, calculator=calculator)


def xi_limits(
    yields: Sequence[BdtWindowYields],
    cl: float = CONFIDENCE_LEVEL,
    calculator: Calculator = "auto",
    lumi_fb: float = DEFAULT_LUMI_FB,
    signal_xsec_pb: Mapping[int, float] | None = None,
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Rows (inputs, BR, limits ``xi_obs``, ``xi_exp_m2`` ... ``xi_exp_p2``; NaN where no signal survives) and
    the pyhf workspace per mass in MeV of :func:`scalar_limit_table`."""
    table = scalar_limit_table(yields, lumi_fb, signal_xsec_pb, cl, calculator)
    return table.rows(), dict(table.workspaces)


__all__ = [
    "BDT_COLUMN_NOTES",
    "BELLE_2022_ARXIV",
    "delta_a_mu_scalar",
    "g2_band_xi",
    "scalar_limit_table",
    "scalar_window_yields",
    "signal_cross_sections",
    "xi_limits",
]
