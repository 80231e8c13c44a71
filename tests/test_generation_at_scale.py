"""Generation at pool scale (issue 14): tasks on coffea's executors give the same sample anywhere;
the Pythia channels convert their events without a Python loop per particle, to the same particles."""

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from belle_mc.catalog import ensure_default_sample
from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate
from belle_mc.production import (
    BLOCK_SIZE,
    INTEGRATION_POINTS,
    TASK_MAX_UNALIGNED_EVENTS,
    GenerationError,
    GenerationTask,
    plan_tasks,
    produce,
    receipt_directory,
    receipt_path,
    run_task,
)
from belle_mc.pythia_channels import final_state_particles

SCRIPT = Path(__file__).resolve().parents[1] / "datasets" / "generate.py"
CHANNEL = "kkmc_mumu"
# 3 files of 50k in 2 tasks: [0, 100k) (files 0 and 1, block 0) and [100k, 150k) (file 2, block 1)
SAMPLE = ["--channel", CHANNEL, "--events", "150000", "--events-per-file", "50000", "--seed", "11", "--quiet"]


def generate(output: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *SAMPLE, "--output", str(output), *extra]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)


def sample(directory: Path) -> tuple[dict, list[str], ak.Array]:
    """(metadata, file names, all events) of the one dataset in ``directory``."""
    fileset = json.loads((directory / "fileset.json").read_text())
    assert list(fileset) == [CHANNEL]
    files = list(fileset[CHANNEL]["files"])
    events = ak.concatenate([uproot.open(directory / f)["events"].arrays() for f in files])
    return fileset[CHANNEL]["metadata"], files, events


@pytest.fixture(scope="module")
def in_process_sample(tmp_path_factory) -> tuple[dict, list[str], ak.Array]:
    """The sample made by ``generate.py`` without executor options (the tasks one after the other)."""
    out = tmp_path_factory.mktemp("in_process")
    res = generate(out)
    assert res.returncode == 0, res.stderr
    return sample(out)


def test_same_sample_in_process_and_on_iterative_futures_and_dask(tmp_path, in_process_sample):
    runs = {
        "iterative": ("--executor", "iterative"),
        "futures": ("--executor", "futures", "--workers", "2"),
        "dask": ("--executor", "dask", "--workers", "2", "--cluster", "local"),
    }
    samples = {}
    for name, extra in runs.items():
        res = generate(tmp_path / name, *extra)
        assert res.returncode == 0, f"{name}: {res.stderr}"
        samples[name] = sample(tmp_path / name)
    meta, files, events = in_process_sample
    assert files == [f"{CHANNEL}_{k:04d}.root" for k in range(3)]
    assert meta["n_generated"] == 150_000 and meta["n_events_in_files"] == len(events) > 0
    assert np.all(np.diff(events.event.to_numpy()) > 0)
    for name, (other_meta, other_files, other_events) in samples.items():
        assert other_meta == meta, name
        assert other_files == files, name
        for field in events.fields:
            assert ak.all(other_events[field] == events[field], axis=None), f"{name}: branch {field} differs"


def test_a_task_starting_inside_a_block_writes_the_same_file(tmp_path):
    """Block seeds alone fix the events: a task that regenerates a shared block gives the file of a whole run."""
    whole = produce(CHANNEL, 130_000, tmp_path / "whole", seed=5, events_per_file=65_000, progress=False)
    assert list(whole["files"]) == [f"{CHANNEL}_0000.root", f"{CHANNEL}_0001.root"]
    process = CHANNELS[CHANNEL].make_process(None)
    task = GenerationTask(CHANNEL, None, CHANNEL, 5, 130_000, 65_000, 65_000, 65_000, str(tmp_path / "part"))
    assert list(task.blocks) == [0, 1] and list(task.file_indices) == [1]
    (tmp_path / "part").mkdir()
    result = run_task(task, process, integrate(process, INTEGRATION_POINTS))
    assert result.error is None
    assert [(k, name) for k, name, _ in result.files] == [(1, f"{CHANNEL}_0001.root")]
    expected = uproot.open(tmp_path / "whole" / f"{CHANNEL}_0001.root")["events"].arrays()
    got = uproot.open(tmp_path / "part" / f"{CHANNEL}_0001.root")["events"].arrays()
    assert result.files[0][2] == len(got) == len(expected) > 0
    assert ak.to_list(got) == ak.to_list(expected)


