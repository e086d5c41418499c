"""The fleet simulator: deterministic bytes, and a manifest that tells the truth about
the files (checked here by an independent reader, not by the parser under test)."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from logship.kernel.fingerprint import read_head
from logship.clientlog.simulate import SimConfig, SimulateError, end_reason, parse_duration, simulate
from tests.run import logship

HEAD = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) (?P<level>TRACE|DEBUG|INFO |WARN |ERROR|FATAL) "
    r"sess=(?P<sess>[0-9a-f]{16}) (?P<kind>session|metric|event) (?P<name>[A-Za-z_][\w.]*)(?P<rest>.*)"
)
NUMERIC = re.compile(r' [A-Za-z_][\w.]*=-?\d+(?:\.\d+)?(?:[KMGT]i?B|B|ns|us|ms|s|m|h|%)?(?= |$)')


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _utc(ts: str) -> str:
    return datetime.fromisoformat(ts).astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _audit(out: Path, client: dict) -> tuple[dict, dict]:
    """Read a client's files as a plain reader would: sessions and counts."""
    sessions: dict[str, dict] = defaultdict(lambda: Counter())
    marks: dict[str, dict] = defaultdict(dict)
    totals = Counter()
    for f in client["files"]:
        if f["duplicate"]:
            continue
        for raw in _read(out / f["path"]).split(b"\n")[:-1]:
            totals["lines"] += 1
            if raw[:1] in (b" ", b"\t"):
                continue
            try:
                m = HEAD.fullmatch(raw.decode("utf-8"))
            except UnicodeDecodeError:
                m = None
            if m is None:
                totals["corrupt_lines"] += 1
                continue
            s = sessions[m["sess"]]
            if m["kind"] == "metric":
                s["metric_entries"] += 1
                s["metric_samples"] += len(NUMERIC.findall(m["rest"]))
            elif m["kind"] == "event":
                s["events"] += 1
            else:
                s["session_marks"] += 1
                marks[m["sess"]][m["name"]] = (_utc(m["ts"]), m["rest"])
            s["last_seen"] = max(s.get("last_seen", ""), _utc(m["ts"]))
    return sessions, marks | {"_totals": totals}


def test_manifest_matches_the_files(tmp_path: Path):
    out = tmp_path / "fleet"
    m = simulate(out, SimConfig(clients=4, duration_s=180, seed=5, corrupt_rate=0.01, rotate_bytes=40_000))
    assert json.loads((out / "manifest.json").read_text()) == m
    assert sorted(m["clients"]) == ["client-001", "client-002", "client-003", "client-004"]
    reasons = Counter()
    for cid, client in m["clients"].items():
        sessions, marks = _audit(out, client)
        totals = marks.pop("_totals")
        assert totals["lines"] == client["totals"]["lines"]
        assert totals["corrupt_lines"] == client["totals"]["corrupt_lines"] > 0
        assert [s["session_id"] for s in client["sessions"]] == sorted(sessions, key=lambda k: marks[k]["start"][0])
        for n, s in enumerate(client["sessions"]):
            got = sessions[s["session_id"]]
            for key in ("metric_entries", "metric_samples", "events", "session_marks"):
                assert got[key] == s[key], (cid, s["session_id"], key)
            assert got["last_seen"] == s["last_seen"]
            assert marks[s["session_id"]]["start"][0] == s["started_at"]
            end = marks[s["session_id"]].get("end")
            assert (end[0] if end else None) == s["ended_at"]
            if end:
                exit_ = re.search(r"exit=(\d+)", end[1])
                signal = re.search(r"signal=(\w+)", end[1])
                assert (int(exit_[1]) if exit_ else None, signal[1] if signal else None) == (s["exit"], s["signal"])
            later = n + 1 < len(client["sessions"])
            assert s["end_reason"] == end_reason(end is not None, s["exit"], s["signal"], later)
            reasons[s["end_reason"]] += 1
        # rotated and gzipped; a duplicate archive equals the file it copies
        names = [f["path"].split("/", 1)[1] for f in client["files"]]
        assert {"app.log", "app.log.1", "app.log.2.gz"} <= set(names)
        for f in client["files"]:
            if f["duplicate"]:
                assert _read(out / f["path"]) == (out / cid / "app.log.1").read_bytes()
        # every file of a client starts differently (source identity)
        heads = [read_head(out / f["path"]) for f in client["files"] if not f["duplicate"]]
        assert len(set(heads)) == len(heads)
    assert sum(reasons.values()) == m["totals"]["sessions"]
    assert dict(reasons) == {k: v for k, v in m["totals"]["end_reasons"].items() if v}


