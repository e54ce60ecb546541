"""Calibration of the study's tests and intervals by simulation (torch-free)."""