@pytest.mark.parametrize(
    "n_events,per_file,cuts",
    [
        (2_500_000, 1_000_000, [0, 1_000_000, 2_000_000]),  # one task per file
        (250_000, 100_000, [0, 100_000, 200_000]),
        (150_000, 50_000, [0, 100_000]),  # small files grouped up to a block boundary
        (900_000, 150_000, [0, 300_000, 600_000]),  # 150k files meet block boundaries every 300k
        (5, 1_000_000, [0]),
    ],
)
def test_tasks_are_whole_files_cut_at_block_boundaries(tmp_path, n_events, per_file, cuts):
    tasks = plan_tasks(CHANNEL, n_events, tmp_path, seed=3, events_per_file=per_file)
    assert [t.first_event for t in tasks] == cuts
    assert [t.first_event + t.n_events for t in tasks] == [*cuts[1:], n_events]
    assert all(t.first_event % per_file == 0 and t.n_total == n_events and t.seed == 3 for t in tasks)
    assert sorted(k for t in tasks for k in t.file_indices) == list(range(-(-n_events // per_file)))


def test_files_that_never_meet_a_block_boundary_are_cut_every_ten_blocks(tmp_path):
    per_file = 123_457
    tasks = plan_tasks(CHANNEL, 30 * per_file, tmp_path, events_per_file=per_file)
    assert len(tasks) > 1
    for t in tasks[:-1]:
        assert TASK_MAX_UNALIGNED_EVENTS <= t.n_events < TASK_MAX_UNALIGNED_EVENTS + per_file
    assert sum(t.n_events for t in tasks) == 30 * per_file
    assert sum(len(t.blocks) for t in tasks) <= 1.1 * -(-30 * per_file // BLOCK_SIZE) + 1


@pytest.mark.parametrize("extra", [(), ("--executor", "futures", "--workers", "2")])
def test_a_failed_task_fails_the_run_in_one_line_and_resume_makes_only_the_rest(tmp_path, extra, in_process_sample):
    out = tmp_path / "out"
    out.mkdir()
    obstacle = out / f"{CHANNEL}_0002.root.part"
    obstacle.mkdir()  # file 2 (block 1, the second task) cannot be written
    res = generate(out, *extra)
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("generate.py: error: kkmc_mumu: block 1 (generated events 100001-150000)")
    assert f"{CHANNEL}_0002.root" in last and "IsADirectoryError" in last
    assert last.endswith("1 of 2 tasks done, --resume makes the rest")
    assert "Traceback" not in res.stderr
    assert not (out / "fileset.json").exists()
    # the first task's files stay for --resume; nothing of the failed one
    assert sorted(f.name for f in out.glob("*.root")) == [f"{CHANNEL}_0000.root", f"{CHANNEL}_0001.root"]
    first = (out / f"{CHANNEL}_0000.root").stat()

    obstacle.rmdir()
    res = generate(out, "--resume", *extra)
    assert res.returncode == 0, res.stderr
    again = (out / f"{CHANNEL}_0000.root").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # not made again
    assert not (out / f".{CHANNEL}.tasks").exists()
    meta, files, events = sample(out)
    fresh_meta, fresh_files, fresh_events = in_process_sample
    assert (meta, files) == (fresh_meta, fresh_files)
    assert ak.to_list(events) == ak.to_list(fresh_events)


def test_an_interrupted_sample_is_completed_without_remaking_its_finished_tasks(tmp_path):
    """``ensure_default_sample`` (make_filtered_sample.py, run.py's default data) resumes: a production of hours
    that was stopped keeps the files of its finished tasks."""
    slices = {"kkmc_tautau_mu_mu": (150_000, 50_000)}  # tasks [0, 100k) and [100k, 150k)
    obstacle = tmp_path / "kkmc_tautau_mu_mu_0002.root.part"
    obstacle.mkdir(parents=True)
    with pytest.raises(GenerationError, match="1 of 2 tasks done"):
        ensure_default_sample(tmp_path, progress=False, requests=[], seed=3, slices=slices)
    first = (tmp_path / "kkmc_tautau_mu_mu_0000.root").stat()
    obstacle.rmdir()
    path = ensure_default_sample(tmp_path, progress=False, requests=[], seed=3, slices=slices)
    again = (tmp_path / "kkmc_tautau_mu_mu_0000.root").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # not made again
    entry = json.loads(path.read_text())["kkmc_tautau_mu_mu"]
    reference = produce("kkmc_tautau", 150_000, tmp_path / "ref", seed=3, events_per_file=50_000, progress=False,
                        generator_slice="kkmc_tautau_mu_mu")  # fmt: skip
    assert (entry["metadata"], list(entry["files"])) == (reference["metadata"], list(reference["files"]))
    for name in entry["files"]:
        got = uproot.open(tmp_path / name)["events"].arrays()
        assert ak.to_list(got) == ak.to_list(uproot.open(tmp_path / "ref" / name)["events"].arrays())


def _hold(path: Path):
    """An exclusive flock on ``path``, as another production would hold it (released on close)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")  # noqa: SIM115
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_a_second_production_of_a_dataset_in_the_same_directory_is_refused(tmp_path):
    with _hold(receipt_directory(tmp_path, CHANNEL) / "production.lock"):
        with pytest.raises(GenerationError, match=rf"{CHANNEL} in {tmp_path} is being made by another process"):
            produce(CHANNEL, 150_000, tmp_path, seed=11, events_per_file=50_000, progress=False)
    assert not list(tmp_path.glob("*.root"))
    produce(CHANNEL, 150_000, tmp_path, seed=11, events_per_file=50_000, progress=False)  # released: it runs
    assert len(list(tmp_path.glob("*.root"))) == 3


def test_a_task_still_written_by_a_stopped_productions_worker_is_not_made_twice(tmp_path, in_process_sample):
    """A worker of a killed production may go on writing its task's files: the new production's task fails
    in one line instead of writing the same files at the same time, and --resume makes it once the lock is free."""
    out = tmp_path / "out"
    second_task = plan_tasks(CHANNEL, 150_000, out, seed=11, events_per_file=50_000)[1]
    with _hold(receipt_path(second_task).with_suffix(".lock")):
        res = generate(out)
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert "the task of generated events 100001-150000 is being made by another process" in last
    assert last.endswith("1 of 2 tasks done, --resume makes the rest")
    assert sorted(f.name for f in out.glob("*.root")) == [f"{CHANNEL}_0000.root", f"{CHANNEL}_0001.root"]
    assert generate(out, "--resume").returncode == 0
    meta, files, events = sample(out)
    fresh_meta, fresh_files, fresh_events = in_process_sample
    assert (meta, files) == (fresh_meta, fresh_files)
    assert ak.to_list(events) == ak.to_list(fresh_events)


def test_resume_remakes_the_tasks_a_run_with_another_seed_left(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{CHANNEL}_0002.root.part").mkdir()
    assert generate(out).returncode == 1  # seed 11: the first task finished, with its receipt
    (out / f"{CHANNEL}_0002.root.part").rmdir()
    assert len(list((out / f".{CHANNEL}.tasks").glob("*.json"))) == 1
    res = generate(out, "--resume", "--seed", "12")  # the last --seed wins
    assert res.returncode == 0, res.stderr
    meta, files, events = sample(out)
    assert meta["seed"] == 12
    reference = produce(CHANNEL, 150_000, tmp_path / "ref", seed=12, events_per_file=50_000, progress=False)
    assert (reference["metadata"], list(reference["files"])) == (meta, files)
    expected = ak.concatenate([uproot.open(tmp_path / "ref" / f)["events"].arrays() for f in files])
    assert ak.to_list(events) == ak.to_list(expected)


@pytest.mark.parametrize(
    "extra,needle",
    [
        (("--executor", "futures", "--chunksize", "1000"), "--chunksize does not apply to generation"),
        (("--executor", "dask", "--maxchunks", "2"), "--maxchunks does not apply to generation"),
        (("--skip-bad-files",), "--skip-bad-files does not apply to generation"),
        (("--workers", "2"), "--workers needs --executor"),
        (("--executor", "futures", "--cluster", "local"), "--cluster needs --executor dask"),
        (("--executor", "threads"), "--executor"),
        (("--executor", "dask", "--mass", "1"), "takes no --mass"),
    ],
)
def test_executor_options_that_do_not_apply_are_refused_in_one_line(tmp_path, capsys, extra, needle):
    spec = importlib.util.spec_from_file_location("generate_cli", SCRIPT)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    try:
        code = cli.main([*SAMPLE, "--output", str(tmp_path), *extra])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error" in last and needle in last
    assert not (tmp_path / "fileset.json").exists()


def test_an_executor_that_cannot_start_fails_in_one_line(tmp_path):
    command = [sys.executable, str(SCRIPT), *SAMPLE, "--output", str(tmp_path), "--scheduler", "tcp://127.0.0.1:9"]
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    res = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith("generate.py: error: cannot start the dask executor: ")
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.iterdir())


def reference_final_state(pythia, n_events):
    """The particle-by-particle reading of ``pythia.event`` after each ``next()`` (belle_mc 0.1), as the reference."""
    rows, events = [], []
    done = 0
    while done < n_events:
        if not pythia.next():
            continue
        event = pythia.event
        for j in range(event.size()):
            part = event[j]
            if part.isFinal():
                events.append(done)
                rows.append(
                    (part.id(), part.e(), part.px(), part.py(), part.pz(),
                     part.tProd() * 0.1, part.xProd() * 0.1, part.yProd() * 0.1, part.zProd() * 0.1)
                )  # fmt: skip
        done += 1
    return np.array(events), np.array(rows)


@pytest.mark.parametrize("channel", ["pythia_uds", "pythia_charm", "pythia_bbbar"])
def test_pythia_conversion_gives_the_particles_of_the_event_record(channel):
    process = CHANNELS[channel].make_process(None)
    if channel == "pythia_bbbar":
        masses = process.upsilon_masses(np.random.default_rng(1), 300)
        with process.new_pythia(1234, masses) as first, process.new_pythia(1234, masses) as second:
            got = final_state_particles(first, 300)
            events, rows = reference_final_state(second, 300)
    else:
        got = final_state_particles(process.new_pythia(1234), 300)
        events, rows = reference_final_state(process.new_pythia(1234), 300)
    assert len(got) == len(rows) > 300 * 5
    np.testing.assert_array_equal(got.event, events)
    np.testing.assert_array_equal(got.pdg, rows[:, 0])
    np.testing.assert_array_equal(got.p4, rows[:, 1:5])
    np.testing.assert_array_equal(got.x4, rows[:, 5:9])
    assert np.count_nonzero(got.x4[:, 1:]) > 0  # displaced K_S / Lambda daughters: the vertices are read
