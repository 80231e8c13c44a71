"""Cuts and kinematics of the Belle dark-sector analyses.

Pure functions of arrays and cut values: the single home of physics constants
(:mod:`selections.constants`), beam kinematics (:mod:`selections.beams`), the Belle
detector parametrisation (:mod:`selections.belle_detector`), kinematics and vertex-fit
kernels (:mod:`selections.kinematics`, :mod:`selections.vertex_fit`), the per-event
variables of the invisible-Z' search (:mod:`selections.zprime_variables`) and its
ten-cut selection with the cut table (:mod:`selections.zprime_selection`).
"""
