"""Bad input never crashes the parser and never disappears: every entry ends up as
records or exactly one reject, and the counts add up (exact numbers)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.hypothesis_profiles import examples

from logship.parser import EntryParser
from logship.kernel.protocol import DEFAULT_LIMITS

GOOD = b"2026-11-27T21:09:05.200+00:00 INFO  sess=3f2a9c1e5b7d9e01 event a.b x=1\n"
CONT = b"    at frame 1\n"


def parse(data: bytes, final: bool = True, start: int = 0, **kw):
    return EntryParser("client", tz="UTC", **kw).parse(data, start, final)


def entries_in(data: bytes) -> int:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    def is_cont(ln: bytes) -> bool:
        return ln[:1] in (b" ", b"\t", b"") or ln == b"\r"

    heads = [ln for ln in lines if not is_cont(ln)]
    orphan = 1 if lines and is_cont(lines[0]) else 0
    return len(heads) + orphan


def test_empty_input():
    res = parse(b"")
    assert (res.lines, res.entries, res.end_offset, res.batch.records, len(res.batch.rejects)) == (0, 0, 0, 0, 0)
    res = parse(b"", final=False, start=500)
    assert (res.lines, res.entries, res.end_offset) == (0, 0, 500)


def test_no_final_newline():
    data = GOOD + GOOD[:-1]
    res = parse(data)
    assert (res.lines, res.entries, res.end_offset, len(res.batch.events)) == (2, 2, len(data), 2)
    assert res.batch.events.byte_offset == [0, len(GOOD)]


def test_not_final_holds_back_the_last_entry_and_a_partial_line():
    data = GOOD + GOOD + CONT + GOOD[:20]
    res = parse(data, final=False, start=1000)
    assert (res.lines, res.entries, res.end_offset) == (1, 1, 1000 + len(GOOD))
    res2 = parse(data[len(GOOD):-20], final=True, start=1000 + len(GOOD))
    assert (res2.lines, res2.entries, len(res2.batch.events)) == (2, 1, 1)
    assert res2.batch.events.message == ["    at frame 1"]
    assert res2.batch.events.byte_offset == [1000 + len(GOOD)]


def test_invalid_utf8_is_a_reject_with_raw_bytes():
    bad = b"2026-11-27T21:09:05.200+00:00 INFO  sess=3f2a9c1e5b7d9e01 event a.b x=\xff\xfe\n"
    res = parse(GOOD + bad + GOOD)
    assert (res.lines, res.entries, res.batch.records) == (3, 3, 2)
    assert res.batch.rejects.error_code == ["invalid_utf8"]
    assert res.batch.rejects.raw == [bad[:-1]]
    assert res.batch.rejects.byte_offset == [len(GOOD)]
    pos = bad.index(b"\xff") + 1
    assert res.batch.rejects.error == [f"byte {pos}: invalid UTF-8 (invalid start byte)"]


def test_ten_megabyte_line():
    big = b"x" * (10 << 20)
    data = GOOD + big + b"\n" + GOOD
    res = parse(data)
    rj = res.batch.rejects
    assert (res.lines, res.entries, res.batch.records, res.end_offset) == (3, 3, 2, len(data))
    assert rj.error_code == ["line_too_long"]
    assert len(rj.raw[0]) == DEFAULT_LIMITS.max_line_bytes
    assert rj.byte_offset == [len(GOOD)]
    assert res.batch.events.byte_offset == [0, len(GOOD) + len(big) + 1]


def test_max_line_bytes_is_a_named_limit():
    res = parse(GOOD + GOOD, max_line_bytes=len(GOOD) - 2)
    assert res.batch.rejects.error_code == ["line_too_long", "line_too_long"]
    assert [len(r) for r in res.batch.rejects.raw] == [len(GOOD) - 2] * 2
    assert "max_line_bytes=%d" % (len(GOOD) - 2) in res.batch.rejects.error[0]


def test_orphan_continuation_at_the_start():
    data = CONT + CONT + GOOD + CONT
    res = parse(data)
    assert (res.lines, res.entries, res.batch.records) == (4, 2, 1)
    assert res.batch.rejects.error_code == ["orphan_continuation"]
    assert res.batch.rejects.raw == [CONT + CONT[:-1]]
    assert res.batch.events.message == ["    at frame 1"]


def test_crlf_lines_parse_and_offsets_count_cr():
    data = GOOD.replace(b"\n", b"\r\n") * 2
    res = parse(data)
    assert len(res.batch.events) == 2
    assert res.batch.events.byte_offset == [0, len(GOOD) + 1]
    assert res.end_offset == len(data)


def test_blank_line_inside_a_traceback_stays_with_the_entry():
    data = GOOD.replace(b" x=1\n", b" x=1 -- boom\n") + b"  a\n\n  b\n" + GOOD
    res = parse(data)
    assert res.batch.events.message[0] == "boom\n  a\n\n  b"
    assert (res.lines, res.entries) == (5, 2)


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=2000), st.booleans())
def test_random_bytes_never_crash_and_counts_add_up(data, final):
    res = parse(data, final=final, start=7)
    b = res.batch
    n_lines = data.count(b"\n") + (1 if final and data and not data.endswith(b"\n") else 0)
    if final:
        assert res.lines == n_lines
        assert res.end_offset == 7 + len(data)
        assert res.entries == entries_in(data)
    else:
        assert res.lines <= n_lines and res.end_offset <= 7 + len(data)
    # every entry yields records or exactly one reject
    produced = len(set(b.events.byte_offset) | set(b.metrics.byte_offset))
    assert produced + len(b.rejects) == res.entries
    assert not (set(b.rejects.byte_offset) & (set(b.events.byte_offset) | set(b.metrics.byte_offset)))
    for group in (b.metrics, b.events, b.rejects):
        assert len({len(c) for c in group.columns().values()}) <= 1


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.sampled_from([GOOD, CONT, b"garbage line\n", b"\xff\xfe\n", b"\n",
                                 GOOD.replace(b"x=1", b"x=1.5GB")]), max_size=30))
def test_mixed_lines_every_entry_accounted(chunks):
    data = b"".join(chunks)
    res = parse(data)
    assert res.lines == len(chunks)
    assert res.entries == entries_in(data)
    produced = len(set(res.batch.events.byte_offset))
    assert produced + len(res.batch.rejects) == res.entries
    assert res.batch.events.byte_offset == sorted(res.batch.events.byte_offset)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=120), st.sampled_from([
    b"Nov 27 21:09:05 web-01 sshd[1]: x", b"<13>1 2026-11-27T21:09:05Z h a - - - m",
    b'10.0.0.5 - - [27/Nov/2026:21:09:05 +0000] "GET / HTTP/1.1" 200 1', b'{"ts": 1795813745, "msg": "x"}',
    b"level=info msg=x", b"  indented", b""])), max_size=12))
def test_every_format_survives_noise_and_counts_add_up(pieces):
    from logship.parser import list_formats

    data = b"\n".join(pieces)
    n_lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    for fmt in list_formats():
        res = EntryParser(fmt, tz="Europe/Berlin", mtime=1795813745.0).parse(data, 0, True)
        b = res.batch
        assert res.lines == n_lines, fmt.name
        assert res.end_offset == len(data)
        produced = len(set(b.events.byte_offset) | set(b.metrics.byte_offset))
        assert produced + len(b.rejects) == res.entries, fmt.name
        for group in (b.metrics, b.events, b.rejects):
            assert len({len(c) for c in group.columns().values()}) <= 1


def test_a_byte_order_mark_at_the_start_of_a_source_is_skipped():
    data = b"\xef\xbb\xbf" + GOOD + GOOD
    res = parse(data)
    assert (len(res.batch.events), len(res.batch.rejects)) == (2, 0)
    assert res.batch.events.byte_offset == [0, 3 + len(GOOD)]
    # only at offset 0 of the source: elsewhere it is content (and here a bad timestamp)
    res = parse(b"\xef\xbb\xbf" + GOOD, start=10)
    assert res.batch.rejects.error_code == ["bad_timestamp"]
