"""The collector's counters, rendered in the Prometheus text exposition format (0.0.4).

Plain attributes updated from the event loop and the writer thread (int updates under
the GIL); one `render()` for GET /metrics. No client library needed for a dozen series.
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .health import StoreHealth

__all__ = ["Metrics", "COMMIT_BUCKETS"]

# rows per table for /metrics (the tables a prune deletes from, and what it keeps)
ROWS_SQL = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in (
    "metrics", "events", "rejects", "ingests", "session_agg", "sources", "source_ranges"))

COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    connections: int = 0
    connections_total: int = 0
    frames_received: int = 0
    lines_received: int = 0
    bytes_received: int = 0
    lines_stored: int = 0
    records_stored: int = 0
    rejects: int = 0
    future_dated: int = 0  # entries dated past their receive time + Limits.future_tolerance_s
    queue_bytes: int = 0
    inflight_bytes: int = 0
    credit_granted: int = 0
    acks: int = 0
    commits: int = 0
    # commits whose batch was parsed while the batch before it was being written
    commits_pipelined: int = 0
    # the writer's store health (failing, outages, reopens), read when rendering
    store_health: StoreHealth = field(default_factory=StoreHealth)
    commit_seconds_sum: float = 0.0
    commit_buckets: list[int] = field(default_factory=lambda: [0] * len(COMMIT_BUCKETS))
    queries_running: int = 0
    queries_queued: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    http_requests: Counter[str] = field(default_factory=Counter)
    # an `open` or a backlog body that sent a zone other than its source's (the stored
    # zone wins), by intake: stream, backlog
    tz_mismatches: Counter[str] = field(default_factory=Counter)
    # /v1/lines bodies that did not fit their source's detected format, by the format
    # (or `unknown`) of the sibling source they went to
    bodies_moved: Counter[str] = field(default_factory=Counter)
    # intakes beyond Protocol v1 (collector/intake): requests by (intake, status), records
    # stored and rejected, answers "retry later" (queue full, store failing), UDP datagrams dropped
    intake_requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    intake_records: Counter[str] = field(default_factory=Counter)
    intake_rejects: Counter[str] = field(default_factory=Counter)
    intake_busy: Counter[str] = field(default_factory=Counter)
    intake_dropped: Counter[str] = field(default_factory=Counter)

    # rows per table and the database file's bytes (with its WAL), read for each /metrics
    table_rows: dict[str, int] = field(default_factory=dict)
    file_bytes: int = 0
    # rows deleted by prunes (`logship prune` through the collector, `[retention]`), by table
    pruned_rows: Counter[str] = field(default_factory=Counter)
    prunes: int = 0
    # the writer's parse workers (store/pool.py ParsePool), None when parse_workers = 0
    parse_pool: Any = None

    def pruned(self, result: Any) -> None:
        """Count a prune (store/prune.py PruneResult); a dry run deletes nothing."""
        if result.dry_run:
            return
        self.prunes += 1
        for table, n in result.rows.items():
            self.pruned_rows["sessions" if table == "session_agg" else table] += n

    def read_store(self, con: Any, db: Path) -> None:
        """Rows per table (on a cursor of ``con``) and the file's size; a failure keeps the last figures."""
        from logship.store.prune import file_bytes

        self.file_bytes = file_bytes(db)
        try:
            cur = con.cursor()
            try:
                rows = cur.execute(ROWS_SQL).fetchall()
            finally:
                cur.close()
        except Exception as exc:  # noqa: BLE001 - a store being reopened: /metrics still answers
            logging.getLogger("logship.collector").warning("/metrics could not count rows: %s", exc)
            return
        self.table_rows = {str(t): int(n) for t, n in rows}

    def observe_commit(self, seconds: float) -> None:
        self.commits += 1
        self.commit_seconds_sum += seconds
        i = bisect.bisect_left(COMMIT_BUCKETS, seconds)
        if i < len(self.commit_buckets):
            self.commit_buckets[i] += 1

    def error(self, code: str) -> None:
        self.errors[code] += 1

    def render(self) -> str:
        out: list[str] = []

        def series(name: str, kind: str, help_: str, value: float | int) -> None:
            out.append(f"# HELP logship_{name} {help_}")
            out.append(f"# TYPE logship_{name} {kind}")
            out.append(f"logship_{name} {value}")

        series("connections", "gauge", "Open /v1/stream WebSocket connections.", self.connections)
        series("connections_total", "counter", "WebSocket connections accepted.", self.connections_total)
        series("frames_received_total", "counter", "Binary data frames received.", self.frames_received)
        series("lines_received_total", "counter", "Lines received (streams, backlog, /v1/lines).",
               self.lines_received)
        series("bytes_received_total", "counter", "Payload bytes received.", self.bytes_received)
        series("lines_stored_total", "counter", "Lines committed to the store.", self.lines_stored)
        series("records_stored_total", "counter", "Records (events, metric samples) committed.",
               self.records_stored)
        series("rejects_total", "counter", "Entries stored as rejects.", self.rejects)
        series("future_dated_total", "counter", "Entries stored with a time more than future_tolerance_s past "
               "their receive time (a wrong zone or clock).", self.future_dated)
        series("queue_bytes", "gauge", "Bytes waiting in the writer queue.", self.queue_bytes)
        series("inflight_bytes", "gauge", "Credit granted and not yet returned, all connections.",
               self.inflight_bytes)
        series("credit_granted_bytes_total", "counter", "Credit granted to shippers.", self.credit_granted)
        series("acks_total", "counter", "Acks after commit (stream acks and HTTP answers).", self.acks)
        series("queries_running", "gauge", "/v1/query statements executing now.", self.queries_running)
        series("queries_queued", "gauge", "/v1/query statements waiting for a slot.", self.queries_queued)
        series("parse_workers", "gauge", "Parse worker processes alive (0: the writer's thread parses everything, "
               "by parse_workers = 0 or after a worker died).",
               0 if self.parse_pool is None else self.parse_pool.live())
        health = self.store_health
        series("store_failing", "gauge", "1 while the store cannot commit (disk full, I/O error); /healthz is 503.",
               int(health.failing))
        series("store_outages_total", "counter", "Times the store stopped being able to commit.", health.outages)
        series("store_reopens_total", "counter", "Database reopened after a fatal (invalidating) DuckDB error.",
               health.reopens)
        series("db_file_bytes", "gauge", "Bytes of the database file and its write-ahead log.", self.file_bytes)
        out.append("# HELP logship_table_rows Rows in each table of the database.")
        out.append("# TYPE logship_table_rows gauge")
        for table, n in sorted(self.table_rows.items()):
            out.append(f'logship_table_rows{{table="{table}"}} {n}')
        series("prunes_total", "counter", "Prunes run by this collector (logship prune, [retention]).", self.prunes)
        out.append("# HELP logship_pruned_rows_total Rows deleted by prunes, by table.")
        out.append("# TYPE logship_pruned_rows_total counter")
        for table, n in sorted(self.pruned_rows.items()):
            out.append(f'logship_pruned_rows_total{{table="{table}"}} {n}')
        out.append("# HELP logship_commit_seconds Time of one group commit (parse + insert + commit).")
        out.append("# TYPE logship_commit_seconds histogram")
        cum = 0
        for le, n in zip(COMMIT_BUCKETS, self.commit_buckets):
            cum += n
            out.append(f'logship_commit_seconds_bucket{{le="{le}"}} {cum}')
        out.append(f'logship_commit_seconds_bucket{{le="+Inf"}} {self.commits}')
        out.append(f"logship_commit_seconds_sum {self.commit_seconds_sum:.6f}")
        out.append(f"logship_commit_seconds_count {self.commits}")
        series("commits_pipelined_total", "counter", "Group commits whose batch was planned and parsed while "
               "the batch before it was being written.", self.commits_pipelined)
        out.append("# HELP logship_errors_total Protocol errors sent, by code.")
        out.append("# TYPE logship_errors_total counter")
        for code, n in sorted(self.errors.items()):
            out.append(f'logship_errors_total{{code="{code}"}} {n}')
        out.append("# HELP logship_http_requests_total HTTP requests by endpoint and status.")
        out.append("# TYPE logship_http_requests_total counter")
        for key, n in sorted(self.http_requests.items()):
            path, _, status = key.partition(" ")
            out.append(f'logship_http_requests_total{{path="{path}",status="{status}"}} {n}')
        out.append("# HELP logship_tz_mismatch_total Opens and backlog bodies whose zone differed from their "
                   "source's (the stored zone was kept), by intake.")
        out.append("# TYPE logship_tz_mismatch_total counter")
        for intake in ("backlog", "stream"):
            out.append(f'logship_tz_mismatch_total{{intake="{intake}"}} {self.tz_mismatches[intake]}')
        out.append("# HELP logship_lines_bodies_moved_total /v1/lines bodies that did not fit their source's "
                   "detected format and went to a sibling source, by that source's format.")
        out.append("# TYPE logship_lines_bodies_moved_total counter")
        for fmt, n in sorted(self.bodies_moved.items()):
            out.append(f'logship_lines_bodies_moved_total{{format="{fmt}"}} {n}')
        self._render_intakes(out)
        return "\n".join(out) + "\n"

    def _render_intakes(self, out: list[str]) -> None:
        out.append("# HELP logship_intake_requests_total Intake requests (OTLP, Loki, bulk, syslog, ...) by intake "
                   "and answer status.")
        out.append("# TYPE logship_intake_requests_total counter")
        for (intake, status), n in sorted(self.intake_requests.items()):
            out.append(f'logship_intake_requests_total{{intake="{intake}",status="{status}"}} {n}')
        for name, counter, help_ in (
                ("intake_records_total", self.intake_records, "Records an intake committed, by intake."),
                ("intake_rejects_total", self.intake_rejects, "Entries of an intake stored as rejects, by intake."),
                ("intake_busy_total", self.intake_busy, "Intake requests answered 'retry later' (queue full, "
                 "store failing, stopping), by intake."),
                ("intake_dropped_total", self.intake_dropped, "Syslog UDP datagrams dropped (queue full), by intake.")):
            out.append(f"# HELP logship_{name} {help_}")
            out.append(f"# TYPE logship_{name} counter")
            for intake, n in sorted(counter.items()):
                out.append(f'logship_{name}{{intake="{intake}"}} {n}')
