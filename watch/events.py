"""The app's events: a local datagram socket, and what one datagram becomes.

A Unix datagram socket where the platform has one (in a private temporary directory,
so the path stays short and only this user reaches it), else UDP on 127.0.0.1. One
JSON object per datagram (docs/watch.md); anything else becomes ``watch.bad_datagram``
with the raw bytes escaped, never an exception. A token bucket bounds how many
datagrams a second become lines; the rest are counted and reported in one event.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from logship.clientlog.writer import LEVELS, Value, render_entry

__all__ = ["ENV_VAR", "MAX_DATAGRAM", "AppEvent", "EventSocket", "RateLimit", "decode_datagram"]

ENV_VAR = "LOGSHIP_EVENTS"
MAX_DATAGRAM = 8192          # larger datagrams are bad_datagram (their first bytes kept)
_RAW_KEPT = 512              # raw bytes kept (escaped) in a bad_datagram event
_RESERVED = ("name", "level", "message")


@dataclass(frozen=True, slots=True)
class AppEvent:
    """What one datagram becomes: an event line's name, level, fields and message."""

    name: str
    level: str = "INFO"
    fields: dict[str, Value] = field(default_factory=dict)
    message: str | None = None
    continuation: tuple[str, ...] = ()   # a multi-line message's further lines, indented


def escape_raw(raw: bytes) -> str:
    """Printable ASCII as it is, a backslash doubled, every other byte as ``\\xNN``."""
    return "".join(chr(c) if 0x20 <= c < 0x7F and c != 0x5C else "\\\\" if c == 0x5C else f"\\x{c:02x}"
                   for c in raw)


def _bad(raw: bytes, why: str) -> AppEvent:
    text = escape_raw(raw[:_RAW_KEPT])
    return AppEvent("watch.bad_datagram", "WARN", {"reason": why, "bytes": len(raw), "raw": text})


def _value(v: object) -> Value | None:
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    return None


def decode_datagram(raw: bytes, session_id: str) -> AppEvent:
    """The event a datagram asks for, or ``watch.bad_datagram`` naming what is wrong.

    The entry is rendered once here (with ``session_id``) so that a value the client
    format cannot hold is caught now and recorded as a bad datagram, not a reject later.
    """
    if len(raw) > MAX_DATAGRAM:
        return _bad(raw, f"over {MAX_DATAGRAM} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _bad(raw, "not UTF-8")
    except ValueError:
        return _bad(raw, "not JSON")
    if not isinstance(doc, dict):
        return _bad(raw, "not a JSON object")
    name, level, message = doc.get("name"), doc.get("level", "INFO"), doc.get("message")
    if not isinstance(name, str):
        return _bad(raw, "no string name")
    if not isinstance(level, str) or level.upper() not in LEVELS:
        return _bad(raw, f"level is not one of {' '.join(LEVELS)}")
    if message is not None and not isinstance(message, str):
        return _bad(raw, "message is not a string")
    fields: dict[str, Value] = {}
    for k, v in doc.items():
        if k in _RESERVED:
            continue
        val = _value(v)
        if val is None:
            return _bad(raw, f"field {k!r} is not a string, number or boolean")
        fields[k] = val
    rest: list[str] = []
    if message is not None:
        first, *rest = message.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        message = first
    ev = AppEvent(name, level.upper(), fields, message, tuple("    " + line for line in rest))
    try:
        render_entry(0.0, ev.level, session_id, "event", ev.name, ev.fields, ev.message, ev.continuation)
    except ValueError as exc:
        return _bad(raw, str(exc))
    return ev


class RateLimit:
    """A token bucket: ``rate`` datagrams a second, bursts of ``burst``; counts the rest."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.at = clock()
        self.dropped = 0

    def admit(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.dropped += 1
        return False

    def take_dropped(self) -> int:
        n, self.dropped = self.dropped, 0
        return n


class EventSocket:
    """The bound, non-blocking socket and the address the app gets in LOGSHIP_EVENTS."""

    def __init__(self, sock: socket.socket, address: str, tmpdir: Path | None) -> None:
        self.sock = sock
        self.address = address
        self._tmpdir = tmpdir

    @classmethod
    def open(cls, prefer_unix: bool = True) -> "EventSocket":
        if prefer_unix and hasattr(socket, "AF_UNIX"):
            tmpdir = Path(tempfile.mkdtemp(prefix="logship-watch-"))   # mode 0700: this user only
            path = tmpdir / "events.sock"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(str(path))
            except OSError:
                sock.close()
                shutil.rmtree(tmpdir, ignore_errors=True)
            else:
                sock.setblocking(False)
                cls._grow_buffer(sock)
                return cls(sock, f"unix:{path}", tmpdir)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        cls._grow_buffer(sock)
        return cls(sock, f"udp:127.0.0.1:{sock.getsockname()[1]}", None)

    @staticmethod
    def _grow_buffer(sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self, limit: int = 1000) -> list[bytes]:
        """What is waiting now (at most ``limit`` datagrams; the rest wait for the next call)."""
        out: list[bytes] = []
        while len(out) < limit:
            try:
                data = self.sock.recv(MAX_DATAGRAM + 1)   # one byte more: an oversized one is seen as such
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            out.append(data)
        return out

    def close(self) -> None:
        self.sock.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def child_env(address: str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env[ENV_VAR] = address
    return env
