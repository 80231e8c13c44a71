"""What data exists: the channels and the samples the analyses make on first use.

All are written under ``data/`` of the checkout, which git ignores:
- ``data/default/``: the default sample of ``python run.py``, a few million generated
  events of every channel of the invisible-Z' search (about a minute on one core);
- ``data/sensitivity/``: the invisible-Z' sensitivity sample (:func:`sensitivity_requests`,
  10x the default backgrounds) of ``scripts/study.py --analysis zprime --fileset data/sensitivity/fileset.json`` (about 2 minutes);
- ``data/visible/``: the visible-Z' sample of ``python run.py --analysis visible``, signal
  with and without ISR at every mass of :data:`VISIBLE_MASSES_GEV` and the four-muon
  background (about 30 s);
- ``data/scalar/``: the leptophilic-scalar sample of ``python run.py --analysis scalar``
  (:func:`scalar_requests`), its signals and backgrounds (about 2 minutes).
Each is made by ``ensure_default_sample(directory, requests=..., seed=...)``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from core.fileset import FILESET_NAME, update_fileset

from .channels import CHANNELS
from .ntuple import DEFAULT_COMPRESSION
from .production import GENERATOR_VERSION, Executor, dataset_name, produce
from .slices import SLICES

log = logging.getLogger(__name__)

SIGNAL_MASSES_GEV = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
"""Z' mass grid of the invisible search, GeV."""
OFF_GRID_MASSES_GEV = (1.5, 4.5, 7.5)
"""Z' masses between the grid's, GeV: signal of the sensitivity samples that the network is never trained on
(it is evaluated there through its mass input; docs/searches.md)."""

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

