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

# [collector: collect]

# [shipper: ship, backlog]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
