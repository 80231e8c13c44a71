"""Histogram declarations: each histogram is defined once here; ``make_*`` return fresh objects.

Every histogram has ``Weight`` storage (sum of weights and of squared weights),
so that a limit tool gets the MC statistical uncertainty with the yield.
"""

from __future__ import annotations

from collections.abc import Sequence

import hist

RECOIL_MASS2_AXIS = dict(bins=240, start=-4.0, stop=116.0, name="mrecoil2", label=r"$M^2_{\mathrm{recoil}}$ [GeV$^2$]")

MASS_HYPOTHESIS_AXIS_NAME = "mzp_mev"

CONTROL_VARIABLES: dict[str, tuple[int, float, float, str]] = {
    # variable of selections.zprime_variables: (bins, low, high, axis label with unit)
    "e_mumu_cms": (55, 0.0, 11.0, r"$E^*_{\mu\mu}$ [GeV]"),
    "m_mumu": (55, 0.0, 11.0, r"$m_{\mu\mu}$ [GeV]"),
    "pt_mumu_cms": (60, 0.0, 6.0, r"$p^*_{t,\mu\mu}$ [GeV]"),
    "cos_theta_recoil_cms": (40, -1.0, 1.0, r"$\cos\theta^*_{\mathrm{rec}}$"),
    "theta_recoil_lab": (64, 0.0, 3.2, r"$\theta_{\mathrm{miss}}$ (lab) [rad]"),
    "opening_angle_cms": (64, 0.0, 3.2, r"opening angle $\mu\mu$ (CM) [rad]"),
    "vertex_pvalue": (50, 0.0, 1.0, "vertex fit p-value"),
    "e_neutral_lab": (60, 0.0, 3.0, r"$E_{\mathrm{sum}}$ neutral ECL [GeV]"),
    "e_visible_cms": (60, 0.0, 12.0, r"$E^*_{\mathrm{vis}}$ [GeV]"),
    "recoil_mass2_visible": (120, -4.0, 116.0, r"$M^2_{\mathrm{recoil}}(\mu\mu + \mathrm{neutrals})$ [GeV$^2$]"),
    "dphi_recoil_photon": (64, 0.0, 3.2, r"$\Delta\phi$(recoil, $\gamma$) [rad]"),
    "delta_m": (60, -1.0, 11.0, r"$\Delta M$ [GeV]"),
    "delta_m_gamma": (60, -2.0, 10.0, r"$\Delta M_\gamma$ [GeV]"),
    "p_thrust": (55, 0.0, 11.0, r"$p_{\mathrm{thrust}}$ [GeV]"),
    "pl_min_mu": (50, -5.0, 5.0, r"$p_l^{\min,\mu}$ [GeV]"),
    "pl_max_mu": (50, -5.0, 5.0, r"$p_l^{\max,\mu}$ [GeV]"),
    "pt_proj_max": (50, 0.0, 5.0, r"$p_t^{*Z'}\sin\alpha_M$ [GeV]"),
    "pt_proj_min": (50, 0.0, 5.0, r"$p_t^{*Z'}\sin\alpha_m$ [GeV]"),
    "angle_pt_mu_minus_thrust": (32, 0.0, 1.6, r"$\angle(p_t^{\mu^-}, \mathrm{thrust})$ [rad]"),
    "angle_pt_mu_plus_thrust": (32, 0.0, 1.6, r"$\angle(p_t^{\mu^+}, \mathrm{thrust})$ [rad]"),
}
"""Variables with control histograms before and after the selection, and their binning."""


def mass_hypothesis_axis(masses_mev: Sequence[int]) -> hist.axis.IntCategory:
    """Category axis of the Z' mass hypotheses, labelled by the mass in MeV."""
    return hist.axis.IntCategory(list(masses_mev), name=MASS_HYPOTHESIS_AXIS_NAME, label="$m_{Z'}$ hypothesis [MeV]")


def make_recoil_mass2() -> hist.Hist:
    """Recoil mass squared of the dimuon pair after the preselection (docs/output.md), weighted."""
    return hist.Hist(hist.axis.Regular(**RECOIL_MASS2_AXIS), storage=hist.storage.Weight())


def make_recoil_mass2_selected(masses_mev: Sequence[int]) -> hist.Hist:
    """Recoil mass squared after all cuts of each mass hypothesis (before the recoil-mass window)."""
    return hist.Hist(mass_hypothesis_axis(masses_mev), hist.axis.Regular(**RECOIL_MASS2_AXIS), storage=hist.storage.Weight())


def _control_axis(variable: str) -> hist.axis.Regular:
    bins, low, high, label = CONTROL_VARIABLES[variable]
    return hist.axis.Regular(bins, low, high, name=variable, label=label)


