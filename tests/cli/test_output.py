"""The table printer: what a person reads on a terminal."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa

from logship.console.output import write_rows


def test_table_shows_utc_instants_compactly_and_keeps_ids_whole():
    ts = dt.datetime(2026, 11, 27, 22, 9, 5, 123000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    table = pa.table({
        "session_id": ["3f2a9c1e5b7d9e01"],
        "ts": pa.array([ts], pa.timestamp("us", tz="UTC")),
        "message": ["word " * 40],
    })
    out = io.StringIO()
    write_rows(table, "table", stream=out)
    text = out.getvalue()
    assert "2026-11-27 21:09:05.123Z" in text
    assert "3f2a9c1e5b7d9e01" in text


def test_csv_keeps_iso_instants():
    ts = dt.datetime(2026, 11, 27, 21, 9, 5, tzinfo=dt.timezone.utc)
    out = io.StringIO()
    write_rows(pa.table({"ts": pa.array([ts], pa.timestamp("us", tz="UTC"))}), "csv", stream=out)
    assert out.getvalue() == "ts\n2026-11-27T21:09:05+00:00\n"


def test_export_rows_progress_only_on_a_terminal():
    from logship.console.progress import rows_progress

    with rows_progress(io.StringIO()) as on_rows:
        assert on_rows is None

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    with rows_progress(Tty()) as on_rows:
        assert on_rows is not None
        on_rows("metrics", 65_536)
        on_rows("metrics", 100_000)
        on_rows("events", 3)
