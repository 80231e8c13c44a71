"""Sensitivity of the three searches: selection optimisation, the limits and their figures.

- :mod:`sensitivity.limits`: the one limit pipeline of the invisible Z', the visible Z' -> mu mu and
  the leptophilic scalar: per-mass window yields (signal efficiency, background and its MC
  uncertainty) from the processor output's ``cutflow_hypotheses`` (docs/output.md), pyhf counting
  workspaces, 90% CL CLs upper limits on the signal strength, sigma x BR and the coupling
  (docs/physics.md §6-8), and the one writer of ``limits.csv`` / ``limits.json`` / the workspaces
  with the fit settings that reproduce the table / the figure;
- :mod:`sensitivity.visible_limits`: the visible search's signal channels and its fine m_R scan;
- :mod:`sensitivity.scalar_bdt` and :mod:`sensitivity.scalar_limits`: the scalar search's BDT score
  cut and its yields in the common container;
- :mod:`sensitivity.plots`: the coupling-limit figure with the (g-2)_mu band (models in
  :mod:`core.zprime_model` and :mod:`core.scalar_model`, docs/physics.md §3, §5, §7) and the
  visible-vs-invisible comparison;
- :mod:`sensitivity.cut_optimisation`: the eps/sqrt(B) scan of the ten-cut table per mass;
- :mod:`sensitivity.punzi_net`: the Punzi-loss neural network (PyTorch) on the exported features.

``scripts/limits.py`` (invisible), ``scripts/run_visible_sensitivity.py`` and
``scripts/run_scalar_sensitivity.py`` compute and write the limits, ``scripts/optimise_cuts.py``
optimises the cut table, ``scripts/train_punzi_net.py`` trains and applies the network.
"""
