"""Test helpers for the tailer: a controllable clock and a consumer that acts like the daemon."""

from __future__ import annotations

import time

from logship.shipper.tail import Tailer


class Clock:
    """Wall-clock time plus an offset that tests advance (file mtimes stay real)."""

    def __init__(self) -> None:
        self.offset = 0.0

    @property
    def t(self) -> float:
        return time.time() + self.offset

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.offset += s


class Consumer:
    """Reads every settled source from where it left off, like the daemon with ample credit."""

    def __init__(self, tailer: Tailer, max_bytes: int = 1 << 20) -> None:
        self.tailer = tailer
        self.max_bytes = max_bytes
        self.pos: dict[str, int] = {}
        self.data: dict[str, bytearray] = {}
        self.finals: set[str] = set()
        self.truncated: list[tuple[str, int, int]] = []

    def pump(self) -> None:
        for src in list(self.tailer.sources):
            if not src.ready or src.done:
                continue
            pos = self.pos.get(src.key, 0)
            buf = self.data.setdefault(src.key, bytearray())
            while True:
                ch = self.tailer.read(src, pos, self.max_bytes)
                if ch is None and src.blocked_on:
                    ch = self.tailer.read(src, pos, src.blocked_on)  # like the daemon with full credit
                if ch is None:
                    break
                assert ch.start == pos
                if ch.flags & 2:
                    self.truncated.append((src.key, ch.start, ch.span))
                    buf += b"X" * ch.span  # stand-in: the collector stores a reject of this span
                else:
                    buf += ch.payload
                pos = ch.end
                if ch.final:
                    self.finals.add(src.key)
                    self.tailer.finish(src)
                    break
            self.pos[src.key] = pos

    def cycle(self, clock: Clock, seconds: float = 0.0) -> None:
        clock.advance(seconds)
        self.tailer.scan()
        self.pump()

    def all_bytes(self) -> list[bytes]:
        return sorted(bytes(v) for v in self.data.values() if v)
