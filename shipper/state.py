"""The shipper's checkpoint: what the collector has committed, per source.

Offsets here advance only on the collector's acks (and are replaced by the ranges the
collector sends in ``opened``: the collector wins), so a crash at any moment resends at
most what was in flight, and the collector subtracts what it already has. The file is
written atomically (temp file, fsync, rename, then fsync of the directory where the OS
allows it) and at most once a second. A missing, truncated, NUL-filled or otherwise
unreadable state file is not fatal: it is set aside as ``state.json.corrupt`` with one
log line, and the shipper starts empty; the collector's ranges then say what to skip.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "STATE_FILE",
    "SourceState",
    "BacklogSegment",
    "ShipperState",
    "add_range",
    "first_gap",
    "covered",
    "atomic_write",
    "os_error_text",
]

log = logging.getLogger("logship.shipper.state")

STATE_FILE = "state.json"
STATE_VERSION = 1
HISTORY_MAX = 64          # (time, size) samples kept per source, for the age of offsets
HISTORY_EVERY_S = 60.0


def add_range(ranges: list[list[int]], start: int, end: int) -> list[list[int]]:
    """Merge half-open ``[start, end)`` into sorted, non-overlapping ranges (adjacent merge)."""
    if end <= start:
        return ranges
    out: list[list[int]] = []
    placed = False
    for s, e in ranges:
        if e < start:
            out.append([s, e])
        elif s > end:
            if not placed:
                out.append([start, end])
                placed = True
            out.append([s, e])
        else:
            start, end = min(s, start), max(e, end)
    if not placed:
        out.append([start, end])
    out.sort()
    return out


def first_gap(ranges: list[list[int]], at: int = 0) -> int:
    """The first offset >= ``at`` that no range covers."""
    for s, e in ranges:
        if s <= at < e:
            at = e
    return at


def covered(ranges: list[list[int]], start: int, end: int) -> int:
    """How many bytes of ``[start, end)`` the ranges cover."""
    total = 0
    for s, e in ranges:
        lo, hi = max(s, start), min(e, end)
        if hi > lo:
            total += hi - lo
    return total


@dataclass
class BacklogSegment:
    """Old data of one source that waits for consent: ``[start, end)`` minus what is committed."""

    id: str
    start: int
    end: int
    created_at: float
    oldest: float | None = None       # best estimate of when its first byte was written
    status: str = "pending"           # pending | approved | done | skipped
    approved_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BacklogSegment:
        return cls(
            id=str(d["id"]), start=int(d["start"]), end=int(d["end"]),
            created_at=float(d["created_at"]),
            oldest=None if d.get("oldest") is None else float(d["oldest"]),
            status=str(d.get("status", "pending")),
            approved_at=None if d.get("approved_at") is None else float(d["approved_at"]),
        )


@dataclass
class SourceState:
    """What the shipper remembers about one source across restarts."""

    key: str
    head: bytes
    origin: str
    path: str = ""
    ranges: list[list[int]] = field(default_factory=list)   # committed, per the collector
    live_from: int = 0          # the live stream starts here; gaps below it are backlog
    backlogs: list[BacklogSegment] = field(default_factory=list)
    final_acked: bool = False   # FINAL committed: the source is complete
    done_at: float | None = None
    missed_bytes: int = 0
    history: list[list[float]] = field(default_factory=list)  # [time, size] samples

    @property
    def acked(self) -> int:
        """The committed end of the live stream (what the status calls the acked offset)."""
        return first_gap(self.ranges, self.live_from) if self.ranges else self.live_from

    def note_size(self, size: int, now: float) -> None:
        """Remember when the file had this size (to tell how old an offset is)."""
        if self.history and (size <= self.history[-1][1] or now - self.history[-1][0] < HISTORY_EVERY_S):
            return  # one sample a minute; an older sample only understates what is old
        self.history.append([now, size])
        if len(self.history) > HISTORY_MAX:
            del self.history[0]

    def offset_written_before(self, t: float) -> int:
        """An offset below which every byte was written before time ``t`` (0 if unknown)."""
        best = 0
        for ts, size in self.history:
            if ts <= t:
                best = max(best, int(size))
        return best

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "head_b64": base64.b64encode(self.head).decode("ascii"),
            "origin": self.origin,
            "path": self.path,
            "ranges": self.ranges,
            "live_from": self.live_from,
            "backlogs": [b.to_json() for b in self.backlogs],
            "final_acked": self.final_acked,
            "done_at": self.done_at,
            "missed_bytes": self.missed_bytes,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SourceState:
        ranges: list[list[int]] = []
        for s, e in d.get("ranges", []):
            ranges = add_range(ranges, int(s), int(e))
        return cls(
            key=str(d["key"]),
            head=base64.b64decode(d["head_b64"]),
            origin=str(d.get("origin", "")),
            path=str(d.get("path", "")),
            ranges=ranges,
            live_from=int(d.get("live_from", 0)),
            backlogs=[BacklogSegment.from_json(b) for b in d.get("backlogs", [])],
            final_acked=bool(d.get("final_acked", False)),
            done_at=None if d.get("done_at") is None else float(d["done_at"]),
            missed_bytes=int(d.get("missed_bytes", 0)),
            history=[[float(t), float(s)] for t, s in d.get("history", [])],
        )


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX only; Windows has no directory handles to fsync)."""
    if sys.platform == "win32":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def os_error_text(exc: OSError) -> str:
    """The error without the file name, so that a temp file's name does not make each line new."""
    if exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})" if exc.errno else exc.strerror
    return str(exc)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file.

    ``durable=False`` skips the fsyncs (the status file: informative, rewritten every
    second, and readers cope with its absence).

    On any error (a full disk, EIO) the temp file is removed and the error raised: the old
    file stays as it was, and no partial or empty temp file is left behind.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):  # open() itself may have failed
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def note_write_error(path: Path, before: str | None, now: str | None,
                     logger: logging.Logger = log) -> str | None:
    """Log a write error when it changes: one line when it starts, one when it is over
    (not one a second while a disk stays full). Returns ``now`` to store."""
    if now != before:
        if now is not None:
            logger.error("%s", now)
        else:
            logger.info("%s: written again (the write error is over)", path)
    return now


