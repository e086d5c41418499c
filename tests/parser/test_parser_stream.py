"""The seam as the collector uses it: a source arrives in pieces (any line boundaries,
final=False until the end), each call resumes at the previous end_offset with the
previous context. The records must equal one parse of the whole source."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.hypothesis_profiles import examples

from bench.gen_client import client_lines
from logship.parser import EntryParser, ParsedBatch

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


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.integers(0, len(CLIENT)), max_size=12))
@example([len(CLIENT)])  # a cut at the very end: the last call is still the final one
def test_client_in_pieces_equals_whole(cuts):
    one = whole("client", CLIENT)
    batch, lines, entries, _ = streamed("client", CLIENT, cuts)
    assert (lines, entries) == (one.lines, one.entries)
    assert batch == one.batch


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.integers(0, len(SYSLOG)), max_size=8))
def test_syslog_in_pieces_keeps_the_year(cuts):
    one = whole("syslog", SYSLOG)
    batch, lines, entries, context = streamed("syslog", SYSLOG, cuts)
    assert (lines, entries, len(batch.rejects)) == (one.lines, one.entries, 3)
    assert batch == one.batch
    assert context == one.context


def _parse_chunk(fmt, data: bytes, start: int, final: bool):
    """Worker side: a fresh EntryParser per chunk (cheap after the first per process)."""
    return EntryParser(fmt, tz="UTC").parse(data, start, final)


def test_chunks_in_worker_processes_equal_one_parse(tmp_path):
    """store/ parses a context-free source in a process pool: the LogFormat travels
    pickled (a user grammar in no registry of the workers), chunks start at entry heads,
    and the batches put together equal one parse."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from logship.parser import FormatRegistry

    (tmp_path / "kv.lark").write_text(
        "// format: kv\n// continuation: indent\n// sample: 2026-11-27T21:09:05Z a=1\n"
        "%import common (ISO_TIMESTAMP, MESSAGE_TAIL, SP, _pair)\n"
        "start: ISO_TIMESTAMP _pair* MESSAGE_TAIL?\n%ignore SP\n")
    fmt = FormatRegistry([tmp_path]).get("kv")
    data = b"".join(b"2026-11-27T21:09:%02dZ n=%d size=%dKiB -- m\n  cont %d\n" % (i % 60, i, i, i)
                    for i in range(3000)) + b"garbage\n"
    cuts = [0, 20_000, 55_555, 90_001, len(data)]
    bounds = [0] + [data.find(b"\n2026", c) + 1 for c in cuts[1:-1]] + [len(data)]
    one = EntryParser(fmt, tz="UTC").parse(data, 0, True)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = list(pool.map(_parse_chunk, [fmt] * 4, [data[a:b] for a, b in zip(bounds, bounds[1:])],
                              bounds[:-1], [True] * 4))
    merged = ParsedBatch()
    for p in parts:
        merged.extend(p.batch)
    assert [p.end_offset for p in parts] == bounds[1:]
    assert sum(p.lines for p in parts) == one.lines == 6001
    assert sum(p.entries for p in parts) == one.entries == 3001
    assert merged == one.batch
    assert (len(one.batch.events), len(one.batch.rejects)) == (3000, 1)
