"""The read-only guard every user query goes through, offline and in the collector.

Three layers, because each alone has a hole:
- `check_query`: one statement, and DuckDB's own parser says it is a SELECT; the
  statement's parse tree (`json_serialize_sql`) names no function with a side effect
  (checkpoint(), setval(), query('...') which parses a string we never saw ...).
- `read_only_transaction`: the statement runs inside `BEGIN TRANSACTION READ ONLY`, so
  a DELETE/UPDATE/INSERT hidden in a CTE fails before it writes. A transaction rolled
  back afterwards would not do: its uncommitted write conflicts with the collector's
  writer meanwhile.
- `lock_down`: external access off (no files, globs, ATTACH, COPY, INSTALL/LOAD, no
  extension autoloading) and then the configuration locked, so no statement can turn
  any of it back on. The collector applies it to its database once; offline queries
  open the file read-only and locked down (`open_for_queries`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from logship.kernel.errors import one_line
from logship.kernel.protocol import DEFAULT_LIMITS
from logship.store.errors import QueryError, StoreError
from logship.store.schema import SCHEMA_VERSION, schema_version

__all__ = ["DENIED_FUNCTIONS", "check_query", "read_only_transaction", "lock_down", "open_for_queries"]

# Functions a SELECT may call that change state, run SQL we did not check, or poke at
# the storage; refused by name wherever they appear in the statement's parse tree.
DENIED_FUNCTIONS = frozenset({
    "checkpoint", "force_checkpoint", "nextval", "setval",
    "query", "query_table", "json_execute_serialized_sql",
    "enable_logging", "disable_logging", "truncate_duckdb_logs", "write_log",
    "enable_profiling", "disable_profiling",
    "add_grammar_extension", "remove_grammar_extension",
    "create_external_resource", "register_external_resource", "register_external_resource_type",
    "deregister_external_resource", "destroy_external_resource",
})


def _function_names(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "function_name" and isinstance(value, str):
                out.add(value.lower())
            else:
                _function_names(value, out)
    elif isinstance(node, list):
        for value in node:
            _function_names(value, out)
    return out


def check_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but one SELECT that calls no function of DENIED_FUNCTIONS (QueryError)."""
    try:
        stmts = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {one_line(exc)}") from None
    if len(stmts) != 1:
        raise QueryError(f"refused: one statement per query, got {len(stmts)}")
    if stmts[0].type != duckdb.StatementType.SELECT:
        raise QueryError(f"refused: only SELECT is allowed (read-only), got {stmts[0].type.name}")
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql($q)", {"q": sql}).fetchall()[0][0])
    except (duckdb.Error, ValueError, IndexError) as exc:
        raise QueryError(f"refused: the statement cannot be checked: {one_line(exc)}") from None
    if tree.get("error"):
        raise QueryError(f"refused: the statement cannot be checked: {tree.get('error_message', '?')}")
    denied = sorted(_function_names(tree, set()) & DENIED_FUNCTIONS)
    if denied:
        raise QueryError(f"refused: {', '.join(denied)}() may change state; queries are read-only")


@contextlib.contextmanager
def read_only_transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the body inside BEGIN TRANSACTION READ ONLY on this cursor; always rolled back."""
    cur.execute("BEGIN TRANSACTION READ ONLY")
    try:
        yield
    finally:
        try:
            cur.execute("ROLLBACK")
        except duckdb.Error:
            pass  # an interrupted or failed statement may have ended the transaction already


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """External access and extension loading off, then the configuration locked (global).

    The store's own inserts go through registered Arrow tables, which this allows.
    """
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def open_for_queries(path: str | Path, memory_limit: str = DEFAULT_LIMITS.memory_limit) -> duckdb.DuckDBPyConnection:
    """The database file opened read-only with external access off from the start, locked down."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"no database at {path} (ingest something first)")
    config = {"memory_limit": memory_limit, "enable_external_access": False,
              "autoinstall_known_extensions": False, "autoload_known_extensions": False}
    try:
        con = duckdb.connect(str(path), read_only=True, config=config)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open database {path}: {one_line(exc)}") from None
    try:
        con.execute("SET TimeZone = 'UTC'")
        found = schema_version(con)
        if found != SCHEMA_VERSION:
            raise StoreError(f"database {path} has schema version {found}, expected {SCHEMA_VERSION}")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
