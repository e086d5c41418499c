"""Item: a source's bytes on their way into the store (the one work-item type).

Every way in makes these: the file reader and HTTP bodies cut streams into them
(store/segments.py), the collector's writer makes them of what a connection sent,
and the commit path (store/commit.py) plans, parses and writes a list of them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Item"]


@dataclass(frozen=True, slots=True)
class Item:
    """``data`` covers ``[start, end)`` of source ``source_id``; it starts at a line boundary.

    final: the last entry in ``data`` is complete (the next line starts an entry, or the
    stream ended: then the last line may lack its newline); pass it to the parser.
    span: set for ONE line longer than max_line_bytes whose ``data`` holds only its
    first bytes (a TRUNCATED frame, or the cutter's over-long line); it becomes one
    ``line_too_long`` reject covering the whole span.
    kind: the ``ingests`` row's kind (store.commit.INGEST_KINDS).
    received_at: when the intake received these bytes (epoch seconds), set only where it
    declares that this time stands in for an entry without a timestamp (HTTP bodies);
    the rows then say ``ts_source = 'received'`` (docs/storage.md).
    eof: the source's stream ends with this item (a FINAL frame, a final body): an
    ``unknown`` source is detected again here (store/commit.py).
    """

    source_id: str
    start: int
    data: bytes
    final: bool = True
    kind: str = "live"
    span: int | None = None
    received_at: float | None = None
    eof: bool = False

    @property
    def end(self) -> int:
        return self.start + (self.span if self.span is not None else len(self.data))

    @property
    def truncated(self) -> bool:
        return self.span is not None and self.span > len(self.data)
