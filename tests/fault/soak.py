"""The fault-injection soak: real processes, faults combined at random, data checked.

    python -m tests.fault.soak --seconds 1800 --seed 42      # `make soak`
    python -m tests.fault.soak --short --seed 1              # the seeded short run of `make test`

A writer thread numbers its lines and rotates (tests/fault/writer.py); `logship ship`
(``--backlog ask``, small ``backlog_bytes``) tails them and talks to `logship collect`
through a fault proxy (tests/fault/proxy.py); the store and the shipper's state dir
each sit on a small tmpfs that can be filled (tests/fault/disk.py). A plan drawn from
the seed (tests/fault/plan.py) says when to kill -9 or SIGTERM either process, black-hole
the network (an outage that builds a backlog), reset connections, fill a disk, restart
the collector with a slow store, rotate, and give consent (`logship backlog approve
--all`), always late. At the end everything is healed, consent given, the shipper
drained, both processes stopped, and the DuckDB file checked (tests/fault/check.py).
docs/soak.md says what each figure means.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fault.check import DbCheck, check_db
from tests.fault.disk import TmpfsDisk
from tests.fault.plan import FAULT_KINDS, LONG, RESOURCE, SHORT, Fault, Plan, make_plan
from tests.fault.procs import CollectorRunner, stop_shipper
from tests.fault.proxy import FaultProxy
from tests.fault.writer import SoakWriter
from tests.run import logship_cmd
from tests.shipkit import ShipperProc, line, wait_for

__all__ = ["SoakOptions", "SoakResult", "run_soak", "main"]

# Named limits of the soak (docs/soak.md)
BACKLOG_BYTES = "64KiB"          # the shipper's backlog_bytes: any outage of ~1 s+ needs consent
BACKLOG_AFTER = "5s"             # the shipper's backlog_after
SHIPPER_HEARTBEAT_S = 2.0        # so a black hole is noticed within seconds
SHIPPER_CONNECT_TIMEOUT_S = 3.0
RECOVERED_LAG_S = 3.0            # "recovered": every file within this many seconds of writing
TICK_S = 0.05
DRAIN_STABLE_S = 2.5             # the drained condition must hold this long (a full rescan)
SUPERVISE_RESTART_S = 1.0        # an unexpected exit is restarted after this long
_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception)\b.*)$", re.M)


@dataclass
class SoakOptions:
    seconds: float = 1800.0
    seed: int | None = None
    rate: float = 500.0              # lines per second
    short: bool = False              # the short profile with its scripted outage
    workdir: Path | None = None
    keep: bool = False               # keep the work dir even when the run passed
    drain_timeout_s: float = 120.0
    db_tmpfs_mb: int = 1024
    state_tmpfs_mb: int = 16
    out: Any = sys.stdout

    def replay(self, seed: int) -> str:
        return (f"python -m tests.fault.soak --seconds {self.seconds:g} --seed {seed} --rate {self.rate:g}"
                + (" --short" if self.short else ""))


@dataclass
class Recovery:
    fault: int
    healed_at: float
    recovered_s: float | None = None
    overlapped: bool = False  # another fault began before it recovered


@dataclass
class SoakResult:
    seed: int
    options: SoakOptions
    written: int = 0
    check: DbCheck | None = None
    faults: Counter = field(default_factory=Counter)
    skipped: dict[str, str] = field(default_factory=dict)      # kind -> why
    skipped_count: Counter = field(default_factory=Counter)
    rotations: dict[str, int] = field(default_factory=dict)
    consents: int = 0
    consent_failures: int = 0
    incidents: list[str] = field(default_factory=list)         # unexpected exits, slow stops, stalls
    missed_bytes: int = 0
    drained: bool = False
    drained_after_restart: bool | None = None   # only tried when the drain stalled
    drain_s: float = 0.0
    drain_note: str = ""
    recoveries: list[Recovery] = field(default_factory=list)
    prunes: list[str] = field(default_factory=list)             # each prune's answer (or why it failed)
    timeline: list[str] = field(default_factory=list)
    workdir: Path | None = None
    t0_wall: float = 0.0       # wall clock of the soak's second 0 (the journal is in wall time)

    @property
    def lost(self) -> int:
        return self.check.lost_count if self.check else -1

    @property
    def duplicated(self) -> int:
        return len(self.check.duplicated) if self.check else -1

    def lost_bytes(self) -> int:
        if not self.check:
            return 0
        return sum(len(line(s)) for a, b in self.check.lost for s in range(a, b))

    @property
    def ok(self) -> bool:
        """Nothing lost that the shipper did not report as missed, nothing twice, drained,
        and no incident (a process that exited by itself or ignored SIGTERM)."""
        c = self.check
        return (c is not None and not c.duplicated and c.foreign == 0 and self.lost_bytes() <= self.missed_bytes
                and self.drained and not self.incidents)

    def max_recovery(self) -> tuple[float | None, int, int]:
        """(max over clean measurements, measured, never recovered)."""
        clean = [r.recovered_s for r in self.recoveries if r.recovered_s is not None and not r.overlapped]
        never = sum(1 for r in self.recoveries if r.recovered_s is None)
        return (max(clean) if clean else None), len(clean), never


class Soak:
    """One run: set up, follow the plan, heal, drain, check, tear down."""

    def __init__(self, opts: SoakOptions, seed: int, plan: Plan, work: Path) -> None:
        self.o = opts
        self.plan = plan
        self.work = work
        self.res = SoakResult(seed, opts, workdir=work)
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.db_disk = TmpfsDisk(work / "db", opts.db_tmpfs_mb)
        self.state_disk = TmpfsDisk(work / "state", opts.state_tmpfs_mb)
        self.proxy = FaultProxy()
        self.coll = CollectorRunner(work, work / "db" / "soak.duckdb", self.proxy)
        self.ship: ShipperProc | None = None
        self.writer: SoakWriter | None = None
        self.t0 = 0.0
        self.down: set[str] = set()                 # processes down on purpose
        self.active: dict[str, tuple[int, Fault]] = {}  # resource -> (index, fault)
        self.next_restart: dict[str, float] = {}
        self.status: dict[str, Any] = {}
        self._approval: subprocess.Popen[str] | None = None
        self._prune: subprocess.Popen[str] | None = None
        self.archive = work / "archive"  # what prunes exported (the verdict counts it with the database)
        self._ship_log_pos = 0

    # -- small helpers ----------------------------------------------------------------------
    def say(self, msg: str) -> None:
        print(msg, file=self.o.out, flush=True)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, msg: str) -> None:
        self.res.timeline.append(f"{self.now():8.2f}  {msg}")

    def incident(self, msg: str) -> None:
        self.res.incidents.append(f"t={self.now():.2f}s {msg}")
        self.note(f"INCIDENT {msg}")

    def read_status(self) -> dict[str, Any]:
        assert self.ship is not None
        st = self.ship.status()
        if st:
            self.status = st
            self.res.missed_bytes = max(self.res.missed_bytes, int(st.get("missed_bytes_total", 0)))
        return st

    # -- set up / tear down -----------------------------------------------------------------
    def setup(self) -> None:
        for disk, kind in ((self.db_disk, "disk_full_db"), (self.state_disk, "disk_full_state")):
            why = disk.mount()
            if why:
                self.res.skipped[kind] = why
                self.say(f"soak: fault kind {kind} skipped: {why}")
        self.proxy.start()
        self.coll.start()
        wait_for(lambda: self.coll.ready, 60, "the collector to start")
        self.ship = ShipperProc(
            self.work, [str(self.logs / "app.log*")], f"http://127.0.0.1:{self.proxy.port}", state=self.work / "state",
            backlog="ask", backlog_bytes=BACKLOG_BYTES, backlog_after=BACKLOG_AFTER, heartbeat=SHIPPER_HEARTBEAT_S,
            connect_timeout=SHIPPER_CONNECT_TIMEOUT_S, reconnect_max=1, log_level="info")
        self.start_shipper()
        wait_for(lambda: self.read_status().get("connection", {}).get("state") == "connected", 60,
                 "the shipper to connect")
        self.writer = SoakWriter(self.logs, self.o.rate, gzip_delay_s=(SHORT if self.o.short else LONG).gzip_delay)
        self.t0 = time.monotonic()
        self.writer.start()

    def teardown(self) -> None:
        self.poll_approval(wait=True)
        if self.writer is not None and self.writer.is_alive():
            self.writer.stop()
        if self.ship is not None and self.ship.proc is not None:
            stop_shipper(self.ship)
        self.coll.stop()
        self.proxy.close()
        self.db_disk.unmount()
        self.state_disk.unmount()

    # -- faults -------------------------------------------------------------------------------
    def inject(self, idx: int, f: Fault) -> None:
        if f.kind in self.res.skipped:
            self.res.skipped_count[f.kind] += 1
            return
        if RESOURCE[f.kind] in self.active:  # the plan never overlaps; a late tick might
            self.heal(RESOURCE[f.kind])
        self.res.faults[f.kind] += 1
        self.note(f"inject {f.kind} for {f.duration:.2f}s" + (f" commit_delay_s={f.value}" if f.value else ""))
        for r in self.res.recoveries:
            if r.recovered_s is None:
                r.overlapped = True
        k = f.kind
        if k in ("shipper_kill9", "shipper_term"):
            self.down.add("shipper")
            assert self.ship is not None
            rc, killed = stop_shipper(self.ship, signal.SIGKILL if k == "shipper_kill9" else signal.SIGTERM)
            if killed:
                self.incident("the shipper needed SIGKILL after SIGTERM")
        elif k in ("collector_kill9", "collector_term", "slow_store"):
            self.down.add("collector")
            rc, killed = self.coll.stop(signal.SIGKILL if k == "collector_kill9" else signal.SIGTERM)
            if killed:
                self.incident("the collector needed SIGKILL after SIGTERM")
            if k == "slow_store":
                self.coll.start(commit_delay_s=f.value)
                self.down.discard("collector")
        elif k == "outage":
            self.proxy.blackhole(True)
        elif k == "net_reset":
            n = self.proxy.reset()
            self.note(f"reset {n} connection(s)")
        elif k == "prune":
            self.start_prune(f)
        elif k == "disk_full_db":
            self.note(f"db disk filled ({self.db_disk.fill()} filler bytes)")
        elif k == "disk_full_state":
            self.note(f"state disk filled ({self.state_disk.fill()} filler bytes)")
        self.active[RESOURCE[k]] = (idx, f)

    def heal(self, resource: str) -> None:
        idx, f = self.active.pop(resource)
        k = f.kind
        if k in ("shipper_kill9", "shipper_term"):
            self.down.discard("shipper")
            assert self.ship is not None
            self.start_shipper()
        elif k in ("collector_kill9", "collector_term"):
            self.down.discard("collector")
            self.coll.start()
        elif k == "slow_store":
            self.coll.stop()
            self.coll.start()
        elif k == "outage":
            self.proxy.blackhole(False)
        elif k == "prune":
            self.finish_prune()
        elif k == "disk_full_db":
            self.db_disk.heal()
        elif k == "disk_full_state":
            self.state_disk.heal()
        self.note(f"heal {k}")
        self.res.recoveries.append(Recovery(idx, self.now()))

    def heal_all(self) -> None:
        for resource in list(self.active):
            self.heal(resource)

    def start_prune(self, f: Fault) -> None:
        """`logship prune --before <the writer's minute at second N> --export archive/`
        through the running collector, while it ingests. The writer's lines cycle through
        one minute (tests.shipkit.line), so every prune deletes (and exports) lines from
        all over the stream, and later lines of those seconds keep coming in."""
        if not self.coll.ready:  # restarting after a crash: a prune would open the file itself
            self.res.prunes.append("skipped: the collector was not ready")
            self.note("prune skipped: the collector was not ready")
            return
        cutoff = f"2026-11-27T21:09:{int(f.value):02d}+00:00"
        self._prune = subprocess.Popen(
            logship_cmd("prune", "--db", self.coll.db, "--before", cutoff, "--export", self.archive),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.note(f"prune --before {cutoff} started")

    def finish_prune(self) -> None:
        p, self._prune = self._prune, None
        if p is None:
            return
        try:
            _, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.incident("logship prune did not finish within 120 s")
            return
        answer = " ".join(err.split())[:240]
        # a full disk under the database may refuse it (nothing deleted then): noted, not an incident
        self.res.prunes.append(f"rc={p.returncode}: {answer}")
        self.note(f"prune done rc={p.returncode}: {answer}")

    def start_shipper(self) -> None:
        """Start the shipper, remembering where its log was (its errors are read from there)."""
        assert self.ship is not None
        log = self.work / "shipper.log"
        self._ship_log_pos = log.stat().st_size if log.exists() else 0
        self.ship.start()

    def shipper_error(self) -> str:
        """The first exception line the shipper logged since its last start (the cause, not
        the tracebacks of tasks torn down after it)."""
        with open(self.work / "shipper.log", "rb") as f:
            f.seek(self._ship_log_pos)
            text = f.read().decode(errors="replace")
        errors = _ERROR_LINE.findall(text)
        return errors[0] if errors else "; ".join(text.splitlines()[-2:])

    def supervise(self) -> None:
        """Restart a process that exited (or hangs at start) without being told to."""
        now = self.now()
        if "collector" not in self.down:
            if self.coll.start_stuck():
                self.incident("the collector printed no URL within its start timeout: killed")
                self.coll.stop(signal.SIGKILL)
            if self.coll.proc is not None and self.coll.proc.poll() is not None:
                rc = self.coll.proc.returncode
                self.incident(f"the collector exited by itself, rc={rc}: {self.coll.log_tail(2)!r}")
                self.coll.stop()
                self.next_restart["collector"] = now + SUPERVISE_RESTART_S
            if self.coll.proc is None and now >= self.next_restart.get("collector", 0.0):
                self.coll.start(self.coll.commit_delay_s)
        assert self.ship is not None
        if "shipper" not in self.down:
            if self.ship.proc is not None and self.ship.proc.poll() is not None:
                rc = self.ship.proc.returncode
                self.incident(f"the shipper exited by itself, rc={rc}: {self.shipper_error()}")
                stop_shipper(self.ship)
                self.next_restart["shipper"] = now + SUPERVISE_RESTART_S
            if self.ship.proc is None and now >= self.next_restart.get("shipper", 0.0):
                self.start_shipper()

    def approve(self) -> None:
        """Start `logship backlog approve --all` when the status says consent is needed.

        It runs beside the scheduler (a CLI start takes a second or more on a busy
        machine) and ``poll_approval`` collects its answer.
        """
        if self._approval is not None:
            return
        st = self.read_status()
        if st.get("consent") != "needed":
            return
        assert self.ship is not None
        self._approval = subprocess.Popen(
            logship_cmd("backlog", "approve", "--all", "--state-dir", self.ship.state),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def poll_approval(self, wait: bool = False) -> None:
        p = self._approval
        if p is None or (p.poll() is None and not wait):
            return
        out, err = p.communicate(timeout=60)
        self._approval = None
        if p.returncode == 0:
            self.res.consents += 1
            self.note(f"consent given: {out.strip()[:120]}")
        else:
            self.res.consent_failures += 1
            self.note(f"consent failed: {err.strip()[:200]}")

    # -- recovery -------------------------------------------------------------------------
    def healthy(self, st: dict[str, Any], since_wall: float) -> bool:
        """Connected, no consented backlog still waiting to be sent, every file near its end."""
        if not st or st.get("updated_at", 0) < since_wall:
            return False
        if st.get("connection", {}).get("state") != "connected":
            return False
        if any(s.get("status") == "approved" for s in st.get("backlog", {}).get("segments", [])):
            return False
        return all(f.get("lag_seconds", 0) <= RECOVERED_LAG_S for f in st.get("files", []))

    def sample_recovery(self) -> None:
        open_ = [r for r in self.res.recoveries if r.recovered_s is None]
        if not open_:
            return
        st = self.read_status()
        wall_now = time.time()
        for r in open_:
            since_wall = wall_now - (self.now() - r.healed_at)
            if self.healthy(st, since_wall):
                r.recovered_s = round(self.now() - r.healed_at, 2)

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> SoakResult:
        faults = list(enumerate(self.plan.faults))
        rotations = list(self.plan.rotations)
        approvals = list(self.plan.approvals)
        assert self.writer is not None
        next_sample = 0.0
        while self.now() < self.o.seconds:
            t = self.now()
            # heals first: a late tick (a slow stop) must not inject onto a resource still held
            for resource, (_, f) in list(self.active.items()):
                if f.heal_at <= t:
                    self.heal(resource)
            while faults and faults[0][1].at <= t:
                self.inject(*faults.pop(0))
            while rotations and rotations[0][0] <= t:
                kind = rotations.pop(0)[1]
                self.writer.rotate(kind)
                self.note(f"rotate {kind}")
            while approvals and approvals[0] <= t:
                approvals.pop(0)
                self.approve()
            self.poll_approval()
            self.supervise()
            if t >= next_sample:
                self.sample_recovery()
                next_sample = t + 0.25
            if self.writer.error is not None:
                raise RuntimeError(f"the soak's writer failed: {self.writer.error!r}")
            time.sleep(TICK_S)
        self.finish()
        return self.res

    def finish(self) -> None:
        assert self.writer is not None and self.ship is not None
        self.note("end: heal everything, stop writing, drain")
        self.heal_all()
        self.writer.stop()
        if self.writer.error is not None:
            raise RuntimeError(f"the soak's writer failed: {self.writer.error!r}")
        self.res.written = self.writer.seq
        self.res.rotations = dict(self.writer.rotations)
        t_heal = self.now()
        self.res.drained = self.drain()
        self.res.drain_s = round(self.now() - t_heal, 2)
        if not self.res.drained:
            st = self.read_status()
            segs = [s for s in st.get("backlog", {}).get("segments", [])]
            lagging = [f for f in st.get("files", []) if f.get("lag_bytes")]
            self.res.drain_note = (f"not drained after {self.o.drain_timeout_s:g} s: connection "
                                   f"{st.get('connection', {}).get('state')}, segments {json.dumps(segs)[:600]}, "
                                   f"lagging files {json.dumps(lagging)[:400]}")
            self.incident(self.res.drain_note)
            # A stall is a failure already; restart the shipper to tell "stuck until some
            # reconnect" from "gone": what is still lost after this is lost for good.
            self.note("restart the shipper (SIGTERM) and drain again, to tell a stall from a loss")
            stop_shipper(self.ship)
            self.start_shipper()
            self.res.drained_after_restart = self.drain()
            self.note(f"drained after the restart: {self.res.drained_after_restart}")
        self.note("stop both processes (SIGTERM)")
        if stop_shipper(self.ship)[1]:
            self.incident("the shipper needed SIGKILL after SIGTERM at the end")
        if self.coll.stop()[1]:
            self.incident("the collector needed SIGKILL after SIGTERM at the end")
        self.res.check = check_db(self.coll.db, self.logs, self.res.written, archive=self.archive)

    def drain(self) -> bool:
        """Consent whenever needed until the status shows everything sent (``drained``)
        for DRAIN_STABLE_S in a row; False after ``drain_timeout_s``."""
        wall_start = time.time()
        deadline = time.monotonic() + self.o.drain_timeout_s
        stable_since: float | None = None
        next_approve = 0.0
        while time.monotonic() < deadline:
            self.poll_approval()
            self.supervise()
            if self.now() >= next_approve:
                self.approve()
                next_approve = self.now() + 1.0
            self.sample_recovery()
            if self.drained(self.read_status(), wall_start):
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= DRAIN_STABLE_S:
                    return True
            else:
                stable_since = None
            time.sleep(0.2)
        self.poll_approval(wait=True)
        return False

    def drained(self, st: dict[str, Any], since_wall: float) -> bool:
        if not st or st.get("updated_at", 0) < since_wall + 0.5:
            return False
        if st.get("connection", {}).get("state") != "connected" or st.get("unsettled_files"):
            return False
        if st.get("backlog", {}).get("segments"):
            return False
        files = st.get("files", [])
        if any(f.get("lag_bytes") for f in files):
            return False
        live = self.logs / "app.log"
        size = live.stat().st_size if live.exists() else 0
        acked = {f["path"]: f.get("acked", 0) for f in files}
        return size == 0 or acked.get(str(live), -1) >= size




# -- the report ------------------------------------------------------------------------------
def report(res: SoakResult, writer_gens: list[dict]) -> str:
    c = res.check
    out = [f"soak seed {res.seed}: {'PASS' if res.ok else 'FAIL'}"]
    out.append("faults injected: " + ", ".join(f"{k} {res.faults.get(k, 0)}" for k in FAULT_KINDS)
               + f" (total {sum(res.faults.values())})")
    for k, why in res.skipped.items():
        out.append(f"fault kind skipped: {k} ({res.skipped_count.get(k, 0)} planned): {why}")
    out.append("rotations: " + ", ".join(f"{k} {n}" for k, n in res.rotations.items())
               + f"; consents given {res.consents} (failed {res.consent_failures})")
    if c is not None:
        out.append(f"lines written {res.written}, stored {c.stored}, lost {c.lost_count}, "
                   f"duplicated {len(c.duplicated)}, foreign {c.foreign}, rejects {c.rejects}")
    out.append(f"missed_bytes (reported by the shipper) {res.missed_bytes}, lost bytes {res.lost_bytes()}")
    if res.prunes:
        done = sum(1 for p in res.prunes if p.startswith("rc=0"))
        out.append(f"prunes: {done} of {len(res.prunes)} done, {c.archived if c else 0} lines in the archive "
                   "(counted with the database)")
        out += [f"  {p}" for p in res.prunes[:10]]
    mx, n, never = res.max_recovery()
    out.append(f"max recovery {mx if mx is not None else '-'} s over {n} clean measurements "
               f"({never} never recovered); drain {res.drain_s} s, drained {res.drained}"
               + ("" if res.drained_after_restart is None else
                  f" (stalled; after a shipper restart drained {res.drained_after_restart}, the loss below "
                  "is what remained lost after that restart)"))
    if c is not None and c.lost:
        pieces = split_by_generation(c.lost, writer_gens)
        out.append(f"lost ranges ({len(pieces)}, split by the file they were written to):")
        t0 = res.t0_wall
        for a, b, g in pieces[:20]:
            if g is None:
                out.append(f"  seq [{a}, {b}) {b - a} lines, in no generation")
                continue
            ta, tb = seq_time(g, a) - t0, seq_time(g, b - 1) - t0
            near = [e for e in res.timeline if ta - 1.0 <= float(e.split()[0]) <= tb + 8.0
                    and not e.split()[1].startswith("consent")]
            out.append(f"  seq [{a}, {b}) {b - a} lines written {ta:.1f}..{tb:.1f} s to generation {g['gen']} "
                       f"(now {g['name']}, left app.log by {g['how'] or '-'}); around then: "
                       + "; ".join(e.strip() for e in near[:8]))
    if c is not None and c.duplicated:
        out.append(f"duplicated seqs (first 20): {sorted(c.duplicated.items())[:20]}")
    if c is not None and c.range_gaps:
        out.append(f"source_ranges gaps ({len(c.range_gaps)}):")
        out += [f"  {g}" for g in c.range_gaps[:20]]
    if res.incidents:
        out.append(f"incidents ({len(res.incidents)}):")
        out += [f"  {i}" for i in res.incidents[:30]]
    if not res.ok:
        out.append(f"replay: {res.options.replay(res.seed)}")
        out.append(f"work dir kept: {res.workdir} (timeline in soak-report.json)")
    return "\n".join(out)


def split_by_generation(ranges: list[tuple[int, int]], gens: list[dict]) -> list[tuple[int, int, dict | None]]:
    """Cut lost seq ranges at file boundaries, each piece with the generation it was written to."""
    out: list[tuple[int, int, dict | None]] = []
    for a, b in ranges:
        while a < b:
            g = next((g for g in gens if g["first"] <= a < g["end"]), None)
            end = min(b, g["end"]) if g else b
            out.append((a, end, g))
            a = end
    return out


def seq_time(g: dict, seq: int) -> float:
    """When ``seq`` was written (wall clock), by its place in its generation (a steady rate)."""
    n = max(1, g["end"] - g["first"] - 1)
    return g["t_first"] + (g["t_last"] - g["t_first"]) * (seq - g["first"]) / n


def run_soak(opts: SoakOptions) -> SoakResult:
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"soak seed {seed} ({opts.seconds:g} s, {opts.rate:g} lines/s{', short' if opts.short else ''}); "
          f"replay: {opts.replay(seed)}", file=opts.out, flush=True)
    plan = make_plan(seed, opts.seconds, short=opts.short)
    own_dir = opts.workdir is None
    work = Path(tempfile.mkdtemp(prefix="logship-soak-")) if own_dir else opts.workdir
    assert work is not None
    soak = Soak(opts, seed, plan, work)
    try:
        soak.setup()
        soak.res.t0_wall = time.time() - soak.now()
        soak.run()
    finally:
        soak.teardown()
    res = soak.res
    gens = soak.writer.journal() if soak.writer else []
    text = report(res, gens)
    print(text, file=opts.out, flush=True)
    (work / "soak-report.json").write_text(json.dumps({
        "seed": seed, "ok": res.ok, "summary": text, "timeline": res.timeline, "journal": gens,
        "plan": [f.__dict__ for f in plan.faults],
    }, indent=1, default=str))
    if res.ok and own_dir and not opts.keep:
        shutil.rmtree(work, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fault.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=1800.0)
    ap.add_argument("--seed", type=int, default=None, help="default: a random seed, printed first")
    ap.add_argument("--rate", type=float, default=500.0, help="lines per second")
    ap.add_argument("--short", action="store_true", help="the short profile with the scripted outage")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work dir when the run passed")
    ap.add_argument("--drain-timeout", type=float, default=120.0)
    a = ap.parse_args(argv)
    if a.workdir is not None:
        a.workdir.mkdir(parents=True, exist_ok=True)
    res = run_soak(SoakOptions(seconds=a.seconds, seed=a.seed, rate=a.rate, short=a.short, workdir=a.workdir,
                               keep=a.keep, drain_timeout_s=a.drain_timeout))
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
