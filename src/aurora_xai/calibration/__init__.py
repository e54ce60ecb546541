"""Calibration of the study's tests and intervals by simulation.

Imports without torch; the perturbation cases import :mod:`aurora_xai.perturbation.rank`
(numpy only) when they run.
"""
