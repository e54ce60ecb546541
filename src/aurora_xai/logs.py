"""Logging set-up for workflow jobs: everything to the rule's log file, with UTC timestamps."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

__all__ = ["Progress", "duration_text", "setup_logging"]


def setup_logging(path: str | Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send log records (and warnings, and uncaught exceptions) to ``path``.

    Returns the ``aurora_xai`` logger.
    """
    handlers: list[logging.Handler] = []
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    handlers.append(logging.StreamHandler(sys.stderr))
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s")
    formatter.converter = time.gmtime  # UTC, whatever the machine's time zone
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=handlers, force=True)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logger = logging.getLogger("aurora_xai")

    def excepthook(exc_type, exc, tb):
        logger.error("failed: %s", exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = excepthook
    return logger


def duration_text(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3.4 h``: a duration for a progress line."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """When a long loop logs a progress line, and what the line says about time.

    A line is due after the first item, whenever the count crosses a multiple of
    ``every``, after the last item, and whenever ``seconds`` have passed since the
    previous line (a 0.25 deg date or LRP pass takes minutes: the log is never silent
    for long, whatever ``every``).

    Args:
        total: Items the loop will do.
        unit: Name of an item in the line (``"date"``, ``"day"``, ``"pass"``).
        every: Items between lines (besides the time rule).
        seconds: Longest silence between lines, in seconds.
        clock: Monotonic clock in seconds (a fake one in tests).
    """

    def __init__(
        self,
        total: int,
        unit: str = "item",
        every: int = 10,
        seconds: float = 60.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.total, self.unit, self.every, self.seconds = int(total), unit, max(int(every), 1), float(seconds)
        self._clock = clock
        self._start = self._last = clock()
        self._done = 0

    def update(self, done: int) -> bool:
        """Record that ``done`` items are finished; whether a line is due now."""
        before, self._done = self._done, int(done)
        now = self._clock()
        due = (
            before == 0
            or self._done // self.every > before // self.every
            or self._done >= self.total
            or now - self._last >= self.seconds
        )
        if due:
            self._last = now
        return due

    @property
    def elapsed(self) -> float:
        """Seconds since the loop started."""
        return self._clock() - self._start

    def rate(self) -> str:
        """``"121.3 s per date, 22 min left"`` from the items done so far."""
        if not self._done:
            return f"no {self.unit} done yet"
        per = self.elapsed / self._done
        left = max(self.total - self._done, 0) * per
        text = f"{per:.3g} s per {self.unit}"
        return f"{text}, {duration_text(left)} left" if left > 0 else f"{text}, {duration_text(self.elapsed)} in all"
