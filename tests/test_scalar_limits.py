"""The scalar search's BDT yields feed the one window-yield container, limit table and writer of every search."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from core.scalar_model import branching_fraction
from core.zprime_model import branching_fraction_invisible
from sensitivity import scalar_bdt as bdt
from sensitivity.limits import WindowYields, compute_limits, write_limits
from sensitivity.plots import plot_coupling_limits
from sensitivity.scalar_limits import (
    BDT_COLUMN_NOTES,
    scalar_limit_table,
    scalar_window_yields,
    signal_cross_sections,
    xi_limits,
)

LUMI_FB = 626.0
LEGACY_COLUMNS = (
    "mphi_gev,score_cut,efficiency,efficiency_stat,signal_yield_xi1,background,background_stat,background_direct,"
    "background_direct_mc_count,background_window,bdt_background_fraction,background_direct_tautau,background_direct_eemumu,"
    "background_direct_qqbar,background_direct_bbbar,decay_channel,br_visible,signal_yield_xi1_br,xi_ref,calculator,"
    "observed_count,xi_obs,xi_exp_m2,xi_exp_m1,xi_exp,xi_exp_p1,xi_exp_p2"
).split(",")
"""The header of the scalar limits.csv before the one writer: every column must still be there."""


def _bdt_yields(mphi, efficiency, xsec_pb, background, background_stat):
    return bdt.WindowYields(
        mphi_gev=mphi, score_cut=0.7, efficiency=efficiency, efficiency_stat=0.01,
        signal_yield_xi1=xsec_pb * LUMI_FB * 1000.0 * efficiency, background=background, background_stat=background_stat,
        background_direct=background, background_direct_mc_count=3, background_window=10 * background,
        bdt_background_fraction=0.1, composition={"tautau": background, "eemumu": 0.0, "qqbar": 0.0, "bbbar": 0.0},
    )  # fmt: skip


XSEC = {100: 0.004, 1000: 0.002, 5000: 0.0001}
YIELDS = [
    _bdt_yields(0.1, 0.05, XSEC[100], 4.0, 1.5),
    _bdt_yields(1.0, 0.12, XSEC[1000], 9.0, 3.0),
    _bdt_yields(5.0, 0.0, XSEC[5000], 2.0, 1.0),  # nothing survives: no limit
]


def test_bdt_yields_become_the_common_container():
    y = scalar_window_yields(YIELDS, LUMI_FB, XSEC)
    np.testing.assert_array_equal(y.mass_mev, [100, 1000, 5000])
    br = [float(branching_fraction(0.1, "ee")), float(branching_fraction(1.0, "mumu")), float(branching_fraction(5.0, "mumu"))]
    np.testing.assert_allclose(y.branching_fraction, br)
    np.testing.assert_array_equal(y.signal_yield, [v.signal_yield_xi1 * b for v, b in zip(YIELDS, br, strict=True)])
    np.testing.assert_array_equal(y.extra_columns["decay_channel"], ["ee", "mumu", "mumu"])
    np.testing.assert_array_equal(y.background_mc_count, [3, 3, 3])
    # without cross sections they follow from the yield; NaN where nothing survives
    derived = scalar_window_yields(YIELDS, LUMI_FB)
    np.testing.assert_allclose(derived.signal_xsec_pb[:2], [XSEC[100], XSEC[1000]], rtol=1e-12)
    assert math.isnan(derived.signal_xsec_pb[2])


def test_a_scalar_background_worth_few_mc_events_is_flagged_low_mc():
    """The BDT's B has no per-channel counts: a window is low-MC when its estimate is worth fewer than 10 MC events,
    (B / sigma_B)^2 (4 +- 1.5: 7.1 events; 9 +- 3: 9; 40 +- 10: 16)."""
    yields = [*YIELDS[:2], _bdt_yields(5.0, 0.1, XSEC[5000], 40.0, 10.0)]
    y = scalar_window_yields(yields, LUMI_FB, XSEC)
    np.testing.assert_array_equal(y.low_mc, [True, True, False])
    rows = compute_limits(y).rows()
    assert [r["low_mc"] for r in rows] == [True, True, False]


def test_cross_sections_that_do_not_match_the_yields_are_refused():
    with pytest.raises(ValueError, match="signal_yield differs"):
        scalar_window_yields(YIELDS, 2 * LUMI_FB, XSEC)  # features weighted to another luminosity
    with pytest.raises(ValueError, match="5000 MeV"):
        scalar_window_yields(YIELDS, LUMI_FB, {100: XSEC[100], 1000: XSEC[1000]})


def test_xi_limits_keep_the_scalar_columns_and_arithmetic():
    table = scalar_limit_table(YIELDS, LUMI_FB, XSEC)
    rows, workspaces = xi_limits(YIELDS, lumi_fb=LUMI_FB, signal_xsec_pb=XSEC)
    assert set(LEGACY_COLUMNS) <= set(rows[0])
    assert list(workspaces) == [100, 1000] and table.calculator == ("exact", "exact", "none")
    for i, row in enumerate(rows[:2]):
        assert row["xi_exp"] == table.coupling_ref[i] * math.sqrt(table.mu_workspace["exp"][i])  # bit for bit
        assert row["xi_exp"] ** 2 == pytest.approx(row["mu_exp"], rel=1e-12)
        events = row["xi_exp"] ** 2 * row["signal_yield_xi1_br"]
        assert events == pytest.approx(table.events["exp"][i], rel=1e-12)
        assert row["observed_count"] == round(row["background"])
    assert math.isnan(rows[2]["xi_exp"]) and rows[2]["calculator"] == "none"


def test_writer_and_plot_of_the_scalar_search(tmp_path):
    table = compute_limits(scalar_window_yields(YIELDS, LUMI_FB, XSEC))
    written = write_limits(table, tmp_path, {"description": "scalar"}, coupling_name="xi", plot_name="xi_limits.png", notes=BDT_COLUMN_NOTES)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"workspaces/mphi_100.json", "workspaces/mphi_1000.json", "xi_limits.png", "limits.csv", "limits.json"} <= names
    assert "workspaces/mphi_5000.json" not in names
    with open(tmp_path / "limits.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    assert set(LEGACY_COLUMNS) <= set(header)
    assert rows[2]["xi_exp"] == "" and rows[2]["workspace"] == ""
    document = json.loads((tmp_path / "limits.json").read_text())
    assert document["columns"]["score_cut"] == BDT_COLUMN_NOTES["score_cut"] and document["skipped_mphi_mev"] == []
    spec = json.loads((tmp_path / "workspaces" / "mphi_1000.json").read_text())
    assert spec["measurements"][0]["name"] == "leptophilic_scalar_mphi_1000MeV"
    png = tmp_path / "xi_limits.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_refuses_tables_of_another_search(tmp_path):
    scalar = compute_limits(scalar_window_yields(YIELDS, LUMI_FB, XSEC))
    m = np.array([1.0])
    br = branching_fraction_invisible(m)
    zprime_yields = WindowYields(
        signal_channel="signal", mass_gev=m, lumi_fb=1.0, efficiency=np.array([0.5]), efficiency_stat=np.array([0.01]),
        signal_xsec_pb=np.array([20.0]), branching_fraction=br, signal_yield=20.0 * br * 1000.0 * 0.5,
        background=np.array([5.0]), background_stat=np.array([1.0]), background_mc_count=np.array([5]),
    )  # fmt: skip
    zprime = compute_limits(zprime_yields)
    with pytest.raises(ValueError, match="not a leptophilic_scalar table"):
        plot_coupling_limits(scalar, tmp_path / "x.png", others=[zprime])


def test_signal_cross_sections_from_the_processor_metadata():
    result = {"metadata": {"dataset_metadata": {
        "phi_a": {"channel": "signal_ttphi", "mphi": 0.1, "xsec_pb": 0.004},
        "tautau": {"channel": "kkmc_tautau", "xsec_pb": 900.0},
        "phi_b": {"channel": "signal_ttphi", "mphi": 1.0},
    }}}  # fmt: skip
    with pytest.raises(ValueError, match="'phi_b'.*xsec_pb"):
        signal_cross_sections(result)
    del result["metadata"]["dataset_metadata"]["phi_b"]
    assert signal_cross_sections(result) == {100: 0.004}
