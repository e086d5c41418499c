"""The root of logship's exceptions. Each package subclasses it in its own errors module;
cli.py catches LogshipError once and prints it as one line. Stdlib only (light)."""

from __future__ import annotations

__all__ = ["LogshipError", "ConfigError", "one_line", "reason"]


class LogshipError(Exception):
    """An expected failure with a message fit for one line of CLI output."""

    exit_code = 1


class ConfigError(LogshipError):
    """A config file or option that is invalid: unknown key, wrong type, bad value."""

    exit_code = 2


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (DuckDB and zlib messages span several)."""
    return " ".join(str(exc).split())


def reason(exc: BaseException) -> str:
    """``Type: text`` on one line, or the type's name when the text is empty."""
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
