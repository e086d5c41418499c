"""Model-based test of the tailer (as Vector does for its file source): random writes,
rotations, truncations, deletes, gzip archives and restarts, against a model of what must
be delivered: every complete line written, exactly once."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as hs
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.hypothesis_profiles import examples

from logship.shipper.tail import Tailer
from tests.tailkit import Clock, Consumer

SLOTS = ("a", "b")


class TailerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="tailmodel-"))
        self.clock = Clock()
        self.next_id = 0
        self.written: Counter[bytes] = Counter()
        self.rotated: list[Path] = []
        self.n = 0
        for s in SLOTS:
            (self.dir / f"{s}.log").touch()
        self.tailer = self._new_tailer()
        self.consumer = Consumer(self.tailer, max_bytes=700)

    def _new_tailer(self) -> Tailer:
        return Tailer([str(self.dir / "*.log*")], "c1", clock=self.clock, head_settle_s=1.0, rotate_wait_s=1.0)

    def teardown(self) -> None:
        self.tailer.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _line(self, pad: int) -> bytes:
        line = f"{self.next_id:08d} {'x' * pad}\n".encode()
        self.next_id += 1
        return line

    @rule(slot=hs.sampled_from(SLOTS), n=hs.integers(1, 30), pad=hs.integers(0, 120))
    def write(self, slot: str, n: int, pad: int) -> None:
        with open(self.dir / f"{slot}.log", "ab") as f:
            for _ in range(n):
                line = self._line(pad)
                self.written[line] += 1
                f.write(line)

    @rule(max_bytes=hs.integers(60, 3000))
    def pump(self, max_bytes: int) -> None:
        self.consumer.max_bytes = max_bytes
        self.tailer.scan()
        self.consumer.pump()

    @rule(seconds=hs.sampled_from([0.3, 1.1, 2.5]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(slot=hs.sampled_from(SLOTS), outside=hs.booleans())
    def rotate(self, slot: str, outside: bool) -> None:
        self.tailer.scan()  # the daemon hears of the file before it moves (inotify)
        live = self.dir / f"{slot}.log"
        self.n += 1
        dest = self.dir / (f"gone-{self.n}" if outside else f"{slot}.log.{self.n}")
        os.rename(live, dest)
        live.touch()
        if not outside:
            self.rotated.append(dest)

    @precondition(lambda self: bool(self.rotated))
    @rule(data=hs.data())
    def compress_rotated(self, data) -> None:
        p = data.draw(hs.sampled_from(self.rotated))
        self.tailer.scan()
        with open(p, "rb") as src, gzip.open(str(p) + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(p)
        self.rotated.remove(p)

    @rule(slot=hs.sampled_from(SLOTS))
    def delete_live(self, slot: str) -> None:
        self.tailer.scan()
        live = self.dir / f"{slot}.log"
        os.unlink(live)
        live.touch()

    @rule(slot=hs.sampled_from(SLOTS))
    def copytruncate_after_reading(self, slot: str) -> None:
        # read everything first (short files get their identity after head_settle): the
        # loss copytruncate can cause is a separate, reported case (test_tail.py)
        self.clock.advance(1.1)
        self.tailer.scan()
        self.consumer.pump()
        os.truncate(self.dir / f"{slot}.log", 0)

    @rule()
    def restart(self) -> None:
        # bytes of deleted files that were never read die with the process (no file is
        # left to resume from): the model's restart comes after the shipper caught up
        self.clock.advance(1.1)
        self.tailer.scan()
        self.consumer.pump()
        old = self.tailer
        fresh = self._new_tailer()
        for src in old.sources:
            if src.ready:
                fresh.add_known(src.key, src.head, src.origin, done=src.done)
        old.close()
        self.tailer = fresh
        self.consumer.tailer = fresh

    @invariant()
    def nothing_twice_nothing_invented(self) -> None:
        got = Counter()
        for buf in self.consumer.data.values():
            for line in bytes(buf).splitlines(keepends=True):
                got[line] += 1
        assert all(n == 1 for n in got.values()), [l for l, n in got.items() if n > 1][:3]
        assert not (set(got) - set(self.written))

    def check_all_delivered(self) -> None:
        for _ in range(4):
            self.clock.advance(2.5)
            self.tailer.scan()
            self.consumer.pump()
        got = Counter()
        for buf in self.consumer.data.values():
            got.update(bytes(buf).splitlines(keepends=True))
        missing = set(self.written) - set(got)
        assert not missing, sorted(missing)[:5]
        assert self.tailer.missed_bytes_total == 0


class TailerMachineFinal(TailerMachine):
    def teardown(self) -> None:
        try:
            self.check_all_delivered()
        finally:
            super().teardown()


TailerMachineFinal.TestCase.settings = settings(
    max_examples=examples(40), stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_tailer_against_model = TailerMachineFinal.TestCase
