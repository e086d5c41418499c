"""Writing the client log format (docs/client-format.md): values, entries, rotating files.

The desktop client's watchdog, `logship simulate` and the tests all render entries
here, so there is one writer to hold to the grammar (grammars/client.lark). It imports
only the standard library: it runs on users' desktops next to the client.

    >>> render_entry(datetime(2026, 11, 27, 21, 9, 5, 200000, tzinfo=timezone.utc), "INFO",
    ...              "3f2a9c1e5b7d9e01", "metric", "proc",
    ...              {"cpu": Percent(12.5), "rss": Size(210.3, "MiB"), "threads": 17})
    '2026-11-27T21:09:05.200+00:00 INFO  sess=3f2a9c1e5b7d9e01 metric proc cpu=12.5% rss=210.3MiB threads=17\\n'

Typed values keep the number as it is written plus its unit (`Size(210.3, "MiB")`), so
rendering is exact; `.bytes` / `.seconds` give the canonical value the parser stores.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Iterable, Mapping, Union

from logship.kernel.units import DURATION_FACTORS, SIZE_FACTORS  # one table for writer and parser

__all__ = [
    "LEVELS",
    "KINDS",
    "SIZE_FACTORS",
    "DURATION_FACTORS",
    "Size",
    "Duration",
    "Percent",
    "Value",
    "render_number",
    "render_value",
    "render_string",
    "render_timestamp",
    "render_entry",
    "new_session_id",
    "ClientLogWriter",
    "rotated_name",
]

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
KINDS = ("session", "metric", "event")

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_DECIMAL_UNITS = ("B", "KB", "MB", "GB", "TB")

_SESSION_RE = re.compile(r"[0-9a-f]{16}")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# A bare word starts with a letter or `_` (so it can never read as a number, size,
# duration or percentage) and uses only the bare-string characters of the grammar.
_BARE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_./:@+-]*")
# Words a reader could take for something else: booleans, and (defensively) null/nan/inf.
_RESERVED_WORDS = frozenset({"true", "false", "null", "none", "nan", "inf", "infinity"})
# Characters escaped inside quotes: the quote, the backslash and every control character.
_ESCAPE_RE = re.compile(r'["\\\x00-\x1f\x7f\u2028\u2029]')
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}

Number = Union[int, float]


def render_number(x: Number) -> str:
    """An int as digits; a float as its shortest round-trip decimal, never an exponent.

    A float always shows a `.` (so `17.0` stays a float); NaN and infinities have no
    written form in the format and raise ValueError.
    """
    if isinstance(x, bool):
        raise ValueError("a boolean is not a number here")
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        raise ValueError(f"{x!r} cannot be written in the client format")
    text = repr(float(x))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
        if "." not in text:
            text += ".0"
    return text


def _check_number(x: object, what: str) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{what} must be an int or a float, not {type(x).__name__}")
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"{what} must be finite, not {x!r}")


def _integral(value: Number) -> Number:
    """The parser's normalisation: integral sizes become ints (while exact in a double)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _pick_unit(amount: float, units: tuple[str, ...], factors: Mapping[str, Number]) -> str:
    unit = units[0]
    for u in units:
        if abs(amount) >= factors[u]:
            unit = u
    return unit


