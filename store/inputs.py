"""What `logship ingest PATH...` reads: files, directories, globs, .gz, and stdin.

Gzip is recognised by its magic bytes (kernel/fingerprint.py), never by the name, and
offsets count bytes of the decompressed stream, so a file and its archive line up.
"""

from __future__ import annotations

import glob
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from logship.parser.detect import DETECT_PEEK_BYTES
from logship.kernel.fingerprint import HEAD_BYTES, is_gzip, read_head
from logship.kernel.gunzip import GunzipReader, read_prefix

__all__ = ["InputFile", "OpenedInput", "expand_inputs", "open_input", "client_id_for", "PrefixedStream"]

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class InputFile:
    """One thing to ingest. ``path`` None means stdin; ``root`` is the directory argument
    it was found under (for ``--client-id-from-dir``)."""

    path: Path | None
    name: str
    root: Path | None = None

    @property
    def size(self) -> int | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_size
        except OSError:
            return None


class PrefixedStream:
    """A binary stream with some already-read bytes put back in front of it."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            if n < 0 or n >= len(self._prefix):
                out, self._prefix = self._prefix, b""
                if n < 0:
                    return out + self._rest.read()
                return out
            out, self._prefix = self._prefix[:n], self._prefix[n:]
            return out
        return self._rest.read(n)

    def close(self) -> None:
        self._rest.close()


@dataclass
class OpenedInput:
    """An open decompressed stream with what resolve_source needs."""

    stream: PrefixedStream
    head: bytes
    mtime: float
    gzipped: bool
    peek: bytes  # the first bytes of the decompressed stream (for format detection)
    at_end: bool  # the stream ends with ``peek`` (its last line is whole even without a newline)
    early_error: BaseException | None = None  # damage found while reading ``peek``


def expand_inputs(args: list[str]) -> tuple[list[InputFile], list[str]]:
    """(inputs in a stable order, one error line per argument that names nothing)."""
    found: list[InputFile] = []
    errors: list[str] = []
    seen: set[Path] = set()

    def add(path: Path, root: Path | None) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(InputFile(path=path, name=str(path), root=root))

    def add_dir(d: Path) -> None:
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            add(f, d)

    for arg in args:
        if arg == "-":
            found.append(InputFile(path=None, name="<stdin>"))
            continue
        p = Path(arg)
        if p.is_dir():
            add_dir(p)
        elif p.exists():
            add(p, None)
        elif glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                errors.append(f"{arg}: no file matches this pattern")
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    add_dir(mp)
                elif mp.is_file():
                    add(mp, None)
        else:
            errors.append(f"{arg}: no such file or directory")
    return found, errors


def client_id_for(inp: InputFile, default: str, from_dir: bool) -> str:
    """The first folder below the directory argument when asked to, else ``default``."""
    if from_dir and inp.path is not None and inp.root is not None:
        rel = inp.path.relative_to(inp.root).parts
        if len(rel) > 1:
            return rel[0]
    return default


def open_input(inp: InputFile, stdin: BinaryIO | None = None, peek_bytes: int = DETECT_PEEK_BYTES) -> OpenedInput:
    """Open the decompressed stream; raises OSError/EOFError for unreadable input.

    The first ``peek_bytes`` are read ahead (head and format detection) and put back.
    A gzip that fails before its first byte raises; one that fails later keeps its
    intact start and reports the damage in ``early_error`` (or, later in the stream,
    through store/segments.py's ReadFailure). Gzip is read through kernel/gunzip.py,
    which keeps every byte decompressed before the damage, as `logship check` and
    /v1/backlog do.
    """
    if inp.path is None:
        raw: BinaryIO = stdin if stdin is not None else sys.stdin.buffer
        magic, err = read_prefix(raw, 2)
        if err is not None:
            raise err
        base = PrefixedStream(magic, raw)
        gzipped = magic == _GZIP_MAGIC
        stream: BinaryIO = GunzipReader(base, owns_raw=True) if gzipped else base  # type: ignore[assignment]
        mtime = time.time()
    else:
        gzipped = is_gzip(inp.path)
        stream = GunzipReader(open(inp.path, "rb"), owns_raw=True) if gzipped else open(inp.path, "rb")  # type: ignore[assignment]
        mtime = inp.path.stat().st_mtime
    peek, err = read_prefix(stream, peek_bytes)
    if err is not None:
        stream.close()
        if not peek or not gzipped:
            raise err
        stream = _Damaged(err)  # type: ignore[assignment]
    head = peek[:HEAD_BYTES] if inp.path is None or err is not None else read_head(inp.path)
    return OpenedInput(stream=PrefixedStream(peek, stream), head=head, mtime=mtime, gzipped=gzipped,
                       peek=peek, at_end=err is not None or len(peek) < peek_bytes, early_error=err)


class _Damaged:
    """The rest of a stream that broke during the read-ahead: reading it re-raises the
    damage, so the segment reader ends without committing a cut-off last entry."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read(self, n: int = -1) -> bytes:
        raise self.error

    def close(self) -> None:
        pass
