"""`logship check FILE...` and `logship grammar check X.lark`: parse without storing.

Both stay free of DuckDB and pyarrow: they run where only the parser is installed,
e.g. next to a grammar someone is writing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from logship.kernel.gunzip import GunzipReader, damage_message, read_prefix
from logship.kernel.protocol import DEFAULT_LIMITS

from .batch import ParseResult
from .detect import DETECT_PEEK_BYTES, detect_stream
from .entry import EntryParser
from .errors import ParserError
from .formats import FormatRegistry, LogFormat, default_registry

__all__ = ["FileCheck", "GrammarCheck", "CheckError", "check_file", "check_grammar"]

CHUNK_BYTES = 8 << 20  # read (and parsed) at a time after the detection peek


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
    read_error: str | None = None  # a .gz that broke off: the counts cover its intact start
    nearest: str = ""  # an `unknown` file: the formats closest to reading it, with hit rates
    future: int = 0  # entries dated past the file's mtime + Limits.future_tolerance_s


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
        f.seek(0)
        return GunzipReader(f, owns_raw=True)  # type: ignore[return-value]
    f.seek(0)
    return f


def _stdin() -> BinaryIO:
    """Standard input as a binary stream, gunzipped when it starts with gzip's magic (as
    `logship ingest -` does)."""
    f = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    if f.peek(2)[:2] == b"\x1f\x8b":
        return GunzipReader(f, owns_raw=True)  # type: ignore[return-value]
    return f


def check_file(path: str | Path, log_format: str | None = None, tz: str | None = None,
               registry: FormatRegistry | None = None, max_errors: int = 5,
               max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes) -> FileCheck:
    """Detect (or take) the format of one file (`-`: standard input) and parse all of
    it; store nothing.

    The counts are what `logship ingest` of the file stores: the same detection
    (detect_stream: whole lines of the first DETECT_PEEK_BYTES; `unknown` when no format
    reads them clearly: each entry then an ``unknown_format`` reject, as a live path
    stores it, and ``nearest`` names the closest formats) and, for a truncated or corrupt .gz, the same intact start (the
    complete lines before the damage) with the same one-line ``read_error``, and the
    same ``max_line_bytes`` as the store's (a longer line is one ``line_too_long`` reject).
    """
    p = Path(path)
    reg = registry or default_registry()
    stdin = str(path) == "-"
    try:
        mtime = None if stdin else os.stat(p).st_mtime
    except OSError as exc:
        raise CheckError(f"{p}: {exc.strerror or exc}") from None
    with (_stdin() if stdin else _open(p)) as f:
        head, err = read_prefix(f, DETECT_PEEK_BYTES)
        if err is not None and (not head or not isinstance(f, GunzipReader)):  # as ingest's open_input
            raise CheckError(f"{p}: cannot read: {err}")
        detected = log_format is None
        context = None
        nearest = ""
        if detected:
            at_end = err is not None or len(head) < DETECT_PEEK_BYTES
            found = detect_stream(head, at_end=at_end, registry=reg, tz=tz, mtime=mtime)
            name, rate = found.name, found.rate
            if not found.detected:  # parsed as `unknown`: every entry an unknown_format reject
                nearest = found.nearest()
                context = {"nearest": nearest}
        else:
            name, rate = reg.get(log_format).name, 1.0
        result = FileCheck(str(p), name, rate, detected, nearest=nearest)
        parser = EntryParser(reg.get(name), tz=tz, mtime=mtime, context=context, path=str(p),
                             max_line_bytes=max_line_bytes)
        _parse_stream(parser, f, head, err, result, max_errors)
    return result


class _Counter:
    """Adds parse results to a FileCheck, numbering the lines of its first errors."""

    def __init__(self, result: FileCheck, max_errors: int) -> None:
        self.result = result
        self.max_errors = max_errors
        self.line_no = 1  # line number of the first byte not parsed yet

    def add(self, res: ParseResult, data: bytes, offset: int) -> None:
        result = self.result
        result.lines += res.lines
        result.entries += res.entries
        result.records += res.batch.records
        result.future += res.future
        rj = res.batch.rejects
        result.rejects += len(rj)
        for i in range(len(rj)):
            if len(result.errors) >= self.max_errors:
                break
            at = rj.byte_offset[i]
            result.errors.append((self.line_no + data.count(b"\n", 0, at - offset), at, rj.error_code[i], rj.error[i]))
        self.line_no += data.count(b"\n", 0, res.end_offset - offset)


def _parse_stream(parser: EntryParser, f: BinaryIO, data: bytes, err: BaseException | None,
                  result: FileCheck, max_errors: int) -> None:
    counter = _Counter(result, max_errors)
    offset = 0
    while True:
        more, err2 = read_prefix(f, CHUNK_BYTES) if data and err is None else (b"", None)
        err = err or err2
        if err is not None:
            # Broke off (a truncated .gz): what was read is parsed as unfinished, so its
            # cut-off last line does not count, as `logship ingest` does not commit it.
            data += more
            counter.add(parser.parse(data, offset, False), data, offset)
            result.read_error = damage_message(result.path, offset + len(data), err)
            return
        final = not more
        res = parser.parse(data, offset, final)
        counter.add(res, data, offset)
        data = data[res.end_offset - offset:] + more
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

