"""Backlog with consent: old data is not sent without the user's yes.

When a source is opened on a (re)connection, the data it is behind is split in two: the
*live tail* streams at once, and what is older than ``backlog_after`` or more than
``backlog_bytes`` behind becomes a *backlog segment* (the protocol allows the gap on the
collector). The policy decides what happens to segments: ``always`` sends them (through
/v1/backlog, gzip), ``never`` skips them for good, ``ask`` keeps them pending until
``logship backlog approve`` writes ``approvals.json`` in the state directory, or the
configured ``ask_command`` says yes (shipper/ask.py). The daemon reads that file (it
never writes it); the CLI never touches ``state.json``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from logship.kernel.errors import LogshipError
from logship.shipper.state import BacklogSegment, SourceState, atomic_write, first_gap

__all__ = [
    "APPROVALS_FILE",
    "Approvals",
    "BacklogError",
    "split_backlog",
    "approve",
    "read_approvals",
]

log = logging.getLogger("logship.shipper.backlog")

APPROVALS_FILE = "approvals.json"


class BacklogError(LogshipError):
    """An approval that names no pending backlog, or a state directory without status."""


@dataclass(frozen=True)
class Approvals:
    """What the user consented to: single segment ids, and everything created before ``all_at``."""

    ids: frozenset[str] = frozenset()
    all_at: float | None = None

    def covers(self, seg: BacklogSegment) -> bool:
        return seg.id in self.ids or (self.all_at is not None and seg.created_at <= self.all_at)


def read_approvals(state_dir: Path) -> Approvals:
    """The approvals file; missing or unreadable means no consent (one log line for the latter)."""
    path = Path(state_dir) / APPROVALS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        ids = frozenset(str(i) for i in doc.get("ids", []))
        all_at = doc.get("all_at")
        return Approvals(ids, None if all_at is None else float(all_at))
    except FileNotFoundError:
        return Approvals()
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("%s: unreadable approvals (%s): treated as no consent", path, exc)
        return Approvals()


def approve(state_dir: Path, seg_id: str | None = None, *, all_: bool = False,
            pending_ids: set[str] | None = None, now: float | None = None) -> Approvals:
    """Record consent for one pending segment or for all pending now; returns the new approvals.

    ``pending_ids`` (from status.json) lets the CLI reject an id that is not pending.
    """
    if not all_ and not seg_id:
        raise BacklogError("name a backlog id to approve, or --all")
    cur = read_approvals(state_dir)
    if all_:
        new = Approvals(cur.ids, time.time() if now is None else now)
    else:
        assert seg_id is not None
        if pending_ids is not None and seg_id not in pending_ids:
            raise BacklogError(
                f"no pending backlog {seg_id!r} in {state_dir} (pending: {', '.join(sorted(pending_ids)) or 'none'})"
            )
        new = Approvals(cur.ids | {seg_id}, cur.all_at)
    doc = {"ids": sorted(new.ids), "all_at": new.all_at}
    path = Path(state_dir) / APPROVALS_FILE
    try:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(doc).encode("utf-8"))
    except OSError as exc:
        # e.g. a full disk: the consent is not recorded, and the user must know it
        raise BacklogError(f"{path}: consent not recorded: {exc.strerror or exc}") from None
    return new


def split_backlog(
    st: SourceState,
    size: int,
    mtime: float,
    *,
    now: float,
    policy: str,
    backlog_after: float,
    backlog_bytes: int,
    line_end_after: Callable[[int], int | None],
) -> BacklogSegment | None:
    """Decide where the live stream starts; return a new backlog segment, if any.

    Call after ``st.ranges`` holds the collector's ranges. Gaps below the highest
    committed offset were skipped earlier and stay backlog; beyond that, bytes older than
    ``backlog_after`` or more than ``backlog_bytes`` behind ``size`` join the backlog,
    cut at a line boundary (``line_end_after(off)``: the offset just past the first
    newline at or after ``off``). ``st.live_from`` moves to the start of the live tail.
    """
    cursor = first_gap(st.ranges, st.live_from)
    top = max([cursor] + [e for _, e in st.ranges])
    old_cut = size if mtime <= now - backlog_after else st.offset_written_before(now - backlog_after)
    cut = max(old_cut, size - backlog_bytes)
    live = top
    if cut > top:
        boundary = line_end_after(cut - 1) if cut < size else size
        if boundary is not None:
            live = min(boundary, size)
    if live <= cursor:
        return None
    st.live_from = live
    for seg in st.backlogs:
        if seg.status == "pending" and seg.end >= cursor and seg.start <= live:
            seg.start, seg.end = min(seg.start, cursor), max(seg.end, live)
            return None
    if any(s.start <= cursor and s.end >= live for s in st.backlogs if s.status != "skipped"):
        return None  # already covered by an approved segment still under way
    status = {"always": "approved", "never": "skipped", "ask": "pending"}[policy]
    # the first byte was written before the first size sample that includes it
    oldest = next((t for t, sz in st.history if sz > cursor), mtime)
    seg = BacklogSegment(
        id=f"{st.key[:12]}-{cursor}", start=cursor, end=live, created_at=now, oldest=oldest,
        status=status, approved_at=now if status == "approved" else None,
    )
    st.backlogs.append(seg)
    log.info("backlog %s: %d bytes of %s (%s)", seg.id, live - cursor, st.path or st.origin, status)
    return seg