@dataclass(frozen=True, slots=True)
class Size:
    """A size as written: `Size(210.3, "MiB")` renders `210.3MiB`; `.bytes` is canonical."""

    value: Number
    unit: str = "B"

    def __post_init__(self) -> None:
        _check_number(self.value, "Size.value")
        if self.unit not in SIZE_FACTORS:
            raise ValueError(f"unknown size unit {self.unit!r} (one of {', '.join(SIZE_FACTORS)})")

    @property
    def bytes(self) -> Number:
        """Bytes, computed as the parser does (an int when integral)."""
        return _integral(self.value * SIZE_FACTORS[self.unit])

    @classmethod
    def of(cls, nbytes: Number, unit: str | None = None, digits: int = 1, binary: bool = True) -> "Size":
        """A human size for `nbytes`: in `unit`, or the largest unit that keeps it >= 1.

        Rounded to `digits` decimals (an int when the unit is B or digits is 0).
        """
        _check_number(nbytes, "nbytes")
        if unit is None:
            unit = _pick_unit(nbytes, _BINARY_UNITS if binary else _DECIMAL_UNITS, SIZE_FACTORS)
        elif unit not in SIZE_FACTORS:
            raise ValueError(f"unknown size unit {unit!r}")
        amount = nbytes / SIZE_FACTORS[unit]
        if unit == "B" or digits <= 0:
            return cls(int(round(amount)), unit)
        return cls(_integral(round(amount, digits)), unit)

    def __str__(self) -> str:
        return render_number(self.value) + self.unit


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration as written: `Duration(750, "ms")` renders `750ms`; `.seconds` is canonical."""

    value: Number
    unit: str = "s"

    def __post_init__(self) -> None:
        _check_number(self.value, "Duration.value")
        if self.unit not in DURATION_FACTORS:
            raise ValueError(f"unknown duration unit {self.unit!r} (one of {', '.join(DURATION_FACTORS)})")

    @property
    def seconds(self) -> float:
        """Seconds, computed as the parser does (750ms -> 0.75 exactly)."""
        factor = DURATION_FACTORS[self.unit]
        if factor >= 1.0:
            return float(self.value) * factor
        return float(self.value) / round(1.0 / factor)

    @classmethod
    def of(cls, seconds: Number, unit: str | None = None, digits: int = 1) -> "Duration":
        """A human duration for `seconds`: in `unit`, or ms/s/m/h picked by magnitude."""
        _check_number(seconds, "seconds")
        if unit is None:
            a = abs(seconds)
            unit = "h" if a >= 7200 else "m" if a >= 120 else "s" if a >= 1 else "ms"
        elif unit not in DURATION_FACTORS:
            raise ValueError(f"unknown duration unit {unit!r}")
        amount = seconds / DURATION_FACTORS[unit]
        if digits <= 0:
            return cls(int(round(amount)), unit)
        return cls(_integral(round(amount, digits)), unit)

    def __str__(self) -> str:
        return render_number(self.value) + self.unit


@dataclass(frozen=True, slots=True)
class Percent:
    """A percentage: `Percent(12.5)` renders `12.5%`; the canonical value is 12.5."""

    value: Number

    def __post_init__(self) -> None:
        _check_number(self.value, "Percent.value")

    def __str__(self) -> str:
        return render_number(self.value) + "%"


Value = Union[bool, int, float, str, Size, Duration, Percent]


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _SHORT_ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def render_string(s: str) -> str:
    """A bare word when it cannot be misread, else a JSON-escaped quoted string.

    Bare: starts with a letter or `_`, only `[A-Za-z0-9_./:@+-]`, and not a reserved word
    (`true`, `false`, ...). Everything else is quoted: `"17"`, `"1.5s"`, `"1.4.2"`, `""`.
    Inside quotes `"`, `\\`, `\\n`, `\\t`, `\\r` use short escapes and other control
    characters `\\uXXXX`; other text stays UTF-8 as it is. A lone surrogate raises
    ValueError (the reader rejects it: it cannot be stored as UTF-8).
    """
    if _BARE_RE.fullmatch(s) and s.lower() not in _RESERVED_WORDS:
        return s
    if _SURROGATE_RE.search(s):
        raise ValueError("a string with a lone surrogate cannot be stored as UTF-8")
    return '"' + _ESCAPE_RE.sub(_escape, s) + '"'


def render_value(v: Value) -> str:
    """The written form of one field value (see the table in docs/client-format.md)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return render_number(v)
    if isinstance(v, str):
        return render_string(v)
    if isinstance(v, (Size, Duration, Percent)):
        return str(v)
    raise ValueError(f"cannot write a value of type {type(v).__name__} in the client format")


def render_timestamp(ts: datetime | float) -> str:
    """ISO 8601 with milliseconds and the offset: `2026-11-27T21:09:05.123+00:00`.

    A float is epoch seconds (written in UTC). A naive datetime is written without an
    offset (the reader applies the source's zone). Sub-millisecond digits are cut.
    """
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        ts = datetime.fromtimestamp(ts, timezone.utc)
    if not isinstance(ts, datetime):
        raise ValueError(f"a timestamp must be a datetime or epoch seconds, not {type(ts).__name__}")
    off = ts.utcoffset()
    if off is not None and off % timedelta(minutes=1):
        raise ValueError(f"UTC offset {off} has seconds; the format takes +HH:MM")
    return ts.isoformat(timespec="milliseconds")


def _check_text_line(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} must be one line (no \\n or \\r)")


def _is_numeric(v: object) -> bool:
    """What becomes a metric sample: numbers, sizes, durations, percentages (not bools)."""
    return isinstance(v, (int, float, Size, Duration, Percent)) and not isinstance(v, bool)


def render_entry(
    ts: datetime | float,
    level: str,
    session_id: str,
    kind: str,
    name: str,
    fields: Mapping[str, Value] | None = None,
    message: str | None = None,
    continuation: Iterable[str] = (),
) -> str:
    """One entry: its head line plus continuation lines, each ending with `\\n`.

    `kind` is `session` (name `start`/`end`), `metric` (name: the group) or `event`
    (name: a dotted identifier). `message` becomes ` -- MESSAGE` at the end of the head
    line. Continuation lines must start with a space or a tab; the reader joins them to
    the message with `\\n`. Anything the grammar would not read back raises ValueError.
    """
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    if not isinstance(session_id, str) or not _SESSION_RE.fullmatch(session_id):
        raise ValueError(f"session id {session_id!r} is not 16 lower-case hex digits")
    if kind == "session":
        if name not in ("start", "end"):
            raise ValueError(f"a session mark is `start` or `end`, not {name!r}")
    elif kind in ("metric", "event"):
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"{kind} name {name!r} is not a dotted identifier")
    else:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    continuation = list(continuation)
    if kind == "metric":
        if continuation:
            raise ValueError("a metric entry cannot have continuation lines (the reader rejects it)")
        if not any(_is_numeric(v) for v in (fields or {}).values()):
            raise ValueError("a metric entry needs at least one numeric field (the reader rejects it)")
    parts = [render_timestamp(ts), f"{level:<5}", "sess=" + session_id, kind, name]
    for key, value in (fields or {}).items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError(f"field key {key!r} is not [A-Za-z_][A-Za-z0-9_.]*")
        parts.append(f"{key}={render_value(value)}")
    if message is not None:
        _check_text_line(message, "message")
        parts.append("-- " + message)
    lines = [" ".join(parts)]
    for line in continuation:
        _check_text_line(line, "a continuation line")
        if not line.startswith((" ", "\t")):
            raise ValueError(f"continuation line {line[:40]!r} must start with a space or a tab")
        lines.append(line)
    return "\n".join(lines) + "\n"


