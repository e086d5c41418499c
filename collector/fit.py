"""Does a /v1/lines body fit its source's detected format, and if not, where does it go?

One HTTP endpoint takes lines from many senders, and a /v1/lines source's format is
detected on its first body. Without this check one stray first line fixed the format of
the default daily source for good, and a day of valid syslog after it became rejects,
answered 200. So each body of a source whose format was *detected* (not declared) is
judged on its start, the same sample detection reads (whole lines, at most DETECT_LINES
non-blank lines in DETECT_PEEK_BYTES), before any of it is stored:

- at least FIT_RATE (half) of the sample's entries parse with the source's format: the
  body is stored in the source (its misfits are rejects there, as any bad line);
- else detection (parser.detect.detect_start, the rules of `logship check`) runs on the
  sample: a format other than the source's that parses at least FIT_RATE of it takes the
  body, in the sibling source `<source>.<format>`;
- else the body is of no format we can tell: `<source>.unknown`, a source created without
  a format, so that the store's own detection stores it as it stores any undetectable
  source (`unknown_format` rejects; it may tell the format later). Only when the store
  knows the format name `unknown`: before that such a body stays in the source, as rejects.

Pure functions of bytes (no store, no event loop): they run on a body thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from logship.parser import EntryParser
from logship.parser.detect import DETECT_LINES, DETECT_PEEK_BYTES, detect_start
from logship.store.errors import StoreError
from logship.store.store import check_source_params

__all__ = ["FIT_RATE", "UNKNOWN", "Verdict", "judge", "sample_of", "sibling_name", "unknown_is_known",
           "SAMPLE_BYTES"]

# a body stays in its source when at least this share of its sample's entries parse
FIT_RATE = 0.5
# the format name of a source whose format cannot be told (docs/storage.md)
UNKNOWN = "unknown"
# how much of a body's start is read before it is judged
SAMPLE_BYTES = DETECT_PEEK_BYTES


@dataclass(frozen=True)
class Verdict:
    """``move_to``: the format of the sibling source that takes the body (None: it stays).
    ``rate``: the share of the sample's entries the source's format parses (None: the
    sample held no entry); ``moved_rate``: that share for ``move_to``'s format."""

    move_to: str | None
    rate: float | None
    moved_rate: float = 0.0


def sample_of(data: bytes, at_end: bool) -> bytes:
    """The sample detection would read: the first SAMPLE_BYTES, cut after the last newline
    unless the body ends there, at most DETECT_LINES non-blank lines."""
    cut = data[:SAMPLE_BYTES]
    if not (at_end and len(data) <= SAMPLE_BYTES):
        cut = cut[: cut.rfind(b"\n") + 1]
    lines = [ln for ln in cut.split(b"\n") if ln.strip()][:DETECT_LINES]
    return b"\n".join(lines) + b"\n" if lines else b""


def _rate(sample: bytes, log_format: str, tz: str | None, mtime: float | None) -> float | None:
    res = EntryParser(log_format, tz=tz, mtime=mtime).parse(sample, 0, final=True)
    if res.entries == 0:
        return None
    return (res.entries - len(res.batch.rejects)) / res.entries


def unknown_is_known() -> bool:
    """Can a source be stored with the format `unknown` (the store's undetectable source)?"""
    try:
        check_source_params(log_format=UNKNOWN)
    except StoreError:
        return False
    return True


def judge(data: bytes, at_end: bool, log_format: str, tz: str | None, mtime: float | None = None) -> Verdict:
    """Where a body whose start is ``data`` goes (``at_end``: ``data`` is the whole body)."""
    sample = sample_of(data, at_end)
    if not sample:
        return Verdict(None, None)
    rate = _rate(sample, log_format, tz, mtime)
    if rate is None or rate >= FIT_RATE:
        return Verdict(None, rate)
    name, found = detect_start(sample, at_end=True, tz=tz, mtime=mtime)
    if name == log_format:
        return Verdict(None, rate)
    if name != UNKNOWN and found >= FIT_RATE:
        return Verdict(name, rate, found)
    if log_format == UNKNOWN or not unknown_is_known():
        return Verdict(None, rate)
    return Verdict(UNKNOWN, rate, 0.0 if name != UNKNOWN else found)


def sibling_name(source: str, log_format: str) -> str:
    """The sibling source of ``source`` that takes its bodies of ``log_format``."""
    return f"{source}.{log_format}"
