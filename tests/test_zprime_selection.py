"""The ten-cut table and the selection kernel: every cut, in the talk's order, acts on its variable."""

import json

import numpy as np
import pytest

from selections.zprime_selection import (
    CODE_ALL_CUTS,
    CODE_IN_WINDOW,
    CUT_DEFINITIONS,
    CUTS,
    DEFAULT_CUT_TABLE,
    cutflow_from_codes,
    load_cut_table,
    selection_codes,
)
from core.belle_detector import ECL_REGIONS_RAD
from core.beams import cms_frame
from selections.zprime_variables import COLUMN, VARIABLES

TABLE = load_cut_table()


def test_table_covers_the_mass_grid_with_a_resolution_per_mass():
    assert list(TABLE.masses_gev) == [0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert TABLE.window_n_sigma == 3.0
    sigmas = [h.sigma_recoil_mass2_gev2 for h in TABLE.hypotheses]
    # Belle recoil resolution is O(0.1-0.4) GeV^2 (docs/physics.md); best near the kinematic end point
    assert all(0.05 < s < 0.6 for s in sigmas)
    assert sigmas[-1] < sigmas[4]


def test_every_cut_has_a_definition_in_talk_order():
    assert list(CUT_DEFINITIONS) == list(CUTS)
    assert CUTS[0] == "vertex_fit_cl" and CUTS[-1] == "pt_projections_diagonal" and len(CUTS) == 10


SQRT_S_GEV = cms_frame()[0]


def _inside_missing_angle(h) -> float:
    """A lab polar angle of the recoil that passes cut 9 of ``h``: the middle of the widest overlap of its
    [min, max] with an ECL region (rad)."""
    overlaps = [(max(lo, h.missing_theta_lab_min_rad), min(hi, h.missing_theta_lab_max_rad)) for lo, hi in ECL_REGIONS_RAD]
    lo, hi = max(overlaps, key=lambda r: r[1] - r[0])
    assert hi > lo, f"hypothesis {h.mzp_gev} GeV accepts no recoil angle"
    return 0.5 * (lo + hi)


def _ideal_candidate(h) -> np.ndarray:
    """Variables of an event that passes every cut of hypothesis ``h`` (its table values) and sits at M^2 = m^2."""
    v = np.zeros(len(VARIABLES))
    m = h.mzp_gev
    v[COLUMN["recoil_mass2"]] = m**2
    v[COLUMN["recoil_mass2_visible"]] = m**2 - h.visible_recoil_mass2_slack_gev2 + 0.1
    v[COLUMN["vertex_pvalue"]] = 1.0
    v[COLUMN["e_visible_cms"]] = SQRT_S_GEV - m + h.visible_energy_slack_gev - 0.1
    v[COLUMN["e_neutral_lab"]] = 0.0
    v[COLUMN["pt_mumu_cms"]] = h.pt_mumu_min_gev + 0.1
    v[COLUMN["opening_angle_cms"]] = h.opening_angle_max_rad - 0.1
    v[COLUMN["cos_theta_recoil_cms"]] = 0.0
    v[COLUMN["dphi_recoil_photon"]] = np.pi
    v[COLUMN["theta_recoil_lab"]] = _inside_missing_angle(h)
    v[COLUMN["pt_proj_max"]] = v[COLUMN["pt_proj_min"]] = h.pt_projection_sum_min_gev / 2 + 0.1
    return v


FAILS = {
    # cut: (variable, value of it that fails hypothesis h)
    "vertex_fit_cl": ("vertex_pvalue", lambda h: h.vertex_pvalue_min / 2),
    "energy_conservation": ("e_visible_cms", lambda h: SQRT_S_GEV - h.mzp_gev + h.visible_energy_slack_gev + 0.1),
    "neutral_ecl_energy_sum": ("e_neutral_lab", lambda h: h.neutral_energy_max_gev + 0.1),
    "pt_mumu": ("pt_mumu_cms", lambda h: h.pt_mumu_min_gev - 0.01),
    "mass_conservation": ("recoil_mass2_visible", lambda h: h.mzp_gev**2 - h.visible_recoil_mass2_slack_gev2 - 0.1),
    "opening_angle": ("opening_angle_cms", lambda h: h.opening_angle_max_rad + 0.001),
    "recoil_polar_angle": ("cos_theta_recoil_cms", lambda h: -(h.cos_theta_recoil_max + 0.001)),
    "azimuth_recoil_neutral_clusters": ("dphi_recoil_photon", lambda h: h.dphi_recoil_photon_min_rad / 2),
    "missing_angle": ("theta_recoil_lab", lambda h: np.radians(31.8)),  # barrel / forward-endcap gap
    "pt_projections_diagonal": ("pt_proj_max", lambda h: 0.0),
}


@pytest.mark.parametrize("cut", CUTS)
def test_each_cut_rejects_on_its_own_variable(cut):
    variable, bad = FAILS[cut]
    for h_index, h in enumerate(TABLE.hypotheses):
        good = _ideal_candidate(h)
        worse = good.copy()
        worse[COLUMN[variable]] = bad(h)
        if cut == "pt_projections_diagonal":
            worse[COLUMN["pt_proj_min"]] = 0.0
        codes = selection_codes(np.stack([good, worse], axis=1), TABLE)
        assert codes[h_index, 0] == CODE_IN_WINDOW
        assert CUTS[codes[h_index, 1]] == cut


def test_recoil_mass_window_is_three_sigma_wide():
    h = TABLE.hypotheses[4]  # 2 GeV
    half = TABLE.window_n_sigma * h.sigma_recoil_mass2_gev2
    columns = []
    for m2 in (h.mzp_gev**2 + 0.99 * half, h.mzp_gev**2 - 0.99 * half, h.mzp_gev**2 + 1.01 * half):
        v = _ideal_candidate(h)
        v[COLUMN["recoil_mass2"]] = m2
        columns.append(v)
    codes = selection_codes(np.stack(columns, axis=1), TABLE)[4]
    assert list(codes) == [CODE_IN_WINDOW, CODE_IN_WINDOW, CODE_ALL_CUTS]


def test_cutflow_counts_events_past_each_requirement():
    codes = np.array([[0, 3, 3, 10, 11, 11]], dtype=np.int8)
    flow = cutflow_from_codes(codes)[0]
    assert flow[0] == 5  # passed vertex_fit_cl: everything but code 0
    assert list(flow[1:4]) == [5, 5, 3]  # code 3 fails the fourth cut (pt_mumu)
    assert flow[CODE_ALL_CUTS - 1] == 3 and flow[CODE_ALL_CUTS] == 2


def test_a_malformed_table_names_the_key(tmp_path):
    raw = json.loads(DEFAULT_CUT_TABLE.read_text())
    del raw["hypotheses"][3]["pt_mumu_min_gev"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="pt_mumu_min_gev"):
        load_cut_table(path)
