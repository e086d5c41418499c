"""Cutting a stream into segments: at entry boundaries, within max_batch_bytes, and
without ever buffering a line longer than max_line_bytes."""

from __future__ import annotations

import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.hypothesis_profiles import examples

from logship.store.segments import ReadFailure, iter_segments

line = st.one_of(
    st.builds(lambda n: b"head %d\n" % n, st.integers(0, 10**6)),
    st.builds(lambda n: b"    continued " + b"x" * n + b"\n", st.integers(0, 50)),
    st.builds(lambda n: b"L" * n + b"\n", st.integers(60, 400)),  # over max_line_bytes below
    st.just(b"\n"),
)


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(line, max_size=60), st.booleans(), st.integers(16, 300))
def test_segments_cover_the_stream_exactly(lines, drop_last_newline, chunk):
    data = b"".join(lines)
    if drop_last_newline and data.endswith(b"\n"):
        data = data[:-1]
    max_line = 64
    segs = list(iter_segments(io.BytesIO(data), chunk, max_line))
    pos = 0
    for s in segs:
        assert s.start == pos and s.final
        if s.span is not None:  # one over-long line: only its first max_line bytes are held
            assert s.span > max_line and len(s.data) == max_line and data[s.start:s.start + max_line] == s.data
            assert s.end == len(data) or data[s.end - 1:s.end] == b"\n"  # up to its newline or EOF
        else:
            assert data[s.start:s.end] == s.data
            if s.end < len(data):  # cut at a line, before an entry head if the segment has one
                assert data[s.end - 1:s.end] == b"\n"
                if data[s.end:s.end + 1] in (b" ", b"\t", b"\n"):  # only when no entry starts inside
                    assert not re.search(rb"\n[^ \t\n]", s.data[:-1])
        pos = s.end
    assert pos == len(data)


def test_segments_stay_within_the_chunk_size():
    data = b"".join(b"entry %05d\n  more\n" % i for i in range(5000))
    segs = list(iter_segments(io.BytesIO(data), 4096, 1 << 20))
    assert all(len(s.data) <= 4096 for s in segs) and b"".join(s.data for s in segs) == data


class Broken(io.RawIOBase):
    """A stream that fails after some bytes, like a truncated gzip."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        if not self.data:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        out, self.data = self.data[:n], self.data[n:]
        return out


def test_a_read_error_ends_the_stream_without_claiming_the_last_entry():
    failure = ReadFailure()
    segs = list(iter_segments(Broken(b"a\nb\n  c\nd-cut-of"), 1 << 20, 1 << 20, failure=failure))
    assert [(s.start, s.data, s.final) for s in segs] == [(0, b"a\nb\n  c\nd-cut-of", False)]
    assert isinstance(failure.error, EOFError)


def test_endless_continuation_lines_are_not_buffered_whole():
    data = b"head\n" + b"    more of the same entry\n" * 20000  # 540 KB, one 'entry'
    segs = list(iter_segments(io.BytesIO(data), 4096, 1 << 20))
    assert max(len(s.data) for s in segs) <= 2 * 4096 + 4096
    assert b"".join(s.data for s in segs) == data