def make_control_preselection() -> dict[str, hist.Hist]:
    """One histogram per control variable, filled after the preselection."""
    return {v: hist.Hist(_control_axis(v), storage=hist.storage.Weight()) for v in CONTROL_VARIABLES}


def make_control_selected(masses_mev: Sequence[int]) -> dict[str, hist.Hist]:
    """One histogram per control variable with a mass-hypothesis axis, for the selected candidates of each hypothesis.

    Selected means: all cuts of that hypothesis and the recoil-mass window.
    """
    return {
        v: hist.Hist(mass_hypothesis_axis(masses_mev), _control_axis(v), storage=hist.storage.Weight())
        for v in CONTROL_VARIABLES
    }


# --- visible Z' search (processors/visible_zprime.py) -------------------------------------------

REDUCED_MASS_AXIS = dict(
    bins=1500, start=0.01, stop=10.5, name="mr", label=r"reduced mass $m_R$ [GeV]",
    transform=hist.axis.transform.log,
)
"""m_R in logarithmic bins of 0.46% (finer than the measured resolution, 0.5-1% of m_R), GeV."""
FOUR_MUON_ENERGY_AXIS = dict(bins=120, start=7.0, stop=12.0, name="e_total_cms", label=r"$E^*_{4\mu}$ [GeV]")
"""Total CM energy of the four tracks (muon mass hypothesis), GeV."""


def make_reduced_mass_all_pairs() -> hist.Hist:
    """m_R of all four opposite-sign pairs of each preselected four-muon event (four entries per event), weighted."""
    return hist.Hist(hist.axis.Regular(**REDUCED_MASS_AXIS), storage=hist.storage.Weight())


def make_reduced_mass_chosen(masses_mev: Sequence[int]) -> hist.Hist:
    """m_R of the Z' candidate pair chosen for each mass hypothesis (one entry per preselected event and hypothesis)."""
    return hist.Hist(mass_hypothesis_axis(masses_mev), hist.axis.Regular(**REDUCED_MASS_AXIS), storage=hist.storage.Weight())


def make_four_muon_energy() -> hist.Hist:
    """Total CM energy of the four tracks after the muon-ID stage (before the energy cut), weighted."""
    return hist.Hist(hist.axis.Regular(**FOUR_MUON_ENERGY_AXIS), storage=hist.storage.Weight())


def make_scan_window(n_hypotheses: int) -> hist.Hist:
    """Events in the m_R window of each hypothesis of the fine scan (axis: hypothesis index; the masses travel
    with the output's metadata), weighted: sum of weights = expected events, sum of squares = MC variance."""
    return hist.Hist(hist.axis.Integer(0, n_hypotheses, name="scan_hypothesis", label="scan hypothesis index"), storage=hist.storage.Weight())
# --- leptophilic scalar search ------------------------------------------------------------------

PAIR_MASS_AXIS = dict(bins=1400, start=0.0, stop=7.0, name="pair_mass", label=r"$m_{\ell\ell}$ [GeV]")
"""Pair mass of the phi_L candidate: 5 MeV bins up to 7 GeV."""

SCALAR_MASS_HYPOTHESIS_AXIS_NAME = "mphi_mev"

PAIR_FLAVOURS = ("ee", "mumu")
"""Flavour categories of the phi_L candidate (:data:`selections.scalar_selection.FLAVOUR_NAMES`)."""


def scalar_mass_hypothesis_axis(masses_mev: Sequence[int]) -> hist.axis.IntCategory:
    """Category axis of the phi_L mass hypotheses, labelled by the mass in MeV."""
    return hist.axis.IntCategory(list(masses_mev), name=SCALAR_MASS_HYPOTHESIS_AXIS_NAME, label=r"$m_{\phi_L}$ hypothesis [MeV]")


def make_pair_mass() -> hist.Hist:
    """Pair mass of the phi_L candidate after the preselection, weighted."""
    return hist.Hist(hist.axis.Regular(**PAIR_MASS_AXIS), storage=hist.storage.Weight())


def make_pair_mass_selected() -> hist.Hist:
    """Pair mass after the rectangular cut (missing mass, CM missing polar angle), per pair flavour, weighted."""
    return hist.Hist(
        hist.axis.StrCategory(list(PAIR_FLAVOURS), name="flavour", label="pair flavour"),
        hist.axis.Regular(**PAIR_MASS_AXIS),
        storage=hist.storage.Weight(),
    )


def make_pair_mass_window(masses_mev: Sequence[int]) -> hist.Hist:
    """Pair mass of the candidates inside each hypothesis' window (after the rectangular cut), weighted."""
    return hist.Hist(scalar_mass_hypothesis_axis(masses_mev), hist.axis.Regular(**PAIR_MASS_AXIS), storage=hist.storage.Weight())
