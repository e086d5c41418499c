"""The watchdog's loop: one session per run of the app, samples, events, retention.

One thread. It waits in ``select`` on the event socket, a wake-up socket that signal
handlers write to (SIGCHLD, and the stop signals it forwards), and the app's pidfd
where the platform has one; the next sample's deadline is the timeout. So a busy app
cannot delay the watchdog's own clock by more than the scheduler does, and nothing
polls faster than it has to.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import time

import psutil

from logship.clientlog.writer import ClientLogWriter, Duration, Size, Value, new_session_id, render_entry
from logship.kernel.errors import LogshipError

from .config import WatchConfig
from .events import EventSocket, RateLimit, child_env, decode_datagram
from .pace import Pace
from .retention import prune
from .sampler import Gone, Sampler
from .session import drop_session, load_session, save_session

__all__ = ["Watchdog", "WatchError", "system_stopping"]

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n))
RETENTION_EVERY_S = 30.0


class WatchError(LogshipError):
    """The app cannot be started or found."""


def system_stopping() -> bool:
    """Best effort: the machine is shutting down (systemd's marks on Linux)."""
    return any(os.path.exists(p) for p in ("/run/systemd/shutdown/scheduled", "/run/nologin"))


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


class Watchdog:
    def __init__(self, cfg: WatchConfig) -> None:
        self.cfg = cfg
        self.popen: subprocess.Popen[bytes] | None = None
        self.proc: psutil.Process | None = None
        self.session_id = ""
        self.stop_signal: int | None = None
        self.write_errors = 0
        self.lines = 0
        self.events_in = 0
        self.writer: ClientLogWriter | None = None
        self.limit = RateLimit(cfg.event_rate, cfg.event_burst)
        self.pace = Pace(cfg.interval, cfg.max_interval, cfg.shipper_state, cfg.lag_seconds, cfg.busy_load)
        self.interval = cfg.interval

    # -- writing -------------------------------------------------------------------------
    def _write(self, level: str, kind: str, name: str, fields: dict[str, Value] | None = None,
               message: str | None = None, continuation: tuple[str, ...] = ()) -> None:
        assert self.writer is not None
        entry = render_entry(time.time(), level, self.session_id, kind, name, fields, message, continuation)
        try:
            self.writer.write(entry)
            self.lines += 1
        except OSError as exc:
            # a full disk must not stop the watchdog: the app is still watched and its
            # stop signals forwarded; what could not be written is counted and said once
            if not self.write_errors:
                print(f"logship watch: cannot write {self.writer.path}: {exc.strerror or exc}; "
                      "counting lost lines", file=sys.stderr, flush=True)
            self.write_errors += 1

    def event(self, name: str, level: str = "INFO", message: str | None = None, **fields: Value) -> None:
        self._write(level, "event", name, fields, message)

    # -- the app ----------------------------------------------------------------------
    def _start(self, address: str) -> None:
        cfg = self.cfg
        if cfg.command:
            extra = {"process_group": 0} if os.name == "posix" else {}
            try:
                self.popen = subprocess.Popen(list(cfg.command), env=child_env(address), **extra)
            except OSError as exc:
                raise WatchError(f"cannot start {cfg.command[0]!r}: {exc.strerror or exc}") from None
            self.proc = psutil.Process(self.popen.pid)
        else:
            assert cfg.pid is not None
            try:
                self.proc = psutil.Process(cfg.pid)
            except psutil.NoSuchProcess:
                raise WatchError(f"no process {cfg.pid} to watch") from None
            except psutil.AccessDenied:
                raise WatchError(f"process {cfg.pid}: access denied") from None

    def _exited(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is not None
        assert self.proc is not None
        try:
            return not self.proc.is_running() or self.proc.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return True

    def _start_fields(self) -> dict[str, Value]:
        assert self.proc is not None
        if self.popen is not None:
            command = shlex.join(self.cfg.command)
        else:
            try:
                command = shlex.join(self.proc.cmdline()) or self.proc.name()
            except psutil.Error:
                command = "?"
        fields: dict[str, Value] = {}
        if self.cfg.app_version:
            fields["version"] = self.cfg.app_version
        fields.update({"os": sys.platform, "command": command, "pid": self.proc.pid,
                       "interval": Duration.of(self.cfg.interval)})
        return fields

    def _end(self) -> tuple[str, dict[str, Value], int]:
        """The end mark's level and fields, and the watchdog's exit code."""
        if self.popen is None:
            return "WARN", {"exit": "unknown"}, 0   # not our child: its exit status cannot be read
        rc = self.popen.returncode
        assert rc is not None
        fields: dict[str, Value] = {"signal": _signal_name(-rc)} if rc < 0 else {"exit": rc}
        if self.stop_signal is not None or system_stopping():
            fields["reason"] = "stopped"
            if self.stop_signal is not None:
                fields["stop"] = _signal_name(self.stop_signal)
            return "INFO", fields, rc if rc >= 0 else 128 - rc
        return ("INFO" if rc == 0 else "ERROR"), fields, rc if rc >= 0 else 128 - rc

    # -- signals ----------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum not in STOP_SIGNALS:
            return   # SIGCHLD: only wakes the loop (through the wake-up fd)
        self.stop_signal = signum
        if self.popen is not None and self.popen.returncode is None:
            try:
                self.popen.send_signal(signum)   # forwarded; the loop waits for the exit
            except ProcessLookupError:
                pass

    # -- the loop ---------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.cfg
        events = EventSocket.open(prefer_unix=not cfg.udp)
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        old_handlers = {}
        old_wakeup = -1  # restored in the finally, whatever fails first
        pidfd = None
        try:
            try:
                self.writer = ClientLogWriter(cfg.log_dir / cfg.log_name, max_bytes=cfg.rotate_bytes, backups=None,
                                              gzip_rotated=False)
            except OSError as exc:
                raise WatchError(f"cannot write {cfg.log_dir / cfg.log_name}: {exc.strerror or exc}") from None
            old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
            for sig in STOP_SIGNALS + ((signal.SIGCHLD,) if hasattr(signal, "SIGCHLD") else ()):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            self._start(events.address)
            assert self.proc is not None
            pidfd = self._pidfd(self.proc.pid)
            create_time, boot_time = self.proc.create_time(), psutil.boot_time()
            resumed = load_session(cfg.log_dir, self.proc.pid, create_time, boot_time) if self.popen is None else None
            self.session_id = resumed or new_session_id()
            if resumed:
                self.event("watch.resumed", pid=self.proc.pid, interval=Duration.of(cfg.interval))
            else:
                self._write("INFO", "session", "start", self._start_fields())
            try:
                save_session(cfg.log_dir, self.proc.pid, create_time, boot_time, self.session_id)
            except OSError as exc:   # a full disk: the session is watched all the same, not resumable
                print(f"logship watch: cannot record the session in {cfg.log_dir}: {exc.strerror or exc}",
                      file=sys.stderr, flush=True)
            detached = self._loop(events, wake_r, pidfd)
            self._drain(events)
            if detached:
                self.event("watch.detached", stop=_signal_name(self.stop_signal or 0),
                           message="the watchdog stopped; the session stays open for the next one")
                return 0
            level, fields, code = self._end()
            self._write(level, "session", "end", fields)
            try:
                drop_session(cfg.log_dir)
            except OSError:
                pass   # a stale file names a process that is gone: never resumed
            self._retention()
            return code
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            signal.set_wakeup_fd(old_wakeup)  # what was there before (-1: none)
            if pidfd is not None:
                os.close(pidfd)
            events.close()
            wake_r.close()
            wake_w.close()
            if self.writer is not None:
                self.writer.close()

    @staticmethod
    def _pidfd(pid: int) -> int | None:
        if not hasattr(os, "pidfd_open"):
            return None
        try:
            return os.pidfd_open(pid)
        except OSError:
            return None

    def _loop(self, events: EventSocket, wake: socket.socket, pidfd: int | None) -> bool:
        """Until the app exits (False) or, attached with --pid, the watchdog is stopped (True)."""
        assert self.proc is not None
        sampler = Sampler(self.proc, self.cfg.children)
        now = time.monotonic()
        next_sample = now + self.interval
        next_retention = now
        rotations = 0
        watch = [events.sock, wake] + ([pidfd] if pidfd is not None else [])
        # attached without a pidfd: nothing wakes us at the exit, so look twice a second
        poll_cap = 0.5 if (self.popen is None and pidfd is None) else None
        while True:
            if self._exited():
                return False
            if self.popen is None and self.stop_signal is not None:
                return True
            now = time.monotonic()
            timeout = max(0.0, next_sample - now)
            if poll_cap is not None:
                timeout = min(timeout, poll_cap)
            try:
                ready, _, _ = select.select(watch, [], [], timeout)
            except InterruptedError:
                ready = []
            if wake in ready:
                try:
                    while wake.recv(512):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
            if events.sock in ready:
                self._drain(events, limit=1000, final=False)   # a flood cannot starve the sampling
            now = time.monotonic()
            if now >= next_sample:
                try:
                    fields = sampler.sample()
                except Gone:
                    continue   # the exit is read at the top of the loop
                self._write("INFO", "metric", "proc", fields)
                self._repace()
                next_sample += self.interval
                if next_sample <= now:
                    next_sample = now + self.interval   # we were held up: no burst of catch-up samples
                dropped = self.limit.take_dropped()
                if dropped:
                    self.event("watch.events_dropped", "WARN", count=dropped, rate=self.cfg.event_rate)
                assert self.writer is not None
                if now >= next_retention or self.writer.rotations != rotations:
                    rotations = self.writer.rotations
                    next_retention = now + RETENTION_EVERY_S
                    self._retention()

    def _drain(self, events: EventSocket, limit: int = 100_000, final: bool = True) -> None:
        """Write what the app sent. Drops are reported with each sample, and at the end."""
        for raw in events.receive(limit):
            self.events_in += 1
            if not self.limit.admit():
                continue
            ev = decode_datagram(raw, self.session_id)
            self._write(ev.level, "event", ev.name, ev.fields, ev.message, ev.continuation)
        if final and (dropped := self.limit.take_dropped()):
            self.event("watch.events_dropped", "WARN", count=dropped, rate=self.cfg.event_rate)

    def _repace(self) -> None:
        d = self.pace.decide()
        if d.interval != self.interval:
            self.event("watch.interval", interval=Duration.of(d.interval), previous=Duration.of(self.interval),
                       reason=d.reason, factor=d.factor)
            self.interval = d.interval

    def _retention(self) -> None:
        assert self.writer is not None
        status = self.pace.read_status() if self.cfg.shipper_state is not None else None
        if self.cfg.shipper_state is not None and status is None:
            status = {}   # a shipper is named but has not written its status: nothing is acked
        for d, error in prune(self.writer.path, self.cfg.keep_for, self.cfg.keep_bytes, status, time.time()):
            if error:
                self.event("watch.retention_failed", "WARN", path=d.path.name, error=error)
            elif d.acked:
                self.event("watch.retention_deleted", path=d.path.name, size=Size.of(d.nbytes), reason=d.reason)
            else:
                self.event("watch.retention_forced", "WARN", path=d.path.name, size=Size.of(d.nbytes),
                           reason=d.reason, message="deleted before the shipper had it acknowledged: "
                                                    "the size cap forced it")
