"""`logship check FILE...` and `logship grammar check X.lark`: parse without storing.

Both stay free of DuckDB and pyarrow: they run where only the parser is installed,
e.g. next to a grammar someone is writing.
"""

from __future__ import annotations

import gzip
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from shipper.protocol import DEFAULT_LIMITS

from .detect import DETECT_LINES, detect_format
from .entry import EntryParser
from .errors import ParserError
from .formats import FormatRegistry, LogFormat, default_registry

__all__ = ["FileCheck", "GrammarCheck", "CheckError", "check_file", "check_grammar"]

CHUNK_BYTES = 8 << 20


class CheckError(ParserError):
    """A file that cannot be read (missing, unreadable, broken gzip)."""


@dataclass
class FileCheck:
    """What parsing one file would give: format, counts and the first errors."""

    path: str
    log_format: str | None
    hit_rate: float
    detected: bool
    lines: int = 0
    entries: int = 0
    records: int = 0
    rejects: int = 0
    errors: list[tuple[int, int, str, str]] = field(default_factory=list)  # line, offset, code, error


@dataclass
class GrammarCheck:
    """A grammar against its own samples: each `sample` parses, each `sample_reject` not."""

    name: str
    path: str
    samples: int
    sample_rejects: int
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _open(path: Path) -> BinaryIO:
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise CheckError(f"{path}: {exc.strerror or exc}") from None
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def _stdin() -> BinaryIO:
    """Standard input as a binary stream (gzip is not sniffed on a pipe)."""
    return os.fdopen(os.dup(sys.stdin.fileno()), "rb")


def check_file(path: str | Path, log_format: str | None = None, tz: str | None = None,
               registry: FormatRegistry | None = None, max_errors: int = 5) -> FileCheck:
    """Detect (or take) the format of one file (`-`: standard input) and parse all of
    it; store nothing."""
    p = Path(path)
    reg = registry or default_registry()
    stdin = str(path) == "-"
    try:
        mtime = None if stdin else os.stat(p).st_mtime
    except OSError as exc:
        raise CheckError(f"{p}: {exc.strerror or exc}") from None
    try:
        with (_stdin() if stdin else _open(p)) as f:
            head = f.read(CHUNK_BYTES)
            detected = log_format is None
            if detected:
                name, rate = detect_format(head.split(b"\n")[:DETECT_LINES], registry=reg, tz=tz, mtime=mtime)
            else:
                name, rate = reg.get(log_format).name, 1.0
            result = FileCheck(str(p), name, rate, detected)
            if name is None:
                result.lines = head.count(b"\n") + _count_rest(f, head)
                return result
            parser = EntryParser(reg.get(name), tz=tz, mtime=mtime, path=str(p),
                                 max_line_bytes=DEFAULT_LIMITS.max_line_bytes)
            _parse_stream(parser, f, head, result, max_errors)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CheckError(f"{p}: cannot read: {exc}") from None
    return result


def _count_rest(f: BinaryIO, head: bytes) -> int:
    n = 0 if head.endswith(b"\n") or not head else 1
    while chunk := f.read(CHUNK_BYTES):
        n += chunk.count(b"\n")
    return n


def _parse_stream(parser: EntryParser, f: BinaryIO, data: bytes, result: FileCheck, max_errors: int) -> None:
    offset = 0
    line_no = 1  # line number of data[0]
    while True:
        more = f.read(CHUNK_BYTES) if data else b""
        final = not more
        res = parser.parse(data, offset, final)
        result.lines += res.lines
        result.entries += res.entries
        result.records += res.batch.records
        rj = res.batch.rejects
        result.rejects += len(rj)
        for i in range(len(rj)):
            if len(result.errors) >= max_errors:
                break
            at = rj.byte_offset[i]
            result.errors.append((line_no + data.count(b"\n", 0, at - offset), at, rj.error_code[i], rj.error[i]))
        used = res.end_offset - offset
        line_no += data.count(b"\n", 0, used)
        data = data[used:] + more
        offset = res.end_offset
        if final:
            return


def check_grammar(path: str | Path) -> GrammarCheck:
    """Load a user grammar and run it over its own `// sample:` lines."""
    p = Path(path)
    reg = FormatRegistry(include_builtin=False)
    if not p.is_file():
        raise CheckError(f"{p}: no such grammar file")
    fmt: LogFormat = reg.add_file(p)  # GrammarError for bad directives
    fmt.lark()  # GrammarError if it does not compile
    result = GrammarCheck(fmt.name, str(p), len(fmt.samples), len(fmt.spec.sample_rejects))
    for line in fmt.samples:
        res = EntryParser(fmt, tz="UTC").parse(line.encode() + b"\n", 0, True)
        if len(res.batch.rejects):
            result.failures.append(f"sample does not parse: {line!r}: {res.batch.rejects.error[0]}")
        elif res.batch.records == 0:
            result.failures.append(f"sample gives no records: {line!r}")
    for line in fmt.spec.sample_rejects:
        res = EntryParser(fmt, tz="UTC").parse(line.encode() + b"\n", 0, True)
        if not len(res.batch.rejects):
            result.failures.append(f"sample_reject parses but should not: {line!r}")
    return result

