"""Figures and cutflow tables of processors/plots.py on the processors' output for small generated samples.

Each search runs on a few generated channels plus a "data" dataset: copies of one background's
ROOT files under a dataset whose metadata is ``{"channel": "data"}`` (no cross section). The
luminosity is chosen so that this background's MC weight is 1, so the data histogram equals its
source's and data/MC is a number the test computes from the pickle on its own.

Checked: the data/MC ratio panel draws data / (sum of MC backgrounds) bin by bin and is absent
without data; data points carry Garwood intervals; the control-variable grid has one ratio panel per
variable with data; the efficiency vs mass is window / n_generated of each signal sample at its own
hypothesis, read from ``cutflow_hypotheses`` when present; the cutflow CSVs hold the pickle's counts
and count x weight; search_figures writes non-blank PNGs and the CSVs for the three searches.
"""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import hist
import matplotlib.image
import numpy as np
import pytest
from belle_mc.production import produce
from coffea import processor
from coffea.nanoevents import BaseSchema
from scipy import stats

from core.channels import CHANNEL_ROLES
from core.fileset import load_fileset
from core.ntuple_schema import dimuon_branches
from processors import plots
from processors.histograms import CONTROL_VARIABLES
from processors.invisible_zprime import InvisibleZPrimeProcessor
from processors.leptophilic_scalar import LeptophilicScalarProcessor, scalar_branches
from processors.visible_zprime import VisibleZPrimeProcessor

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MASS_KEY = {"zprime": "cutflow_mzp", "visible": "cutflow_mzp", "scalar": "cutflow_mphi"}
WINDOW_KEY = {"zprime": "recoil_mass_window", "visible": "mr_window", "scalar": "pair_mass_window"}
SIGNAL_CHANNELS = {"zprime": {"signal"}, "visible": {"signal_visible", "signal_visible_isr"}, "scalar": {"signal_ttphi"}}


def _with_data(sample_dir: Path, data_source: str, out_dir: Path) -> tuple[Path, float]:
    """A fileset JSON of ``sample_dir`` plus a dataset "data_run" of copies of ``data_source``'s files;
    and the luminosity (fb^-1) at which ``data_source``'s MC weight is 1."""
    fileset = json.loads((sample_dir / "fileset.json").read_text())
    for entry in fileset.values():
        entry["files"] = {str(sample_dir / f): tree for f, tree in entry["files"].items()}
    copies = {}
    for k, (f, tree) in enumerate(fileset[data_source]["files"].items()):
        target = out_dir / f"data_run_{k:04d}.root"
        shutil.copyfile(f, target)
        copies[str(target)] = tree
    fileset["data_run"] = {"files": copies, "metadata": {"channel": "data"}}
    path = out_dir / "fileset_with_data.json"
    path.write_text(json.dumps(fileset))
    meta = fileset[data_source]["metadata"]
    return path, meta["n_generated"] / (meta["xsec_pb"] * 1000.0)


def _run(fileset_path: Path, processor_instance, branches: list[str], search: str, lumi_fb: float) -> dict:
    """The processor over the fileset (read by core.fileset.load_fileset), as run.py's output dict."""
    fileset = load_fileset(fileset_path)
    for entry in fileset.values():
        entry["preload"] = branches
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False), schema=BaseSchema, chunksize=20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = runner(fileset, processor_instance=processor_instance)
    return {
        "metadata": {"lumi_fb": lumi_fb, "analysis": search, "dataset_metadata": {n: e["metadata"] for n, e in fileset.items()}},
        "datasets": out,
    }


def _produce(out: Path, requests) -> Path:
    for channel, mass, n in requests:
        produce(channel, n, out, mass=mass, seed=5, events_per_file=10_000, progress=False)
    return out


@pytest.fixture(scope="module")
def zprime_result(small_sample_dir, tmp_path_factory):
    path, lumi = _with_data(small_sample_dir, "kkmc_mumu", tmp_path_factory.mktemp("zprime_data"))
    return _run(path, InvisibleZPrimeProcessor(lumi), dimuon_branches(), "zprime", lumi)


