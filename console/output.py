"""Printing rows: one place for every command that prints rows (query, sessions,
rejects, summary). ``--format table|csv|json|ndjson|parquet`` is the OUTPUT format.

table: a rich table (the default on a terminal); csv (the default when piped); json:
one array of objects; ndjson: one object per line; parquet: needs an output file. In
json and ndjson a JSON column (attrs, labels: Arrow's `arrow.json` type, store/arrows.py)
is written as its value, not as an escaped string.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from logship.store.errors import OutputError

__all__ = ["OUTPUT_FORMATS", "SUMMARY_FORMATS", "write_rows", "write_summary", "default_format"]

OUTPUT_FORMATS = ("table", "csv", "json", "ndjson", "parquet")
# several tables in one output: no parquet (one file holds one table)
SUMMARY_FORMATS = ("table", "csv", "json", "ndjson")


def default_format(stream: TextIO | None = None) -> str:
    return "table" if (stream or sys.stdout).isatty() else "csv"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def write_rows(table: pa.Table, fmt: str | None = None, output: Path | None = None,
               stream: TextIO | None = None, title: str | None = None) -> None:
    """Write ``table`` as ``fmt`` to ``output`` (a file) or ``stream`` (default stdout)."""
    fmt = fmt or default_format(stream)
    if fmt not in OUTPUT_FORMATS:
        raise OutputError(f"unknown output format {fmt!r} (one of {', '.join(OUTPUT_FORMATS)})")
    if fmt == "parquet":
        if output is None:
            raise OutputError("--format parquet needs --output FILE")
        import pyarrow.parquet as pq

        try:
            pq.write_table(table, output)
        except OSError as exc:
            raise OutputError(f"cannot write {output}: {exc}") from None
        return
    if output is not None:
        try:
            with open(output, "w", encoding="utf-8", newline="") as f:
                _write_text(table, fmt, f, title)
        except OSError as exc:
            raise OutputError(f"cannot write {output}: {exc}") from None
    else:
        _write_text(table, fmt, stream or sys.stdout, title)


def _json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows as JSON-ready objects; a JSON column's text parsed into its value."""
    marked = {f.name for f in table.schema if isinstance(f.type, pa.JsonType)}
    out = []
    for row in table.to_pylist():
        obj = {}
        for name, value in row.items():
            if name in marked and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass  # not JSON after all: the text as it is
            obj[name] = _json_value(value)
        out.append(obj)
    return out


def _write_text(table: pa.Table, fmt: str, stream: TextIO, title: str | None) -> None:
    names = table.column_names
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(names)
        for row in table.to_pylist():
            writer.writerow([_text(row[n]) for n in names])
    elif fmt == "json":
        json.dump(_json_rows(table), stream, ensure_ascii=False)
        stream.write("\n")
    elif fmt == "ndjson":
        for obj in _json_rows(table):
            stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
    else:
        _write_table(names, table.to_pylist(), stream, title)


def write_summary(tables: list[tuple[str, pa.Table]], fmt: str | None = None, stream: TextIO | None = None) -> None:
    """Several titled tables: table (one titled table each), csv (each after a `# title`
    line), json (ONE document: an array of {"title", "rows"}), ndjson (one such object a line)."""
    stream = stream or sys.stdout
    fmt = fmt or default_format(stream)
    if fmt not in SUMMARY_FORMATS:
        raise OutputError(f"unknown summary format {fmt!r} (one of {', '.join(SUMMARY_FORMATS)})")
    if fmt == "json":
        json.dump([{"title": t, "rows": _json_rows(tab)} for t, tab in tables], stream, ensure_ascii=False)
        stream.write("\n")
        return
    for title, table in tables:
        if fmt == "ndjson":
            stream.write(json.dumps({"title": title, "rows": _json_rows(table)}, ensure_ascii=False) + "\n")
        elif fmt == "csv":
            stream.write(f"# {title}\n")
            _write_text(table, fmt, stream, title)
        else:
            _write_table(table.column_names, table.to_pylist(), stream, title)


def _table_text(value: Any) -> str:
    """A cell for people: UTC instants as `2026-11-27 21:09:05.123Z` (one column width)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        utc = value.astimezone(dt.timezone.utc)
        text = utc.strftime("%Y-%m-%d %H:%M:%S")
        return (text + f".{utc.microsecond // 1000:03d}" if utc.microsecond else text) + "Z"
    return _text(value)


def _write_table(names: list[str], rows: list[dict], stream: TextIO, title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    cells = [[_table_text(row[n]) for n in names] for row in rows]
    t = Table(title=title, show_lines=False)
    needed = 1
    for i, n in enumerate(names):
        widest = max([len(n), *(len(c[i]) for c in cells)])
        # Short values (times, ids, numbers) keep their width; long text folds.
        min_width = widest if widest <= _NO_WRAP_WIDTH else _LONG_TEXT_MIN_WIDTH
        t.add_column(n, no_wrap=widest <= _NO_WRAP_WIDTH, overflow="fold", min_width=min_width)
        needed += min_width + 3
    for c in cells:
        t.add_row(*c)
    console = Console(file=stream, soft_wrap=False)
    if not console.is_terminal:
        console = Console(file=stream, soft_wrap=False, width=max(console.width, needed))
    console.print(t)


_NO_WRAP_WIDTH = 32
_LONG_TEXT_MIN_WIDTH = 24
