"""Every file in samples/ parses with zero rejects except its deliberately corrupt lines
(the table in samples/README.md), and the client samples give exact values."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from logship.parser import EntryParser, detect_format
from tests.run import logship

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _deliberate() -> dict[str, dict[int, str]]:
    """file -> {line: error code} from the table in samples/README.md (the one list)."""
    table: dict[str, dict[int, str]] = {}
    for row in (SAMPLES / "README.md").read_text("utf-8").splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[2].isdigit():
            table.setdefault(cells[0], {})[int(cells[2])] = cells[3]
    return table


DELIBERATE = _deliberate()
NOT_LOGS = {"README.md", "watched_app.py"}  # the app `make demo` runs under `logship watch`
FIXED_MTIME = 1795813745.0  # 2026-11-27: formats without a year take it from here


def _files() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.name not in NOT_LOGS)


def _data(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _parse(path: Path, log_format: str | None = None):
    data = _data(path)
    if log_format is None:
        log_format, rate = detect_format(data.splitlines()[:200], tz="UTC", mtime=FIXED_MTIME)
        assert log_format is not None, f"{path.name}: no format reads it"
    res = EntryParser(log_format, tz="UTC", mtime=FIXED_MTIME, context=None).parse(data, 0, final=True)
    return data, res


def test_the_client_samples_exist_and_the_table_names_real_files():
    names = {p.name for p in _files()}
    assert {"client.log", "client-crash.log", "client.log.1.gz"} <= names
    assert DELIBERATE["client-crash.log"] == {10: "bad_session", 15: "invalid_utf8"}
    assert set(DELIBERATE) <= names


def _format_by_name(path: Path) -> str | None:
    """`client.log`, `syslog5424-rfc.log`, `access.log.1.gz`: a name that starts with a
    format's name is that format; other files are detected."""
    from logship.parser import list_formats

    names = sorted((f.name for f in list_formats()), key=len, reverse=True)
    return next((n for n in names if path.name.startswith(n)), None)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_sample_parses_except_its_deliberate_corrupt_lines(path: Path):
    data, res = _parse(path, _format_by_name(path))
    assert res.end_offset == len(data)
    rejects = [
        (data[:off].count(b"\n") + 1, code, error)
        for off, code, error in zip(res.batch.rejects.byte_offset, res.batch.rejects.error_code, res.batch.rejects.error)
    ]
    got = {line: code for line, code, _ in rejects}
    want = DELIBERATE.get(path.name, {})
    assert set(got) == set(want), [r for r in rejects if r[0] not in want]
    assert got == want
    records = len(set(res.batch.events.byte_offset) | set(res.batch.metrics.byte_offset))
    assert records + len(got) == res.entries


def test_client_log_exact_records():
    data, res = _parse(SAMPLES / "client.log", "client")
    b = res.batch
    assert (res.lines, res.entries, len(b.rejects.byte_offset)) == (25, 21, 1)
    metrics = list(zip(b.metrics.name, b.metrics.value, b.metrics.unit, b.metrics.labels))
    assert len(metrics) == 24
    assert metrics[:6] == [
        ("proc.cpu", 12.5, "percent", None),
        ("proc.rss", 210.3 * 2**20, "bytes", None),
        ("proc.threads", 17.0, None, None),
        ("net.down", 1.2 * 2**20, "bytes", '{"iface":"eth0"}'),
        ("net.up", 262144.0, "bytes", '{"iface":"eth0"}'),
        ("net.peers", 23.0, None, '{"iface":"eth0"}'),
    ]
    assert ("disk.latency", 850 / 10**6, "seconds") in [m[:3] for m in metrics]
    events = {name: (level, msg, json.loads(attrs) if attrs else None)
              for name, level, msg, attrs in zip(b.events.name, b.events.level, b.events.message, b.events.attrs)}
    assert len(b.events.name) == 12
    assert events["session.start"][2] == {"version": "1.4.2", "os": "linux", "pid": 48211, "build": "9c0e2f1",
                                          "started_by": "autostart", "locale": "de_DE.UTF-8"}
    assert events["tracker.timeout"] == ("WARN", "no response from tracker",
                                         {"url": "http://t.example/a", "attempt": 3, "elapsed": 1.5})
    assert events["peer.disconnected"][2] == {"peer": "198.51.100.23:6881", "reason": "connection reset by peer",
                                              "duration": 120.0, "bytes_in": 10**12, "rtt": 3.5e-05}
    assert events["clock.adjusted"][2] == {"offset": -3, "drift": -0.25, "source": "ntp", "ok": False,
                                           "note": "17", "label": "true"}
    assert events["disk.write_failed"] == (
        "ERROR",
        "No space left on device\n"
        "    Traceback (most recent call last):\n"
        '      File "torrent/storage.py", line 212, in write_piece\n'
        "        self._file.write(buf)\n"
        "    OSError: [Errno 28] No space left on device",
        {"errno": 28, "path": 'C:\\Users\\ana\\Downloads\\Big "Buck" Bunny.mkv'},
    )
    assert events["torrent.completed"][2] == {"name": "Sintel.2010.4K.mkv", "size": 4700000000, "elapsed": 750.0,
                                              "ratio": 1.25, "seeding": True}
    assert events["ui.notice"][1:] == ('shown to the user: "done"',
                                       {"title": "Téléchargement terminé ✓", "tab": "\tindented"})
    assert events["session.end"][2] == {"exit": 0, "uptime": 601.9}
    assert set(b.events.session_id) | set(b.metrics.session_id) == {"3f2a9c1e5b7d9e01"}
    assert b.events.ts_us[0] == 1795813745123000  # 2026-11-27T21:09:05.123+00:00


