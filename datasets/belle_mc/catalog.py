"""What data exists: the channels and the embedded default samples.

The default sample of ``python run.py`` is a few million generated events of every
channel of the invisible-Z' search, made on first use (about a minute on one core)
under ``data/default/`` of the checkout, which git ignores. The scalar sample
(:func:`scalar_requests`) holds the leptophilic-scalar signals and their
backgrounds under ``data/scalar/``; it is made by
``ensure_default_sample(SCALAR_SAMPLE_DIR, requests=scalar_requests())``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .channels import CHANNELS
from .fileset import FILESET_NAME
from .production import dataset_name, produce

log = logging.getLogger(__name__)

SIGNAL_MASSES_GEV = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
"""Z' mass grid of the invisible search, GeV."""

DEFAULT_SAMPLE: dict[str, int] = {
    "kkmc_mumu": 600_000,
    "kkmc_tautau": 1_000_000,
    "aafh_eemumu": 600_000,
    "aafh_mumumumu": 100_000,
    "aafh_mumutautau": 100_000,
}
"""Generated events per background channel of the default sample."""
DEFAULT_SIGNAL_EVENTS = 50_000
"""Generated events per Z' mass of the default sample."""
DEFAULT_SEED = 2023

DEFAULT_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "default"

SCALAR_MASSES_GEV = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
"""phi_L mass grid of the leptophilic-scalar search (inside Belle's 0.04-6.5 GeV), GeV."""
SCALAR_SIGNAL_EVENTS = 20_000
"""Generated events per phi_L mass of the scalar sample."""
SCALAR_BACKGROUND_SAMPLE: dict[str, int] = {
    "kkmc_tautau": 1_000_000,
    "kkmc_mumu": 200_000,
    "bhwide_ee": 300_000,
    "pythia_uds": 200_000,
    "pythia_charm": 100_000,
    "pythia_bbbar": 100_000,
    "aafh_eetautau": 50_000,
    "aafh_mumutautau": 50_000,
}
"""Generated events per background channel of the scalar sample.

The Pythia channels run at 3.5-5.5k events/s/core end to end (the others at 50-400k), so they
are kept small; the whole scalar sample takes about two minutes on one core.
"""
SCALAR_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "scalar"
"""Where the scalar sample is made (git-ignored)."""


def default_requests() -> list[tuple[str, float | None, int]]:
    """(channel, mass, generated events) of every dataset of the default sample."""
    requests: list[tuple[str, float | None, int]] = [("signal", m, DEFAULT_SIGNAL_EVENTS) for m in SIGNAL_MASSES_GEV]
    requests += [(ch, None, n) for ch, n in DEFAULT_SAMPLE.items()]
    return requests


def scalar_requests() -> list[tuple[str, float | None, int]]:
    """(channel, mass, generated events) of every dataset of the leptophilic-scalar sample."""
    requests: list[tuple[str, float | None, int]] = [
        ("signal_ttphi", m, SCALAR_SIGNAL_EVENTS) for m in SCALAR_MASSES_GEV
    ]
    requests += [(ch, None, n) for ch, n in SCALAR_BACKGROUND_SAMPLE.items()]
    return requests


def ensure_default_sample(
    directory: str | os.PathLike = DEFAULT_SAMPLE_DIR,
    progress: bool = True,
    requests: list[tuple[str, float | None, int]] | None = None,
) -> Path:
    """Make a sample in ``directory`` unless it is already complete; return its fileset path.

    ``requests`` lists (channel, mass or None, generated events); by default the
    invisible-Z' sample of :func:`default_requests`. A dataset counts as present
    when the fileset lists it with the requested number of generated events, the
    default seed and the channel's current ``model_version``, and all its files exist.
    """
    directory = Path(directory)
    path = directory / FILESET_NAME
    existing = json.loads(path.read_text()) if path.exists() else {}
    for channel, mass, n in default_requests() if requests is None else requests:
        name = dataset_name(channel, mass)
        entry = existing.get(name)
        if (
            entry is not None
            and entry["metadata"].get("n_generated") == n
            and entry["metadata"].get("seed") == DEFAULT_SEED
            and entry["metadata"].get("model_version", 1) == CHANNELS[channel].model_version
            and all((directory / f).exists() for f in entry["files"])
        ):
            continue
        log.info("making sample dataset %s (%d events)", name, n)
        produce(channel, n, directory, mass=mass, seed=DEFAULT_SEED, progress=progress)
    return path
