"""Sessions and crash detection on simulated logs with known answers.

A small fleet is simulated (rotated and gzipped files, duplicate archives, corrupt
lines, clients in several UTC offsets), ingested with the real `logship ingest`, and
the database must agree exactly with the simulator's manifest: every session's end
reason and times, and the metric, event and reject counts per client.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from logship.clientlog.simulate import SimConfig, simulate
from tests.run import logship



def _logship(*args: str) -> subprocess.CompletedProcess:
    return logship(*args, timeout=240)


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("fleet")
    manifest = simulate(
        root / "logs",
        SimConfig(clients=3, duration_s=150, seed=1, corrupt_rate=0.01, rotate_bytes=24_000),
        manifest_path=root / "manifest.json",
    )
    return root, manifest


def _ingest(root: Path, db: Path, *extra: str) -> subprocess.CompletedProcess:
    """The simulator writes the client format: say so (detection has a test of its own)."""
    r = _logship("ingest", str(root / "logs"), "--client-id-from-dir", "--log-format", "client", "--tz", "UTC",
                 "--db", str(db), *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_sessions_and_counts_match_the_manifest(fleet, tmp_path: Path):
    root, manifest = fleet
    db = tmp_path / "fleet.duckdb"
    _ingest(root, db)

    reasons = manifest["totals"]["end_reasons"]
    assert all(n > 0 for n in reasons.values()), reasons  # the fleet exercises every end reason

    want = sorted(
        (cid, s["session_id"], s["end_reason"], _dt(s["started_at"]), _dt(s["ended_at"]), _dt(s["last_seen"]))
        for cid, c in manifest["clients"].items() for s in c["sessions"]
    )
    got = sorted(_query(db, "SELECT client_id, session_id, end_reason, started_at, ended_at, last_seen FROM sessions"))
    assert got == want

    exits = {(s["session_id"]): (s["exit"], s["signal"]) for c in manifest["clients"].values() for s in c["sessions"]}
    for sid, exit_code, signal in _query(db, "SELECT session_id, exit_code, signal FROM sessions"):
        assert (exit_code, signal) == exits[sid]

    metrics = dict(_query(db, "SELECT client_id, count(*) FROM metrics GROUP BY ALL"))
    events = dict(_query(db, "SELECT client_id, count(*) FROM events GROUP BY ALL"))
    rejects = dict(_query(db, "SELECT s.client_id, count(*) FROM rejects r JOIN sources s USING (source_id) GROUP BY ALL"))
    for cid, c in manifest["clients"].items():
        t = c["totals"]
        assert metrics[cid] == t["metric_samples"], cid
        assert events[cid] == t["events"] + t["session_marks"], cid
        assert rejects.get(cid, 0) == t["corrupt_lines"], cid
    assert set(metrics) == set(manifest["clients"])
    assert set(rejects) <= set(manifest["clients"])

    per_session = {
        (sid, n) for sid, n in _query(
            db, "SELECT session_id, count(*) FROM events WHERE name NOT IN ('session.start', 'session.end') GROUP BY ALL")
    }
    assert per_session == {(s["session_id"], s["events"]) for c in manifest["clients"].values()
                           for s in c["sessions"] if s["events"]}
    errors = _query(db, "SELECT count(*) FROM events WHERE level = 'ERROR' AND name NOT LIKE 'session.%'")[0][0]
    assert errors == sum(s["error_events"] for c in manifest["clients"].values() for s in c["sessions"])
    tracebacks = _query(db, "SELECT count(*) FROM events WHERE message LIKE '%\n%Traceback (most recent call last):%'")
    assert tracebacks[0][0] == errors

    # the demo's last step agrees
    from bench.demo_check import check

    line, diffs = check(root / "manifest.json", db)
    assert diffs == [] and " match " in line


def test_ingesting_the_fleet_again_adds_nothing(fleet, tmp_path: Path):
    root, manifest = fleet
    db = tmp_path / "again.duckdb"
    _ingest(root, db)
    sql = ("SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM events), "
           "(SELECT count(*) FROM rejects), (SELECT count(*) FROM sessions)")
    first = _query(db, sql)
    _ingest(root, db)
    assert _query(db, sql) == first
    t = manifest["totals"]
    assert first == [(t["metric_samples"], t["events"] + t["session_marks"], t["corrupt_lines"], t["sessions"])]


@pytest.mark.slow
def test_one_large_file_through_the_worker_pool_matches_the_manifest(tmp_path: Path):
    """A 22 MB unrotated log (over parallel_min_bytes): parsed in worker processes, its
    sessions span many segments, and the result must still equal the known answers."""
    from bench.demo_check import check

    manifest = simulate(
        tmp_path / "logs",
        SimConfig(clients=1, duration_s=3600, seed=9, rate=60, rotate_bytes=0, corrupt_rate=0.002),
        manifest_path=tmp_path / "manifest.json",
    )
    assert (tmp_path / "logs" / "client-001" / "app.log").stat().st_size > 16 << 20
    db = tmp_path / "big.duckdb"
    r = _logship("ingest", str(tmp_path / "logs"), "--client-id-from-dir", "--log-format", "client", "--tz", "UTC",
                 "--db", str(db))
    assert r.returncode == 0, r.stderr
    line, diffs = check(tmp_path / "manifest.json", db)
    assert diffs == [], line
    assert manifest["totals"]["corrupt_lines"] > 0


def test_older_files_ingested_later_correct_the_sessions(fleet, tmp_path: Path):
    """The current files first (sessions seen from their end), then the rotated and
    gzipped backlog: the sessions end up exactly as if all came at once."""
    from bench.demo_check import check

    root, manifest = fleet
    db = tmp_path / "late.duckdb"
    for cid in manifest["clients"]:
        r = _logship("ingest", str(root / "logs" / cid / "app.log"), "--client-id", cid, "--log-format", "client",
                     "--tz", "UTC", "--db", str(db))
        assert r.returncode == 0, r.stderr
    early = _query(db, "SELECT count(*) FROM sessions")[0][0]
    assert 0 < early < manifest["totals"]["sessions"]
    _ingest(root, db)
    line, diffs = check(root / "manifest.json", db)
    assert diffs == [], line


def test_format_detection_picks_client_for_every_simulated_file(fleet, tmp_path: Path):
    """Without --log-format each file's format is detected on its first 200 lines: every
    simulated file (short ones, ones with corrupt lines near the top) must come out as
    client, and the known answers must hold."""
    from bench.demo_check import check

    root, _ = fleet
    db = tmp_path / "detect.duckdb"
    r = _logship("ingest", str(root / "logs"), "--client-id-from-dir", "--tz", "UTC", "--db", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    wrong = _query(db, "SELECT path, log_format, format_hit_rate FROM sources WHERE log_format <> 'client' ORDER BY 1")
    assert wrong == []
    line, diffs = check(root / "manifest.json", db)
    assert diffs == [], line
