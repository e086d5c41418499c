"""Whether the store can commit, for /healthz and for the writer's retry schedule.

A store that cannot commit (disk full, I/O error, invalidated database) is not the
data's fault: the writer refuses work at once while it waits (clear error, nothing
acked), then tries again after a backoff (store_retry_s, doubling up to
store_retry_max_s): reopen the database if a fatal error invalidated it, probe the
disk, and take work again. /healthz answers 503 with the reason until then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["StoreHealth", "PROBE_BYTES"]

# the probe file written next to the database before work is taken again: about one
# group commit's worth of WAL for a small batch
PROBE_BYTES = 1 << 20


@dataclass
class StoreHealth:
    retry_s: float = 0.5
    retry_max_s: float = 10.0
    error: str | None = None      # why the store cannot commit; None: it can
    since: float | None = None    # wall clock of the first failure of this outage
    failures: int = 0             # failures in this outage
    needs_reopen: bool = False    # a fatal error invalidated the database
    retry_at: float = 0.0         # monotonic time of the next attempt
    outages: int = 0              # outages since start (for /metrics)
    reopens: int = 0              # successful reopens since start

    @property
    def failing(self) -> bool:
        return self.error is not None

    def due(self, now: float | None = None) -> bool:
        """A failing store may be tried again now."""
        return self.failing and (time.monotonic() if now is None else now) >= self.retry_at

    def failed(self, error: str, fatal: bool) -> None:
        if self.error is None:
            self.since = time.time()
            self.outages += 1
        self.error = error
        self.needs_reopen = self.needs_reopen or fatal
        self.failures += 1
        wait = min(self.retry_s * (2 ** min(self.failures - 1, 30)), self.retry_max_s)
        self.retry_at = time.monotonic() + wait

    def recovered(self, committed: bool = True) -> None:
        """The store works again: a probe passed (committed=False: the backoff keeps
        growing if the next commit fails again), or a commit succeeded (it resets)."""
        self.error = None
        self.since = None
        self.needs_reopen = False
        if committed:
            self.failures = 0

    def as_json(self) -> dict[str, object]:
        if self.error is None:
            return {"ok": True, "outages": self.outages, "reopens": self.reopens}
        return {"ok": False, "error": self.error, "since": self.since, "failures": self.failures,
                "reopening": self.needs_reopen, "retry_in_s": round(max(0.0, self.retry_at - time.monotonic()), 3),
                "outages": self.outages, "reopens": self.reopens}
