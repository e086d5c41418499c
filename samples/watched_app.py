"""A simulated desktop client for `make demo`: a torrent-like program run under `logship watch`.

It uses CPU in bursts, sends events through the watchdog's socket (with the stdlib
helper watch/emit.py, as a real app would copy it in), and sometimes crashes: with
`exit 3` or by aborting (SIGABRT). SIGTERM stops it cleanly. Seeded: the same seed
gives the same run.

    logship watch --log-dir logs -- python samples/watched_app.py --seed 7 --crash-rate 0.05
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "watch"))
from emit import emit  # noqa: E402  (the copied-in helper; no logship needed)

_stop = False


def _on_term(signum: int, _frame: object) -> None:
    global _stop
    _stop = True


def burn(seconds: float) -> int:
    """Busy work for about this long (a hash-check burst)."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += sum(i * i for i in range(2000)) & 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crash-rate", type=float, default=0.03, help="chance of a crash per tick (~0.7 s)")
    ap.add_argument("--duration", type=float, default=0, help="exit 0 after this many seconds (0: run on)")
    args = ap.parse_args()
    rng = random.Random(args.seed * 7919 + os.getpid() % 7)
    signal.signal(signal.SIGTERM, _on_term)
    t0 = time.monotonic()
    emit("app.ready", torrents=rng.randint(1, 9))
    pieces = 0
    while not _stop:
        if args.duration and time.monotonic() - t0 >= args.duration:
            break
        r = rng.random()
        if r < 0.35:
            burn(rng.uniform(0.1, 0.5))
            pieces += 1
            emit("piece.verified", piece=pieces, bytes=262144)
        elif r < 0.55:
            emit("peer.connected", peers=rng.randint(1, 60), proto=rng.choice(["tcp", "utp"]))
        elif r < 0.65:
            emit("tracker.timeout", level="WARN", url="http://tracker.example/announce", attempt=rng.randint(1, 5))
        if rng.random() < args.crash_rate:
            emit("app.fatal", level="ERROR", message="assertion failed: piece index in range")
            if rng.random() < 0.5:
                os.abort()          # SIGABRT: recorded as signal=SIGABRT
            return 3
        time.sleep(rng.uniform(0.2, 0.5))
    emit("app.bye", pieces=pieces)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
