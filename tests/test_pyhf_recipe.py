"""The workspaces shipped with a limit table reproduce it with plain pyhf and the stated fit settings.

A downstream user loads ``workspaces/<key>_<MeV>.json`` into pyhf and applies
``workspaces/fit_settings.json`` (``pyhf.set_backend("numpy", "minuit")``, q~_mu, asymptotic
formulae, the toms748 scan with the stated bracket, level and rtol); that must give the table's
limit on ``mu``. The tolerance is 1%: the table's own fits (L-BFGS-B + SLSQP) and MINUIT
minimise the same likelihood to different stopping criteria and the scan stops at rtol = 1e-4,
so the two agree to ~1e-4 (on the sensitivity sample); 1% stays far below the 5-25% by which
pyhf's default SLSQP misses, which the last test shows on the same workspaces (the test fails if
the recipe is dropped). ``exact`` entries are checked against an independent Poisson x Gamma
integral written here with scipy, not the project's Poisson sums.

The sample: one-bin counting experiments whose background is a handful of MC events of large
weight (B ~ 2000 +- 1400 events, as in the invisible-Z' sensitivity sample) and one with a
small background (exact calculator).
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import iminuit  # noqa: F401  (pyhf[minuit] in pyproject.toml: the recipe needs it, so its absence is a failure)
import numpy as np
import pyhf
import pytest
from pyhf.infer.intervals.upper_limits import toms748_scan
from scipy import integrate, optimize, stats

from sensitivity.limits import compute_limits, limit_from_workspace, window_yields, write_limits

LABELS = ("obs", "exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")
TOLERANCE = 0.01


def _dataset(channel, counts, xsec_pb, n_generated, mzp=None):
    meta = {"channel": channel, "xsec_pb": xsec_pb, "n_generated": n_generated} | ({"mzp": mzp} if mzp else {})
    return meta, {"cutflow_hypotheses": {m: {"pt_mumu": n + 1, "window": n} for m, n in counts.items()}}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The limit files of a small invisible-Z' sample at 1 fb^-1: two MC-limited masses and one small-count mass."""
    parts = {
        "signal_mzp_1p0": _dataset("signal", {1000: 300, 2000: 0, 3000: 0}, 100.0, 1000, mzp=1.0),
        "signal_mzp_2p0": _dataset("signal", {1000: 0, 2000: 280, 3000: 0}, 35.0, 1000, mzp=2.0),
        "signal_mzp_3p0": _dataset("signal", {1000: 0, 2000: 0, 3000: 290}, 14.0, 1000, mzp=3.0),
        "tautau": _dataset("kkmc_tautau", {1000: 3, 2000: 2, 3000: 0}, 783.0, 1000),  # w = 783
        "eemumu": _dataset("aafh_eemumu", {1000: 10, 2000: 10, 3000: 4}, 0.5, 1000),  # w = 0.5
    }
    result = {
        "metadata": {"lumi_fb": 1.0, "dataset_metadata": {k: m for k, (m, _) in parts.items()}},
        "datasets": {k: o for k, (_, o) in parts.items()},
    }
    out = tmp_path_factory.mktemp("recipe")
    # without the zero-event rule, so that the 3 GeV window keeps its small count (tautau has no event there)
    table = compute_limits(window_yields(result, zero_event_estimate=False))
    assert table.calculator == ("asymptotic", "asymptotic", "exact")
    write_limits(table, out, {"description": "pyhf recipe test"})
    with open(out / "limits.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return out, rows


@pytest.fixture
def restore_backend():
    backend, optimizer = pyhf.get_backend()
    yield
    pyhf.set_backend(backend, optimizer)


def _table_mu(row):
    """The table's limits on the workspace's mu: mu (relative to g' = 1) / gprime_ref^2."""
    return np.array([float(row[f"mu_{k}"]) for k in LABELS]) / float(row["gprime_ref"]) ** 2


def _pyhf_scan(spec, recipe, level, optimizer):
    """toms748_scan of plain pyhf with ``optimizer`` and the recipe's settings; None when the scan meets NaN."""
    pyhf.set_backend(recipe["backend"], optimizer)
    workspace = pyhf.Workspace(spec)
    model = workspace.model()
    low, high = recipe["brackets"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            observed, expected = toms748_scan(
                workspace.data(model), model, low, high, level=level, rtol=recipe["rtol"],
                test_stat=recipe["test_stat"], calctype=recipe["calctype"],
            )  # fmt: skip
        except ValueError:
            return None
    return np.array([float(observed), *(float(e) for e in expected)])


def _poisson_gamma_limits(spec, level):
    """CLs limits of a one-bin count by direct integration: N = Poisson(mu s + lambda), lambda ~ Gamma(mean B, sd sigma_B)."""
    channel = spec["channels"][0]
    samples = {s["name"]: s for s in channel["samples"]}
    s, b = samples["signal"]["data"][0], samples["background"]["data"][0]
    sigma = next((m["data"][0] for m in samples["background"]["modifiers"] if m["type"] == "shapesys"), 0.0)
    n_obs = spec["observations"][0]["data"][0]
    k, theta = (b / sigma) ** 2, sigma**2 / b

    def cdf(n, mean_signal):  # P(N <= n)
        return integrate.quad(
            lambda lam: stats.gamma.pdf(lam, k, scale=theta) * stats.poisson.cdf(n, mean_signal + lam), 0, b + 40 * sigma
        )[0]

    def limit(n):
        return optimize.brentq(lambda mu: cdf(n, mu * s) / cdf(n, 0.0) - level, 0.0, 100.0, xtol=1e-10)

    # background-only quantiles of N: negative binomial with the same mean and variance
    quantiles = stats.nbinom.ppf(stats.norm.cdf([-2, -1, 0, 1, 2]), k, 1.0 / (1.0 + theta))
    return np.array([limit(n_obs), *(limit(n) for n in quantiles)])


def test_recipe_is_stated_beside_the_workspaces(written):
    out, rows = written
    settings = json.loads((out / "workspaces" / "fit_settings.json").read_text())
    recipe = settings["asymptotic"]
    assert (recipe["backend"], recipe["optimizer"], recipe["test_stat"], recipe["calctype"]) == ("numpy", "minuit", "qtilde", "asymptotics")
    assert set(settings["workspaces"]) == {Path(r["workspace"]).name for r in rows}
    readme = (out / "workspaces" / "README.md").read_text()
    assert 'pyhf.set_backend("numpy", "minuit")' in readme and "level=0.1" in readme


def test_plain_pyhf_with_the_recipe_reproduces_the_table(written, restore_backend):
    out, rows = written
    settings = json.loads((out / "workspaces" / "fit_settings.json").read_text())
    checked = {"asymptotic": 0, "exact": 0}
    for row in rows:
        spec = json.loads((out / row["workspace"]).read_text())
        entry = settings["workspaces"][Path(row["workspace"]).name]
        assert entry["calculator"] == row["calculator"]
        if entry["calculator"] == "asymptotic":
            recipe = settings["asymptotic"]
            limits = _pyhf_scan(spec, recipe, entry["level"], recipe["optimizer"])
            assert limits is not None, f"{row['workspace']}: the MINUIT scan met NaN"
        else:
            limits = _poisson_gamma_limits(spec, entry["level"])
        np.testing.assert_allclose(limits, _table_mu(row), rtol=TOLERANCE, err_msg=row["workspace"])
        checked[entry["calculator"]] += 1
    assert checked == {"asymptotic": 2, "exact": 1}


def test_limit_from_workspace_applies_the_recipe(written):
    out, rows = written
    for row in rows:
        limits = limit_from_workspace(out / row["workspace"])
        assert limits["calculator"] == row["calculator"]
        np.testing.assert_allclose([limits["mu"][k] for k in LABELS], _table_mu(row), rtol=TOLERANCE)
        assert limits["coupling"]["exp"] == pytest.approx(float(row["gprime_exp"]), rel=TOLERANCE / 2)


def test_pyhf_default_slsqp_does_not_reproduce_the_table(written, restore_backend):
    """Without the recipe (pyhf's default scipy optimizer) the scan fails or misses the table on these workspaces."""
    out, rows = written
    settings = json.loads((out / "workspaces" / "fit_settings.json").read_text())
    misses = []
    for row in rows:
        if row["calculator"] != "asymptotic":
            continue
        entry = settings["workspaces"][Path(row["workspace"]).name]
        limits = _pyhf_scan(json.loads((out / row["workspace"]).read_text()), settings["asymptotic"], entry["level"], "scipy")
        if limits is None or not np.allclose(limits[3], _table_mu(row)[3], rtol=TOLERANCE):
            misses.append(row["workspace"])
    assert misses, "pyhf's default SLSQP reproduces every workspace here: the recipe test proves nothing"
