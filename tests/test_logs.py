"""Progress lines of long jobs (aurora_xai.logs)."""

from __future__ import annotations

from aurora_xai.logs import Progress


def test_progress_lines_are_due_by_count_and_by_time():
    """First item, every 10th, the last, and at least once a minute (0.25 deg dates take minutes)."""
    now = [0.0]
    p = Progress(25, unit="date", every=10, seconds=60.0, clock=lambda: now[0])
    due = []
    for done in range(1, 26):
        now[0] += 1.0
        due.append(p.update(done))
    assert [i + 1 for i, d in enumerate(due) if d] == [1, 10, 20, 25]
    assert p.rate() == "1 s per date, 25 s in all"
    slow = Progress(13, unit="date", clock=lambda: now[0])
    now[0] += 121.0
    assert slow.update(1) and "121 s per date, 24 min left" == slow.rate()
    now[0] += 59.0
    assert not slow.update(2)  # 59 s since the last line, not a 10th date
    now[0] += 61.0
    assert slow.update(3)  # silence of 120 s: due
    assert Progress(3, clock=lambda: 0.0).rate() == "no item done yet"
