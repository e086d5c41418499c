"""Source identity: which byte stream a file is, independent of its path or inode.

A source is one log file's byte stream on one client. Its id is
``sha256(client_id + "\\0" + head)`` where head is the first ``min(size, 1024)`` bytes
of the (decompressed) file. The shipper and ``logship ingest`` both call this module,
so a file streamed live and its gzipped archive ingested later resolve to one source.
It imports nothing heavy: it runs on users' desktops.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

__all__ = ["HEAD_BYTES", "source_id", "read_head", "heads_match", "is_gzip"]

HEAD_BYTES = 1024
_GZIP_MAGIC = b"\x1f\x8b"


def source_id(client_id: str, head: bytes) -> str:
    """The id a source gets when it is first seen (hex sha256)."""
    return hashlib.sha256(client_id.encode("utf-8") + b"\0" + head[:HEAD_BYTES]).hexdigest()


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic (the name alone is not trusted)."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == _GZIP_MAGIC
    except OSError:
        return False


def read_head(path: str | Path) -> bytes:
    """The first HEAD_BYTES of the file's decompressed stream (fewer if it is shorter).

    A truncated or corrupt gzip yields whatever decompressed before the damage.
    """
    if is_gzip(path):
        out = bytearray()
        try:
            with gzip.open(path, "rb") as f:
                while len(out) < HEAD_BYTES:
                    chunk = f.read(HEAD_BYTES - len(out))
                    if not chunk:
                        break
                    out += chunk
        except (OSError, EOFError):
            pass
        return bytes(out)
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


def heads_match(a: bytes, b: bytes) -> bool:
    """Two heads name the same source when one is a prefix of the other.

    A short file that grows keeps its identity: its stored head is a prefix of the
    longer head read later. An empty head matches nothing (no content, no identity).
    """
    if not a or not b:
        return False
    a, b = a[:HEAD_BYTES], b[:HEAD_BYTES]
    return a.startswith(b) if len(a) >= len(b) else b.startswith(a)
