"""The root of logship's exceptions. Each package subclasses it in its own errors module;
cli.py catches LogshipError once and prints it as one line. Stdlib only (light)."""

from __future__ import annotations

__all__ = ["LogshipError", "ConfigError"]


class LogshipError(Exception):
    """An expected failure with a message fit for one line of CLI output."""

    exit_code = 1


class ConfigError(LogshipError):
    """A config file or option that is invalid: unknown key, wrong type, bad value."""

    exit_code = 2