@pytest.fixture(scope="module")
def visible_result(tmp_path_factory):
    sample = _produce(
        tmp_path_factory.mktemp("visible_sample"),
        [(ch, m, 2_000) for ch in ("signal_visible", "signal_visible_isr") for m in (1.0, 3.0)] + [("aafh_mumumumu", None, 6_000)],
    )
    path, lumi = _with_data(sample, "aafh_mumumumu", tmp_path_factory.mktemp("visible_data"))
    return _run(path, VisibleZPrimeProcessor(lumi), dimuon_branches(), "visible", lumi)


@pytest.fixture(scope="module")
def scalar_result(tmp_path_factory):
    sample = _produce(
        tmp_path_factory.mktemp("scalar_sample"),
        [("signal_ttphi", 0.5, 2_000), ("signal_ttphi", 2.0, 2_000), ("kkmc_tautau", None, 20_000), ("aafh_mumutautau", None, 4_000)],
    )
    path, lumi = _with_data(sample, "kkmc_tautau", tmp_path_factory.mktemp("scalar_data"))
    return _run(path, LeptophilicScalarProcessor(lumi), scalar_branches(), "scalar", lumi)


@pytest.fixture
def result_of(request):
    def get(search: str) -> dict:
        return request.getfixturevalue(f"{search}_result")

    return get


def _without_data(result: dict) -> dict:
    meta = result["metadata"]["dataset_metadata"]
    keep = [n for n in result["datasets"] if meta[n]["channel"] != "data"]
    return {
        "metadata": {**result["metadata"], "dataset_metadata": {n: meta[n] for n in keep}},
        "datasets": {n: result["datasets"][n] for n in keep},
    }


def _summed(result: dict, get, which: str) -> np.ndarray:
    """Sum of ``get(output)`` over the data datasets (``which="data"``) or the MC backgrounds (``"mc"``),
    told apart from the raw metadata: data has no xsec_pb, signals have a mass."""
    meta = result["metadata"]["dataset_metadata"]
    if which == "data":
        names = [n for n in result["datasets"] if "xsec_pb" not in meta[n]]
    else:
        names = [n for n in result["datasets"] if "xsec_pb" in meta[n] and "mzp" not in meta[n] and "mphi" not in meta[n]]
    assert names
    return sum(get(result["datasets"][n]) for n in names)


def _ratio_points(ax) -> tuple[np.ndarray, np.ndarray]:
    container = next(c for c in ax.containers if c.get_label() == "data/MC")
    x, y = container.lines[0].get_data()
    return np.asarray(x), np.asarray(y)


def _assert_ratio_panel(ax, data: np.ndarray, mc: np.ndarray, edges: np.ndarray) -> None:
    x, y = _ratio_points(ax)
    drawn = (mc > 0) & ((data > 0) | (mc >= 1))
    assert drawn.sum() > 3
    np.testing.assert_allclose(x, 0.5 * (edges[1:] + edges[:-1])[drawn])
    np.testing.assert_allclose(y, data[drawn] / mc[drawn], rtol=1e-12)


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)[..., :3]
    assert (image < 0.9).any(axis=-1).mean() > 0.01, f"{path.name} is (nearly) blank"


# --- the data sample ----------------------------------------------------------------------------


def test_data_dataset_has_unit_weight_and_its_source_events(zprime_result):
    meta = zprime_result["metadata"]["dataset_metadata"]
    assert meta["data_run"] == {"channel": "data"}
    data, source = zprime_result["datasets"]["data_run"], zprime_result["datasets"]["kkmc_mumu"]
    assert data["cutflow"] == source["cutflow"]
    # the luminosity makes the source's weight 1: data and its source fill identical histograms
    np.testing.assert_allclose(data["recoil_mass2"].values(), source["recoil_mass2"].values(), rtol=1e-9)
    np.testing.assert_array_equal(data["recoil_mass2"].values(), data["recoil_mass2"].variances())


# --- stacked MC with data and ratio panel -------------------------------------------------------


