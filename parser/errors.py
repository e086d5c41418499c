"""The parser's exceptions: failures a user can cause (an unknown format name, a grammar
that does not load or does not parse its own samples). Bad log lines are never
exceptions: they become rejects."""

from __future__ import annotations

from logship.kernel.errors import LogshipError

__all__ = ["ParserError", "UnknownFormatError", "GrammarError"]


class ParserError(LogshipError):
    """Base of the parser package's user-facing errors."""


class UnknownFormatError(ParserError):
    """A log format name that is neither shipped nor in a --grammar-dir."""

    exit_code = 2


class GrammarError(ParserError):
    """A format grammar that cannot be loaded, or whose directives are invalid."""

    exit_code = 2
