"""How `logship ingest` reports progress (the bar itself is logship.console.progress).

The ingest driver reports through the small IngestProgress protocol, so it stays free
of presentation and the collector (or a test) can pass its own observer.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["IngestProgress", "NullProgress"]


class IngestProgress(Protocol):
    def start_file(self, name: str, total_bytes: int | None) -> None: ...
    def advance(self, nbytes: int, lines: int, rejects: int) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def start_file(self, name: str, total_bytes: int | None) -> None:
        pass

    def advance(self, nbytes: int, lines: int, rejects: int) -> None:
        pass

    def close(self) -> None:
        pass
