"""Format detection: trial-parse the first lines of a source with every format and pick
one only when the choice is clear; otherwise the source is `unknown` (parser/unknown.py).

A line counts for a format when it parses into records (every declared field parsed as
its type, a timestamp present: parser/entry.py) and, for a format declaring
`detect_requires: TERM ...`, those terminals are in it with a real value (not `-`, not a
level word; a SYSLOG_TAG `prog:` or `prog[pid]`): a syslog match needs a host and a
tag, so "2026-11-30 14:00:01,123 - app -
INFO - started" (Python logging) is not syslog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from lark.exceptions import LarkError

from .entry import EntryParser
from .formats import UNKNOWN, FormatRegistry, LogFormat, list_formats
from .levels import is_level_word
from .values import base_type

__all__ = ["Detection", "detect_format", "detect_lines", "detect_start", "DETECT_LINES", "DETECT_MARGIN",
           "DETECT_MIN_RATE", "DETECT_PEEK_BYTES", "FALLBACK_FORMAT", "UNKNOWN"]

DETECT_LINES = 200
# Detection reads at most this much of a stream's start (whole lines only), which also
# bounds the cost of trial-parsing garbage with every format.
DETECT_PEEK_BYTES = 256 << 10
# A stream no format reads clearly is stored as this format: its entries become
# `unknown_format` rejects (never records in the terms of a format that was not chosen).
FALLBACK_FORMAT = UNKNOWN
# The clear margin: the chosen format reads at least DETECT_MIN_RATE of the sample's
# entries, and no format of the same or a higher detect_priority comes within
# DETECT_MARGIN of it (a less specific format must beat a more specific one by more
# than DETECT_MARGIN to be chosen; within it, the more specific one is).
DETECT_MIN_RATE = 0.5
DETECT_MARGIN = 0.05
PROBE_LINES = 20  # a wrong format fails fast: rejects cost Lark's error path
NEAREST = 3  # formats named by an unknown source's message


@dataclass(frozen=True)
class Detection:
    """What detection found: the chosen format (or `unknown`) and every format's hit rate."""

    name: str
    rate: float
    rates: tuple[tuple[str, float], ...] = ()  # best first; formats that read no line left out
    lines: int = 0  # non-blank lines looked at

    @property
    def detected(self) -> bool:
        return self.name != UNKNOWN

    def nearest(self, n: int = NEAREST) -> str:
        """`syslog 40%, logfmt 12%` (the formats closest to reading it), or `none`."""
        near = [f"{name} {rate:.0%}" for name, rate in self.rates[:n]]
        return ", ".join(near) if near else "none"


def _sample(lines: Iterable[bytes | str]) -> list[bytes]:
    sample: list[bytes] = []
    for line in lines:
        if len(sample) >= DETECT_LINES:
            break
        b = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        b = b.rstrip(b"\r\n")
        if b.strip():  # blank lines tell nothing about the format
            sample.append(b)
    return sample


def _hits(fmt: LogFormat, sample: list[bytes], probe: bytes | None, data: bytes,
          tz: str | None, mtime: float | None) -> float:
    """The share of the sample's entries ``fmt`` reads (0.0 if none)."""
    if probe is not None:  # a format that reads none of the first lines is out
        if EntryParser(fmt, tz=tz, mtime=mtime).parse(probe, 0, final=True).batch.records == 0:
            return 0.0
    res = EntryParser(fmt, tz=tz, mtime=mtime).parse(data, 0, final=True)
    if res.entries == 0:
        return 0.0
    good = res.entries - len(res.batch.rejects)
    if good and fmt.detect_requires:
        good -= _missing_required(fmt, sample, set(res.batch.rejects.byte_offset))
    return max(good, 0) / res.entries


def _missing_required(fmt: LogFormat, sample: list[bytes], rejected: set[int]) -> int:
    """How many read head lines lack one of the format's ``detect_requires`` terminals."""
    from .compiled import fast_parser

    lark = fmt.lark()
    if lark is None:
        return 0
    parse = fast_parser(lark)
    need = set(fmt.detect_requires)
    indent = fmt.continuation == "indent"
    head = fmt.head_regex()  # `head:` formats: lines that do not start an entry continue one
    missing = 0
    off = 0
    for line in sample:
        at, off = off, off + len(line) + 1
        if at in rejected or (indent and line[:1] in (b" ", b"\t")) or (head is not None and not head.match(line)):
            continue
        try:
            toks = parse(line.decode("utf-8").removeprefix("\ufeff").rstrip("\r"))
        except (LarkError, UnicodeDecodeError):
            missing += 1
            continue
        have = {base_type(t[0]) for t in toks if _real(base_type(t[0]), t[1])}
        if not need <= have:
            missing += 1
    return missing


