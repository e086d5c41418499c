"""Retention of the watchdog's rotated log files: by age and total size, oldest first.

One owner deletes: the client-log writer keeps every rotated file (its count cap is off)
and the shipper's ``delete_acked_after`` stays off for this directory. A rotated file
the shipper has not had acknowledged is never deleted for its age; only the size cap
may force it, and the caller then says so in an event. Which files are acknowledged is
read from the shipper's status.json by content, not by name (a rename rotation changes
names): a file's source id (kernel/fingerprint.py) is in ``acked_sources``, or its
entry in ``files`` has ``acked`` at its size. Without a shipper state every file counts
as acknowledged (nobody ships the directory).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logship.kernel.fingerprint import read_head, source_id

__all__ = ["Deletion", "rotated_files", "is_acked", "plan", "prune"]


@dataclass(frozen=True, slots=True)
class Deletion:
    path: Path
    nbytes: int
    reason: str         # age | size
    acked: bool         # False: forced by the size cap


def rotated_files(current: Path) -> list[Path]:
    """`app.log.N[.gz]` beside `app.log`, oldest first (highest N first)."""
    pattern = re.compile(re.escape(current.name) + r"\.([1-9][0-9]*)(\.gz)?")
    found = []
    try:
        with os.scandir(current.parent) as it:
            for e in it:
                m = pattern.fullmatch(e.name)
                if m and e.is_file():
                    found.append((int(m.group(1)), Path(e.path)))
    except OSError:
        return []
    return [p for _, p in sorted(found, reverse=True)]


def is_acked(path: Path, size: int, status: dict[str, Any] | None) -> bool:
    """Whether the shipper has had all of this file acknowledged (True without a shipper)."""
    if status is None:
        return True
    client = status.get("client_id")
    if not isinstance(client, str):
        return False
    try:
        head = read_head(path)
    except OSError:
        return False
    if not head:
        return True    # an empty file holds nothing to lose
    key = source_id(client, head)
    if key in set(status.get("acked_sources") or ()):
        return True
    for f in status.get("files") or ():
        if isinstance(f, dict) and f.get("source_id") == key:
            return isinstance(f.get("acked"), int) and f["acked"] >= size
    return False


def plan(current: Path, keep_for: float, keep_bytes: int, status: dict[str, Any] | None,
         now: float) -> list[Deletion]:
    """What to delete now (rotated files only, never the file being written)."""
    files = []
    for p in rotated_files(current):
        try:
            st = p.stat()
        except OSError:
            continue
        files.append((p, st.st_size, st.st_mtime))
    try:
        total = current.stat().st_size
    except OSError:
        total = 0
    total += sum(size for _, size, _ in files)
    acked = {p: is_acked(p, size, status) for p, size, _ in files}
    out: list[Deletion] = []
    left = []
    for p, size, mtime in files:
        if keep_for and now - mtime > keep_for and acked[p]:
            out.append(Deletion(p, size, "age", True))
            total -= size
        else:
            left.append((p, size))
    if keep_bytes:
        for want_acked in (True, False):
            for p, size in list(left):
                if total <= keep_bytes:
                    break
                if acked[p] == want_acked:
                    out.append(Deletion(p, size, "size", acked[p]))
                    left.remove((p, size))
                    total -= size
    return out


def prune(current: Path, keep_for: float, keep_bytes: int, status: dict[str, Any] | None,
          now: float) -> list[tuple[Deletion, str | None]]:
    """Delete what :func:`plan` says; each deletion with None, or why it failed."""
    done: list[tuple[Deletion, str | None]] = []
    for d in plan(current, keep_for, keep_bytes, status, now):
        try:
            d.path.unlink()
        except FileNotFoundError:
            continue   # gone already (someone else's rotation): nothing to say
        except OSError as exc:
            done.append((d, exc.strerror or str(exc)))
            continue
        done.append((d, None))
    return done