VISIBLE_MASSES_GEV = (0.215, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
"""Z' mass grid of the visible search (Z' -> mu+ mu-), GeV: from just above 2 m_mu = 0.2113 GeV (m_R = 0.040 GeV) up to 10 GeV
(the emission density is open up to sqrt(s) - 2 m_mu = 10.37 GeV; sigma(g' = 1) is 1.2e-5 pb at 10 GeV)."""
VISIBLE_SIGNAL_EVENTS = 50_000
"""Generated events per Z' mass and ISR setting of the visible default sample."""
VISIBLE_FOUR_MUON_EVENTS = 2_000_000
"""Generated e+e- -> mu+ mu- mu+ mu- events of the visible default sample (the one background)."""
VISIBLE_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "visible"


SENSITIVITY_SAMPLE: dict[str, int] = {
    "kkmc_mumu": 6_000_000,
    "kkmc_tautau": 10_000_000,
    "aafh_eemumu": 12_000_000,
    "aafh_mumumumu": 1_000_000,
    "aafh_mumutautau": 1_000_000,
}
"""Generated events per background channel of the sensitivity sample (the cut optimisation,
the network and the limits): 10x the default sample for the large-weight channels, so that
a window's background is not one or two MC events. About 2 minutes and 2.7 GB to make."""
SENSITIVITY_SIGNAL_EVENTS = 200_000
"""Generated events per Z' mass of the sensitivity sample."""
SENSITIVITY_SEED = 7
"""Seed of the sensitivity sample (independent of the default sample's)."""
SENSITIVITY_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sensitivity"


def _sensitivity_signal_requests() -> list[tuple[str, float | None, int]]:
    """The signal datasets of both sensitivity samples: the grid and the off-grid masses."""
    return [("signal", m, SENSITIVITY_SIGNAL_EVENTS) for m in (*SIGNAL_MASSES_GEV, *OFF_GRID_MASSES_GEV)]


def sensitivity_requests() -> list[tuple[str, float | None, int]]:
    """(channel, mass, generated events) of every dataset of the invisible-Z' sensitivity sample."""
    requests = _sensitivity_signal_requests()
    requests += [(ch, None, n) for ch, n in SENSITIVITY_SAMPLE.items()]
    return requests


SENSITIVITY_SLICES: dict[str, tuple[int, int]] = {
    "kkmc_mumu_tail": (720_000_000, 20_000_000),
    "kkmc_mumu_core": (6_000_000, 2_000_000),
    "kkmc_tautau_mu_mu": (17_500_000, 5_000_000),
    "kkmc_tautau_mu_other": (166_000_000, 5_000_000),
    "kkmc_tautau_hadronic": (242_000_000, 5_000_000),
    "kkmc_tautau_rest": (151_500_000, 5_000_000),
    "aafh_eemumu_windows_hard_e": (1_000_000_000, 50_000_000),
    "aafh_eemumu_windows_hard_p": (900_000_000, 50_000_000),
    "aafh_eemumu_windows_soft": (12_000_000, 4_000_000),
    "aafh_eemumu_rest": (12_000_000, 4_000_000),
}
"""Generator slices of the filtered invisible-Z' sensitivity sample (docs/generator.md, "Generator slices"):
slice name -> (drawn events = n_generated, drawn events per file). The slices that hold the background
events the selection keeps in a window (``kkmc_mumu_tail``, ``kkmc_tautau_mu_mu``, ``kkmc_tautau_mu_other``,
``kkmc_tautau_hadronic``, ``kkmc_tautau_rest``, ``aafh_eemumu_windows_hard_e``, ``aafh_eemumu_windows_hard_p``)
are drawn for >= 626 fb^-1 (``n_generated >= DATA_LUMI_FB x 1000 x xsec_pb``, the e e mu mu strata with their
region's 1593 and 1425 pb); the three complements, kept out of every window by the cut floors, only fill the
preselection spectrum (``kkmc_mumu_core`` 5.2, ``aafh_eemumu_windows_soft`` 0.70 and ``aafh_eemumu_rest``
0.59 fb^-1). The four-lepton channels are far above 626 fb^-1 unfiltered. About 2 CPU hours and 40 GB
(zstd); measured rates in docs/generator.md."""
SENSITIVITY_FILTERED_COMPRESSION = "zstd"
"""ROOT compression of the filtered sample: 16% smaller files than lz4 at the same generation speed."""
SENSITIVITY_FILTERED_UNSLICED: dict[str, int] = {"aafh_mumumumu": 1_000_000, "aafh_mumutautau": 1_000_000}
"""Channels of the filtered sensitivity sample made whole: 1e6 events are 19 000 and 31 000 fb^-1."""
SENSITIVITY_FILTERED_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sensitivity_filtered"


def sensitivity_filtered_slices(scale: float = 1.0) -> dict[str, tuple[int, int]]:
    """:data:`SENSITIVITY_SLICES` with the drawn events times ``scale`` (at least one block, files kept at
    most as large): ``scale`` = 0.01 makes a 1/100 trial of the full sample in minutes."""
    out = {}
    for name, (n, per_file) in SENSITIVITY_SLICES.items():
        n_scaled = max(int(round(n * scale)), 100_000)
        out[name] = (n_scaled, min(per_file, n_scaled))
    return out


def sensitivity_filtered_requests() -> list[tuple[str, float | None, int]]:
    """(channel, mass, generated events) of the unsliced datasets of the filtered sensitivity sample: the
    signals of the sensitivity sample and :data:`SENSITIVITY_FILTERED_UNSLICED`."""
    requests = _sensitivity_signal_requests()
    requests += [(ch, None, n) for ch, n in SENSITIVITY_FILTERED_UNSLICED.items()]
    return requests


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
    "aafh_mumumumu": 100_000,
}
"""Generated events per background channel of the scalar sample.

aafh_mumumumu fills the BDT's e e / mu mu class: the two-lepton samples never give four tracks.

The Pythia channels run at ~10k events/s/core end to end (the others at 50-400k), so they
are kept small; the whole scalar sample takes about two minutes on one core.
"""
SCALAR_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "scalar"
"""Where the scalar sample is made (git-ignored)."""


def default_requests() -> list[tuple[str, float | None, int]]:
    """(channel, mass, generated events) of every dataset of the default sample."""
    requests: list[tuple[str, float | None, int]] = [("signal", m, DEFAULT_SIGNAL_EVENTS) for m in SIGNAL_MASSES_GEV]
    requests += [(ch, None, n) for ch, n in DEFAULT_SAMPLE.items()]
    return requests


def visible_requests() -> list[tuple[str, float | None, int]]:
    """(channel, mass, generated events) of the visible-Z' default sample: signal with and without ISR
    at every mass of :data:`VISIBLE_MASSES_GEV`, and the four-muon background."""
    requests: list[tuple[str, float | None, int]] = [
        (channel, m, VISIBLE_SIGNAL_EVENTS) for m in VISIBLE_MASSES_GEV for channel in ("signal_visible", "signal_visible_isr")
    ]
    requests.append(("aafh_mumumumu", None, VISIBLE_FOUR_MUON_EVENTS))
    return requests


def scalar_requests() -> list[tuple[str, float | None, int]]:
    """(channel, mass, generated events) of every dataset of the leptophilic-scalar sample."""
    requests: list[tuple[str, float | None, int]] = [
        ("signal_ttphi", m, SCALAR_SIGNAL_EVENTS) for m in SCALAR_MASSES_GEV
    ]
    requests += [(ch, None, n) for ch, n in SCALAR_BACKGROUND_SAMPLE.items()]
    return requests


