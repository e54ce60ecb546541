"""When a statistic cannot be computed from the data at hand.

A study window shorter than a year holds one or two seasons, a short window may hold no
storm day, and very few dates leave nothing to resample. The statistics then raise
:class:`NotApplicableError`, whose message is the reason in words; the functions that
build datasets, headline rows and figures catch it (and only it) and report the
statistic as not applicable with that reason, while everything that can be computed is
still produced. Bad input (wrong shapes, non-finite values, unknown options) stays a
plain :class:`ValueError`.
"""

from __future__ import annotations

__all__ = ["NotApplicableError"]


class NotApplicableError(ValueError):
    """The data do not allow this statistic (e.g. a season absent from the window).

    ``str(error)`` is the reason, written into the headline table's ``note`` column and
    the job's log. A subclass of :class:`ValueError`, so callers that do not expect it
    still fail loudly.
    """
