"""A fleet simulator: realistic client logs with a ground truth to test and demo against.

`simulate(out, ...)` writes `out/<client-id>/app.log*` as the desktop client would
(sessions, ~10 metric lines a second, events, tracebacks, rotation with gzipped
archives, a small share of corrupt lines) and `out/manifest.json`, which says exactly
what a correct ingest must find: per client and session the start, end, end reason,
and the counts of metric samples, events and corrupt lines. The same seed gives the
same bytes. Stdlib only (it shares clientlog.py with the watchdog).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from logship.clientlog.writer import (
    ClientLogWriter,
    Duration,
    Percent,
    Size,
    render_entry,
    rotated_name,
)
from logship.kernel.errors import LogshipError
from logship.kernel.units import parse_duration_text

__all__ = [
    "SimulateError",
    "SimConfig",
    "DEFAULT_START",
    "MANIFEST_NAME",
    "simulate",
    "parse_duration",
    "end_reason",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_GENERATOR = "logship simulate"
DEFAULT_START = datetime(2026, 11, 27, 21, 0, tzinfo=timezone.utc)


class SimulateError(LogshipError):
    """Bad simulate options, or an output directory that is not ours to overwrite."""

    exit_code = 2


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. `rate` is metric lines a second per client (events come on top)."""

    clients: int = 10
    duration_s: float = 600.0
    seed: int = 0
    start: datetime = DEFAULT_START
    corrupt_rate: float = 0.002
    rate: float = 10.0
    rotate_bytes: int = 256 << 10
    archive_copies: bool = True

    def check(self) -> None:
        if self.clients < 1:
            raise SimulateError(f"--clients must be >= 1, not {self.clients}")
        if not self.duration_s > 0:
            raise SimulateError(f"--duration must be > 0, not {self.duration_s}s")
        if not 0 <= self.corrupt_rate <= 0.5:
            raise SimulateError(f"--corrupt-rate must be between 0 and 0.5, not {self.corrupt_rate}")
        if not 0 < self.rate <= 1000:
            raise SimulateError(f"--rate must be in (0, 1000] lines a second, not {self.rate}")
        if self.rotate_bytes < 0:
            raise SimulateError(f"--rotate-bytes must be >= 0, not {self.rotate_bytes}")
        if self.start.tzinfo is None:
            raise SimulateError("--start needs a UTC offset (e.g. 2026-11-27T21:00:00+00:00)")


def parse_duration(text: str) -> float:
    """`10m`, `90s`, `1h30m`, `2.5m`, `600` (seconds) -> seconds."""
    seconds = parse_duration_text(text)
    if seconds is None:
        raise SimulateError(f"duration {text!r} is not like 10m, 90s, 1h30m")
    return seconds


def end_reason(has_end: bool, exit_code: int | None, signal: str | None, later_session: bool) -> str:
    """The end-reason rule of docs/storage.md: clean (exit=0), crashed (non-zero exit or signal), lost, open."""
    if has_end:
        return "clean" if exit_code == 0 and signal is None else "crashed"
    return "lost" if later_session else "open"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


# ---- what the client says ----------------------------------------------------------

