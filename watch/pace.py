"""How often to sample: the configured interval, lengthened when the pipeline is short.

Three signals, the largest wins: the collector's slow-down factor (the shipper writes it
into status.json: the "measure less" loop), the shipper's lag (it cannot keep up: 2x),
and a busy machine (load average per core over ``busy_load``: 2x). The interval never
exceeds ``max_interval``. Reading status.json is cheap and done at most once a second,
only when the file changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logship.kernel.status import STATUS_FILE, StatusError, read_status

__all__ = ["Pace", "Decision", "LAG_BYTES"]

LAG_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Decision:
    interval: float
    factor: float
    reason: str          # normal | slow_down | lag | busy


class Pace:
    def __init__(self, base: float, max_interval: float, shipper_state: Path | None,
                 lag_seconds: float = 300.0, busy_load: float = 2.0) -> None:
        self.base = base
        self.max_interval = max(max_interval, base)
        self.shipper_state = shipper_state
        self.lag_seconds = lag_seconds
        self.busy_load = busy_load
        self._mtime: float | None = None
        self.status: dict[str, Any] | None = None
        self.current = Decision(base, 1.0, "normal")

    def read_status(self) -> dict[str, Any] | None:
        """The shipper's status (re-read only when status.json changed); None without one."""
        if self.shipper_state is None:
            return None
        try:
            mtime = os.stat(self.shipper_state / STATUS_FILE).st_mtime
        except OSError:
            return self.status
        if mtime != self._mtime:
            try:
                self.status = read_status(self.shipper_state)
                self._mtime = mtime
            except StatusError:
                pass
        return self.status

    def _lagging(self, f: object) -> bool:
        """A file the shipper is behind on: by LAG_BYTES and for longer than lag_seconds.

        Both, because a file written without pause is never entirely acked (the collector
        holds its last entry until the next one shows it complete): a few hundred bytes
        behind for ever is not lag."""
        if not isinstance(f, dict):
            return False
        nbytes, secs = f.get("lag_bytes"), f.get("lag_seconds")
        return (isinstance(nbytes, int) and isinstance(secs, (int, float))
                and nbytes >= LAG_BYTES and secs > self.lag_seconds)

    def decide(self) -> Decision:
        st = self.read_status() or {}
        factors = [(1.0, "normal")]
        slow = st.get("slow_down")
        if isinstance(slow, (int, float)) and not isinstance(slow, bool) and slow > 1:
            factors.append((float(slow), "slow_down"))
        if self.lag_seconds and any(self._lagging(f) for f in st.get("files", [])):
            factors.append((2.0, "lag"))
        if self.busy_load and hasattr(os, "getloadavg"):
            per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
            if per_core > self.busy_load:
                factors.append((2.0, "busy"))
        factor, reason = max(factors, key=lambda f: f[0])
        self.current = Decision(min(self.max_interval, self.base * factor), factor, reason)
        return self.current