def _is_current(
    entry: dict | None, directory: Path, channel: str, n: int, seed: int, generator_slice: str | None = None
) -> bool:
    """True when a fileset entry was made with these settings by this generator and model (and, for a generator
    slice, its current filters) and its files exist."""
    if entry is None:
        return False
    meta = entry["metadata"]
    return (
        meta.get("generator_slice") == generator_slice
        and (generator_slice is None or meta.get("generator_filter") == SLICES[generator_slice].describe())
        and meta.get("n_generated") == n
        and meta.get("seed") == seed
        and meta.get("model_version", 1) == CHANNELS[channel].model_version
        and meta.get("generator") == GENERATOR_VERSION
        and all((directory / f).exists() for f in entry["files"])
    )


def _refresh_slice_role(directory: Path, name: str, entry: dict) -> None:
    """Write the slice's current ``generator_slice_role`` into a complete dataset's fileset entry made before the key
    existed (or when the role was changed): it describes the slice's place in its channel, not its events."""
    role = SLICES[name].role
    if entry["metadata"].get("generator_slice_role") != role:
        update_fileset(directory, name, {**entry, "metadata": {**entry["metadata"], "generator_slice_role": role}})


def ensure_default_sample(
    directory: str | os.PathLike = DEFAULT_SAMPLE_DIR,
    progress: bool = True,
    requests: list[tuple[str, float | None, int]] | None = None,
    seed: int = DEFAULT_SEED,
    slices: dict[str, tuple[int, int]] | None = None,
    executor: Executor | None = None,
    compression: str = DEFAULT_COMPRESSION,
) -> Path:
    """Make a sample in ``directory`` unless it is already complete; return its fileset path.

    ``requests`` lists (channel, mass or None, generated events) of every dataset (default:
    the invisible-Z' default sample, :func:`default_requests`). A dataset counts as present
    when the fileset lists it with the requested number of generated events, ``seed``, the
    channel's current ``model_version`` and this ``generator`` version (a new version may draw
    other events from the same seed), and all its files exist.

    ``slices`` adds generator slices (``slices.SLICES`` name -> (drawn events, drawn events per file),
    e.g. :func:`sensitivity_filtered_slices`), each a dataset of its channel; ``executor`` (a coffea
    executor, ``execution.runner.open_executor``) runs the generation tasks, e.g. on a Dask cluster;
    ``compression`` is that of the files (``ntuple.COMPRESSION``).

    An interrupted call resumes where it stopped: the finished generation tasks of an incomplete
    dataset (``production.finished_tasks``: receipt with the same fingerprint, files present) are
    kept and only the others are made.
    """
    directory = Path(directory)
    path = directory / FILESET_NAME
    existing = json.loads(path.read_text()) if path.exists() else {}
    for channel, mass, n in default_requests() if requests is None else requests:
        name = dataset_name(channel, mass)
        if _is_current(existing.get(name), directory, channel, n, seed):
            continue
        log.info("making sample dataset %s (%d events)", name, n)
        produce(
            channel, n, directory, mass=mass, seed=seed, progress=progress, executor=executor, compression=compression,
            resume=True,
        )  # fmt: skip
    for name, (n, per_file) in (slices or {}).items():
        channel = SLICES[name].channel
        if _is_current(existing.get(name), directory, channel, n, seed, generator_slice=name):
            _refresh_slice_role(directory, name, existing[name])
            continue
        log.info("making generator slice %s (%d drawn events)", name, n)
        produce(
            channel, n, directory, seed=seed, events_per_file=per_file, progress=progress, executor=executor,
            generator_slice=name, compression=compression, resume=True,
        )  # fmt: skip
    return path


SEARCH_SAMPLES: dict[str, tuple[Path, Callable[[], list[tuple[str, float | None, int]]]]] = {
    "zprime": (DEFAULT_SAMPLE_DIR, default_requests),
    "visible": (VISIBLE_SAMPLE_DIR, visible_requests),
    "scalar": (SCALAR_SAMPLE_DIR, scalar_requests),
}
"""The default sample of each search (``run.py --analysis`` name): its directory and its datasets."""


def ensure_search_sample(search: str, progress: bool = True) -> Path:
    """The fileset of a search's default sample (:data:`SEARCH_SAMPLES`), made first if missing."""
    directory, requests = SEARCH_SAMPLES[search]
    return ensure_default_sample(directory, progress=progress, requests=requests())
