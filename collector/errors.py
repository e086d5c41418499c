"""The collector's exceptions (all LogshipError, so cli.py prints them as one line)."""

from __future__ import annotations

from logship.kernel.errors import ConfigError, LogshipError
from logship.store.errors import RemoteError

__all__ = ["CollectorError", "AuthFileError", "RemoteError", "QueryRefused", "QueryBusy", "ConfigError"]


class CollectorError(LogshipError):
    """The collector cannot start or run (port in use, bad TLS files, database held)."""


class AuthFileError(ConfigError):
    """A token file that cannot be read or has a malformed line (names file and line)."""


class QueryRefused(LogshipError):
    """A /v1/query statement that is not a single read-only SELECT, or that failed."""


class QueryBusy(LogshipError):
    """A /v1/query that waited past query_queue_timeout_s for a slot, or came while stopping (503)."""