_OFFSETS_MIN = (0, 60, 120, -300, 330, 540, -480, 0)
_OS = ("linux", "windows", "macos")
_VERSIONS = ("1.4.2", "1.4.3", "1.5.0-beta.1")
_TRACKERS = (
    "http://tracker.example.org:6969/announce?info_hash=%1F%8B%08",
    "udp://open.tracker.example.net:1337/announce",
    "https://t.example.com/a?passkey=5e1f&event=started",
)
_TORRENTS = (
    "ubuntu-24.04.1-desktop-amd64.iso",
    'Big "Buck" Bunny (2008) 1080p.mkv',
    "Sintel.2010.4K.mkv",
    "archive.org — public domain films.zip",
    "debian-12.8.0-amd64-netinst.iso",
)
_PEER_CLIENTS = ("qBittorrent/4.6.2", "Transmission 4.0.5", "libtorrent/2.0.10", "µTorrent 3.6")
_DOWNLOAD_DIRS = ("C:\\Users\\ana\\Downloads", "/home/kim/Downloads", "/Users/lee/Movies/Torrents")
_TRACEBACKS = {
    "disk.write_failed": (
        "No space left on device",
        [
            "    Traceback (most recent call last):",
            '      File "torrent/storage.py", line 212, in write_piece',
            "        self._file.write(buf)",
            "    OSError: [Errno 28] No space left on device",
        ],
    ),
    "net.socket_error": (
        "Connection reset by peer",
        [
            "    Traceback (most recent call last):",
            '      File "net/peer.py", line 88, in _read_loop',
            "        data = await reader.readexactly(n)",
            '      File "asyncio/streams.py", line 750, in readexactly',
            "    ConnectionResetError: [Errno 104] Connection reset by peer",
        ],
    ),
    "ui.render_failed": (
        "widget tree out of sync",
        [
            "\tTraceback (most recent call last):",
            '\t  File "ui/list.py", line 41, in refresh',
            '\t    row = self._rows[key]',
            "\tKeyError: 'torrent-7'",
        ],
    ),
}


@dataclass
class _Session:
    session_id: str
    start_ms: int
    end_ms: int  # the last entry's time (the end mark's, when there is one)
    outcome: str  # clean | exit | signal | vanish | running
    exit_code: int | None = None
    signal: str | None = None
    metric_entries: int = 0
    metric_samples: int = 0
    events: int = 0
    errors: int = 0
    last_ms: int = 0


@dataclass
class _ClientResult:
    client_id: str
    sessions: list[_Session] = field(default_factory=list)
    lines: int = 0
    entries: int = 0
    corrupt_lines: int = 0
    corrupt_kinds: dict[str, int] = field(default_factory=lambda: {"garbage": 0, "cut": 0, "invalid_utf8": 0})
    bytes: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)


