"""A database written by an older logship opens, migrates and stays exactly-once.

The fixture (tests/store/fixtures/README.md says how it was made) was written by the
code of commit 2c1bbcf: samples/client.log and samples/syslog.log, tz America/New_York.
Also: the one table spec (store/tables.py) is what such a database holds and what the
parser's column batches carry.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import duckdb

from logship.parser.batch import EventColumns, MetricColumns, RejectColumns
from logship.store import Store
from logship.store.fileingest import IngestOptions, ingest_paths
from logship.store.schema import SCHEMA_VERSION, schema_version
from logship.store.tables import FACT_TABLES

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "v1-2c1bbcf"  # EXPORT DATABASE of it: text, no db file
SAMPLES = [ROOT / "samples" / "client.log", ROOT / "samples" / "syslog.log"]
COUNTS = {"metrics": 24, "events": 33, "rejects": 2, "sources": 2, "source_ranges": 2, "ingests": 2,
          "session_agg": 1}


def _old_db(tmp_path: Path) -> Path:
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"IMPORT DATABASE '{FIXTURE}'")  # the old schema and rows, as 2c1bbcf wrote them
    return db


def _counts(st: Store) -> dict[str, int]:
    return {t: st.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in COUNTS}


def _columns(st: Store, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in st.con.execute(f"DESCRIBE {table}").fetchall()]


def test_an_old_database_opens_migrates_and_reingests_nothing(tmp_path: Path):
    db = _old_db(tmp_path)
    with Store(db) as st:
        assert schema_version(st.con) == SCHEMA_VERSION
        assert _counts(st) == COUNTS
        assert st.con.execute("SELECT path, log_format, tz FROM sources ORDER BY path").fetchall() == [
            ("samples/client.log", "client", "America/New_York"), ("samples/syslog.log", "syslog", "America/New_York")]
        with Store(tmp_path / "fresh.duckdb") as fresh:
            for spec in FACT_TABLES:
                assert _columns(st, spec.name) == _columns(fresh, spec.name), spec.name
                assert [c for c, _ in _columns(st, spec.name)] == [c.name for c in spec.columns]
        summary = ingest_paths(st, [str(p) for p in SAMPLES], IngestOptions(tz="America/New_York", workers=1))
        assert summary.ok, summary.errors
        assert (summary.total("lines"), summary.total("skipped_bytes")) == (0, sum(p.stat().st_size for p in SAMPLES))
        assert _counts(st) == COUNTS  # exactly-once across the migration
        # v1 -> v2: old rows say their time came from the line; sources count no future-dated entry
        assert st.con.execute("SELECT DISTINCT ts_source FROM events UNION SELECT DISTINCT ts_source FROM metrics"
                              ).fetchall() == [("line",)]
        assert st.con.execute("SELECT DISTINCT future_dated FROM sources").fetchall() == [(0,)]
        more = ingest_paths(st, [str(ROOT / "samples" / "logfmt.log")], IngestOptions(tz="UTC", workers=1))
        assert more.ok and more.total("records") > 0
        assert _counts(st)["metrics"] + _counts(st)["events"] == 57 + more.total("records")


def test_the_table_spec_is_the_parsers_columns():
    for spec, cols in zip(FACT_TABLES, (MetricColumns, EventColumns, RejectColumns)):
        assert [c.parser_name or c.name for c in spec.parsed] == [f.name for f in fields(cols)], spec.name
