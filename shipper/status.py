"""Writes the shipper's status file (its shape and reader: logship.kernel.status)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from logship.kernel.status import STATUS_FILE, STATUS_VERSION
from logship.shipper.state import atomic_write, note_write_error, os_error_text

log = logging.getLogger("logship.shipper.status")

__all__ = ["StatusWriter"]


class StatusWriter:
    """Writes the document when it changed, at most every ``min_interval_s``."""

    def __init__(self, state_dir: Path, min_interval_s: float = 1.0) -> None:
        self.path = Path(state_dir) / STATUS_FILE
        self.min_interval_s = min_interval_s
        self._last: bytes = b""
        self._at = 0.0
        self.write_error: str | None = None   # why the last write failed; None once one succeeds

    def due(self, now: float | None = None) -> bool:
        """Whether a write could happen now (callers skip building the document otherwise)."""
        now = time.monotonic() if now is None else now
        return now - self._at >= self.min_interval_s

    def maybe_write(self, doc: dict[str, Any], *, force: bool = False, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if not force and now - self._at < self.min_interval_s:
            return False
        body = {k: v for k, v in doc.items() if k != "updated_at"}
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        if data == self._last and not force and now - self._at < 5.0:
            return False  # unchanged: keep the disk quiet (still refreshed every 5 s, a liveness sign)
        self._at = now
        full = {"version": STATUS_VERSION, "updated_at": time.time(), **doc}
        try:
            atomic_write(self.path, json.dumps(full, indent=1).encode("utf-8"), durable=False)
        except OSError as exc:
            # informative only: a full disk must not stop the shipper; retried when due
            self._set_error(f"cannot write {self.path}: {os_error_text(exc)}; will retry")
            return False
        self._last = data
        self._set_error(None)
        return True

    def _set_error(self, error: str | None) -> None:
        self.write_error = note_write_error(self.path, self.write_error, error, log)
