"""Where every intake's records go: canonical lines appended to an intake source.

A store built on byte ranges needs bytes: each intake renders its payload as lines (one
JSON object a line for the structured protocols, the syslog message itself for syslog)
and appends them to a source of its own per client, per intake and per UTC day (its
head `logship:intake/<intake>?day=<YYYY-MM-DD>[&<part>]`, its path the same). The
source's format (jsonl, or a syslog grammar) parses them in the one commit path, like
any /v1/lines body: the formats are the only place where `@timestamp`, `log.level`,
severity and the like are read; an intake maps only its envelope.

Appends to one source are serialised (one lock per source) and go after everything
committed: at-least-once, like /v1/lines bodies without an offset. Entries without a
time of their own take the receive time (`ts_source = 'received'`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
import weakref
from dataclasses import dataclass
from typing import Any

from logship.parser.jsontext import compact_encoder

from ..bodies import BodyError, ingest_stream_blocking
from ..state import CollectorState
from ..storeport import StoreUnavailable
from ..writer import Work

__all__ = ["Busy", "Appended", "append", "ndjson_line", "canonical_json", "intake_head", "check_space"]

# ASCII-only: a lone surrogate decoded from JSON text ("\ud800") survives as its escape
_encode = compact_encoder(ensure_ascii=True)
canonical_json = _encode  # one value as canonical JSON text (for intakes that write lines as text)


def ndjson_line(obj: Any) -> bytes:
    """One record as one canonical JSON line (ValueError for NaN/Infinity)."""
    return _encode(obj).encode("ascii") + b"\n"


class Busy(Exception):
    """The collector cannot take this now (queue full, stopping, store failing): each
    intake answers its protocol's retryable status, with Retry-After."""

    def __init__(self, message: str, retry_after: float = 1.0, store: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.store = store


@dataclass(frozen=True)
class Appended:
    """What one append committed (the intake's answer and its metrics)."""

    source_id: str
    start: int
    end: int
    lines: int
    records: int
    rejects: int


def intake_head(intake: str, day: str, part: str = "") -> bytes:
    """The synthetic head (and path) of an intake source; it ends in a newline, so no
    head is a prefix of another's (heads that extend each other are one source)."""
    return f"logship:intake/{intake}?day={day}{'&' + part if part else ''}\n".encode()


def check_space(state: CollectorState) -> None:
    """Busy when the writer's queue is full or the collector is stopping: the intakes
    answer at once with their protocol's retry status instead of holding the sender."""
    if state.shutting_down:
        raise Busy("the collector is stopping; retry later", 5.0)
    if state.writer.health.failing:
        raise Busy(f"the store cannot commit now: {state.writer.health.error}", 5.0, store=True)
    if state.writer.full:
        raise Busy("the collector's queue is full; retry later", 1.0)


async def append(state: CollectorState, client_id: str, intake: str, data: bytes, *,
                 log_format: str = "jsonl", part: str = "", tz: str = "UTC",
                 received_at: float | None = None, span: int | None = None) -> Appended:
    """Append whole lines (`data` ends with a newline) to the client's source of this
    intake and day, and wait for their commit. Raises Busy (retry later).

    `span` set: `data` is the kept start of ONE line longer than max_line_bytes that
    covers `span` bytes of the source (its newline included); it is committed as the
    body path commits an over-long line, one `line_too_long` reject, without the
    rest of it ever being held (syslog reads past an over-long frame)."""
    check_space(state)
    now = time.time() if received_at is None else received_at
    day = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%d")
    head = intake_head(intake, day, part)
    source_id = await _resolve(state, client_id, head, log_format, tz)
    lock = state.lines_locks.setdefault(source_id, asyncio.Lock())
    loop = asyncio.get_running_loop()
    async with lock:
        # the source's end as the store last wrote it, at hand without a query: after
        # this source's last append (acked once written) or another's commit to it. Read
        # on the writer's thread only when the store does not have it (the first append,
        # after a reopen or a rollback): that read waits for the batch being written
        # (~0.1 s a request under load, measured), while the request is nowhere in the
        # pipeline
        start = state.store.known_end(source_id)
        if start is None:
            start = await _stored_end(state, source_id, (client_id, head, log_format, tz))
        if span is not None:
            return await _append_long(state, source_id, start, data, span, now)
        try:
            # the body path: cut at line boundaries, over-long lines as line_too_long
            # rejects, pieces committed in order; kind live: the receive time stands in
            res = await loop.run_in_executor(state.body_pool, ingest_stream_blocking, state, loop, source_id,
                                             start, io.BytesIO(data), False, "live", True, True, None)
        except BodyError as exc:
            raise Busy(f"not committed: {exc}", 5.0, store=True) from None
    m = state.metrics
    m.lines_received += data.count(b"\n")
    m.bytes_received += len(data)
    m.acks += 1
    return Appended(source_id, start, res.committed_end, res.lines, res.records, res.rejects)


async def _stored_end(state: CollectorState, source_id: str, key: tuple[str, bytes, str, str]) -> int:
    """The end of a source's committed ranges, read on the writer's thread."""
    try:
        end: int = await state.on_writer(lambda: state.store.source(source_id).end, flush=False)
    except StoreUnavailable as exc:
        raise Busy(str(exc), 5.0, store=True) from None
    except Exception:  # noqa: BLE001 - the source went (pruned, replaced): resolved again next time
        _resolved(state).pop(key, None)
        raise
    return end


# an intake source's id by (client, head, format, zone), and when it was resolved
_RESOLVED: "weakref.WeakKeyDictionary[CollectorState, dict[tuple[str, bytes, str, str], tuple[str, float]]]" = \
    weakref.WeakKeyDictionary()
RESOLVE_EVERY_S = 60.0


def _resolved(state: CollectorState) -> dict[tuple[str, bytes, str, str], tuple[str, float]]:
    return _RESOLVED.setdefault(state, {})


async def _resolve(state: CollectorState, client_id: str, head: bytes, log_format: str, tz: str) -> str:
    """The source of this client, intake and day. Resolving it is a query and an update
    on the writer's thread, as costly as parsing a few hundred records, and changes
    nothing of an intake source after the first time (its head, path and format are
    fixed; each commit sets its `last_seen`): an append resolves it again only when its
    last resolution is RESOLVE_EVERY_S old, or the source went (then the next one does)."""
    key = (client_id, head, log_format, tz)
    cache = _resolved(state)
    got = cache.get(key)
    now = time.monotonic()
    if got is not None and now - got[1] < RESOLVE_EVERY_S:
        return got[0]
    try:
        info = await state.resolve(client_id, head, path=head.decode().rstrip("\n"), log_format=log_format, tz=tz)
    except StoreUnavailable as exc:
        raise Busy(str(exc), 5.0, store=True) from None
    cache[key] = (info.source_id, now)
    return info.source_id  # type: ignore[no-any-return]


async def _append_long(state: CollectorState, source_id: str, start: int, head: bytes, span: int,
                       received_at: float) -> Appended:
    """One over-long line (its start `head`, `span` bytes in all) through the writer."""
    done = await state.writer.submit_wait(Work(source_id, start, head, kind="live", final=True, span=span,
                                               keep_tail=False, received_at=received_at))
    if done.error:
        raise Busy(f"not committed: {done.error}", 5.0, store=True)
    m = state.metrics
    m.lines_received += 1
    m.bytes_received += span
    m.acks += 1
    return Appended(source_id, start, done.acked_end, done.lines, done.records, done.rejects)