def new_session_id() -> str:
    """A fresh 64-bit random session id (16 hex digits), as the watchdog makes them."""
    return os.urandom(8).hex()


def rotated_name(path: Path, index: int, gzipped: bool) -> Path:
    """`app.log` -> `app.log.1`, `app.log.2.gz`, ..."""
    return path.with_name(f"{path.name}.{index}" + (".gz" if gzipped else ""))


class ClientLogWriter:
    """Appends entries to a log file and rotates it by rename, as the client does.

    Before an entry that would take the file past `max_bytes` (0: never rotate), the
    file is renamed `app.log` -> `app.log.1` and older ones shift up (`.1` -> `.2` ...);
    at most `backups` rotated files are kept (None: unlimited, for a caller that deletes
    by its own rules, such as the watchdog's retention). With `gzip_rotated`, files from `.2` on
    are gzipped (`.1` stays plain: a shipper may still be reading it). An entry is never
    split across files. The gzip header carries no name or time, so the same input gives
    the same bytes; the archive keeps the rotated file's modification time.
    """

    def __init__(
        self,
        path: str | Path,
        max_bytes: int = 10 << 20,
        backups: int | None = 5,
        gzip_rotated: bool = True,
        flush_each: bool = True,
    ) -> None:
        if max_bytes < 0 or (backups is not None and backups < 0):
            raise ValueError("max_bytes and backups must be >= 0")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.gzip_rotated = gzip_rotated
        self.flush_each = flush_each
        self.rotations = 0
        self._file: IO[bytes] | None = None
        self._size = 0
        self._lock = threading.Lock()  # the watchdog may write from several threads
        self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")
        self._size = self._file.tell()

    @property
    def size(self) -> int:
        """Bytes in the current file."""
        return self._size

    def write(self, entry: str | bytes) -> None:
        """Append one rendered entry (text is encoded as UTF-8; bytes go as they are)."""
        data = entry.encode("utf-8") if isinstance(entry, str) else entry
        with self._lock:
            if self._file is None:
                raise ValueError(f"{self.path}: the writer is closed")
            if self.max_bytes and self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            assert self._file is not None
            self._file.write(data)
            self._size += len(data)
            if self.flush_each:
                self._file.flush()

    def write_entry(self, *args, **kwargs) -> None:
        """`write(render_entry(...))`."""
        self.write(render_entry(*args, **kwargs))

    def _rotated_files(self) -> dict[int, Path]:
        """The rotated files there are now, by index (one directory listing)."""
        pattern = re.compile(re.escape(self.path.name) + r"\.([1-9][0-9]*)(\.gz)?")
        found: dict[int, Path] = {}
        with os.scandir(self.path.parent) as entries:
            for entry in entries:
                m = pattern.fullmatch(entry.name)
                if m and entry.is_file():
                    i = int(m.group(1))
                    if i not in found or m.group(2):  # both .N and .N.gz: the gzip wins
                        found[i] = Path(entry.path)
        return found

    def rotate(self) -> None:
        """Rename the current file to `.1` (shifting older ones) and start a new one."""
        with self._lock:
            self._rotate()

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            existing = self._rotated_files()
            for i in sorted(existing, reverse=True):
                src = existing[i]
                if self.backups is not None and i >= self.backups:
                    src.unlink()
                elif src.suffix == ".gz" or not self.gzip_rotated:
                    os.replace(src, rotated_name(self.path, i + 1, src.suffix == ".gz"))
                else:
                    self._gzip_to(src, rotated_name(self.path, i + 1, True))
            if self.path.exists():
                os.replace(self.path, rotated_name(self.path, 1, False))
        self.rotations += 1
        self._open()

    @staticmethod
    def _gzip_to(src: Path, dst: Path) -> None:
        tmp = dst.with_name(dst.name + ".tmp")
        with open(src, "rb") as fin, open(tmp, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                shutil.copyfileobj(fin, gz, 1 << 20)
        st = src.stat()
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, dst)
        src.unlink()

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> "ClientLogWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
