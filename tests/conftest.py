"""Shared fixtures: small generated samples, made once per test session."""

from __future__ import annotations

import json

import pytest

from belle_mc.production import produce

SMALL_SAMPLE = {
    # channel: (mass, generated events)
    "signal": (2.0, 20_000),
    "kkmc_mumu": (None, 20_000),
    "kkmc_tautau": (None, 20_000),
    "aafh_eemumu": (None, 20_000),
    "aafh_mumumumu": (None, 5_000),
    "aafh_mumutautau": (None, 5_000),
}


@pytest.fixture(scope="session")
def small_sample_dir(tmp_path_factory):
    """A directory with a few thousand generated events of every channel and its fileset.json."""
    out = tmp_path_factory.mktemp("small_sample")
    for channel, (mass, n) in SMALL_SAMPLE.items():
        produce(channel, n, out, mass=mass, seed=7, events_per_file=10_000, progress=False)
    return out


@pytest.fixture(scope="session")
def small_fileset(small_sample_dir):
    return json.loads((small_sample_dir / "fileset.json").read_text())


def pytest_addoption(parser):
    parser.addoption(
        "--update-reference", action="store_true", default=False,
        help="rewrite tests/reference/*.json from the current code (a deliberate change of numbers)",
    )  # fmt: skip
