"""Sessions stitched from session.start/session.end marks across files and commits,
with the end reasons of docs/storage.md, and corrected by a backlog ingested later."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from logship.store import Store
from logship.store.sessions import rebuild_sessions

A, B, C = "aaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbb2", "ccccccccccccccc3"


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 27, 21, minute, second, tzinfo=timezone.utc)


def line(minute: int, sess: str, what: str, second: int = 0) -> bytes:
    return f"{at(minute, second).isoformat()} INFO  sess={sess} {what}\n".encode()


@pytest.fixture
def st(db_path: Path):
    with Store(db_path) as store:
        yield store


def ingest_file(st: Store, client: str, data: bytes, start: int = 0, whole: bytes | None = None) -> str:
    """Ingest ``data`` found at ``start`` of a file whose full content is ``whole``."""
    head = (whole or data)[:1024]
    src = st.resolve_source(client, head, path="client.log", log_format="client", tz="UTC")
    st.ingest(src.source_id, start, data, final=True, kind="file")
    return src.source_id


def sessions(st: Store) -> dict[tuple[str, str], tuple]:
    rows = st.con.execute(
        "SELECT client_id, session_id, started_at, ended_at, end_reason, last_seen, exit_code, signal FROM sessions"
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def test_end_reasons_clean_crashed_signal_lost_open(st: Store):
    ingest_file(st, "c1", b"".join([
        line(0, A, 'session start version="1.4.2"'),
        line(1, A, "metric proc cpu=10%"),
        line(2, A, "session end exit=0"),
        line(3, B, "session start"),
        line(4, B, "session end exit=3"),
        line(5, C, "session start"),
        line(6, C, "session end signal=SIGSEGV"),
    ]))
    ingest_file(st, "c2", b"".join([
        line(0, A, "session start"),          # no end, and c2 has a later session: lost
        line(1, A, "metric proc cpu=10%"),
        line(10, B, "session start"),         # no end, the latest of c2: open
        line(12, B, "metric proc cpu=20%"),
    ]))
    assert sessions(st) == {
        ("c1", A): (at(0), at(2), "clean", at(2), 0, None),
        ("c1", B): (at(3), at(4), "crashed", at(4), 3, None),
        ("c1", C): (at(5), at(6), "crashed", at(6), None, "SIGSEGV"),
        ("c2", A): (at(0), None, "lost", at(1), None, None),
        ("c2", B): (at(10), None, "open", at(12), None, None),
    }


D, E, F = "ddddddddddddddd4", "eeeeeeeeeeeeeee5", "fffffffffffffff6"


def test_end_reasons_stopped_and_unknown_from_the_watchdog(st: Store):
    """A forwarded stop ends as `stopped` whatever the exit; `exit=unknown` (a process
    watched with --pid) as `unknown`, never clean."""
    ingest_file(st, "c1", b"".join([
        line(0, A, "session start"),
        line(1, A, "session end signal=SIGTERM reason=stopped stop=SIGTERM"),
        line(2, B, "session start"),
        line(3, B, "session end exit=0 reason=stopped stop=SIGINT"),
        line(4, C, "session start"),
        line(5, C, "session end exit=unknown"),
        line(6, D, "session start"),
        line(7, D, "session end exit=0"),
    ]))
    got = {k[1]: v[2:] for k, v in sessions(st).items()}
    assert got == {A: ("stopped", at(1), None, "SIGTERM"), B: ("stopped", at(3), 0, None),
                   C: ("unknown", at(5), None, None), D: ("clean", at(7), 0, None)}


def test_a_session_spans_rotated_files(st: Store):
    ingest_file(st, "c1", line(0, A, "session start") + line(1, A, "metric proc cpu=1%"))
    ingest_file(st, "c1", line(2, A, "metric proc cpu=2%") + line(3, A, "session end exit=0"))
    assert sessions(st) == {("c1", A): (at(0), at(3), "clean", at(3), 0, None)}


def test_a_late_backlog_turns_lost_into_clean(st: Store):
    whole = b"".join([
        line(0, A, "session start"),
        line(1, A, "metric proc cpu=10%"),
        line(2, A, "session end exit=0"),
        line(3, B, "session start"),
        line(4, B, "metric proc cpu=20%"),
    ])
    cut = whole.index(line(2, A, "session end exit=0"))
    # The live tail (from A's end on) is not streamed yet; only the start arrived, and B's start.
    ingest_file(st, "c1", whole[:cut], whole=whole)
    ingest_file(st, "c1", line(3, B, "session start"), whole=line(3, B, "session start") + b"x")
    assert sessions(st)[("c1", A)] == (at(0), None, "lost", at(1), None, None)
    # The backlog arrives after consent: the rest of the file.
    ingest_file(st, "c1", whole[cut:], start=cut, whole=whole)
    got = sessions(st)
    assert got[("c1", A)] == (at(0), at(2), "clean", at(2), 0, None)
    assert got[("c1", B)] == (at(3), None, "open", at(4), None, None)


def test_an_end_that_arrives_before_its_start_still_stitches(st: Store):
    whole = line(0, A, "session start") + line(5, A, "metric proc cpu=1%") + line(9, A, "session end exit=0")
    cut = len(line(0, A, "session start"))
    ingest_file(st, "c1", whole[cut:], start=cut, whole=whole)
    assert sessions(st)[("c1", A)][2] == "clean"  # an end alone: clean, start unknown yet
    ingest_file(st, "c1", whole[:cut], whole=whole)
    assert sessions(st) == {("c1", A): (at(0), at(9), "clean", at(9), 0, None)}


def test_rebuild_gives_what_the_incremental_merge_gave(st: Store):
    ingest_file(st, "c1", line(0, A, "session start") + line(1, A, "session end exit=3") + line(2, B, "session start"))
    ingest_file(st, "c1", line(3, B, "metric proc cpu=5%") + line(4, C, "session start"))
    before = sessions(st)
    with st.transaction():
        rebuild_sessions(st.con, ["c1"])
    assert sessions(st) == before
    assert [r[2] for r in sorted(before.values())] == ["crashed", "lost", "open"]
