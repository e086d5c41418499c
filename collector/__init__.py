"""The collector: `logship collect`, a streaming server (Protocol v1) in front of store/.

Imports store/ (duckdb, pyarrow) lazily, inside `serve`: importing this package stays
light (no duckdb, pyarrow or lark until it serves); docs/protocol.md is the wire contract.
"""

from __future__ import annotations

from .config import CollectorConfig, load_config
from .errors import AuthFileError, CollectorError, QueryRefused, RemoteError

__all__ = ["CollectorConfig", "load_config", "CollectorError", "AuthFileError", "QueryRefused", "RemoteError"]
