"""Column batches: what one parse call yields, as column lists ready for Arrow.

Columns, not records: the store builds an Arrow table straight from these lists
(`pyarrow.table(batch.metrics.columns())`), and nothing builds a dict per line. All
classes are plain dataclasses of lists, so a batch pickles cheaply out of a worker
process.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["MetricColumns", "EventColumns", "RejectColumns", "ParsedBatch", "ParseResult"]


class _Columns:
    """Shared behaviour of the three column groups: length, dict view, extension."""

    def __len__(self) -> int:
        return len(self.byte_offset)  # type: ignore[attr-defined]

    def columns(self) -> dict[str, list[Any]]:
        """{column name: list}, in schema order (for `pyarrow.table(...)`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def extend(self, other: "_Columns") -> None:
        """Append another batch's rows (e.g. the results of several worker chunks)."""
        for f in fields(self):  # type: ignore[arg-type]
            getattr(self, f.name).extend(getattr(other, f.name))

    def row(self, i: int) -> dict[str, Any]:
        """One row as a dict: for tests and error messages, never for bulk work."""
        return {f.name: getattr(self, f.name)[i] for f in fields(self)}  # type: ignore[arg-type]


@dataclass
class MetricColumns(_Columns):
    """One row per metric sample. value is in canonical units (bytes, seconds, percent)."""

    ts_us: list[int | None] = field(default_factory=list)
    session_id: list[str | None] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    unit: list[str | None] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)  # JSON text
    byte_offset: list[int] = field(default_factory=list)
    # where ts came from: line (the entry's own), received (the receive time stood in),
    # previous (an earlier entry's); filled by EntryParser, so handlers need not
    ts_source: list[str] = field(default_factory=list)


@dataclass
class EventColumns(_Columns):
    """One row per event (session marks are events named session.start/session.end)."""

    ts_us: list[int | None] = field(default_factory=list)
    session_id: list[str | None] = field(default_factory=list)
    level: list[str | None] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    message: list[str | None] = field(default_factory=list)
    attrs: list[str | None] = field(default_factory=list)  # JSON text
    byte_offset: list[int] = field(default_factory=list)
    ts_source: list[str] = field(default_factory=list)  # as MetricColumns.ts_source


@dataclass
class RejectColumns(_Columns):
    """One row per entry that did not parse, with its raw bytes and a named error."""

    byte_offset: list[int] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    error_code: list[str] = field(default_factory=list)
    error: list[str] = field(default_factory=list)

    def add(self, byte_offset: int, raw: bytes, error_code: str, error: str) -> None:
        self.byte_offset.append(byte_offset)
        self.raw.append(raw)
        self.error_code.append(error_code)
        self.error.append(error)


@dataclass
class ParsedBatch:
    """The records of one parse call: metric samples, events and rejects."""

    metrics: MetricColumns = field(default_factory=MetricColumns)
    events: EventColumns = field(default_factory=EventColumns)
    rejects: RejectColumns = field(default_factory=RejectColumns)

    @property
    def records(self) -> int:
        """Metric samples plus events (rejects are not records)."""
        return len(self.metrics) + len(self.events)

    def extend(self, other: "ParsedBatch") -> None:
        self.metrics.extend(other.metrics)
        self.events.extend(other.events)
        self.rejects.extend(other.rejects)


@dataclass
class ParseResult:
    """What `EntryParser.parse` consumed and produced.

    end_offset: where the next call must start (the start of an unfinished entry when
    final is false). lines/entries: how many were consumed. context: JSON-serialisable
    state to pass back as `EntryParser(context=...)` when the source resumes.
    """

    batch: ParsedBatch
    end_offset: int
    lines: int
    entries: int
    context: dict[str, Any]
    future: int = 0  # entries dated more than Limits.future_tolerance_s past their reference time