class ShipperState:
    """All sources' checkpoints, loaded once and saved atomically at most once a second."""

    def __init__(self, state_dir: Path, client_id: str, *, min_interval_s: float = 1.0) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / STATE_FILE
        self.client_id = client_id
        self.min_interval_s = min_interval_s
        self.sources: dict[str, SourceState] = {}
        self._dirty = False
        self._saved_at = 0.0
        self.load_error: str | None = None
        self.save_error: str | None = None   # why the last save failed; None once one succeeds

    def load(self) -> None:
        """Read the state file; anything unreadable is set aside and we start empty."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temp_files()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            doc = json.loads(raw.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
                raise ValueError(f"not a version {STATE_VERSION} state document")
            if doc.get("client_id") not in (None, self.client_id):
                raise ValueError(f"state of client {doc.get('client_id')!r}, not {self.client_id!r}")
            sources = {}
            for i, d in enumerate(doc.get("sources", [])):
                s = SourceState.from_json(d)
                sources[s.key] = s
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            self.load_error = f"{self.path}: unreadable state ({exc}); starting empty, the collector's ranges decide"
            log.warning("%s", self.load_error)
            try:
                os.replace(self.path, self.path.with_name(STATE_FILE + ".corrupt"))
            except OSError as exc2:
                log.warning("%s: cannot set aside: %s", self.path, exc2)
            return
        self.sources = sources

    def _remove_stale_temp_files(self) -> None:
        """Temp files of a run killed in the middle of a write (atomic_write's names): the
        rename never happened, so they hold nothing the state file needs, only disk space.
        Only the daemon's own files: approvals.json is written by the CLI, maybe right now."""
        for tmp in sorted([*self.dir.glob(f".{STATE_FILE}.*.tmp"), *self.dir.glob(".status.json.*.tmp")]):
            try:
                tmp.unlink()
                log.info("%s: removed (a write cut short by an earlier crash)", tmp)
            except OSError as exc:
                log.warning("%s: cannot remove: %s", tmp, exc)

    def get(self, key: str) -> SourceState | None:
        return self.sources.get(key)

    def put(self, st: SourceState) -> None:
        self.sources[st.key] = st
        self._dirty = True

    def drop(self, key: str) -> None:
        if self.sources.pop(key, None) is not None:
            self._dirty = True

    def mark_dirty(self) -> None:
        self._dirty = True

    def to_bytes(self) -> bytes:
        doc = {
            "version": STATE_VERSION,
            "client_id": self.client_id,
            "saved_at": time.time(),
            "sources": [s.to_json() for s in self.sources.values()],
        }
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")

    def maybe_save(self, now: float | None = None, *, force: bool = False) -> bool:
        """Save if something changed and the last save is at least ``min_interval_s`` old."""
        now = time.monotonic() if now is None else now
        if not self._dirty:
            return False
        if not force and now - self._saved_at < self.min_interval_s:
            return False
        try:
            atomic_write(self.path, self.to_bytes())
        except OSError as exc:
            # A full disk or EIO: keep running with the last good file on disk. What could
            # not be written stays dirty (retried on the next tick) and is never counted as
            # saved: after a crash the shipper resends from what the file says, and the
            # collector's committed ranges drop what it already has.
            self._set_save_error(f"cannot write {self.path}: {os_error_text(exc)}; will retry, "
                                 "the last saved state stays in place")
            self._saved_at = now
            return False
        self._dirty = False
        self._saved_at = now
        self._set_save_error(None)
        return True

    def _set_save_error(self, error: str | None) -> None:
        self.save_error = note_write_error(self.path, self.save_error, error)
