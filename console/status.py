"""Human-readable views of the shipper's status file, for `logship ship --status` and `logship backlog`."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["format_status", "format_backlog"]


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
