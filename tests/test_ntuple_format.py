"""Generated files follow docs/ntuple-format.md and docs/fileset.md exactly and are reproducible."""

import json

import awkward as ak
import numpy as np
import pytest
import uproot

from belle_mc.production import produce

# docs/ntuple-format.md, written out independently of core.ntuple_schema: ROOT type names as uproot reports them
EXPECTED_BRANCHES = {
    "exp": "int32_t",
    "run": "int32_t",
    "event": "int64_t",
    "nTrack": "int32_t",
    "Track_px": "float[]",
    "Track_py": "float[]",
    "Track_pz": "float[]",
    "Track_charge": "int32_t[]",
    "Track_muonID": "float[]",
    "Track_electronID": "float[]",
    "Track_dr": "float[]",
    "Track_dz": "float[]",
    "nCluster": "int32_t",
    "Cluster_E": "float[]",
    "Cluster_theta": "float[]",
    "Cluster_phi": "float[]",
}
CHANNELS = ("signal", "kkmc_mumu", "kkmc_tautau", "aafh_eemumu", "aafh_mumumumu", "aafh_mumutautau")


def test_fileset_lists_every_channel_with_its_metadata(small_sample_dir, small_fileset):
    assert {d["metadata"]["channel"] for d in small_fileset.values()} == set(CHANNELS)
    for name, entry in small_fileset.items():
        meta = entry["metadata"]
        assert meta["xsec_pb"] > 0 and meta["n_generated"] > 0
        for path, tree in entry["files"].items():
            assert tree == "events"
            assert not path.startswith("/"), "paths are relative to the JSON file"
            assert (small_sample_dir / path).exists()
    assert small_fileset["signal_mzp_2p0"]["metadata"]["mzp"] == 2.0


@pytest.mark.parametrize("channel", CHANNELS)
def test_files_hold_exactly_the_interface_branches_as_ttrees(small_sample_dir, small_fileset, channel):
    entry = next(e for e in small_fileset.values() if e["metadata"]["channel"] == channel)
    n_entries = 0
    for path in entry["files"]:
        with uproot.open(small_sample_dir / path) as f:
            assert [k.split(";")[0] for k in f.keys()] == ["events"]
            tree = f["events"]
            assert tree.classname.startswith("TTree")
            assert tree.typenames() == EXPECTED_BRANCHES
            arr = tree.arrays()
            n_entries += tree.num_entries
            assert np.all(ak.num(arr.Track_px) == arr.nTrack)
            assert np.all(ak.num(arr.Cluster_E) == arr.nCluster)
            assert np.all(arr.nTrack >= 2)  # the documented skim
            assert set(np.unique(ak.flatten(arr.Track_charge))) <= {-1, 1}
            assert ak.all((arr.Track_muonID >= 0) & (arr.Track_muonID <= 1))
            assert ak.all(arr.Cluster_E > 0)
    assert n_entries == entry["metadata"]["n_events_in_files"] <= entry["metadata"]["n_generated"]


def test_same_seed_same_events_however_split_into_files(tmp_path):
    a = produce("kkmc_tautau", 25_000, tmp_path / "a", seed=5, events_per_file=25_000, progress=False)
    b = produce("kkmc_tautau", 25_000, tmp_path / "b", seed=5, events_per_file=10_000, progress=False)
    assert len(a["files"]) == 1 and len(b["files"]) == 3

    def read(d, entry):
        return ak.concatenate([uproot.open(d / p)["events"].arrays() for p in entry["files"]])

    ea, eb = read(tmp_path / "a", a), read(tmp_path / "b", b)
    assert len(ea) == len(eb)
    assert ak.all(ea.event == eb.event)
    assert ak.all(ak.flatten(ea.Track_px) == ak.flatten(eb.Track_px))
    c = produce("kkmc_tautau", 10_000, tmp_path / "c", seed=6, progress=False)
    ec = read(tmp_path / "c", c)
    assert not ak.all(ec.Track_px[:100, 0] == ea.Track_px[:100, 0])


def test_regenerating_a_dataset_replaces_its_files_and_keeps_others(tmp_path):
    produce("kkmc_mumu", 3000, tmp_path, seed=1, events_per_file=1000, progress=False)
    produce("signal", 2000, tmp_path, mass=0.5, seed=1, progress=False)
    produce("kkmc_mumu", 2000, tmp_path, seed=2, events_per_file=2000, progress=False)
    fileset = json.loads((tmp_path / "fileset.json").read_text())
    assert set(fileset) == {"kkmc_mumu", "signal_mzp_0p5"}
    assert fileset["kkmc_mumu"]["metadata"]["n_generated"] == 2000
    assert sorted(p.name for p in tmp_path.glob("kkmc_mumu_*.root")) == ["kkmc_mumu_0000.root"]
    assert not list(tmp_path.glob("*.part"))
