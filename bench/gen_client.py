"""Deterministic client-format lines for the parser benchmarks (rendered by
clientlog/writer.py, the one writer of the format)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from logship.clientlog.writer import Duration, Percent, Size, render_entry

__all__ = ["client_lines"]


def client_lines(n: int, seed: int = 1) -> bytes:
    """About `n` lines of a realistic mix: metrics, events, session marks, tracebacks."""
    rnd = random.Random(seed)
    t = datetime(2026, 11, 27, 21, 0, 0, tzinfo=timezone.utc)
    sess = "%016x" % rnd.getrandbits(64)
    out: list[str] = []
    lines = 0
    out.append(render_entry(t, "INFO", sess, "session", "start", {"version": "1.4.2", "os": "linux"}))
    while lines < n:
        t += timedelta(milliseconds=rnd.randint(1, 200))
        r = rnd.random()
        if r < 0.6:
            e = render_entry(t, "INFO", sess, "metric", "proc", {
                "cpu": Percent(round(rnd.uniform(0, 100), 1)),
                "rss": Size.of(rnd.randint(10 << 20, 2 << 30)),
                "threads": rnd.randint(5, 40)})
        elif r < 0.75:
            e = render_entry(t, "INFO", sess, "metric", "net", {
                "down": Size.of(rnd.randint(0, 10 << 20)), "up": Size.of(rnd.randint(0, 1 << 20)),
                "peers": rnd.randint(0, 60), "iface": "eth0"})
        elif r < 0.97:
            e = render_entry(t, "WARN", sess, "event", "tracker.timeout", {
                "url": "http://t.example/a", "attempt": rnd.randint(1, 5),
                "elapsed": Duration.of(rnd.uniform(0.1, 5))}, message="tracker did not answer")
        else:
            e = render_entry(t, "ERROR", sess, "event", "disk.write_failed", {"errno": 28},
                             message="No space left on device",
                             continuation=["    Traceback (most recent call last):",
                                           '      File "app.py", line 3, in write',
                                           "    OSError: [Errno 28] No space left on device"])
        out.append(e)
        lines += e.count("\n")
    return "".join(out).encode("utf-8")
