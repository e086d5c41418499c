"""The seam as the collector uses it: a source arrives in pieces (any line boundaries,
final=False until the end), each call resumes at the previous end_offset with the
previous context. The records must equal one parse of the whole source."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.gen_client import client_lines
from parser import EntryParser, ParsedBatch

CLIENT = client_lines(400, seed=11) + b"  orphan? no: a continuation of the last entry\n"
SYSLOG = (b"Dec 31 23:59:58 web-01 app[1]: a\n" b"Dec 31 23:59:59 web-01 app[1]: b\n"
          b"garbage line\n" b"Jan  1 00:00:00 web-01 app[1]: c\n" b"Jan  1 00:00:01 web-01 app: d\n") * 3
MTIME = 1798761600.0  # 2027-01-01T00:00:00Z


def whole(fmt: str, data: bytes):
    return EntryParser(fmt, tz="UTC", mtime=MTIME).parse(data, 0, True)


def streamed(fmt: str, data: bytes, cuts: list[int]):
    """Feed `data` in pieces ending at line boundaries near `cuts`, as frames arrive."""
    batch = ParsedBatch()
    pending = b""
    pos = 0  # source offset of pending[0]
    context = None
    lines = entries = 0
    bounds = sorted({data.rfind(b"\n", 0, c) + 1 for c in cuts} - {0, len(data)}) + [len(data)]
    prev = 0
    for i, b in enumerate(bounds):
        if b <= prev:
            continue
        pending += data[prev:b]
        prev = b
        final = i == len(bounds) - 1
        res = EntryParser(fmt, tz="UTC", mtime=MTIME, context=context).parse(pending, pos, final)
        batch.extend(res.batch)
        lines += res.lines
        entries += res.entries
        context = res.context
        pending = pending[res.end_offset - pos:]
        pos = res.end_offset
    assert pending == b"" and pos == len(data)
    return batch, lines, entries, context


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, len(CLIENT)), max_size=12))
@example([len(CLIENT)])  # a cut at the very end: the last call is still the final one
def test_client_in_pieces_equals_whole(cuts):
    one = whole("client", CLIENT)
    batch, lines, entries, _ = streamed("client", CLIENT, cuts)
    assert (lines, entries) == (one.lines, one.entries)
    assert batch == one.batch


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, len(SYSLOG)), max_size=8))
def test_syslog_in_pieces_keeps_the_year(cuts):
    one = whole("syslog", SYSLOG)
    batch, lines, entries, context = streamed("syslog", SYSLOG, cuts)
    assert (lines, entries, len(batch.rejects)) == (one.lines, one.entries, 3)
    assert batch == one.batch
    assert context == one.context
