"""Gunzip that keeps every byte decompressed before damage, for every reader of .gz data.

gzip.GzipFile sits behind a buffer that loses a whole read's output when the stream
breaks off inside it, so a truncated archive read through it keeps less than its intact
start (and nothing at all when the damage is within the first read). The collector's
/v1/backlog, `logship ingest` and `logship check` all read through this module, so the
three keep (and count) the same intact start. Standard library only: `logship check`
and the shipper import it without DuckDB or pyarrow.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any, BinaryIO

from logship.kernel.errors import reason

__all__ = ["GunzipReader", "read_prefix", "damage_message"]


class GunzipReader(io.RawIOBase):
    """Gunzip as a stream that hands out every byte decompressed before any damage.

    Concatenated members continue the stream; a missing end marker is an EOFError, data
    that is not deflate a gzip.BadGzipFile (an OSError). Each read returns what one
    decompression step gave (possibly less than asked): loop, or use ``read_prefix``.
    """

    def __init__(self, raw: Any, in_bytes: int = 64 << 10, *, owns_raw: bool = False) -> None:
        self.raw = raw
        self.owns_raw = owns_raw  # close ``raw`` too (a file we opened; not a request body)
        self.in_bytes = in_bytes
        self.d = zlib.decompressobj(wbits=31)
        self.tail = b""  # compressed input not yet consumed

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            if self.d.eof:
                rest = self.d.unused_data + self.tail
                self.tail = b""
                if not rest:
                    rest = self.raw.read(self.in_bytes) or b""
                    if not rest:
                        return 0
                self.d = zlib.decompressobj(wbits=31)
                self.tail = rest
            if not self.tail:
                self.tail = self.raw.read(self.in_bytes) or b""
                if not self.tail:
                    raise EOFError("the gzip data ends before its end marker (truncated)")
            try:
                out = self.d.decompress(self.tail, len(b))
            except zlib.error as exc:
                raise gzip.BadGzipFile(f"the gzip data is corrupt: {exc}") from None
            self.tail = self.d.unconsumed_tail
            if out:
                b[:len(out)] = out
                return len(out)

    def close(self) -> None:
        try:
            if self.owns_raw and not self.closed:
                self.raw.close()
        finally:
            super().close()


def read_prefix(stream: BinaryIO | GunzipReader, n: int) -> tuple[bytes, BaseException | None]:
    """Up to ``n`` bytes, and the error that stopped the reading early (if any)."""
    out = bytearray()
    while len(out) < n:
        try:
            chunk = stream.read(min(n - len(out), 64 << 10))
        except (OSError, EOFError) as exc:  # zlib.error and BadGzipFile are OSErrors
            return bytes(out), exc
        if not chunk:
            break
        out += chunk
    return bytes(out), None


def damage_message(name: str, offset: int, exc: BaseException) -> str:
    """The one error line for an input that broke off at decompressed byte ``offset``.

    `logship check` and `logship ingest` print the same line for the same file.
    """
    return (f"{name}: truncated or corrupt at byte {offset:,} (of the decompressed data); "
            f"only the complete entries before it count: {reason(exc)}")
