"""What runs the processors: coffea executors, Dask and batch clusters, checkpoints.

- :mod:`execution.runner`: the executor options, :func:`execution.runner.run_processor`
  (the one path from a fileset and a processor to an accounted-for output);
- :mod:`execution.htcondor`: Dask workers as HTCondor jobs (dask-jobqueue), configured from ``condor/``;
- :mod:`execution.checkpoints`: per-chunk results on disk for resumable runs.
"""