def _real(terminal: str, value: str) -> bool:
    """A value that shows a required terminal is really there: not empty or `-`, not a
    level word; a SYSLOG_TAG ends as RFC 3164's tags do, `prog:` or `prog[pid]`
    (`status half-installed pkg` of dpkg.log has a word where the tag would be)."""
    v = value.strip()
    if v in ("", "-") or (terminal != "LEVEL" and is_level_word(v)):
        return False
    return terminal != "SYSLOG_TAG" or v.endswith((":", "]"))


def detect_lines(lines: Iterable[bytes | str], registry: FormatRegistry | None = None,
                 tz: str | None = None, mtime: float | None = None) -> Detection:
    """Detect the format of up to DETECT_LINES (non-blank) lines: the rule of the module doc
    and of DETECT_MIN_RATE / DETECT_MARGIN; formats are tried most specific first."""
    sample = _sample(lines)
    if not sample:
        return Detection(UNKNOWN, 0.0)
    data = b"\n".join(sample) + b"\n"
    probe = b"\n".join(sample[:PROBE_LINES]) + b"\n" if len(sample) > PROBE_LINES else None
    tried: list[tuple[LogFormat, float]] = []
    for fmt in list_formats(registry):
        tried.append((fmt, _hits(fmt, sample, probe, data, tz, mtime)))
    rates = tuple((f.name, r) for f, r in sorted(tried, key=lambda fr: -fr[1]) if r > 0)
    best: tuple[LogFormat, float] | None = None
    for fmt, rate in tried:  # most specific first: a looser one must beat it by the margin
        if rate > 0 and (best is None or rate > best[1] + DETECT_MARGIN):
            best = (fmt, rate)
    if best is None or best[1] < DETECT_MIN_RATE:
        return Detection(UNKNOWN, best[1] if best else 0.0, rates, len(sample))
    chosen, rate = best
    for fmt, r in tried:  # a rival as specific as the winner and as good: no clear choice
        if fmt is not chosen and fmt.detect_priority >= chosen.detect_priority and r > rate - DETECT_MARGIN:
            return Detection(UNKNOWN, rate, rates, len(sample))
    return Detection(chosen.name, rate, rates, len(sample))


def detect_format(lines: Iterable[bytes | str], registry: FormatRegistry | None = None,
                  tz: str | None = None, mtime: float | None = None) -> tuple[str | None, float]:
    """(format name, hit rate) for the first up to 200 lines; (None, best rate) when the
    format cannot be told (detect_lines)."""
    d = detect_lines(lines, registry=registry, tz=tz, mtime=mtime)
    return (d.name if d.detected else None), d.rate


def _whole_lines(data: bytes, at_end: bool) -> list[bytes]:
    cut = data[:DETECT_PEEK_BYTES]
    if not (at_end and len(data) <= DETECT_PEEK_BYTES):
        cut = cut[: cut.rfind(b"\n") + 1]
    return cut.split(b"\n", DETECT_LINES)[:DETECT_LINES]


def detect_stream(data: bytes, *, at_end: bool, registry: FormatRegistry | None = None,
                  tz: str | None = None, mtime: float | None = None) -> Detection:
    """The Detection of a stream from its first bytes: the one detection of `logship
    check` and of the store.

    Only whole lines count: the first DETECT_PEEK_BYTES of ``data``, cut after its last
    newline unless ``at_end`` (the stream ends there). A line cut short would look like no
    format at all (a JSON object, a `key=value` list), so one longer than the peek leaves
    nothing to detect on: `unknown`.
    """
    return detect_lines(_whole_lines(data, at_end), registry=registry, tz=tz, mtime=mtime)


def detect_start(data: bytes, *, at_end: bool, registry: FormatRegistry | None = None,
                 tz: str | None = None, mtime: float | None = None) -> tuple[str, float]:
    """(format name, hit rate) of detect_stream; `unknown` when it cannot be told."""
    d = detect_stream(data, at_end=at_end, registry=registry, tz=tz, mtime=mtime)
    return d.name, d.rate
