"""The date table and its shards (aurora_xai.dates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aurora_xai.dates import DateSpec, season_of_month, shard_dates
from aurora_xai.sections import section_defaults


def test_dates_and_shards():
    spec = DateSpec.from_config({**section_defaults("dates"), "shard_size": 100})
    times = spec.times()
    assert len(times) == 365 and times[0] == pd.Timestamp("2005-01-01T06")
    shards = spec.shards()
    assert list(shards) == ["s000", "s001", "s002", "s003"] and len(shards["s003"]) == 65
    assert sum(len(v) for v in shard_dates(times, 1).values()) == 365
    assert season_of_month(12) == "DJF" and list(season_of_month(np.array([3, 7, 10]))) == ["MAM", "JJA", "SON"]
    with pytest.raises(ValueError, match="before dates.start"):
        DateSpec.from_config({**section_defaults("dates"), "start": "2005-02-01", "end": "2005-01-01"})