def test_client_crash_log_sessions_and_offsets():
    data, res = _parse(SAMPLES / "client-crash.log", "client")
    b = res.batch
    assert (res.lines, res.entries, len(b.rejects.byte_offset)) == (23, 19, 2)
    marks = [(s, n, json.loads(a) if a else None) for s, n, a in zip(b.events.session_id, b.events.name, b.events.attrs)
             if n in ("session.start", "session.end")]
    assert marks == [
        ("a1b2c3d4e5f60718", "session.start", {"version": "1.4.3", "os": "windows", "pid": 7312, "build": "1d2c3b4",
                                               "started_by": "user"}),
        ("0f1e2d3c4b5a6978", "session.start", {"version": "1.4.3", "os": "windows", "pid": 7788, "build": "1d2c3b4",
                                               "started_by": "watchdog", "previous": "a1b2c3d4e5f60718"}),
        ("0f1e2d3c4b5a6978", "session.end", {"signal": "SIGSEGV", "uptime": 1.5}),
        ("77aa00bb11cc22dd", "session.start", {"version": "1.4.3", "os": "windows", "pid": 8020, "build": "1d2c3b4",
                                               "started_by": "watchdog", "safe_mode": True}),
        ("77aa00bb11cc22dd", "session.end", {"exit": 3, "uptime": 0.9}),
        ("c0ffee00deadbeef", "session.start", {"version": "1.4.3", "os": "windows", "pid": 8112, "build": "1d2c3b4",
                                               "started_by": "user"}),
    ]
    # 2026-11-28T09:14:02.005+01:00 is 08:14:02.005 UTC
    assert b.events.ts_us[0] == 1795853642005000


def test_rotated_sample_and_current_file_make_two_sessions(tmp_path: Path):
    """client.log.1.gz is the file rotated before client.log: its session never ended and a
    later one exists, so it is lost; ingesting the current file first changes nothing."""

    import duckdb

    db = tmp_path / "s.duckdb"
    for name in ("client.log", "client.log.1.gz"):
        r = logship("ingest", SAMPLES / name, "--client-id", "kim-laptop", "--tz", "UTC", "--db", db)
        assert r.returncode == 0, r.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute("SELECT session_id, end_reason, strftime(started_at, '%H:%M:%S.%g'), "
                           "strftime(ended_at, '%H:%M:%S.%g'), strftime(last_seen, '%H:%M:%S.%g') "
                           "FROM sessions ORDER BY started_at").fetchall()
        counts = con.execute("SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM events), "
                             "(SELECT count(*) FROM rejects)").fetchall()
    finally:
        con.close()
    assert rows == [
        ("9d41c07e2a6b5f38", "lost", "20:41:17.640", None, "20:41:19.738"),
        ("3f2a9c1e5b7d9e01", "clean", "21:09:05.123", "21:19:07.000", "21:19:07.000"),
    ]
    assert counts == [(24 + 21, 12 + 3, 1)]
