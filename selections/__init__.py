"""Cuts and kinematics of the Belle dark-sector analyses.

Pure functions of arrays and cut values; the single home of physics constants
(:mod:`selections.constants`), beam kinematics (:mod:`selections.beams`) and the
Belle detector parametrisation (:mod:`selections.belle_detector`).
"""
