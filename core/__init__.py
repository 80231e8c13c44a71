"""The neutral core every other layer stands on.

Nothing here imports from the rest of the project (``tests/test_layers.py`` checks):

- :mod:`core.constants`: physics and machine constants (one home for every number);
- :mod:`core.beams`: the KEKB beam four-vectors and the lab <-> CM frames;
- :mod:`core.belle_detector`: the Belle detector numbers (acceptance, resolutions, ID);
- :mod:`core.ntuple_schema`: the ntuple format (docs/ntuple-format.md), the input contract;
- :mod:`core.channels`: the channel registry (which channels exist, which are signals
  and which metadata key carries their mass);
- :mod:`core.fileset`: reading, checking and writing fileset JSON (docs/fileset.md);
- :mod:`core.weights`: per-event MC weights (docs/conventions.md).

Layers, bottom to top: ``core`` -> ``belle_mc`` (generator) and ``selections`` ->
``processors`` -> ``execution`` -> ``sensitivity`` -> the command lines (``run.py``,
``datasets/generate.py``, ``scripts/``). A module imports only from layers below it.
"""
