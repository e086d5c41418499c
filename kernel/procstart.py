"""A process's start, recorded so that a later check knows the very process again.

A pid alone may be reused; a pid and its start time name one process. The start time
psutil gives is the wall clock's, and on Linux it is computed from the boot time the
kernel reports now, which moves when the wall clock is stepped (NTP, a VM resumed):
after a step the same process seems to have started at another time. The time from boot
to the start does not move, so a start is recorded both ways and matches when either
agrees (other systems record a wall-clock start that a step leaves as it was).
Standard library only: the callers read the times (psutil's ``create_time`` and
``boot_time``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["start_mark", "same_start"]


def start_mark(create_time: float, boot_time: float) -> dict[str, float]:
    """What to record of a process's start: ``started`` (wall clock) and
    ``started_since_boot``."""
    return {"started": create_time, "started_since_boot": create_time - boot_time}


def same_start(recorded: Mapping[str, Any], create_time: float, boot_time: float, tolerance: float) -> bool:
    """Whether a start recorded by ``start_mark`` (a file written before, maybe by an
    older version with ``started`` only) is this process's start, within ``tolerance`` s."""
    started = recorded.get("started")
    if _number(started) and abs(create_time - float(started)) < tolerance:
        return True
    since_boot = recorded.get("started_since_boot")
    return _number(since_boot) and abs((create_time - boot_time) - float(since_boot)) < tolerance


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