def test_all_end_reasons_and_value_types_occur(tmp_path: Path):
    m = simulate(tmp_path / "f", SimConfig(clients=6, duration_s=600, seed=3))
    assert all(n > 0 for n in m["totals"]["end_reasons"].values()), m["totals"]["end_reasons"]
    text = b"".join(_read(p) for p in (tmp_path / "f").rglob("app.log*"))
    for needle in (rb"cpu=\d+(\.\d)?%", rb"rss=\d+(\.\d)?MiB", rb"elapsed=\d+ms", rb"latency=\d+(\.\d)?ms",
                   rb'url="http', rb"encrypted=(true|false)", rb'name="Big \\"Buck\\" Bunny',
                   rb"\n    Traceback", rb"\n\tTraceback", rb"signal=SIG", rb"exit=[1-9]", rb"exit=0",
                   rb"[+-]05:30 ", rb"ratio=\d+\.\d+"):
        assert re.search(needle, text), needle
    assert any(k > 0 for c in m["clients"].values() for k in c["corrupt_kinds"].values())
    assert sum(c["corrupt_kinds"]["invalid_utf8"] for c in m["clients"].values()) > 0


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path):
    def snapshot(d: Path) -> dict[str, bytes]:
        return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}

    cfg = SimConfig(clients=3, duration_s=120, seed=11, rotate_bytes=30_000)
    a = snapshot(simulate(tmp_path / "a", cfg) and tmp_path / "a")
    b = snapshot(simulate(tmp_path / "b", cfg) and tmp_path / "b")
    c = snapshot(simulate(tmp_path / "c", SimConfig(clients=3, duration_s=120, seed=12, rotate_bytes=30_000))
                 and tmp_path / "c")
    assert a == b
    assert a["client-001/app.log"] != c["client-001/app.log"]


def test_rate_and_duration_shape_the_volume(tmp_path: Path):
    m = simulate(tmp_path / "f", SimConfig(clients=2, duration_s=300, seed=1, rate=10, corrupt_rate=0))
    t = m["totals"]
    assert t["corrupt_lines"] == 0
    # about 10 metric lines a second while a session runs (sessions cover most of the span)
    assert 0.6 * 2 * 300 * 10 < t["metric_entries"] < 2 * 300 * 10 * 1.05
    assert t["metric_samples"] == 3 * t["metric_entries"]


def test_refuses_a_foreign_directory_and_replaces_its_own(tmp_path: Path):
    out = tmp_path / "f"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(SimulateError, match="not empty"):
        simulate(out, SimConfig(clients=1, duration_s=10))
    with pytest.raises(SimulateError, match="not deleting"):
        simulate(out, SimConfig(clients=1, duration_s=10), force=True)
    assert (out / "precious.txt").read_text() == "keep me"
    own = tmp_path / "own"
    first = simulate(own, SimConfig(clients=2, duration_s=30, seed=1))
    second = simulate(own, SimConfig(clients=1, duration_s=30, seed=1), force=True)
    assert sorted(p.name for p in own.iterdir()) == ["client-001", "manifest.json"]
    assert second["clients"]["client-001"] == first["clients"]["client-001"]
    # the manifest may live outside the tree (so the tree can be ingested as a whole)
    logs, answers = tmp_path / "demo" / "logs", tmp_path / "demo" / "manifest.json"
    simulate(logs, SimConfig(clients=2, duration_s=30, seed=1), manifest_path=answers)
    assert sorted(p.name for p in logs.iterdir()) == ["client-001", "client-002"]
    simulate(logs, SimConfig(clients=1, duration_s=30, seed=1), manifest_path=answers, force=True)
    assert sorted(p.name for p in logs.iterdir()) == ["client-001"]
    assert json.loads(answers.read_text())["config"]["clients"] == 1
    (logs / "notes.txt").write_text("mine")
    with pytest.raises(SimulateError, match="not deleting"):
        simulate(logs, SimConfig(clients=1, duration_s=30), manifest_path=answers, force=True)


@pytest.mark.parametrize(
    "text, seconds", [("10m", 600), ("90s", 90), ("1h30m", 5400), ("2.5m", 150), ("600", 600), ("500ms", 0.5)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "10x", "m", "1h 30m", "-5s"])
def test_parse_duration_rejects(bad):
    with pytest.raises(SimulateError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    "cfg, match",
    [
        (SimConfig(clients=0), "--clients"),
        (SimConfig(duration_s=0), "--duration"),
        (SimConfig(corrupt_rate=0.9), "--corrupt-rate"),
        (SimConfig(rate=0), "--rate"),
        (SimConfig(start=datetime(2026, 1, 1)), "--start"),
    ],
    ids=["clients", "duration", "corrupt", "rate", "naive-start"],
)
def test_bad_config(tmp_path: Path, cfg, match):
    with pytest.raises(SimulateError, match=match):
        simulate(tmp_path / "f", cfg)


def test_cli_simulate(tmp_path: Path):
    out = tmp_path / "fleet"
    args = ["simulate", "--out", out, "--clients", "2", "--duration", "1m", "--seed", "4"]
    r = logship(*args, "--start", "2026-03-01T08:00:00+01:00")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("simulated 2 clients, ")
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["start"] == "2026-03-01T08:00:00+01:00"
    assert m["clients"]["client-001"]["sessions"][0]["started_at"].startswith("2026-03-01T07:00")
    again = logship(*args, "--start", "2026-03-01T08:00:00+01:00")
    assert again.returncode == 2
    assert again.stderr.strip() == f"error: {out} is not empty (use --force to replace an earlier simulation)"
    bad = logship(*args, "--start", "yesterday")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --start 'yesterday'")
