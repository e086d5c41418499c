"""kernel/procstart.py: a recorded start matches its process by the wall clock or, after
the clock was stepped, by the time since boot; a record of an older version (wall clock
only) is still read."""

from __future__ import annotations

from logship.kernel.procstart import same_start, start_mark

CREATED, BOOT = 1_764_500_000.25, 1_764_400_000.0


def test_a_recorded_start_matches_its_process_also_after_a_clock_step():
    mark = start_mark(CREATED, BOOT)
    assert mark == {"started": CREATED, "started_since_boot": 100_000.25}
    assert same_start(mark, CREATED, BOOT, 0.01)
    assert same_start(mark, CREATED + 3600, BOOT + 3600, 0.01)      # the clock stepped an hour
    assert not same_start(mark, CREATED + 3600, BOOT, 0.01)         # a process started an hour later
    assert same_start({"started": CREATED}, CREATED + 0.5, BOOT, 1.0)  # an older file: wall clock only
    assert not same_start({"started": CREATED}, CREATED + 3600, BOOT + 3600, 1.0)
    assert not same_start({"started": True, "started_since_boot": None}, 1.0, 0.0, 1.0)
    assert not same_start({}, CREATED, BOOT, 1.0)
