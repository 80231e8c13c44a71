"""Sensitivity of the invisible-Z' search: selection optimisation, the physics model and the limits.

- :mod:`core.zprime_model`: partial widths of the L_mu - L_tau Z' and its
  invisible branching fraction, the one-loop Delta a_mu and the (g-2)_mu band in g'
  (physics.md §3, §7);
- :mod:`sensitivity.limits`: per-mass signal efficiency and background from the
  processor output pickle, pyhf counting workspaces, 90% CL CLs upper limits on the
  signal strength, sigma x BR and g' (physics.md §6-8, interfaces.md §4);
- :mod:`sensitivity.plots`: the g' limit figure with the (g-2)_mu band;
- :mod:`sensitivity.cut_optimisation`: the eps/sqrt(B) scan of the ten-cut table per mass;
- :mod:`sensitivity.punzi_net`: the Punzi-loss neural network (PyTorch) on the exported features.

``scripts/limits.py`` computes the limits from ``results/zprime_invisible.pkl``,
``scripts/optimise_cuts.py`` optimises the cut table, ``scripts/train_punzi_net.py``
trains and applies the network.
"""
