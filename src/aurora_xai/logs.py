"""Logging set-up for workflow jobs: everything to the rule's log file, with UTC timestamps."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

__all__ = ["setup_logging"]


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
