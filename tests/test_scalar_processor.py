"""The leptophilic-scalar processor through ``run.py --analysis scalar`` on a small generated sample.

Checked: the pickle contract (metadata + datasets with a cutflow starting at "all",
every event counted), cutflows that only fall, histogram sums equal to counts x
weight, the signal pair-mass peak at m_phi, window counts, the feature export, and
one-line errors for a bad window table.
"""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import uproot

import run
from belle_mc.production import produce
from core.weights import event_weight
from selections.scalar_selection import CHANNEL_CLASS, PRESELECTION, RECTANGULAR_CUT, WINDOW, load_window_table
from selections.scalar_variables import BDT_FEATURES

SCALAR_TEST_SAMPLE = {
    # (channel, mass): generated events
    ("signal_ttphi", 0.1): 6_000,
    ("signal_ttphi", 1.0): 6_000,
    ("kkmc_tautau", None): 40_000,
    ("aafh_mumutautau", None): 8_000,
    ("kkmc_mumu", None): 5_000,
}


@pytest.fixture(scope="module")
def scalar_sample_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("scalar_sample")
    for (channel, mass), n in SCALAR_TEST_SAMPLE.items():
        produce(channel, n, out, mass=mass, seed=11, events_per_file=20_000, progress=False)
    return out


@pytest.fixture(scope="module")
def scalar_run(scalar_sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("scalar_run")
    pkl = out / "scalar.pkl"
    code = run.main(
        ["--analysis", "scalar", "--fileset", str(scalar_sample_dir / "fileset.json"), "--executor", "iterative",
         "--chunksize", "7000", "--output", str(pkl), "--features", str(out / "features")]
    )  # fmt: skip
    assert code == 0
    with open(pkl, "rb") as fh:
        return out, pickle.load(fh)


def test_pickle_contract_and_every_event_counted(scalar_run, scalar_sample_dir):
    out, result = scalar_run
    assert set(result) == {"metadata", "datasets"}
    assert result["metadata"]["lumi_fb"] == run.DEFAULT_LUMI_FB and result["metadata"]["skipped_files"] == []
    assert (out / "scalar_pair_mass.png").stat().st_size > 0
    fileset = json.loads((scalar_sample_dir / "fileset.json").read_text())
    for name, entry in fileset.items():
        cutflow = result["datasets"][name]["cutflow"]
        assert list(cutflow) == ["all", *PRESELECTION, *RECTANGULAR_CUT]
        entries = sum(uproot.open(scalar_sample_dir / f)["events"].num_entries for f in entry["files"])
        assert cutflow["all"] == entries
        counts = list(cutflow.values())
        assert all(a >= b for a, b in zip(counts, counts[1:])), f"{name}: cutflow rises: {cutflow}"
        for counts_m in result["datasets"][name]["cutflow_mphi"].values():
            assert counts_m[WINDOW] <= counts_m[RECTANGULAR_CUT[-1]] == cutflow[RECTANGULAR_CUT[-1]]


def test_histograms_hold_the_counted_candidates_with_their_weights(scalar_run):
    _, result = scalar_run
    meta = result["metadata"]["dataset_metadata"]
    for name, d in result["datasets"].items():
        w = event_weight(meta[name], result["metadata"]["lumi_fb"])
        assert d["pair_mass"].sum(flow=True).value == pytest.approx(d["cutflow"]["phi_candidate"] * w)
        assert d["pair_mass_selected"].sum(flow=True).value == pytest.approx(d["cutflow"][RECTANGULAR_CUT[-1]] * w)
        window = d["pair_mass_window"]
        for i, m in enumerate(window.axes[0]):
            assert window[i, :].sum(flow=True).value == pytest.approx(d["cutflow_mphi"][m][WINDOW] * w)


def test_two_muon_background_has_no_four_track_candidates_but_signal_has(scalar_run):
    _, result = scalar_run
    assert result["datasets"]["kkmc_mumu"]["cutflow"]["four_tracks"] == 0
    for name in ("signal_ttphi_mphi_0p1", "signal_ttphi_mphi_1p0"):
        assert result["datasets"][name]["cutflow"]["phi_candidate"] > 0.05 * SCALAR_TEST_SAMPLE[("signal_ttphi", 0.1)]


@pytest.mark.parametrize(("name", "mphi_gev", "flavour"), [("signal_ttphi_mphi_0p1", 0.1, "ee"), ("signal_ttphi_mphi_1p0", 1.0, "mumu")])
def test_signal_pair_mass_peaks_at_mphi(scalar_run, name, mphi_gev, flavour):
    _, result = scalar_run
    h = result["datasets"][name]["pair_mass_selected"][flavour, :]
    values = h.values()
    peak = h.axes[0].centers[np.argmax(values)]
    assert abs(peak - mphi_gev) <= h.axes[0].widths[0]  # the bin of the maximum holds m_phi
    sigma = next(w.sigma_pair_mass_gev for w in load_window_table().windows if abs(w.mphi_gev - mphi_gev) < 1e-9)
    near = np.abs(h.axes[0].centers - mphi_gev) < max(3 * sigma, h.axes[0].widths[0])
    assert values[near].sum() > 0.5 * values.sum()  # most candidates of the own flavour sit in the peak
    # the hypothesis window collects the signal of its own mass
    cut = result["datasets"][name]["cutflow_mphi"]
    assert cut[round(mphi_gev * 1000)][WINDOW] > 5 * max(v[WINDOW] for m, v in cut.items() if m != round(mphi_gev * 1000))


def test_feature_export_has_one_row_per_candidate(scalar_run):
    out, result = scalar_run
    frame = pd.concat(pd.read_parquet(f) for f in sorted((out / "features").glob("*/*.parquet")))
    for name, d in result["datasets"].items():
        rows = frame[frame["dataset"] == name]
        assert len(rows) == d["cutflow"]["phi_candidate"]
        assert rows["rectangular_cut"].sum() == d["cutflow"][RECTANGULAR_CUT[-1]]
        assert set(rows["class_label"]) <= {CHANNEL_CLASS[rows["channel"].iloc[0]]} if len(rows) else True
    assert set(BDT_FEATURES) <= set(frame.columns)
    signal = frame[frame["channel"] == "signal_ttphi"]
    assert sorted(signal["mphi_true_gev"].unique()) == [0.1, 1.0]
    assert signal["event"].between(1, signal["n_generated"].max()).all()  # generated event numbers are carried over
    assert np.all(frame["n_generated"] > 0)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "window table"), ('{"windows": []}', "no mass hypothesis"), ('{"windows": [{"mphi_gev": 1.0}]}', "keys")],
)
def test_bad_window_table_is_one_line_error(scalar_sample_dir, tmp_path, capsys, content, message):
    bad = tmp_path / "windows.json"
    bad.write_text(content)
    code = run.main(["--analysis", "scalar", "--fileset", str(scalar_sample_dir / "fileset.json"), "--window-table", str(bad),
                     "--output", str(tmp_path / "x.pkl")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and message in err and not (tmp_path / "x.pkl").exists()


def test_zprime_only_option_is_rejected_for_the_scalar_analysis(scalar_sample_dir, tmp_path, capsys):
    code = run.main(["--analysis", "scalar", "--fileset", str(scalar_sample_dir / "fileset.json"), "--cut-table",
                     str(tmp_path / "t.json"), "--output", str(tmp_path / "x.pkl")])  # fmt: skip
    assert code == 2 and "--cut-table" in capsys.readouterr().err
