"""The ``surrogate`` section: how the surrogate model is trained and scored.

Read by :func:`~aurora_xai.sections.from_section`; the defaults are the schema's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from ..sections import from_section

__all__ = ["SurrogateScoring", "SurrogateSettings"]


@dataclasses.dataclass(frozen=True)
class SurrogateSettings:
    """The training keys of the ``surrogate`` section (see the schema for each key); a
    rule declares them all (``declare(SurrogateSettings)``).

    Attributes:
        train_period: Inclusive dates ``(start, end)``: the training samples read its
            6-hourly times (a sample's history step ``t - 6 h``, current time ``t`` and
            target ``t + 6 h`` all lie in it).
        steps: Optimiser steps.
        batch_size: Samples per step.
        learning_rate: Peak learning rate of AdamW (cosine decay to a tenth of it).
        warmup_steps: Steps of linear warm-up.
        weight_decay: AdamW's weight decay.
        seed: Seed of the initial weights and of the samples drawn at each step.
        checkpoint_every: Steps between writes of the resumable training state.
    """

    SECTION: ClassVar[str] = "surrogate"

    train_period: tuple[str, ...]
    steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    weight_decay: float
    seed: int
    checkpoint_every: int

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> SurrogateSettings:
        return from_section(cls, "surrogate", sec)

    def __post_init__(self) -> None:
        if len(self.train_period) != 2:
            raise ValueError(f"surrogate.train_period: expected [start, end], got {list(self.train_period)}")
        if self.period[1] < self.period[0]:
            raise ValueError(f"surrogate.train_period: end {self.train_period[1]} before start {self.train_period[0]}")

    @property
    def period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``(first, last)`` 6-hourly time of the period: its start day at 00 UTC, its end day at 18 UTC."""
        start, end = (pd.Timestamp(t) for t in self.train_period)
        return start.normalize(), end.normalize() + pd.Timedelta(hours=18)

    def training_dict(self) -> dict[str, Any]:
        """The settings that decide the trained weights."""
        out = dataclasses.asdict(self)
        out["train_period"] = list(self.train_period)
        return out


@dataclasses.dataclass(frozen=True)
class SurrogateScoring:
    """The scoring key of the ``surrogate`` section: ``eval_times``, the held-out times of
    the skill table, spread evenly over the study's dates."""

    SECTION: ClassVar[str] = "surrogate"

    eval_times: int
