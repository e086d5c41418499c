"""The collector's exceptions (all LogshipError, so cli.py prints them as one line)."""

from __future__ import annotations

from shipper.errors import ConfigError, LogshipError

__all__ = ["CollectorError", "AuthFileError", "RemoteError", "QueryRefused", "QueryBusy", "ConfigError"]


class CollectorError(LogshipError):
    """The collector cannot start or run (port in use, bad TLS files, database held)."""


class AuthFileError(ConfigError):
    """A token file that cannot be read or has a malformed line (names file and line)."""


class RemoteError(LogshipError):
    """A running collector answered a remote query/ingest with an error."""


class QueryRefused(LogshipError):
    """A /v1/query statement that is not a single read-only SELECT, or that failed."""


class QueryBusy(LogshipError):
    """A /v1/query that waited past query_queue_timeout_s for a slot, or came while stopping (503)."""
