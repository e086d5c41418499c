"""The shipper's status file.

``status.json`` in the state directory, written atomically at most once a second by
the daemon, read by ``logship ship --status``, ``logship backlog``, the watchdog (to
sample less often when the shipper lags) and the app (to ask its user for consent).

Shape (all times are Unix seconds)::

    {"version": 1, "updated_at": ..., "pid": ..., "client_id": ..., "collector": ...,
     "connection": {"state": "connected|connecting|down", "since": ..., "last_error": ...,
                    "reconnects": N},
     "files": [{"path", "source_id", "sid", "size", "acked", "lag_bytes", "lag_seconds",
                "missed_bytes", "final"}],
     "backlog": {"policy": "ask|always|never", "pending_files": N, "pending_bytes": N,
                 "approved_bytes": N, "oldest": t|null, "segments": [{"id", "path", "bytes", "oldest", "status"}]},
     "consent": "none_needed|needed|given",
     "missed_bytes_total": N,
     "state_error": "..."|null,  # why state.json cannot be written now (a full disk, EIO)
     "unsettled_files": N}     # files < 1 KiB still growing, not named (nor shipped) yet
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from shipper.errors import LogshipError
from shipper.state import atomic_write, note_write_error, os_error_text

log = logging.getLogger("logship.shipper.status")

__all__ = ["STATUS_FILE", "StatusError", "StatusWriter", "read_status", "format_status", "format_backlog"]

STATUS_FILE = "status.json"
STATUS_VERSION = 1


class StatusError(LogshipError):
    """No readable status file: the shipper has not run with this state directory."""


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


def read_status(state_dir: Path) -> dict[str, Any]:
    path = Path(state_dir) / STATUS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StatusError(f"{path}: no status file (has the shipper run with --state-dir {state_dir}?)") from None
    except (OSError, ValueError) as exc:
        raise StatusError(f"{path}: unreadable status file: {exc}") from None
    if not isinstance(doc, dict):
        raise StatusError(f"{path}: status file is not a JSON object")
    return doc


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def format_backlog(doc: dict[str, Any]) -> str:
    bl = doc.get("backlog", {})
    segs = bl.get("segments", [])
    rows = [[s["id"], s.get("status", ""), _size(s.get("bytes", 0)), _when(s.get("oldest")), s.get("path", "")]
            for s in segs]
    head = (f"backlog policy {bl.get('policy', '?')}: {bl.get('pending_files', 0)} file(s), "
            f"{_size(bl.get('pending_bytes', 0))} waiting, oldest {_when(bl.get('oldest'))}"
            + (f"; {_size(bl['approved_bytes'])} approved, not yet stored" if bl.get("approved_bytes") else ""))
    return head + ("\n" + _table(["id", "status", "bytes", "oldest", "path"], rows) if rows else "")


def format_status(doc: dict[str, Any]) -> str:
    conn = doc.get("connection", {})
    age = time.time() - float(doc.get("updated_at", 0))
    out = [
        f"shipper pid {doc.get('pid')} client {doc.get('client_id')} -> {doc.get('collector')}",
        f"connection: {conn.get('state')} since {_when(conn.get('since'))}, reconnects {conn.get('reconnects', 0)}"
        + (f", last error: {conn['last_error']}" if conn.get("last_error") else ""),
        f"status written {age:.0f} s ago; consent: {doc.get('consent')}; "
        f"bytes missed to truncation: {doc.get('missed_bytes_total', 0)}",
    ]
    if doc.get("state_error"):
        out.append(f"state NOT saved: {doc['state_error']}")
    out.append("")
    rows = [
        [f.get("path", ""), str(f.get("sid") if f.get("sid") is not None else "-"), str(f.get("size", 0)),
         str(f.get("acked", 0)), str(f.get("lag_bytes", 0)), f"{f.get('lag_seconds', 0):.0f}",
         str(f.get("missed_bytes", 0)), "yes" if f.get("final") else ""]
        for f in doc.get("files", [])
    ]
    out.append(_table(["path", "sid", "size", "acked", "lag B", "lag s", "missed", "final"], rows))
    out.append("")
    out.append(format_backlog(doc))
    return "\n".join(out)
