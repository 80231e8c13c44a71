"""Cuts and kinematics of the Belle dark-sector analyses.

Pure functions of arrays and cut values: the single home of physics constants
(:mod:`core.constants`), beam kinematics (:mod:`core.beams`), the Belle
detector parametrisation (:mod:`core.belle_detector`), kinematics and vertex-fit
kernels (:mod:`selections.kinematics`, :mod:`selections.vertex_fit`), the flat-buffer
layout they read (:mod:`selections.flat_buffers`), and per search the fused per-event
variables and the selection with its one table: invisible Z'
(:mod:`selections.zprime_variables`, :mod:`selections.zprime_selection`), visible Z'
(:mod:`selections.visible_zprime`) and leptophilic scalar
(:mod:`selections.scalar_variables`, :mod:`selections.scalar_selection`).
"""
