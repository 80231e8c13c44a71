"""A notebook path through coffea's dask-awkward interface: the same processors, lazily.

In a notebook one often wants the analysis as a Dask graph to inspect, persist or compute on a
``distributed.Client`` the notebook already holds, rather than a command-line run::

    import dask
    from execution.notebook import lazy_search_output

    lazy = lazy_search_output("zprime", "data/default/fileset.json")   # nothing is read yet
    (output,) = dask.compute(lazy)                                     # {dataset: {...}}, as run.py's "datasets"

Each dataset becomes a dask-awkward collection (``NanoEventsFactory.from_root(mode="dask")``,
one partition per ``steps_per_file`` step of each file, only the search's branches read); the
search's processor runs on every partition as it is (its numba kernels need concrete arrays, so
partitions are handed to it through ``to_delayed``) and the partition outputs are merged with
coffea's ``accumulate``: the histograms and cutflows equal those of the ``Runner`` path
(``tests/test_notebook.py``). The ``Runner`` path (``run.py``, :func:`execution.runner.run_processor`)
stays the production one: it checks every file before work starts, checkpoints chunks for
``--resume`` and accounts for every event; this path does none of that.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask
from coffea.nanoevents import BaseSchema, NanoEventsFactory
from coffea.processor import accumulate

from core.constants import DATA_LUMI_FB
from core.fileset import load_fileset


def _process_partition(processor: Any, partition: Any) -> dict:
    return processor.process(partition)


def _merge(outputs: list[dict]) -> dict:
    return accumulate(outputs)


def lazy_search_output(
    search_name: str,
    fileset_path: str | os.PathLike,
    lumi_fb: float = DATA_LUMI_FB,
    table: Any = None,
    steps_per_file: int = 1,
) -> Any:
    """A dask ``Delayed`` of ``{dataset: output}`` of one search over a fileset (docs/output.md, per dataset).

    ``table`` is the search's table object (default: its default table); ``steps_per_file``
    partitions per file. Compute it with ``dask.compute`` or a ``distributed.Client``.
    """
    from processors.searches import SEARCHES

    search = SEARCHES[search_name]
    processor = search.make_processor(lumi_fb, table if table is not None else search.load_table(None))
    fileset = load_fileset(Path(fileset_path), search.channels)
    branches = set(search.branches)
    outputs = []
    for name, entry in fileset.items():
        events = NanoEventsFactory.from_root(
            entry["files"],
            mode="dask",
            schemaclass=BaseSchema,
            steps_per_file=steps_per_file,
            metadata={"dataset": name, **entry["metadata"]},
            uproot_options={"filter_name": lambda branch: branch in branches},
        ).events()
        outputs += [dask.delayed(_process_partition)(processor, part) for part in events.to_delayed()]
    return dask.delayed(_merge)(outputs)
