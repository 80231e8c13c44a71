"""run.py end to end on a small generated sample, and its errors on bad input."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from processors.compare import differences

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run_output(small_sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out.pkl"
    res = run("--fileset", str(small_sample_dir / "fileset.json"), "--executor", "iterative", "--chunksize", "3000", "--output", str(out))
    assert res.returncode == 0, res.stderr
    return out, res


@pytest.fixture(scope="module")
def result(run_output):
    with open(run_output[0], "rb") as fh:
        return pickle.load(fh)


def test_figure_and_summary_are_written(run_output, result):
    out, res = run_output
    figure = out.with_name("out_recoil_mass2.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 20_000
    assert "Per mass window" in res.stdout and "eff. signal" in res.stdout
    # the configuration that made the histograms travels with them
    table = result["metadata"]["cut_table"]
    assert [h["mzp_gev"] for h in table["hypotheses"]][:3] == [0.1, 0.25, 0.5]


def test_no_figures_writes_the_same_pickle_and_tables_without_images(run_output, result, small_sample_dir, tmp_path):
    out = tmp_path / "out.pkl"
    res = run("--fileset", str(small_sample_dir / "fileset.json"), "--executor", "iterative", "--chunksize", "3000",
              "--output", str(out), "--no-figures")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pkl", "out_cutflow.csv", "out_cutflow_hypotheses.csv"]
    assert out.with_name("out_cutflow.csv").read_text() == run_output[0].with_name("out_cutflow.csv").read_text()
    with open(out, "rb") as fh:
        again = pickle.load(fh)
    assert differences(again, result) == []
    assert "Per mass window" in res.stdout


def test_every_event_in_the_files_is_counted(result, small_sample_dir, small_fileset):
    for name, entry in small_fileset.items():
        entries = sum(uproot.open(small_sample_dir / p)["events"].num_entries for p in entry["files"])
        assert result["datasets"][name]["cutflow"]["all"] == entries


def test_histogram_counts_match_cutflow_and_weights_normalise_to_lumi(result, small_fileset):
    lumi = result["metadata"]["lumi_fb"]
    assert result["metadata"]["skipped_files"] == []
    for name, out in result["datasets"].items():
        meta = small_fileset[name]["metadata"]
        h = out["recoil_mass2"]
        assert h.axes[0].name == "mrecoil2"
        w = meta["xsec_pb"] * lumi * 1000 / meta["n_generated"]
        total = h.sum(flow=True)
        assert total.value / w == pytest.approx(out["cutflow"]["two_muon_id"], rel=1e-9)
        assert total.variance == pytest.approx(out["cutflow"]["two_muon_id"] * w * w, rel=1e-9)


def test_signal_recoil_peak_is_at_the_zprime_mass(result):
    h = result["datasets"]["signal_mzp_2p0"]["recoil_mass2"]
    centers = h.axes[0].centers
    assert centers[np.argmax(h.values())] == pytest.approx(4.0, abs=0.5)


def _copy_fileset(src_dir, dst, mutate):
    fileset = json.loads((src_dir / "fileset.json").read_text())
    entry = fileset["signal_mzp_2p0"]
    entry["files"] = {str(src_dir / p): t for p, t in entry["files"].items()}
    fs = {"signal_mzp_2p0": entry}
    mutate(fs, dst)
    path = dst / "fileset.json"
    path.write_text(json.dumps(fs))
    return path


def _with_file(fs, dst, make):
    path = dst / "bad.root"
    make(path)
    fs["signal_mzp_2p0"]["files"][str(path)] = "events"


def _write_tree(path, branches):
    with uproot.recreate(path) as f:
        f.mktree("events", {k: v.dtype for k, v in branches.items()}).extend(branches)


BAD_INPUTS = {
    "missing file": (lambda fs, d: fs["signal_mzp_2p0"]["files"].update({str(d / "nope.root"): "events"}), "nope.root"),
    "corrupt file": (lambda fs, d: _with_file(fs, d, lambda p: p.write_bytes(b"root" * 100)), "bad.root"),
    "truncated file": (
        lambda fs, d: _with_file(fs, d, lambda p: p.write_bytes(Path(next(iter(fs["signal_mzp_2p0"]["files"]))).read_bytes()[:5000])),
        "bad.root",
    ),
    "wrong tree": (lambda fs, d: fs["signal_mzp_2p0"]["files"].update({k: "variables" for k in fs["signal_mzp_2p0"]["files"]}), "variables"),
    "missing branch": (lambda fs, d: _with_file(fs, d, lambda p: _write_tree(p, {"exp": np.zeros(3, np.int32)})), "run"),
    "unknown channel": (lambda fs, d: fs["signal_mzp_2p0"]["metadata"].update({"channel": "bhabha"}), "bhabha"),
    "empty tree": (lambda fs, d: _with_file(fs, d, _write_empty_ntuple), "no entries"),
    "RNTuple instead of TTree": (lambda fs, d: _with_file(fs, d, _write_rntuple), "not a TTree"),
    "wrong branch type": (
        lambda fs, d: _with_file(fs, d, lambda p: _write_float_event_ntuple(p, next(iter(fs["signal_mzp_2p0"]["files"])))),
        "'event'",
    ),
}


def _write_empty_ntuple(path):
    """A file in the ntuple format whose tree has every branch and no entry."""
    from belle_mc.ntuple import NtupleWriter

    NtupleWriter(path).close()


def _write_rntuple(path):
    with uproot.recreate(path) as f:
        f["events"] = {"nTrack": np.zeros(3, np.int32)}  # uproot 5.7 writes an RNTuple here


def _write_float_event_ntuple(path, source):
    """The events of a real ntuple rewritten with the ``event`` branch as float64 instead of int64."""
    arrays = uproot.open(source)["events"].arrays()
    data = {name: arrays[name] for name in ("exp", "run")}
    data["event"] = np.asarray(arrays["event"], dtype=np.float64)
    for collection in ("Track", "Cluster"):
        prefix = f"{collection}_"
        data[collection] = ak.zip({f[len(prefix) :]: arrays[f] for f in arrays.fields if f.startswith(prefix)})
    with uproot.recreate(path) as f:  # a TTree (uproot's default is RNTuple), counters nTrack, fields Track_px, ...
        f.mktree("events", {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}).extend(data)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_stops_with_one_line_naming_it(small_sample_dir, tmp_path, case):
    mutate, needle = BAD_INPUTS[case]
    path = _copy_fileset(small_sample_dir, tmp_path, mutate)
    res = run("--fileset", str(path), "--executor", "iterative", "--output", str(tmp_path / "o.pkl"))
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("run.py: error:") and needle in last, res.stderr[-2000:]
    assert not (tmp_path / "o.pkl").exists()


def test_skip_bad_files_completes_and_records_them(small_sample_dir, tmp_path):
    mutate, _ = BAD_INPUTS["corrupt file"]
    path = _copy_fileset(small_sample_dir, tmp_path, mutate)
    res = run("--fileset", str(path), "--executor", "iterative", "--skip-bad-files", "--output", str(tmp_path / "o.pkl"), "--no-figures")
    assert res.returncode == 0, res.stderr
    out = pickle.loads((tmp_path / "o.pkl").read_bytes())
    assert [Path(p).name for p in out["metadata"]["skipped_files"]] == ["bad.root"]


@pytest.mark.parametrize("args", [["--chunksize", "0"], ["--lumi", "-3"], ["--executor", "spark"], ["--workers", "two"]])
def test_nonsense_options_are_rejected(args):
    res = run(*args)
    assert res.returncode == 2
    assert "error" in res.stderr.strip().splitlines()[-1]


def test_analysis_switch_defaults_to_the_zprime_analysis_and_its_output():
    import run as run_module

    args = run_module.build_parser().parse_args([])
    assert args.analysis == "zprime" and run_module.output_path(args) == run_module.RESULTS / "zprime_invisible.pkl"
    args = run_module.build_parser().parse_args(["--analysis", "scalar"])
    assert run_module.output_path(args) == run_module.RESULTS / "scalar.pkl"
    args = run_module.build_parser().parse_args(["--analysis", "visible"])
    assert run_module.output_path(args) == run_module.RESULTS / "visible_zprime.pkl"
    res = run("--analysis", "higgs")
    assert res.returncode == 2 and "--analysis" in res.stderr


def test_scalar_only_option_is_rejected_for_the_zprime_analysis(small_sample_dir, tmp_path):
    res = run("--fileset", str(small_sample_dir / "fileset.json"), "--window-table", str(tmp_path / "w.json"),
              "--output", str(tmp_path / "o.pkl"))  # fmt: skip
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1].startswith("run.py: error: --window-table")


def test_a_new_run_replaces_the_feature_files_of_an_earlier_one(small_sample_dir, tmp_path):
    """Two runs with other chunk boundaries into one --features directory: the second holds its own chunks only,
    every preselected event once (the study reruns into its own directory)."""
    from sensitivity.features import load_features

    features, out = tmp_path / "features", tmp_path / "out.pkl"
    fileset = str(small_sample_dir / "fileset.json")
    for chunksize in ("4000", "7000"):
        res = run("--fileset", fileset, "--executor", "iterative", "--chunksize", chunksize, "--features", str(features),
                  "--output", str(out), "--no-figures")  # fmt: skip
        assert res.returncode == 0, res.stderr
    table = load_features(features, required=("event",))
    with open(out, "rb") as fh:
        result = pickle.load(fh)
    for name, output in result["datasets"].items():
        rows = table[table["dataset"] == name]
        assert len(rows) == output["cutflow"]["two_muon_id"] and rows["event"].is_unique
    assert "removed" in res.stderr and "feature files of an earlier run" in res.stderr
