"""Which stored source each of many heads belongs to: the rule, planned in memory.

A head names the source of the same client whose stored head is the same, or a prefix
of it, or extends it (a short file that grew: kernel/fingerprint.py heads_match); a
head that names none is a new source. Resolving extends the stored head, fills a
missing path or format and raises the mtime (Store.resolve_sources writes the plan).

Many heads are resolved at once when a fleet connects (a collector restart): one query
for the candidates, one insert, one update, one transaction, instead of one of each a
head. `plan` gives the outcome resolving them one after the other would have given,
each seeing what the ones before it created or extended: the batch is only faster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logship.kernel.fingerprint import HEAD_BYTES, heads_match, source_id as make_source_id

__all__ = ["SourceAsk", "StoredSource", "Plan", "plan"]


@dataclass(frozen=True)
class SourceAsk:
    """One head to resolve, with what its sender says of the source (Store.resolve_source's
    arguments). ``head`` is already cut to HEAD_BYTES and not empty."""

    client_id: str
    head: bytes
    path: str | None = None
    log_format: str | None = None
    tz: str = "UTC"
    mtime: float | None = None
    format_hit_rate: float | None = None


@dataclass
class StoredSource:
    """A sources row as the plan sees it (and leaves it). ``mtime``: the greatest of the
    asks' mtimes, None when none gave one (the stored mtime is raised to it in SQL)."""

    source_id: str
    client_id: str
    head: bytes
    path: str | None
    log_format: str | None
    format_hit_rate: float | None
    tz: str = "UTC"
    mtime: float | None = None
    new: bool = False  # created by this plan (INSERT), else stored before it (UPDATE)


@dataclass
class Plan:
    """Each ask's source id (in ask order) and the rows to write."""

    source_ids: list[str] = field(default_factory=list)
    touched: dict[str, StoredSource] = field(default_factory=dict)

    @property
    def inserts(self) -> list[StoredSource]:
        return [s for s in self.touched.values() if s.new]

    @property
    def updates(self) -> list[StoredSource]:
        return [s for s in self.touched.values() if not s.new]


def plan(asks: list[SourceAsk], stored: list[StoredSource]) -> Plan:
    """Resolve ``asks`` in order against ``stored``: every stored source of the asks'
    clients that one of them could match (Store.resolve_sources' candidate query).

    A stored head of HEAD_BYTES matches only a head with its own source id or a shorter
    head (a full head that grew no further is its own identity), as the single query of
    one head always did."""
    by_client: dict[str, dict[str, StoredSource]] = {}
    for row in stored:
        by_client.setdefault(row.client_id, {})[row.source_id] = row
    out = Plan()
    for ask in asks:
        known = by_client.setdefault(ask.client_id, {})
        sid = make_source_id(ask.client_id, ask.head)
        match = known.get(sid)
        if match is None:
            short = len(ask.head) < HEAD_BYTES
            best: StoredSource | None = None
            for row in known.values():
                if (short or len(row.head) < HEAD_BYTES) and heads_match(row.head, ask.head) and (
                        best is None or len(row.head) > len(best.head)):
                    best = row
            match = best
        if match is None:
            match = known[sid] = StoredSource(
                source_id=sid, client_id=ask.client_id, head=ask.head, path=ask.path,
                log_format=ask.log_format, format_hit_rate=ask.format_hit_rate, tz=ask.tz,
                mtime=ask.mtime, new=True)
        else:
            _extend(match, ask)
        out.touched[match.source_id] = match
        out.source_ids.append(match.source_id)
    return out


def _extend(row: StoredSource, ask: SourceAsk) -> None:
    """What resolving ``ask`` to ``row`` changes: a longer head, the path it gives, the
    format when the source had none (with the hit rate that came with it), the later mtime."""
    if len(ask.head) > len(row.head):
        row.head = ask.head
    if ask.path is not None:
        row.path = ask.path
    if row.log_format is None:
        row.format_hit_rate = ask.format_hit_rate
        row.log_format = ask.log_format
    if ask.mtime is not None and (row.mtime is None or ask.mtime > row.mtime):
        row.mtime = ask.mtime
