"""The soak's app: numbered client-format lines at a steady rate, rotated three ways.

Every line is ``tests.shipkit.line(seq)``, seq counting up from 0 without a hole, so the
database can be checked line by line. The writer owns the log directory: rotations run
in its own thread between two batches, so its writes pause during a copytruncate (copy
then truncate, nothing written in between: no loss is inherent in the rotation).

Rotation kinds (logrotate's):

- ``rename``: shift ``app.log.N[.gz]`` up by one, ``app.log`` -> ``app.log.1``, a couple
  more lines to the renamed file (the app has not reopened yet), reopen ``app.log``.
- ``copytruncate``: shift, copy ``app.log`` -> ``app.log.1`` (in the glob), truncate
  ``app.log`` to 0 and go on writing through the same handle.
- ``gzip``: a rename whose ``app.log.1`` is compressed to ``app.log.1.gz`` (written in
  place, as logrotate does) a moment later, then the plain file is deleted.

Names beyond ``keep`` are not deleted (that would be a loss the soak inflicted) but moved
to ``app.log.old<K>[.gz]``, still in the glob. The journal records, per file generation,
the seq range written to it and when: every seq written, and where it went.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.shipkit import line

__all__ = ["Generation", "SoakWriter", "ROTATION_KINDS"]

ROTATION_KINDS = ("rename", "copytruncate", "gzip")
_BATCH_S = 0.02
_RENAMED_EXTRA_LINES = 2
_NUMBERED = re.compile(r"^app\.log\.(\d+)(\.gz)?$")


@dataclass
class Generation:
    """One file's worth of lines: seqs [first, end) written while it was app.log."""

    gen: int
    first: int
    end: int
    t_first: float
    t_last: float
    name: str = "app.log"
    how: str = ""  # how it stopped being app.log: rename, copytruncate, gzip


@dataclass
class _Pending:
    at: float
    gen: int


class SoakWriter(threading.Thread):
    """Writes ``rate`` lines/s to ``logs/app.log`` until ``stop()``; ``rotate(kind)`` queues
    a rotation done between two batches. ``seq`` is the next seq to write."""

    def __init__(self, logs: Path, rate: float, keep: int = 5, gzip_delay_s: float = 1.0,
                 clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        super().__init__(name="soak-writer")
        self.logs = logs
        self.rate = rate
        self.keep = keep
        self.gzip_delay_s = gzip_delay_s
        self.clock = clock
        self.seq = 0
        self.gens: list[Generation] = []
        self.rotations: dict[str, int] = {k: 0 for k in ROTATION_KINDS}
        self.error: BaseException | None = None
        self._ops: list[str] = []
        self._gz: list[_Pending] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._archived = 0
        self._f = open(self.logs / "app.log", "ab")
        self._new_gen()

    # -- control ------------------------------------------------------------------------
    def rotate(self, kind: str) -> None:
        assert kind in ROTATION_KINDS, kind
        with self._lock:
            self._ops.append(kind)

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    # -- the thread -----------------------------------------------------------------------
    def run(self) -> None:
        try:
            owed = 0.0
            last = self.clock()
            while not self._halt.is_set():
                now = self.clock()
                owed += (now - last) * self.rate
                last = now
                n = int(owed)
                if n:
                    self._write(n)
                    owed -= n
                with self._lock:
                    ops, self._ops = self._ops, []
                for kind in ops:
                    self._rotate(kind)
                self._compress_due(now)
                self._halt.wait(_BATCH_S)
            for p in self._gz:  # the last compressions are due now
                self._compress(p.gen)
            self._gz.clear()
        except BaseException as exc:  # noqa: BLE001 - reported by the soak, never swallowed
            self.error = exc
            raise
        finally:
            self._f.close()

    def _new_gen(self) -> None:
        t = time.time()
        self.gens.append(Generation(len(self.gens), self.seq, self.seq, t, t))

    def _write(self, n: int) -> None:
        g = self.gens[-1]
        self._f.write(b"".join(line(s) for s in range(self.seq, self.seq + n)))
        self._f.flush()
        self.seq += n
        g.end = self.seq
        g.t_last = time.time()

    def _shift(self) -> None:
        """app.log.N[.gz] -> app.log.N+1[.gz], from the top; beyond ``keep`` to app.log.oldK."""
        numbered = []
        for p in self.logs.iterdir():
            m = _NUMBERED.match(p.name)
            if m:
                numbered.append((int(m.group(1)), m.group(2) or "", p))
        for n, gz, p in sorted(numbered, reverse=True):
            if n + 1 > self.keep:
                self._archived += 1
                dst = self.logs / f"app.log.old{self._archived}{gz}"
            else:
                dst = self.logs / f"app.log.{n + 1}{gz}"
            os.rename(p, dst)
            self._renamed(p.name, dst.name)

    def _renamed(self, old: str, new: str) -> None:
        for g in self.gens:
            if g.name == old:
                g.name = new

    def _rotate(self, kind: str) -> None:
        self.rotations[kind] += 1
        self._shift()
        cur = self.gens[-1]
        cur.how = kind
        if kind == "copytruncate":
            shutil.copyfile(self.logs / "app.log", self.logs / "app.log.1")
            os.truncate(self.logs / "app.log", 0)
            cur.name = "app.log.1"
            self._new_gen()
            return
        os.rename(self.logs / "app.log", self.logs / "app.log.1")
        cur.name = "app.log.1"
        self._write(_RENAMED_EXTRA_LINES)  # still the old handle: lands in app.log.1
        self._f.close()
        self._f = open(self.logs / "app.log", "ab")
        self._new_gen()
        if kind == "gzip":
            self._gz.append(_Pending(self.clock() + self.gzip_delay_s, cur.gen))

    def _compress_due(self, now: float) -> None:
        due = [p for p in self._gz if p.at <= now]
        self._gz = [p for p in self._gz if p.at > now]
        for p in due:
            self._compress(p.gen)

    def _compress(self, gen: int) -> None:
        g = self.gens[gen]
        if g.name.endswith(".gz"):
            return
        src = self.logs / g.name
        with open(src, "rb") as fin, gzip.open(self.logs / (g.name + ".gz"), "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.unlink(src)
        g.name += ".gz"

    # -- the journal ----------------------------------------------------------------------
    def where(self, seq: int) -> Generation | None:
        for g in self.gens:
            if g.first <= seq < g.end:
                return g
        return None

    def journal(self) -> list[dict]:
        return [g.__dict__.copy() for g in self.gens]
