"""logship: the command line. Thin by design: options, output formatting, calls into packages.

Each command's docstring is its --help and ends with an example (a test checks).
Client-side commands (ship, backlog) must not import duckdb, pyarrow or lark: heavy
imports happen inside the command functions that need them.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, Optional, TypeVar

import typer

from shipper.errors import LogshipError

app = typer.Typer(
    name="logship",
    help="Ship, parse and store desktop client logs. Lark grammars in, DuckDB out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
grammar_app = typer.Typer(help="Work with format grammars (.lark files).", no_args_is_help=True)
app.add_typer(grammar_app, name="grammar")

DEFAULT_DB = Path("logship.duckdb")
DbOption = typer.Option(DEFAULT_DB, "--db", help="DuckDB database file.")

F = TypeVar("F", bound=Callable)


def one_line_errors(fn: F) -> F:
    """Turn LogshipError into one line on stderr and its exit code (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LogshipError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def command(*dargs, parent: typer.Typer = app, **dkwargs):
    """`@command()` registers a command on the app with one-line error handling."""

    def register(fn: F) -> F:
        return parent.command(*dargs, **dkwargs)(one_line_errors(fn))

    return register


# --- commands: each owner edits only its own section ------------------------------

# [ingest slice: ingest, query, sessions, rejects, reparse, export, summary]

# [formats toolkit: formats, check, grammar check]

# [simulate]


@command("simulate")
def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="Directory for DIR/<client-id>/app.log* and DIR/manifest.json."),
    clients: int = typer.Option(10, "--clients", help="Number of clients."),
    duration: str = typer.Option("10m", "--duration", help="Simulated time span: 90s, 10m, 1h30m."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes the same bytes."),
    start: Optional[str] = typer.Option(None, "--start", help="ISO 8601 start time (default 2026-11-27T21:00:00+00:00)."),
    corrupt_rate: float = typer.Option(0.002, "--corrupt-rate", help="Share of entries preceded by a corrupt line."),
    rate: float = typer.Option(10.0, "--rate", help="Metric lines a second per client."),
    rotate_bytes: int = typer.Option(256 << 10, "--rotate-bytes", help="Rotate app.log past this size (0: never)."),
    archive_copies: bool = typer.Option(True, "--archive-copies/--no-archive-copies",
                                        help="Add gzipped copies of some rotated files (ingest must add nothing)."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier simulation in --out."),
) -> None:
    """Write realistic client logs for a fleet, with a manifest of the known answers.

    Sessions (clean, crashed, lost, still open), ~10 metric lines a second per client,
    events, tracebacks, rotated and gzipped files and a small share of corrupt lines.

    Example: logship simulate --out demo-data --clients 10 --duration 10m --seed 42
    """
    import time
    from datetime import datetime, timezone

    from shipper.simulate import DEFAULT_START, SimConfig, SimulateError, parse_duration, simulate

    if start is None:
        t0 = DEFAULT_START
    else:
        try:
            t0 = datetime.fromisoformat(start)
        except ValueError:
            raise SimulateError(f"--start {start!r} is not an ISO 8601 time") from None
        if t0.tzinfo is None:
            t0 = t0.replace(tzinfo=timezone.utc)
    cfg = SimConfig(clients=clients, duration_s=parse_duration(duration), seed=seed, start=t0,
                    corrupt_rate=corrupt_rate, rate=rate, rotate_bytes=rotate_bytes, archive_copies=archive_copies)
    began = time.perf_counter()
    manifest = simulate(out, cfg, force=force)
    t = manifest["totals"]
    reasons = ", ".join(f"{n} {k}" for k, n in t["end_reasons"].items())
    typer.echo(
        f"simulated {cfg.clients} clients, {t['sessions']} sessions ({reasons}), {t['lines']:,} lines "
        f"({t['bytes'] / 2**20:.1f} MiB, {t['corrupt_lines']} corrupt) in {time.perf_counter() - began:.1f} s "
        f"-> {out}/ (known answers: {out}/manifest.json)"
    )


# [collector: collect]

# [shipper: ship, backlog]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