def test_stack_with_data_has_a_ratio_panel_of_data_over_mc(zprime_result):
    fig = plots.stack_figure(zprime_result, "recoil_mass2", rebin=2)
    try:
        assert len(fig.axes) == 2
        main, ratio = fig.axes

        def rebinned(out):
            return out["recoil_mass2"].values().reshape(-1, 2).sum(axis=1)

        data, mc = _summed(zprime_result, rebinned, "data"), _summed(zprime_result, rebinned, "mc")
        edges = zprime_result["datasets"]["data_run"]["recoil_mass2"].axes[0].edges[::2]
        _assert_ratio_panel(ratio, data, mc, edges)
        # the MC holds more than the data's source, so data/MC < 1 wherever another background fills the bin
        _, y = _ratio_points(ratio)
        assert (y <= 1 + 1e-12).all() and (y < 0.99).any()
        # main panel: data points at the counts of the non-empty bins, with Garwood intervals
        points = next(c for c in main.containers if c.get_label() != "data/MC")
        _, py = points.lines[0].get_data()
        np.testing.assert_allclose(py, data[data > 0])
        segments = points.lines[2][0].get_segments()
        low, high = plots.poisson_interval(data[data > 0])
        np.testing.assert_allclose([s[0][1] for s in segments], low, rtol=1e-9)
        np.testing.assert_allclose([s[1][1] for s in segments], high, rtol=1e-9)
    finally:
        fig.clf()


def test_stack_without_data_has_one_panel(zprime_result):
    fig = plots.stack_figure(_without_data(zprime_result), "recoil_mass2")
    try:
        assert len(fig.axes) == 1
        assert not any(c.get_label() == "data/MC" for c in fig.axes[0].containers)
    finally:
        fig.clf()


def test_stack_orders_backgrounds_by_yield_and_labels_every_channel(zprime_result):
    inputs = plots.stack_inputs(
        zprime_result["datasets"], zprime_result["metadata"]["dataset_metadata"], plots.histogram_getter("recoil_mass2"), "zprime"
    )
    yields = [h.values().sum() for h in inputs.backgrounds.values()]
    assert yields == sorted(yields) and len(yields) == 5
    assert set(plots.CHANNEL_STYLES) == set(CHANNEL_ROLES)  # one label and colour per registered channel
    assert len({s.label for s in plots.CHANNEL_STYLES.values()}) == len(plots.CHANNEL_STYLES)


def test_garwood_intervals():
    """Central 68.27% Poisson interval of n: P(X >= n | low) = P(X <= n | high) = 15.87%; low = 0 for n = 0."""
    counts = np.array([0, 1, 4, 10, 250])
    low, high = plots.poisson_interval(counts)
    tail = (1 - plots.ONE_SIGMA) / 2
    assert low[0] == 0.0 and high[0] == pytest.approx(-np.log(tail))
    np.testing.assert_allclose(stats.poisson.sf(counts[1:] - 1, low[1:]), tail, rtol=1e-9)
    np.testing.assert_allclose(stats.poisson.cdf(counts, high), tail, rtol=1e-9)
    np.testing.assert_allclose(low[1:4], [0.17275, 2.08566, 6.89131], rtol=1e-4)  # PDG table values


# --- control variables --------------------------------------------------------------------------


def test_control_grid_has_a_ratio_panel_per_variable(zprime_result):
    fig = plots.control_figure(zprime_result, "preselection")
    try:
        variables = list(CONTROL_VARIABLES)
        assert len(fig.axes) == 2 * len(variables)
        for k, variable in enumerate(variables):
            main, ratio = fig.axes[2 * k], fig.axes[2 * k + 1]
            assert main.get_xlabel() == "" and ratio.get_xlabel() == CONTROL_VARIABLES[variable][3]
            def values(out, variable=variable):
                return out["control_preselection"][variable].values()

            data, mc = _summed(zprime_result, values, "data"), _summed(zprime_result, values, "mc")
            edges = zprime_result["datasets"]["data_run"]["control_preselection"][variable].axes[0].edges
            _assert_ratio_panel(ratio, data, mc, edges)
    finally:
        fig.clf()