class _Client:
    """One client's app: plans its sessions, then writes them in time order."""

    def __init__(self, cfg: SimConfig, index: int, out: Path) -> None:
        self.cfg = cfg
        self.client_id = f"client-{index + 1:03d}"
        self.rng = random.Random(f"{cfg.seed}/{self.client_id}")
        self.tz = timezone(timedelta(minutes=_OFFSETS_MIN[index % len(_OFFSETS_MIN)]))
        self.os = self.rng.choice(_OS)
        self.version = self.rng.choice(_VERSIONS)
        self.iface = self.rng.choice(("eth0", "wlan0")) if self.os == "linux" else "default"
        self.dir = out / self.client_id
        self.result = _ClientResult(self.client_id)
        self.writer = ClientLogWriter(
            self.dir / "app.log", max_bytes=cfg.rotate_bytes, backups=1000, gzip_rotated=True, flush_each=False
        )
        self._last_ms_by_generation: dict[int, int] = {}
        self._seen_ids: set[str] = set()

    # -- output -------------------------------------------------------------------
    def _ts(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.tz)

    def _emit(self, ms: int, text: str | bytes, lines: int, corrupt: str | None = None) -> None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        self.writer.write(data)
        self._last_ms_by_generation[self.writer.rotations] = ms
        self.result.lines += lines
        self.result.bytes += len(data)
        if corrupt is None:
            self.result.entries += 1
        else:
            self.result.corrupt_lines += 1
            self.result.corrupt_kinds[corrupt] += 1

    def _entry(self, ms: int, level: str, sess: _Session, kind: str, name: str, fields: dict[str, Any],
               message: str | None = None, continuation: list[str] | tuple[str, ...] = ()) -> None:
        if self.cfg.corrupt_rate and self.rng.random() < self.cfg.corrupt_rate:
            self._corrupt(ms, sess)
        text = render_entry(self._ts(ms), level, sess.session_id, kind, name, fields, message, continuation)
        self._emit(ms, text, 1 + len(continuation))
        sess.last_ms = ms

    def _corrupt(self, ms: int, sess: _Session) -> None:
        """One line that must become one reject: garbage, a cut line, or invalid UTF-8."""
        rng = self.rng
        kind = rng.choice(("garbage", "cut", "invalid_utf8"))
        if kind == "garbage":
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =\"-:.#{}[]<>!?*"
            body = "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 90)))
            data = ("#" + body).encode("ascii") + b"\n"  # never starts with whitespace
        elif kind == "cut":
            # A head line cut before its kind word: no prefix of it parses.
            line = render_entry(self._ts(ms), "INFO", sess.session_id, "metric", "proc", {"cpu": Percent(1.0)})
            data = line[: rng.randint(1, 56)].encode("ascii") + b"\n"
        else:
            bad = rng.choice((b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82"))
            line = render_entry(self._ts(ms), "INFO", sess.session_id, "event", "torrent.added", {"name": "x"})
            head, _, _ = line.rstrip("\n").rpartition('name=')
            data = head.encode("ascii") + b'name="' + b"movie" + bad + b'.mkv"\n'
        self._emit(ms, data, 1, corrupt=kind)

    # -- planning -----------------------------------------------------------------
    def _new_session_id(self) -> str:
        while True:
            sid = f"{self.rng.getrandbits(64):016x}"
            if sid not in self._seen_ids:
                self._seen_ids.add(sid)
                return sid

    def plan(self) -> list[_Session]:
        cfg, rng = self.cfg, self.rng
        t0 = int(cfg.start.timestamp() * 1000)
        end = t0 + int(cfg.duration_s * 1000)
        window = end - t0
        t = t0 + rng.randint(0, max(1, min(30_000, window // 20)))
        sessions: list[_Session] = []
        while t < end - 1000:
            length = int(window * rng.uniform(0.08, 0.45)) + 5_000
            s_end = t + length
            if s_end >= end - 500:
                sessions.append(_Session(self._new_session_id(), t, end - rng.randint(1, 400), "running"))
                break
            outcome = rng.choices(("clean", "exit", "signal", "vanish"), (0.55, 0.12, 0.13, 0.20))[0]
            s = _Session(self._new_session_id(), t, s_end, outcome)
            if outcome == "clean":
                s.exit_code = 0
            elif outcome == "exit":
                s.exit_code = rng.choice((1, 2, 3, 70))
            elif outcome == "signal":
                s.signal = rng.choice(("SIGSEGV", "SIGABRT", "SIGKILL"))
            sessions.append(s)
            t = s_end + rng.randint(2_000, max(2_001, min(60_000, window // 10)))
        return sessions

    # -- writing ------------------------------------------------------------------
    def run(self) -> _ClientResult:
        for sess in self.plan():
            self._write_session(sess)
            self.result.sessions.append(sess)
        self.writer.close()
        self._finish_files()
        return self.result

    def _write_session(self, s: _Session) -> None:
        rng, cfg = self.rng, self.cfg
        self._entry(s.start_ms, "INFO", s, "session", "start", {
            "version": self.version, "os": self.os, "pid": rng.randint(300, 65000),
            "build": f"{rng.getrandbits(28):07x}", "started_by": rng.choice(("autostart", "user", "update")),
        })
        step = 1000.0 / cfg.rate
        cpu = rng.uniform(2, 20)
        rss = rss_base = rng.uniform(80, 260) * 2**20
        threads = rng.randint(14, 30)
        disk_free = rng.uniform(20, 400) * 2**30
        downloading = False
        t = s.start_ms + step
        group = 0
        next_event = s.start_ms + rng.expovariate(0.3) * 1000
        while t < s.end_ms:
            ms = int(t)
            while next_event < t:
                self._event(int(next_event), s)
                next_event += rng.expovariate(0.3) * 1000 + 1
            g = group % 3
            group += 1
            if g == 0:
                cpu_target = 38.0 if downloading else 6.0
                cpu = min(100.0, max(0.1, cpu + (cpu_target - cpu) * 0.1 + rng.gauss(0, 2)))
                rss = max(40 * 2**20, rss + (rss_base - rss) * 0.02 + rng.gauss(2**16, 2**20))
                threads = max(8, threads + rng.choice((-1, 0, 0, 0, 1)))
                fields = {"cpu": Percent(round(cpu, 1)), "rss": Size.of(rss, "MiB"), "threads": threads}
                self._metric(ms, s, "proc", fields, 3)
            elif g == 1:
                if rng.random() < 0.05:
                    downloading = not downloading
                down = rng.uniform(1, 12) * 2**20 if downloading else rng.uniform(0, 200) * 2**10
                up = rng.uniform(10, 900) * 2**10
                fields = {"iface": self.iface, "down": Size.of(down), "up": Size.of(up), "peers": rng.randint(0, 60)}
                self._metric(ms, s, "net", fields, 3)
            else:
                written = rng.uniform(0, 8) * 2**20 if downloading else 0
                disk_free = max(0.0, disk_free - written)
                fields = {"free": Size.of(disk_free, "GiB", digits=2), "write": Size.of(written),
                          "latency": Duration(round(rng.uniform(0.2, 40), 1), "ms")}
                self._metric(ms, s, "disk", fields, 3)
            t += step * rng.uniform(0.8, 1.2)
        if s.outcome in ("clean", "exit", "signal"):
            uptime = Duration.of((s.end_ms - s.start_ms) / 1000)
            if s.outcome == "signal":
                self._entry(s.end_ms, "FATAL", s, "session", "end", {"signal": s.signal, "uptime": uptime})
            else:
                level = "INFO" if s.exit_code == 0 else "ERROR"
                self._entry(s.end_ms, level, s, "session", "end", {"exit": s.exit_code, "uptime": uptime})
        elif s.outcome == "vanish" and cfg.corrupt_rate and rng.random() < 0.5:
            # The app died mid-write: the last line is cut (a reject, not part of the session).
            self._corrupt_cut_at(s.end_ms, s)

    def _corrupt_cut_at(self, ms: int, s: _Session) -> None:
        line = render_entry(self._ts(ms), "INFO", s.session_id, "metric", "net", {"down": Size(1, "KiB")})
        self._emit(ms, line[: self.rng.randint(10, 56)].encode("ascii") + b"\n", 1, corrupt="cut")

    def _metric(self, ms: int, s: _Session, group: str, fields: dict[str, Any], samples: int) -> None:
        self._entry(ms, "INFO", s, "metric", group, fields)
        s.metric_entries += 1
        s.metric_samples += samples

    def _event(self, ms: int, s: _Session) -> None:
        rng = self.rng
        r = rng.random()
        message: str | None = None
        continuation: list[str] = []
        if r < 0.25:
            level, name = "INFO", "tracker.announce"
            fields: dict[str, Any] = {"url": rng.choice(_TRACKERS), "peers": rng.randint(0, 200),
                                      "elapsed": Duration(rng.randint(20, 900), "ms")}
        elif r < 0.37:
            level, name = "WARN", "tracker.timeout"
            fields = {"url": rng.choice(_TRACKERS), "attempt": rng.randint(1, 5),
                      "elapsed": Duration(rng.choice((1.5, 5, 15, 30)), "s")}
            message = "no response from tracker"
        elif r < 0.62:
            level, name = "DEBUG", "peer.connected"
            fields = {"peer": f"203.0.113.{rng.randint(1, 254)}:{rng.randint(1024, 65535)}",
                      "client": rng.choice(_PEER_CLIENTS), "encrypted": rng.random() < 0.7}
        elif r < 0.80:
            level, name = "DEBUG", "peer.disconnected"
            fields = {"peer": f"198.51.100.{rng.randint(1, 254)}:{rng.randint(1024, 65535)}",
                      "reason": rng.choice(("timeout", "choked", "connection reset by peer")),
                      "duration": Duration.of(rng.uniform(0.3, 900))}
        elif r < 0.86:
            level, name = "INFO", "torrent.added"
            fields = {"name": rng.choice(_TORRENTS), "size": Size.of(rng.uniform(0.1, 40) * 2**30),
                      "files": rng.randint(1, 120), "path": rng.choice(_DOWNLOAD_DIRS)}
        elif r < 0.92:
            level, name = "INFO", "torrent.completed"
            fields = {"name": rng.choice(_TORRENTS), "size": Size.of(rng.uniform(0.1, 40) * 1e9, binary=False),
                      "elapsed": Duration.of(rng.uniform(30, 5000)), "ratio": round(rng.uniform(0, 3), 2)}
        elif r < 0.95:
            level, name = "INFO", "update.check"
            fields = {"current": self.version, "latest": "1.5.0", "available": self.version != "1.5.0"}
        elif r < 0.97:
            level, name = "WARN", "disk.slow"
            fields = {"latency": Duration(rng.randint(300, 3000), "ms"), "path": rng.choice(_DOWNLOAD_DIRS)}
        else:
            level = "ERROR"
            name = rng.choice(sorted(_TRACEBACKS))
            message, continuation = _TRACEBACKS[name]
            fields = {"disk.write_failed": {"errno": 28, "path": rng.choice(_DOWNLOAD_DIRS)},
                      "net.socket_error": {"errno": 104, "peer": f"198.51.100.{rng.randint(1, 254)}:6881"},
                      "ui.render_failed": {"widget": "torrent_list", "frame": rng.randint(1, 99999)}}[name]
            s.errors += 1
        self._entry(ms, level, s, "event", name, fields, message, continuation)
        s.events += 1

    def _finish_files(self) -> None:
        """File times as the client left them; an archive copy; the file list."""
        gens = self.writer.rotations
        for gen, last_ms in self._last_ms_by_generation.items():
            k = gens - gen
            path = self.writer.path if k == 0 else next(
                p for p in (rotated_name(self.writer.path, k, True), rotated_name(self.writer.path, k, False))
                if p.exists()
            )
            os.utime(path, (last_ms / 1000, last_ms / 1000))
        one = rotated_name(self.writer.path, 1, False)
        if self.cfg.archive_copies and one.exists() and self.rng.random() < 0.5:
            # A gzipped copy of a file that is also present (copied off the machine):
            # ingest must add nothing for it.
            arch = self.dir / "archive" / f"{self.client_id}-app.log.1.gz"
            arch.parent.mkdir(exist_ok=True)
            with open(one, "rb") as fin, open(arch, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    shutil.copyfileobj(fin, gz)
            st = one.stat()
            os.utime(arch, ns=(st.st_atime_ns, st.st_mtime_ns))
        for p in sorted(self.dir.rglob("*")):
            if p.is_file():
                self.result.files.append({
                    "path": p.relative_to(self.dir.parent).as_posix(),
                    "bytes": p.stat().st_size,
                    "duplicate": p.parent.name == "archive",
                })


_CLIENT_DIR = re.compile(r"client-\d{3,}")


def _is_our_manifest(path: Path) -> bool:
    try:
        return json.loads(path.read_text("utf-8")).get("generator") == MANIFEST_GENERATOR
    except (ValueError, OSError, AttributeError):
        return False


def _prepare_out(out: Path, manifest: Path, force: bool) -> None:
    """Refuse a non-empty `out` unless --force and it holds only an earlier simulation:
    client-NNN folders and our manifest (which may live outside `out`)."""
    if out.exists() and not out.is_dir():
        raise SimulateError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise SimulateError(f"{out} is not empty (use --force to replace an earlier simulation)")
        ours = _is_our_manifest(manifest) and all(
            (p.is_dir() and _CLIENT_DIR.fullmatch(p.name)) or p.resolve() == manifest.resolve()
            for p in out.iterdir()
        )
        if not ours:
            raise SimulateError(f"{out} holds more than an earlier simulation (and its {manifest.name}); not deleting it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def simulate(out: str | Path, cfg: SimConfig = SimConfig(), force: bool = False,
             manifest_path: str | Path | None = None) -> dict[str, Any]:
    """Write the fleet's logs under `out` and the manifest; return the manifest.

    The manifest goes to `manifest_path` (default `out/manifest.json`; put it outside
    `out` when `out` is to be ingested as a whole). With `force`, an earlier simulation in
    `out` is removed first; any other non-empty directory is refused.
    """
    cfg.check()
    out = Path(out)
    manifest_file = Path(manifest_path) if manifest_path is not None else out / MANIFEST_NAME
    _prepare_out(out, manifest_file, force)
    clients: dict[str, Any] = {}
    totals = {"sessions": 0, "lines": 0, "entries": 0, "metric_samples": 0, "metric_entries": 0,
              "events": 0, "session_marks": 0, "corrupt_lines": 0, "bytes": 0}
    reasons = {"clean": 0, "crashed": 0, "lost": 0, "open": 0}
    for i in range(cfg.clients):
        res = _Client(cfg, i, out).run()
        sessions = []
        for n, s in enumerate(res.sessions):
            has_end = s.outcome in ("clean", "exit", "signal")
            reason = end_reason(has_end, s.exit_code, s.signal, later_session=n + 1 < len(res.sessions))
            reasons[reason] += 1
            sessions.append({
                "session_id": s.session_id,
                "started_at": _iso(s.start_ms),
                "ended_at": _iso(s.end_ms) if has_end else None,
                "last_seen": _iso(s.last_ms),
                "end_reason": reason,
                "exit": s.exit_code,
                "signal": s.signal,
                "metric_entries": s.metric_entries,
                "metric_samples": s.metric_samples,
                "events": s.events,
                "error_events": s.errors,
                "session_marks": 2 if has_end else 1,
            })
        ct = {
            "sessions": len(sessions),
            "lines": res.lines,
            "entries": res.entries,
            "metric_entries": sum(s["metric_entries"] for s in sessions),
            "metric_samples": sum(s["metric_samples"] for s in sessions),
            "events": sum(s["events"] for s in sessions),
            "session_marks": sum(s["session_marks"] for s in sessions),
            "corrupt_lines": res.corrupt_lines,
            "bytes": res.bytes,
        }
        for k in totals:
            totals[k] += ct[k]
        clients[res.client_id] = {
            "sessions": sessions,
            "totals": ct,
            "corrupt_kinds": res.corrupt_kinds,
            "files": res.files,
        }
    manifest = {
        "generator": MANIFEST_GENERATOR,
        "format_version": 1,
        "config": {
            "clients": cfg.clients, "duration_s": cfg.duration_s, "seed": cfg.seed,
            "start": cfg.start.isoformat(), "corrupt_rate": cfg.corrupt_rate, "rate": cfg.rate,
            "rotate_bytes": cfg.rotate_bytes, "archive_copies": cfg.archive_copies,
        },
        "notes": (
            "Times are UTC. events counts event entries without session marks; the events table "
            "holds events + session_marks. Every corrupt line is one reject. Files with "
            "duplicate=true are gzipped copies of another file of the same client: ingest adds "
            "nothing for them. lines counts physical lines (continuation lines included)."
        ),
        "totals": {**totals, "end_reasons": reasons},
        "clients": clients,
    }
    manifest_file.parent.mkdir(parents=True, exist_ok=True)
    manifest_file.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return manifest
