"""The `unknown` format: a source whose format detection could not tell.

Live paths never refuse bytes (a shipper must get its acks), so such a source is stored
under this format: every entry is a visible reject ``unknown_format`` whose message names
the nearest formats and their hit rates (kept in the source's context as ``nearest``, with ``seen``, the entries so far),
never the terms of one format. ``logship reparse`` re-detects and replaces them.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from .batch import ParsedBatch
from .grammar import GrammarSpec

__all__ = ["UnknownHandler", "UNKNOWN", "unknown_message"]

UNKNOWN = "unknown"


def unknown_message(nearest: str | None) -> str:
    """The error of an ``unknown_format`` reject."""
    return ("the source's format could not be detected"
            + (f" (nearest: {nearest})" if nearest and nearest != "none" else " (no format reads its lines)")
            + "; give it with --log-format, or `logship reparse` re-detects")


class UnknownHandler:
    """Every entry -> one ``unknown_format`` reject."""

    def __init__(self, spec: GrammarSpec, lark: Any, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None = None) -> None:
        self._context = dict(context or {})
        self._error = unknown_message(self._context.get("nearest"))

    def context(self) -> dict[str, Any]:
        return dict(self._context)

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch,
               offset: int) -> tuple[str, str] | None:
        self._context["seen"] = int(self._context.get("seen", 0)) + 1  # entries: when to detect again
        return "unknown_format", self._error