def test_control_grid_after_the_selection_without_data(zprime_result):
    fig = plots.control_figure(_without_data(zprime_result), "selected", mzp_gev=2.0)
    try:
        assert len(fig.axes) == len(CONTROL_VARIABLES)
        # the 2 GeV signal is the only overlay, drawn at g'^2 times its selected histogram
        selected = zprime_result["datasets"]["signal_mzp_2p0"]["control_selected"]["m_mumu"][{"mzp_mev": hist.loc(2000)}]
        ax = fig.axes[list(CONTROL_VARIABLES).index("m_mumu")]
        lines = [p for p in ax.patches if getattr(p, "get_data", None) and not p.get_fill()]
        drawn = [p.get_data().values for p in lines if p.get_linewidth() == 2]
        assert len(drawn) == 1
        np.testing.assert_allclose(drawn[0], selected.values() * plots.SIGNAL_COUPLING**2)
    finally:
        fig.clf()


# --- signal efficiency vs mass --------------------------------------------------------------------


@pytest.mark.parametrize("search", ["zprime", "visible", "scalar"])
def test_efficiency_is_window_over_generated_at_own_mass(search, result_of):
    result = result_of(search)
    meta = result["metadata"]["dataset_metadata"]
    expected = {}
    for name, out in result["datasets"].items():
        if meta[name]["channel"] in SIGNAL_CHANNELS[search]:
            mass = meta[name].get("mzp", meta[name].get("mphi"))
            window = out[MASS_KEY[search]][round(1000 * mass)][WINDOW_KEY[search]]
            expected[(meta[name]["channel"], mass)] = window / meta[name]["n_generated"]
    points = plots.signal_efficiencies(result)
    got = {(p.channel, p.mass_gev): p.efficiency for curve in points.values() for p in curve}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12)
        assert 0 < value < 1
    for curve in points.values():
        for p in curve:
            low, high = p.interval
            assert low < p.efficiency < high
            # Clopper-Pearson is wider than the normal approximation sqrt(eps (1 - eps) / n)
            assert high - low > 2 * np.sqrt(p.efficiency * (1 - p.efficiency) / p.generated) * 0.99
    fig = plots.efficiency_figure(result)
    try:
        ax = fig.axes[0]
        for container, (channel, curve) in zip(ax.containers, points.items()):
            assert container.get_label() == plots.CHANNEL_STYLES[channel].label
            x, y = container.lines[0].get_data()
            np.testing.assert_allclose(x, [p.mass_gev for p in curve])
            np.testing.assert_allclose(y, [expected[(channel, p.mass_gev)] for p in curve])
    finally:
        fig.clf()


def test_visible_efficiency_has_both_signal_curves_over_mass(visible_result):
    points = plots.signal_efficiencies(visible_result)
    assert list(points) == ["signal_visible", "signal_visible_isr"]
    assert all([p.mass_gev for p in curve] == [1.0, 3.0] for curve in points.values())


def test_clopper_pearson_edges():
    assert plots.clopper_pearson(0, 100) == (0.0, pytest.approx(1 - ((1 - plots.ONE_SIGMA) / 2) ** (1 / 100)))
    assert plots.clopper_pearson(100, 100) == (pytest.approx(((1 - plots.ONE_SIGMA) / 2) ** (1 / 100)), 1.0)


def test_common_hypothesis_cutflow_is_preferred(visible_result):
    """With ``cutflow_hypotheses`` (old stages + "window") and without the old key, the same numbers come out."""
    renamed = {"metadata": visible_result["metadata"], "datasets": {}}
    for name, out in visible_result["datasets"].items():
        new = {k: v for k, v in out.items() if k != "cutflow_mzp"}
        new["cutflow_hypotheses"] = {m: {**stages, "window": stages["mr_window"]} for m, stages in out["cutflow_mzp"].items()}
        renamed["datasets"][name] = new
    before = plots.signal_efficiencies(visible_result)
    after = plots.signal_efficiencies(renamed)
    assert after == before
    # "window" is what is read when both are there
    for new in renamed["datasets"].values():
        for stages in new["cutflow_hypotheses"].values():
            stages["mr_window"] = -1
    assert plots.signal_efficiencies(renamed) == before


# --- cutflow CSV --------------------------------------------------------------------------------


