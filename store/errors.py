"""The store's expected failures. cli.py catches LogshipError once and prints one line."""

from __future__ import annotations

from logship.kernel.errors import LogshipError

__all__ = ["StoreError", "QueryError", "SchemaError", "UnknownSource", "InputError", "OutputError", "RemoteError"]


class StoreError(LogshipError):
    """A failure of the DuckDB store (opening, locking, committing)."""


class SchemaError(StoreError):
    """The database file has a schema version newer than this program knows."""


class QueryError(StoreError):
    """A user's SQL that DuckDB rejected (syntax, unknown table, type error)."""


class UnknownSource(StoreError):
    """An ingest for a source id the store has never resolved."""


class InputError(StoreError):
    """A path given to `logship ingest` that cannot be read (missing, unreadable, bad gzip)."""


class OutputError(StoreError):
    """An output request that cannot be met (parquet without --output, unwritable file)."""


class RemoteError(LogshipError):
    """A running collector answered a remote query/ingest with an error."""
