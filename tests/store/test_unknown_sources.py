"""Issue 10 at the store: a live source whose format cannot be told is stored as
`unknown` (acked, every entry a visible `unknown_format` reject), detected again at 200
lines and at its end, and `reparse` re-detects and replaces its rejects; entries
without a time are `no_timestamp` rejects unless the intake passes a receive time;
future-dated entries are counted per source. Each test well under 1 s."""

from __future__ import annotations

from pathlib import Path

from logship.store import Store
from logship.store.item import Item
from logship.store.reparse import reparse_rejects

STRAY = b"hello there\nnot a log line\n# a comment\n"


def syslog(a: int, b: int) -> bytes:
    return b"".join(b"2026-11-27T21:09:%02d.123456+01:00 web-01 systemd[1]: Started unit %d.\n" % (i % 60, i)
                    for i in range(a, b))


def _open(tmp_path: Path, head: bytes) -> tuple[Store, str]:
    st = Store(tmp_path / "db.duckdb")
    return st, st.resolve_source("c1", head, path="live.log", tz="UTC").source_id


def _codes(st: Store, sid: str) -> list[tuple[str, int]]:
    return st.con.execute("SELECT error_code, count(*) FROM rejects WHERE source_id = ? GROUP BY 1 ORDER BY 1",
                          [sid]).fetchall()


def _fmt(st: Store, sid: str) -> str:
    return st.con.execute("SELECT log_format FROM sources WHERE source_id = ?", [sid]).fetchall()[0][0]


def test_an_undetectable_live_source_is_stored_as_unknown_and_acked(tmp_path: Path):
    readme = b"# logship\n\nShips logs to a collector.\n\n    pip install logship\n"
    st, sid = _open(tmp_path, readme)
    with st:
        res = st.ingest(sid, 0, readme, final=True)
        assert (res.committed_end, res.records, res.rejects) == (len(readme), 0, 5)
        assert _fmt(st, sid) == "unknown"
        assert _codes(st, sid) == [("unknown_format", 5)]
        errors = {r[0] for r in st.con.execute("SELECT error FROM rejects").fetchall()}
        assert errors == {"the source's format could not be detected (no format reads its lines); "
                          "give it with --log-format, or `logship reparse` re-detects"}


def test_unknown_is_detected_again_at_200_lines_and_reparse_replaces_the_rejects(tmp_path: Path):
    st, sid = _open(tmp_path, STRAY)
    with st:
        st.ingest(sid, 0, STRAY, final=True)
        off = len(STRAY)
        for k in range(4):  # 3 + 50 + 50 + 50 lines seen: still under 200, still unknown
            body = syslog(50 * k, 50 * k + 50)
            st.ingest(sid, off, body, final=True)
            off += len(body)
            assert _fmt(st, sid) == ("unknown" if k < 3 else "syslog"), k
        # the 4th body crossed 200 lines: detected on the stored rejects + the body; only
        # bytes not yet committed parse in the found format
        assert _codes(st, sid) == [("unknown_format", 153)]
        assert st.con.execute("SELECT count(*) FROM events").fetchall() == [(50,)]
        summary = reparse_rejects(st)
        assert (summary.examined, summary.moved) == (153, 150)
        # the 3 stray lines are syslog's own rejects now, in syslog's terms
        assert [c for c, _ in _codes(st, sid)] == ["bad_timestamp"] and sum(n for _, n in _codes(st, sid)) == 3
        assert st.con.execute("SELECT count(*) FROM events").fetchall() == [(200,)]


def test_unknown_is_detected_again_at_the_end_of_the_stream(tmp_path: Path):
    st, sid = _open(tmp_path, STRAY)
    with st:
        st.ingest(sid, 0, STRAY, final=True)
        body = syslog(0, 10)
        res = st.ingest_items([Item(sid, len(STRAY), body, eof=True)])[0]
        assert (_fmt(st, sid), res.records, res.rejects) == ("syslog", 10, 0)
        assert _codes(st, sid) == [("unknown_format", 3)]


def test_no_timestamp_rejects_unless_the_receive_time_stands_in(tmp_path: Path):
    data = b'{"ts": 1795813747, "msg": "timed"}\n{"msg": "untimed"}\n'
    st, sid = _open(tmp_path, data)
    with st:
        st.ingest(sid, 0, data, final=True)
        assert _codes(st, sid) == [("no_timestamp", 1)]
        more = b'{"msg": "posted"}\n'
        st.ingest_items([Item(sid, len(data), more, received_at=1795813800.0)])
        assert st.con.execute("SELECT message, epoch(ts), ts_source FROM events ORDER BY byte_offset").fetchall() == [
            ("timed", 1795813747.0, "line"), ("posted", 1795813800.0, "received")]


def test_future_dated_entries_are_counted_on_the_source(tmp_path: Path):
    data = b'{"ts": 1795813747, "msg": "now"}\n{"ts": 1795813747, "msg": "again"}\n'
    st = Store(tmp_path / "db.duckdb")
    with st:
        sid = st.resolve_source("c1", data, path="f.jsonl", tz="UTC", mtime=1795813747.0 - 2 * 86400).source_id
        res = st.ingest(sid, 0, data, final=True, kind="file")
        assert res.future == 2
        assert st.con.execute("SELECT future_dated FROM sources").fetchall() == [(2,)]


def test_offline_ingest_refuses_a_readme_naming_the_nearest_formats_and_names_each_format(tmp_path: Path):
    from logship.store.fileingest import IngestOptions, ingest_paths

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "README.md").write_bytes(b"# app\n\nSee docs.\n\n" + syslog(0, 1))  # 1 of its 3 non-blank lines reads as syslog
    (logs / "sys.log").write_bytes(syslog(0, 5))
    s = ingest_paths(tmp_path / "db.duckdb", [str(logs)], IngestOptions(tz="UTC", workers=1))
    assert s.errors == [f"{logs / 'README.md'}: format not detected (nearest: syslog 33%); "
                        "not ingested: give it with --log-format"]
    assert s.line().splitlines()[0] == f"{logs / 'sys.log'}: syslog, 5 lines, 5 records, 0 rejects"
    with Store(tmp_path / "db.duckdb", read_only=True) as st:
        assert st.con.execute("SELECT path, log_format FROM sources").fetchall() == [(str(logs / "sys.log"), "syslog")]
        assert st.con.execute("SELECT count(*) FROM rejects").fetchall() == [(0,)]