@pytest.mark.parametrize("search", ["zprime", "visible", "scalar"])
def test_cutflow_csv_holds_the_pickles_counts(search, result_of, tmp_path):
    result = result_of(search)
    meta = result["metadata"]["dataset_metadata"]
    lumi = result["metadata"]["lumi_fb"]
    per_dataset, per_hypothesis = plots.write_cutflow_csv(result, tmp_path / "cutflow.csv")
    assert per_hypothesis == tmp_path / "cutflow_hypotheses.csv"

    def weight(name):
        m = meta[name]
        return m["xsec_pb"] * lumi * 1000.0 / m["n_generated"] if "xsec_pb" in m else 1.0

    with open(per_dataset, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["dataset"] for r in rows) == sorted(result["datasets"])
    for row in rows:
        flow = result["datasets"][row["dataset"]]["cutflow"]
        assert row["channel"] == meta[row["dataset"]]["channel"]
        assert [int(row[stage]) for stage in flow] == list(flow.values())
        for stage, count in flow.items():
            assert float(row[f"expected:{stage}"]) == pytest.approx(count * weight(row["dataset"]), rel=1e-9)
    assert next(r for r in rows if r["dataset"] == "data_run")["weight"] == "1"

    with open(per_hypothesis, newline="") as fh:
        rows = list(csv.DictReader(fh))
    hypotheses = result["datasets"]["data_run"]["cutflow_hypotheses"]
    assert len(rows) == len(hypotheses) * len(result["datasets"])
    for row in rows:
        flow = result["datasets"][row["dataset"]]["cutflow_hypotheses"][int(row["mass_mev"])]
        assert [int(row[stage]) for stage in flow] == list(flow.values())
        assert float(row["expected:window"]) == pytest.approx(flow["window"] * weight(row["dataset"]), rel=1e-9)


# --- every output of a search ---------------------------------------------------------------------

EXPECTED_FILES = {
    "zprime": {"recoil_mass2.png", "control_preselection.png", "control_selected.png"},
    "visible": {"mr.png"},
    "scalar": {"pair_mass.png"},
}
COMMON_FILES = {"signal_efficiency.png", "cutflow.csv", "cutflow_hypotheses.csv"}
DATA_FILES = {"zprime": set(), "visible": {"mr_all_pairs_data.png", "e_total_cms_data.png"}, "scalar": set()}


@pytest.mark.parametrize("with_data", [True, False], ids=["data", "mc_only"])
@pytest.mark.parametrize("search", ["zprime", "visible", "scalar"])
def test_search_figures_writes_every_output(search, with_data, result_of, tmp_path, monkeypatch):
    result = result_of(search) if with_data else _without_data(result_of(search))
    axes_of = {}
    save = plots._save

    def recording_save(fig, path, **kwargs):
        axes_of[Path(path).name] = len(fig.axes)
        return save(fig, path, **kwargs)

    monkeypatch.setattr(plots, "_save", recording_save)
    stem = tmp_path / "out"
    written = plots.search_figures(result, stem, search)
    names = {p.name.removeprefix("out_") for p in written}
    assert names == EXPECTED_FILES[search] | COMMON_FILES | (DATA_FILES[search] if with_data else set())
    for path in written:
        assert path.parent == tmp_path and path.stat().st_size > 0
        if path.suffix == ".png":
            _assert_png(path)
    # main figures: a ratio panel under every distribution when data are present
    ratio = 1 if with_data else 0
    if search == "zprime":
        assert axes_of["out_recoil_mass2.png"] == 2 * (1 + ratio) + 1  # two distributions and the cutflow table
        assert axes_of["out_control_selected.png"] == len(CONTROL_VARIABLES) * (1 + ratio)
    if search == "scalar":
        assert axes_of["out_pair_mass.png"] == 2 * (1 + ratio)
    for name in DATA_FILES[search] if with_data else ():
        assert axes_of[f"out_{name}"] == 2


def test_existing_figure_functions_keep_their_signatures(zprime_result, visible_result, scalar_result, tmp_path):
    for function, result in (
        (plots.plot_recoil_mass, zprime_result),
        (plots.plot_reduced_mass, visible_result),
        (plots.plot_pair_mass, scalar_result),
    ):
        path = function(result["datasets"], result["metadata"]["dataset_metadata"], result["metadata"]["lumi_fb"], tmp_path / f"{function.__name__}.png")
        assert path == tmp_path / f"{function.__name__}.png"
        _assert_png(path)
