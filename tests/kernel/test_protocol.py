"""Protocol v1 wire format (kernel/protocol.py) and its prose (docs/protocol.md) agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logship.kernel.protocol import (DEFAULT_LIMITS, FLAG_FINAL, FLAG_TRUNCATED, FRAME_HEADER, MAX_OFFSET, DataFrame,
                              FrameError, MessageError, decode_frame, decode_message, encode_frame, encode_message,
                              frame_range_problem)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


@given(sid=st.integers(0, 2**32 - 1), start=st.integers(0, 2**63), payload=st.binary(max_size=2000),
       final=st.booleans())
def test_frames_round_trip(sid, start, payload, final):
    f = DataFrame(sid, start, payload, flags=FLAG_FINAL if final else 0)
    back = decode_frame(encode_frame(f))
    assert (back.sid, back.start, back.payload, back.final, back.truncated, back.end) == (
        sid, start, payload, final, False, start + len(payload))


@given(payload=st.binary(max_size=100), extra=st.integers(0, 10**9))
def test_truncated_frames_carry_the_full_span(payload, extra):
    f = DataFrame(3, 10, payload, flags=FLAG_TRUNCATED, span=len(payload) + extra)
    back = decode_frame(encode_frame(f))
    assert back.truncated and back.end == 10 + len(payload) + extra and back.payload == payload


def test_header_layout_is_the_documented_one():
    assert FRAME_HEADER.format == "!IBQQ" and FRAME_HEADER.size == 21
    assert "21-byte header" in DOC and "`!IBQQ`" in DOC
    raw = encode_frame(DataFrame(0x01020304, 0x05, b"ab", flags=FLAG_FINAL))
    assert raw == bytes.fromhex("01020304" "01" "0000000000000005" "0000000000000002") + b"ab"


@pytest.mark.parametrize("raw, msg", [
    (b"\x00" * 5, "shorter than its 21-byte header"),
    (FRAME_HEADER.pack(1, 0x80, 0, 0), "unknown flags"),
    (FRAME_HEADER.pack(1, 0, 0, 5) + b"abc", "span 5 != payload length 3"),
    (FRAME_HEADER.pack(1, FLAG_TRUNCATED, 0, 2) + b"abc", "TRUNCATED frame span 2 < payload 3"),
], ids=["short", "flags", "span", "truncated-span"])
def test_bad_frames_are_named(raw, msg):
    with pytest.raises(FrameError, match=re.escape(msg)):
        decode_frame(raw)


def test_frame_over_max_frame_bytes():
    with pytest.raises(FrameError, match="over max_frame_bytes=10"):
        decode_frame(encode_frame(DataFrame(1, 0, b"x" * 11)), max_frame_bytes=10)


def test_messages_round_trip_and_bad_ones_are_named():
    text = encode_message("ack", sid=1, end=99, credit=4096)
    assert json.loads(text) == {"type": "ack", "sid": 1, "end": 99, "credit": 4096}
    assert decode_message(text)["end"] == 99
    for bad, msg in [("{x", "not JSON"), ("[1]", "JSON object"), ('{"type": 1}', "string 'type'"),
                     ('{"type": "nope"}', "unknown message type")]:
        with pytest.raises(MessageError, match=msg):
            decode_message(bad)


def test_every_error_code_and_limit_is_documented():
    from logship.collector.stream import ERROR_CODES

    for code in ERROR_CODES:
        assert f"`{code}`" in DOC, code
    for name in ("max_line_bytes", "max_frame_bytes", "inflight_budget", "initial_credit", "queue_bytes",
                 "max_batch_bytes", "multiline_flush_s", "max_truncated_span"):
        assert f"| {name} |" in DOC and hasattr(DEFAULT_LIMITS, name), name
    from logship.collector.config import CollectorConfig

    for name in ("header_timeout_s", "store_retry_s", "store_retry_max_s", "publish_retry_s"):
        default = getattr(CollectorConfig(), name)
        assert f"`{name}` ({default:g} s)" in DOC and f"{name} = {default}" in DOC, name
    for msg in ("hello", "welcome", "open", "opened", "ack", "credit", "error", "close"):
        assert f"`{msg}`" in DOC


@pytest.mark.parametrize("frame, problem", [
    (DataFrame(1, MAX_OFFSET - 4, b"abcd"), None),
    (DataFrame(1, MAX_OFFSET - 3, b"abcd"), f"start + span = {MAX_OFFSET + 1} is over"),
    (DataFrame(1, MAX_OFFSET + 1, b""), f"start {MAX_OFFSET + 1} is over"),
    (DataFrame(1, 0, b"ab", flags=FLAG_TRUNCATED, span=MAX_OFFSET + 1), f"span {MAX_OFFSET + 1} is over"),
    (DataFrame(1, 0, b"ab", flags=FLAG_TRUNCATED, span=DEFAULT_LIMITS.max_truncated_span), None),
    (DataFrame(1, 0, b"ab", flags=FLAG_TRUNCATED, span=DEFAULT_LIMITS.max_truncated_span + 1),
     "over max_truncated_span=68719476736"),
], ids=["edge-ok", "end-over", "start-over", "span-over", "truncated-at-limit", "truncated-over"])
def test_frame_offsets_are_range_checked_naming_the_field(frame, problem):
    got = frame_range_problem(decode_frame(encode_frame(frame)))
    assert (got is None) if problem is None else (problem in got), got
