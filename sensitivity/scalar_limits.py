"""90% CL upper limits on the leptophilic-scalar coupling xi vs m_phi, and the (g-2)_mu favoured band.

Per phi_L mass, one counting experiment in the pair-mass window after the BDT score
cut (:mod:`sensitivity.scalar_bdt`): signal S(xi) = xi^2 S1 BR(phi_L -> l l), with S1
the expected signal for xi = 1 (cross section of the fileset's ``xsec_pb`` x lumi x
efficiency) and BR from :mod:`core.scalar_model` for the lepton pair the search
reconstructs at that mass; background B with its MC uncertainty. The workspace, the
reference coupling and the CLs limit are those of :mod:`sensitivity.limits`
(:func:`~sensitivity.limits.counting_workspace`, :func:`~sensitivity.limits.reference_coupling`,
:func:`~sensitivity.limits.upper_limits`): ``mu = (xi / xi_ref)^2``.

(g-2)_mu: the one-loop contribution of a scalar with Yukawa coupling y = xi m_mu / v,

    Delta a_mu = y^2 / (8 pi^2) int_0^1 dz (1 - z)^2 (1 + z) / ((1 - z)^2 + z (m_phi / m_mu)^2),

which tends to 3 y^2 / (16 pi^2) for m_phi << m_mu. The favoured band is where Delta a_mu
lies within +-2 sigma of the measured gap (the gap of :mod:`core.zprime_model`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate

from core.constants import HIGGS_VEV_GEV, MUON_MASS_GEV
from sensitivity.limits import BAND_LABELS, CONFIDENCE_LEVEL, counting_workspace, reference_coupling, upper_limits
from sensitivity.scalar_bdt import WindowYields
from core.scalar_model import branching_fraction, visible_decay_channel
from core.zprime_model import DELTA_A_MU_GAP, DELTA_A_MU_GAP_ERROR, G2_BAND_N_SIGMA, CouplingBand, coupling_band

BELLE_2022_ARXIV = "2207.07476"
"""Belle's leptophilic-scalar search with 626 fb^-1 (limits about 19% stronger than BaBar's)."""


def _scalar_loop_integral(mphi_gev: float) -> float:
    """int_0^1 dz (1-z)^2 (1+z) / ((1-z)^2 + z (m_phi/m_mu)^2) (dimensionless; 3/2 at m_phi = 0)."""
    x2 = (mphi_gev / MUON_MASS_GEV) ** 2
    knee = min(1.0 / x2, 0.5) if x2 > 0 else 0.5
    value, _ = integrate.quad(
        lambda z: (1.0 - z) ** 2 * (1.0 + z) / ((1.0 - z) ** 2 + x2 * z), 0.0, 1.0, points=[knee], epsabs=0.0, epsrel=1e-10, limit=200
    )
    return value


def delta_a_mu_scalar(xi: ArrayLike, mphi_gev: ArrayLike) -> NDArray[np.float64]:
    """One-loop Delta a_mu of phi_L with coupling ``xi`` and mass ``mphi_gev`` (GeV; broadcast together)."""
    x, m = np.broadcast_arrays(np.asarray(xi, dtype=float), np.asarray(mphi_gev, dtype=float))
    if np.any(m < 0):
        raise ValueError("phi_L mass must not be negative")
    unique, inverse = np.unique(m, return_inverse=True)
    loop = np.array([_scalar_loop_integral(float(v)) for v in unique])[inverse].reshape(m.shape)
    yukawa2 = (x * MUON_MASS_GEV / HIGGS_VEV_GEV) ** 2
    return np.asarray(yukawa2 / (8.0 * math.pi**2) * loop)


def g2_band_xi(
    mphi_gev: ArrayLike, gap: float = DELTA_A_MU_GAP, gap_error: float = DELTA_A_MU_GAP_ERROR, n_sigma: float = G2_BAND_N_SIGMA
) -> CouplingBand:
    """xi values (over mass) where Delta a_mu equals the gap and its +-n sigma edges (an edge <= 0 is 0)."""
    return coupling_band(delta_a_mu_scalar(1.0, mphi_gev), gap, gap_error, n_sigma)


def xi_limits(yields: list[WindowYields], cl: float = CONFIDENCE_LEVEL, calculator: str = "auto") -> tuple[list[dict], dict[int, dict]]:
    """Expected (Asimov: observed = round(B)) limits on xi for every mass of ``yields``.

    Returns one row per mass (inputs, BR, limits on xi for ``obs``, ``exp_m2`` ... ``exp_p2``,
    NaN where no signal survives) and the pyhf workspace per mass in MeV.
    """
    rows, workspaces = [], {}
    for y in yields:
        channel = visible_decay_channel(y.mphi_gev)
        br = float(branching_fraction(y.mphi_gev, channel))
        s1 = y.signal_yield_xi1 * br
        row = {**y.row(), "decay_channel": channel, "br_visible": br, "signal_yield_xi1_br": s1}
        observed = float(np.rint(y.background))
        if not s1 > 0:
            rows.append({**row, "xi_ref": math.nan, "calculator": "none", **{f"xi_{k}": math.nan for k in ("obs", *BAND_LABELS)}})
            continue
        xi_ref = reference_coupling(s1, y.background, y.background_stat, observed)
        mphi_mev = round(y.mphi_gev * 1000)
        spec = counting_workspace(
            xi_ref**2 * s1, y.background, y.background_stat, observed, name=f"leptophilic_scalar_mphi_{mphi_mev}MeV"
        )
        limit = upper_limits(spec, cl=cl, calculator=calculator)
        workspaces[mphi_mev] = spec
        row.update({"xi_ref": xi_ref, "calculator": limit.calculator, "observed_count": observed})
        row["xi_obs"] = xi_ref * math.sqrt(limit.observed)
        for key, value in zip(BAND_LABELS, limit.expected, strict=True):
            row[f"xi_{key}"] = xi_ref * math.sqrt(value)
        rows.append(row)
    return rows, workspaces


def plot_xi_limits(rows: list[dict], lumi_fb: float, path: str | os.PathLike) -> Path:
    """Write the xi limit figure (expected band, Asimov observed, (g-2)_mu band) to ``path``; return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    path = Path(path)
    m = np.array([r["mphi_gev"] for r in rows])
    xi = {k: np.array([r[f"xi_{k}"] for r in rows]) for k in ("obs", *BAND_LABELS)}
    ok = np.isfinite(xi["exp"])
    grid = np.geomspace(0.03, 7.0, 300)
    band = g2_band_xi(grid)
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(10, 8))
        ax.fill_between(m[ok], xi["exp_m2"][ok], xi["exp_p2"][ok], color="#F5BB54", label=r"expected $\pm 2\sigma$", lw=0)
        ax.fill_between(m[ok], xi["exp_m1"][ok], xi["exp_p1"][ok], color="#5BA65B", label=r"expected $\pm 1\sigma$", lw=0)
        ax.plot(m[ok], xi["exp"][ok], "k--", lw=2, label="expected (median)")
        ax.plot(m[ok], xi["obs"][ok], "ko-", lw=2, ms=5, label="observed (Asimov pseudo-data)")
        ax.fill_between(grid, band.lower, band.upper, color="#9B59B6", alpha=0.35, lw=0, label=r"$(g-2)_\mu$ $\pm 2\sigma$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel(r"$m_{\phi_L}$ [GeV]")
        ax.set_ylabel(r"$\xi$ upper limit (90% CL, CL$_s$)")
        ax.legend(fontsize=13, loc="upper left", title=r"$e^+e^- \to \tau^+\tau^-\phi_L$, $\phi_L \to \ell^+\ell^-$", title_fontsize=14)
        mplhep.label.exp_label(exp="Belle", llabel="Simulation", rlabel=rf"{lumi_fb:g} fb$^{{-1}}$", ax=ax, fontsize=16)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
    return path


__all__ = ["BELLE_2022_ARXIV", "delta_a_mu_scalar", "g2_band_xi", "plot_xi_limits", "xi_limits"]
