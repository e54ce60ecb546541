"""Storms: the named-event catalogue, best-track files and the storm/calm day labels.

Modules (import them directly; this package imports none of them):

* :mod:`~aurora_xai.storms.catalogue`: the named events of the config's ``storms:``
  section (track, box, case time) and catalogue entries made from best-track storms;
* :mod:`~aurora_xai.storms.best_track`: HURDAT2 and IBTrACS readers;
* :mod:`~aurora_xai.storms.labels`: storm and calm days from the daily maximum 10 m wind
  in a box (the study's rule);
* :mod:`~aurora_xai.storms.table`: the storm/calm date table's schema, validation,
  writing and reading.

All import without torch.
"""
