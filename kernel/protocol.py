"""Protocol v1 between shipper and collector: limits, frame header, message names.

Both ends import this module, so the wire format is defined exactly once.
docs/protocol.md is the prose version for third-party shippers.
It imports only the standard library: it runs on users' desktops.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "Limits",
    "DEFAULT_LIMITS",
    "FLAG_FINAL",
    "FLAG_TRUNCATED",
    "FRAME_HEADER",
    "MAX_OFFSET",
    "frame_range_problem",
    "DataFrame",
    "encode_frame",
    "decode_frame",
    "FrameError",
    "encode_message",
    "decode_message",
    "MessageError",
    "MAX_SLOW_DOWN",
    "read_slow_down",
]

PROTOCOL_VERSION = 1

# the largest slow_down a shipper takes from the collector (a bigger one is read as this)
MAX_SLOW_DOWN = 64.0


def read_slow_down(msg: dict[str, Any]) -> float:
    """An ack's or credit message's slow-down factor: 1.0 when absent or not a number >= 1."""
    v = msg.get("slow_down", 1.0)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 1.0:
        return 1.0
    return float(min(v, MAX_SLOW_DOWN))


@dataclass(frozen=True)
class Limits:
    """Every named limit (docs/protocol.md, "Limits"), with its default. Config files override by name."""

    max_line_bytes: int = 1 << 20
    max_frame_bytes: int = 4 << 20
    inflight_budget: int = 64 << 20
    initial_credit: int = 1 << 20
    queue_bytes: int = 64 << 20
    max_batch_bytes: int = 8 << 20
    multiline_flush_s: float = 2.0
    checkpoint_interval_s: float = 1.0
    memory_limit: str = "1GiB"
    # the longest line a TRUNCATED frame may claim (its span): a line is never this long;
    # a larger span is a broken sender, and accepting it would mark bytes as stored
    max_truncated_span: int = 64 << 30
    # an entry dated more than this past its receive time (offline: the file's mtime) is
    # counted as future-dated (a wrong zone or clock): stored, and shown by check/summary/metrics
    future_tolerance_s: float = 86400.0


# the largest byte offset (and offset + span) on the wire: DuckDB stores offsets as BIGINT
MAX_OFFSET = (1 << 63) - 1


DEFAULT_LIMITS = Limits()

# Binary data frame header, network byte order:
#   sid    u32  the shipper's handle for an open file (from `open`)
#   flags  u8   FLAG_FINAL | FLAG_TRUNCATED
#   start  u64  offset of the first payload byte in the source's (decompressed) stream
#   span   u64  source bytes the frame covers: len(payload), or for a TRUNCATED line its
#               full length including the newline (the payload holds only its start)
FRAME_HEADER = struct.Struct("!IBQQ")
FLAG_FINAL = 0x01
FLAG_TRUNCATED = 0x02
_KNOWN_FLAGS = FLAG_FINAL | FLAG_TRUNCATED


class FrameError(ValueError):
    """A binary frame that cannot be decoded (too short, unknown flags, bad span)."""


class MessageError(ValueError):
    """A JSON control message that is not an object with a known string `type`."""


@dataclass(frozen=True, slots=True)
class DataFrame:
    sid: int
    start: int
    payload: bytes
    flags: int = 0
    span: int | None = None  # None: len(payload)

    @property
    def end(self) -> int:
        return self.start + (self.span if self.span is not None else len(self.payload))

    @property
    def final(self) -> bool:
        return bool(self.flags & FLAG_FINAL)

    @property
    def truncated(self) -> bool:
        return bool(self.flags & FLAG_TRUNCATED)


def encode_frame(frame: DataFrame) -> bytes:
    span = frame.span if frame.span is not None else len(frame.payload)
    return FRAME_HEADER.pack(frame.sid, frame.flags, frame.start, span) + frame.payload


def decode_frame(data: bytes, max_frame_bytes: int = DEFAULT_LIMITS.max_frame_bytes) -> DataFrame:
    if len(data) > max_frame_bytes + FRAME_HEADER.size:
        raise FrameError(f"frame of {len(data)} bytes is over max_frame_bytes={max_frame_bytes}")
    if len(data) < FRAME_HEADER.size:
        raise FrameError(f"frame of {len(data)} bytes is shorter than its {FRAME_HEADER.size}-byte header")
    sid, flags, start, span = FRAME_HEADER.unpack_from(data)
    if flags & ~_KNOWN_FLAGS:
        raise FrameError(f"unknown flags 0x{flags:02x}")
    payload = bytes(data[FRAME_HEADER.size:])
    if flags & FLAG_TRUNCATED:
        if span < len(payload):
            raise FrameError(f"TRUNCATED frame span {span} < payload {len(payload)}")
    elif span != len(payload):
        raise FrameError(f"frame span {span} != payload length {len(payload)}")
    return DataFrame(sid=sid, start=start, payload=payload, flags=flags, span=span)


def frame_range_problem(frame: DataFrame, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Why a decoded frame's offsets cannot be used (naming the field), or None.

    start, span and start + span must stay within MAX_OFFSET; a TRUNCATED frame's span
    must be longer than its payload and at most max_truncated_span."""
    span = frame.span if frame.span is not None else len(frame.payload)
    if frame.start > MAX_OFFSET:
        return f"start {frame.start} is over the largest offset 2^63-1"
    if span > MAX_OFFSET:
        return f"span {span} is over the largest offset 2^63-1"
    if frame.truncated and span > limits.max_truncated_span:
        return (f"span {span} of a TRUNCATED frame is over max_truncated_span={limits.max_truncated_span} "
                "(no log line is that long)")
    if frame.start + span > MAX_OFFSET:
        return f"start + span = {frame.start + span} is over the largest offset 2^63-1"
    return None


# Control messages are JSON objects with a "type":
#   shipper -> collector: hello{version, shipper, host}, open{sid, head_b64, path, log_format?, tz, mtime},
#                         close{sid}
#   collector -> shipper: welcome{version, credit}, opened{sid, ranges}, ack{sid, end, credit, slow_down?},
#                         credit{credit, slow_down?}, error{code, message, sid?}
# slow_down (a v1 addition, ignored by old peers): a number > 1 while the collector's
# writer queue fills; "produce this many times less" (the watchdog samples less often).
MESSAGE_TYPES = frozenset({"hello", "welcome", "open", "opened", "ack", "error", "close", "credit"})


def encode_message(type_: str, **fields: Any) -> str:
    if type_ not in MESSAGE_TYPES:
        raise MessageError(f"unknown message type {type_!r}")
    return json.dumps({"type": type_, **fields}, separators=(",", ":"))


def decode_message(text: str | bytes) -> dict[str, Any]:
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError(f"control message is not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise MessageError("control message must be a JSON object with a string 'type'")
    if msg["type"] not in MESSAGE_TYPES:
        raise MessageError(f"unknown message type {msg['type']!r}")
    return msg
