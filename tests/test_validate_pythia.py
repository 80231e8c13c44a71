"""scripts/validate_pythia.py: its statistics and table writers on small synthetic input (no Pythia here)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "validate_pythia.py"


@pytest.fixture(scope="module")
def vp():
    spec = importlib.util.spec_from_file_location("validate_pythia_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_unit_weight_fraction_has_the_binomial_error(vp):
    passed = np.r_[np.ones(30, bool), np.zeros(70, bool)]
    f, e = vp.weighted_fraction(passed)
    assert f == pytest.approx(0.3)
    assert e == pytest.approx(math.sqrt(0.3 * 0.7 / 100))


def test_weighted_fraction_counts_weights_not_events(vp):
    # one event of weight 3 passing, three of weight 1 failing: half the weight passes
    f, e = vp.weighted_fraction(np.array([True, False, False, False]), np.array([3.0, 1.0, 1.0, 1.0]))
    assert f == pytest.approx(0.5)
    assert e == pytest.approx(math.sqrt(9 * 0.25 + 3 * 0.25) / 6)


def test_tail_fractions_above_each_threshold(vp):
    m2 = np.array([-1.0, 0.5, 5.0, 10.0, 20.0, 40.0, 50.0, 3.9])
    tails = vp.tail_fractions(m2)
    assert [t["threshold_gev2"] for t in tails] == [4.0, 16.0, 36.0]
    assert [t["n_above"] for t in tails] == [5, 3, 2]
    assert [t["fraction"] for t in tails] == pytest.approx([5 / 8, 3 / 8, 2 / 8])
    assert tails[1]["error"] == pytest.approx(math.sqrt(3 / 8 * 5 / 8 / 8))
    # the tail fractions can only fall with the threshold
    assert tails[0]["fraction"] >= tails[1]["fraction"] >= tails[2]["fraction"]


def test_fraction_of_generated_includes_the_events_that_never_passed_the_skim(vp):
    # 1000 generated unit-weight events, 100 pass: binomial over all generated events
    f, e = vp.fraction_of_generated(np.ones(100), 1000.0, 1000.0)
    assert f == pytest.approx(0.1)
    assert e == pytest.approx(math.sqrt(0.1 * 0.9 / 1000))


def test_ratio_error_adds_relative_errors(vp):
    r, e = vp.ratio_with_error(2.0, 0.2, 4.0, 0.4)
    assert r == pytest.approx(0.5)
    assert e == pytest.approx(0.5 * math.hypot(0.1, 0.1))
    assert math.isnan(vp.ratio_with_error(1.0, 0.1, 0.0, 0.1)[0])


def test_agreement_by_relative_tolerance_or_by_sigma(vp):
    assert vp.agrees(1.2, 0.01, 1.0, 0.01, rel_tol=0.25)  # 20% < 25%
    assert not vp.agrees(1.5, 0.01, 1.0, 0.01, rel_tol=0.25)  # 50%, 35 sigma
    assert vp.agrees(1.5, 0.2, 1.0, 0.2, rel_tol=0.25)  # 50% but 1.8 sigma
    assert vp.agrees(1.10, 0.001, 1.0, 0.001, rel_tol=0.02, expected_ratio=1.1)  # the known normalisation offset
    assert not vp.agrees(math.nan, 0.1, 1.0, 0.1, rel_tol=0.25)


def test_weighted_ks_matches_scipy_for_unit_weights_and_sees_a_shift(vp):
    from scipy import stats

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=400), rng.normal(0.3, 1.0, size=300)
    d, p = vp.weighted_ks(a, np.ones(400), b, np.ones(300))
    ref = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic)
    # the Kolmogorov limit against scipy's finite-n form: same order, both see the 0.3 sigma shift
    assert p == pytest.approx(ref.pvalue, rel=0.3) and p < 1e-3
    # two samples of one distribution are compatible
    assert vp.weighted_ks(a[:200], np.ones(200), a[200:], np.ones(200))[1] > 0.01
    # doubling every weight of a sample changes nothing
    assert vp.weighted_ks(a, np.full(400, 2.0), b, np.ones(300)) == pytest.approx((d, p))


def _fake_result(vp, channel: str, tail_py: float, tail_ours: float) -> dict:
    def sample(xsec, tail):
        return {
            "xsec_pb": xsec,
            "xsec_error_pb": 1.0,
            "class_fraction": (0.5, 0.01),
            "tails": [
                {"threshold_gev2": t, "n_above": 100, "fraction": tail, "error": 0.001}
                for t in vp.RECOIL_TAIL_THRESHOLDS_GEV2
            ],
            "summary": {"mean nTrack (skimmed)": (2.0, 0.01)},
        }

    res = {"pythia": sample(1000.0, tail_py), "belle_mc": sample(1000.0 * vp.XSEC_EXPECTED_RATIO[channel], tail_ours)}
    return {"comparison": vp.compare(channel, res), "ks_p_cms": {"statistic": 0.01, "pvalue": 0.5, "pass": True}}


def test_compare_and_table_flag_a_tail_outside_the_tolerance(vp):
    good = _fake_result(vp, "kkmc_tautau", 0.10, 0.11)
    bad = _fake_result(vp, "kkmc_mumu", 0.10, 0.02)
    assert all(line["pass"] for line in good["comparison"]["lines"])
    tails_bad = [line for line in bad["comparison"]["lines"] if line["quantity"].startswith("fraction recoil")]
    assert len(tails_bad) == 3 and not any(line["pass"] for line in tails_bad)
    table = vp.markdown_table({"kkmc_tautau": good, "kkmc_mumu": bad})
    rows = table.strip().splitlines()
    # header, separator, per channel: generated and class cross sections, three tails, one summary, KS
    assert len(rows) == 2 + 2 * 7
    assert sum(r.endswith("| FAIL |") for r in rows) == 3
    assert all(r.startswith("| kkmc_mumu |") for r in rows if r.endswith("| FAIL |"))


def test_docs_page_puts_before_and_after_in_order(vp, tmp_path):
    for label, tail in (("after", 0.10), ("before", 0.02)):
        d = tmp_path / "pythia" / label
        d.mkdir(parents=True)
        (d / "kkmc_mumu.json").write_text(json.dumps(_fake_result(vp, "kkmc_mumu", 0.10, tail)))
        (d / "command.txt").write_text(f"python scripts/validate_pythia.py --label {label}\n")
    page = vp.write_docs(tmp_path / "pythia", tmp_path / "validation-pythia.md").read_text()
    assert page.index("## before") < page.index("## after")
    before, after = page.split("## after")
    assert "FAIL" in before and "FAIL" not in after
    assert "--label after" in after


def test_side_by_side_pairs_before_and_after_cells_and_survives_without_the_before_json(vp, tmp_path):
    root = tmp_path / "pythia"
    for label, tail in (("before", 0.02), ("after", 0.10)):
        (root / label).mkdir(parents=True)
        (root / label / "kkmc_mumu.json").write_text(json.dumps(_fake_result(vp, "kkmc_mumu", 0.10, tail)))
    docs = tmp_path / "validation-pythia.md"
    first = vp.write_docs(root, docs).read_text()
    combined = first.split("## before and after")[1].split("\n## ")[0]
    rows = [r for r in combined.splitlines() if r.startswith("| kkmc_mumu | fraction recoil")]
    assert len(rows) == 3
    # before FAILs and after PASSes on the same row
    assert all(r.count("FAIL") == 1 and r.count("PASS") == 1 and r.index("FAIL") < r.index("PASS") for r in rows)
    # the integrator's machine has only the after JSON: the before table comes from the page itself
    (root / "before" / "kkmc_mumu.json").unlink()
    assert vp.write_docs(root, docs).read_text() == first
