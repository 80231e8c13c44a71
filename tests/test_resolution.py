"""The one resolution tool: its width definition, and the widths it measures from the processor's export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.fileset import load_fileset
from execution.runner import ExecutionOptions, run_processor
from processors.searches import SEARCHES
from sensitivity import resolution
from sensitivity.features import load_features


def test_robust_sigma_is_the_gaussian_sigma_and_ignores_combinatorics():
    rng = np.random.default_rng(3)
    core = rng.normal(2.0, 0.05, 200_000)
    assert resolution.robust_sigma(core) == pytest.approx(0.05, rel=0.01)
    # 43% of the candidates flat over +-1 GeV (wrong pairings, as in the scalar search at low mass):
    # the robust width doubles, half the central 68% interval grows fivefold
    mixed = np.concatenate([core, rng.uniform(1.0, 3.0, 150_000)])
    assert resolution.robust_sigma(mixed) < 2.2 * 0.05
    q16, q84 = np.percentile(mixed, [16, 84])
    assert 0.5 * (q84 - q16) > 4 * 0.05
    assert np.isnan(resolution.robust_sigma(np.array([np.nan])))


@pytest.fixture(scope="module")
def zprime_features(small_sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("resolution")
    search = SEARCHES["zprime"]
    fileset = load_fileset(small_sample_dir / "fileset.json", search.channels)
    processor = search.make_processor(626.0, search.load_table(None), out / "features")
    run_processor(fileset, processor, list(search.branches), ExecutionOptions(executor="iterative", chunksize=20_000), out / "chunks", {})
    return load_features(out / "features"), {n: e["metadata"] for n, e in fileset.items()}


def test_recoil_mass2_width_of_the_exported_signal_matches_the_table(zprime_features):
    features, metadata = zprime_features
    (point,) = resolution.measure(features, metadata, "zprime")  # the small sample has one signal mass, 2 GeV
    assert point.mass_gev == 2.0 and point.n_events > 5_000
    assert point.median == pytest.approx(4.0, abs=0.05)  # the recoil M^2 peaks at m_Z'^2
    table = json.loads(SEARCHES["zprime"].table.default.read_text())
    # the table was measured on a larger sample as half the 16-84% interval: within 10%
    assert point.sigma == pytest.approx(resolution.table_sigma(table, "zprime", 2.0), rel=0.10)


def test_writing_sets_every_row_interpolating_between_measured_masses():
    table = {"window_n_sigma": 3.0, "windows": [{"mphi_gev": m, "sigma_pair_mass_gev": 1.0} for m in (0.1, 0.5, 1.0, 2.0)]}
    points = [resolution.ResolutionPoint(0.5, 0.5, 0.004, 100), resolution.ResolutionPoint(1.0, 1.0, 0.006, 100)]
    new = resolution.updated_table(table, "scalar", points)
    assert [w["sigma_pair_mass_gev"] for w in new["windows"]] == [0.004, 0.004, 0.006, 0.006]
    assert new["window_n_sigma"] == 3.0 and table["windows"][0]["sigma_pair_mass_gev"] == 1.0
    with pytest.raises(ValueError, match="nothing to write"):
        resolution.updated_table(table, "scalar", [])
