"""POST /v1/query: ad-hoc SQL while collecting, safely.

- One statement, and it must be a SELECT (DuckDB's own parser says which:
  `extract_statements`), so no INSERT/UPDATE/DELETE, COPY, ATTACH, SET, PRAGMA, CALL.
- External access is disabled for the database (`SET enable_external_access=false` is
  global in DuckDB 2.0 and cannot be turned back on while it runs): no read_csv,
  read_text, parquet or file globbing, no ATTACH. The store inserts through registered
  Arrow tables, which this setting allows.
- A row limit (fetchmany(limit + 1) says whether there was more) and a time limit
  (`interrupt()` on the query's own cursor).
Queries run on their own cursor in their own threads, concurrently with the writer
(DuckDB MVCC: a query sees the last committed state).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
from aiohttp import web

from .errors import QueryRefused
from .state import CollectorState

__all__ = ["QueryRunner", "handle_query", "disable_external_access", "ARROW_STREAM"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
LOCAL_MAX_ROWS = 10_000_000


def disable_external_access(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET enable_external_access = false")


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


class QueryRunner:
    def __init__(self, con: duckdb.DuckDBPyConnection, row_limit: int, time_limit_s: float) -> None:
        self.con = con
        self.row_limit = row_limit
        self.time_limit_s = time_limit_s
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="logship-query")

    def check(self, sql: str) -> None:
        try:
            stmts = self.con.cursor().extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryRefused(f"syntax: {' '.join(str(exc).split())}") from None
        if len(stmts) != 1:
            raise QueryRefused(f"one statement per query, got {len(stmts)}")
        if stmts[0].type != duckdb.StatementType.SELECT:
            raise QueryRefused(f"only SELECT is allowed, got {stmts[0].type.name}")

    def _run(self, cur: duckdb.DuckDBPyConnection, sql: str, limit: int, params: Any,
             arrow: bool) -> dict[str, Any]:
        t0 = time.monotonic()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            if arrow:
                # A relation streams Arrow batches without the DB-API result's extra copy.
                reader = cur.sql(sql, params=params or None).to_arrow_reader(min(limit + 1, 100_000))
                batches, n = [], 0
                for b in reader:
                    batches.append(b)
                    n += b.num_rows
                    if n > limit:
                        break
                table = pa.Table.from_batches(batches, schema=reader.schema).slice(0, limit)
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as w:
                    w.write_table(table)
                return {"arrow": sink.getvalue().to_pybytes(), "truncated": n > limit}
            cur.execute(sql, params) if params else cur.execute(sql)
            columns = [d[0] for d in (cur.description or [])]
            types = [str(d[1]) for d in (cur.description or [])]
            rows = cur.fetchmany(limit + 1)
        except duckdb.InterruptException:
            raise QueryRefused(f"query stopped after its time limit of {self.time_limit_s:g} s") from None
        except duckdb.Error as exc:
            raise QueryRefused(" ".join(str(exc).split())) from None
        finally:
            cur.close()
        return {"columns": columns, "types": types, "rows": [[_jsonable(v) for v in r] for r in rows[:limit]],
                "truncated": len(rows) > limit, "elapsed_s": round(time.monotonic() - t0, 6)}

    async def run(self, sql: str, limit: int | None = None, params: Any = None, arrow: bool = False,
                  max_rows: int | None = None) -> dict[str, Any]:
        self.check(sql)
        cap = max_rows or self.row_limit
        limit = min(limit or cap, cap)
        cur = self.con.cursor()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.time_limit_s, cur.interrupt)
        try:
            return await loop.run_in_executor(self.pool, self._run, cur, sql, limit, params, arrow)
        finally:
            timer.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


async def handle_query(request: web.Request) -> web.Response:
    """POST /v1/query {"sql": "...", "limit": N?} with an admin token."""
    state: CollectorState = request.app["state"]
    local = state.require_admin(request)
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("sql"), str):
        raise web.HTTPBadRequest(text=json.dumps({"error": {"code": "bad_request",
                                 "message": 'expected a JSON body {"sql": "SELECT ..."}'}}),
                                 content_type="application/json")
    limit = body.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        limit = None
    params = body.get("params")
    if params is not None and not isinstance(params, (list, dict)):
        params = None
    arrow = ARROW_STREAM in request.headers.get("Accept", "")
    runner: QueryRunner = request.app["query"]
    try:
        # the local token (same user as the db file) may fetch whole results, like a local query
        out = await runner.run(body["sql"], limit, params, arrow, max_rows=LOCAL_MAX_ROWS if local else None)
    except QueryRefused as exc:
        state.metrics.http_requests["/v1/query 400"] += 1
        return web.json_response({"error": {"code": "query_refused", "message": str(exc)}}, status=400)
    state.metrics.http_requests["/v1/query 200"] += 1
    if arrow:
        return web.Response(body=out["arrow"], content_type=ARROW_STREAM,
                            headers={"Logship-Truncated": "1" if out["truncated"] else "0"})
    return web.json_response(out)
