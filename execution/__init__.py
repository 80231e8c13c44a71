"""What runs the processors: coffea executors, Dask and batch clusters, checkpoints.

- :mod:`execution.runner`: the executor options, :func:`execution.runner.run_processor`
  (the one path from a fileset and a processor to an accounted-for output: skipped files and
  lost chunks named), local worker counts bounded by cores and memory, the dashboard and
  Dask's performance report;
- :mod:`execution.batch`: Dask workers as HTCondor, SLURM or LSF jobs (dask-jobqueue), configured
  from ``condor/jobqueue.yaml``: TLS, free ports, adaptive scaling, worker lifetime, a bounded
  wait for the first worker with a one-line diagnosis;
- :mod:`execution.htcondor`: the HTCondor case of :mod:`execution.batch`;
- :mod:`execution.checkpoints`: per-chunk results on disk for resumable runs.
"""
