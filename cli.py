"""logship: the command line. Thin by design: options, output formatting, calls into packages.

Each command's docstring is its --help and ends with an example (a test checks).
Client-side commands (ship, backlog) must not import duckdb, pyarrow or lark: heavy
imports happen inside the command functions that need them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Optional, TypeVar

from typing import Annotated

import typer

from logship.kernel.errors import LogshipError
from logship.kernel.zones import local_zone

# -h and --help everywhere (click hands the names down to every subcommand's context).
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="logship",
    help="Ship, parse and store desktop client logs. Lark grammars in, DuckDB out.\n\n"
         "Exit codes: 0 ok, 1 a data or runtime error (one line on stderr), 2 a usage error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
grammar_app = typer.Typer(name="grammar", help="Work with format grammars (.lark files).", no_args_is_help=True,
                          context_settings=CONTEXT)
app.add_typer(grammar_app, name="grammar")


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("logship")
    except PackageNotFoundError:  # a bare checkout on sys.path, not installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"logship {_version()}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    """Ship, parse and store desktop client logs. Lark grammars in, DuckDB out.

    Exit codes: 0 ok, 1 a data or runtime error (one line on stderr), 2 a usage error.
    """


DEFAULT_DB = Path("logship.duckdb")
DbOpt = Annotated[Path, typer.Option("--db", help="DuckDB database file.")]
TzOpt = Annotated[Optional[str], typer.Option(
    "--tz", help="IANA zone of timestamps without an offset.", show_default="this machine's zone")]

# What `pip install logship` leaves out; the commands that need it say so in one line.
COLLECTOR_EXTRA = ("duckdb", "pyarrow", "lark")

F = TypeVar("F", bound=Callable)


def one_line_errors(fn: F, name: str = "logship") -> F:
    """Turn LogshipError into one line on stderr and its exit code (no traceback); a
    command that needs the collector extra on a light install says so in one line."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LogshipError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in COLLECTOR_EXTRA:
                raise
            typer.echo(f"error: {name} needs the collector extra ({exc.name} is not installed): "
                       "pip install 'logship[collector]'", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def command(*dargs, parent: typer.Typer = app, **dkwargs):
    """`@command()` registers a command on the app with one-line error handling."""

    def register(fn: F) -> F:
        words = ["logship", parent.info.name if parent is not app else None,
                 dargs[0] if dargs else fn.__name__.replace("_", "-")]
        name = " ".join(w for w in words if w)
        return parent.command(*dargs, **dkwargs)(one_line_errors(fn, name))

    return register


# --- commands: each owner edits only its own section ------------------------------

# [ingest slice: ingest, query, sessions, rejects, reparse, export, summary]

from enum import Enum  # noqa: E402  (imports of this section only)


class OutputFormat(str, Enum):
    """The OUTPUT format of commands that print rows (the input format is --log-format)."""

    table = "table"
    csv = "csv"
    json = "json"
    ndjson = "ndjson"
    parquet = "parquet"


class SummaryFormat(str, Enum):
    """`summary` prints several tables: no parquet (one file holds one table)."""

    table = "table"
    csv = "csv"
    json = "json"
    ndjson = "ndjson"


class EndReason(str, Enum):
    """The values of sessions.end_reason (docs/storage.md)."""

    clean = "clean"
    crashed = "crashed"
    lost = "lost"
    open = "open"
    stopped = "stopped"
    unknown = "unknown"


# Shared output options (define once, reuse in every command that prints rows).
FormatOpt = Annotated[Optional[OutputFormat], typer.Option(
    "--format", help="Output format: table (default on a terminal), csv (default when piped), json (one array), "
    "ndjson (one object a line), parquet (with --output).")]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Write the rows to this file (needed for parquet).")]
GrammarDirOpt = Annotated[Optional[list[Path]], typer.Option(
    "--grammar-dir", help="A directory of user .lark formats (repeatable).")]


def print_rows(fetch: Callable[[], object], fmt: Optional[OutputFormat], output: Optional[Path],
               title: Optional[str] = None) -> None:
    """The one row printer behind --format/--output: the options are checked (a usage
    error, exit 2) before ``fetch`` runs the query."""
    from logship.console.output import write_rows

    if fmt == OutputFormat.parquet and output is None:
        raise typer.BadParameter("parquet needs --output FILE", param_hint="--format")
    write_rows(fetch(), fmt.value if fmt else None, output, title=title)


# Every database command goes through the door (store/door.py): the file itself or the
# running collector that holds it, decided there once.


@command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, directories (recursive), globs, .gz files, or - for stdin.")],
    db: DbOpt = DEFAULT_DB,
    client_id: Annotated[str, typer.Option("--client-id", help="Client id of these logs.")] = "local",
    client_id_from_dir: Annotated[bool, typer.Option(
        "--client-id-from-dir", help="Use the first folder below each directory argument as the client id.")] = False,
    tz: TzOpt = None,
    log_format: Annotated[Optional[str], typer.Option(
        "--log-format", help="Input log format (default: detected on each file's first 200 lines).")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace these sources' records with a fresh parse, in one transaction.")] = False,
    grammar_dir: GrammarDirOpt = None,
    year: Annotated[Optional[int], typer.Option(
        "--year", min=1, max=9999, help="Year of the first year-less syslog/logcat line of a new source (for files "
        "whose mtime and name cannot be trusted; later lines roll over at New Year).")] = None,
) -> None:
    """Ingest log files into the database; what is already stored is skipped.

    Example: logship ingest --client-id-from-dir demo-data/ --db logship.duckdb
    """
    from logship.console.progress import progress_for
    from logship.store.door import open_door
    from logship.store.fileingest import IngestOptions

    options = IngestOptions(client_id=client_id, client_id_from_dir=client_id_from_dir, tz=tz,
                            log_format=log_format, replace=replace, grammar_dirs=tuple(grammar_dir or ()),
                            year=year)
    with open_door(db) as door:
        line, errors = door.ingest(paths, options, progress=progress_for(None))
    for err in errors:
        typer.echo(f"error: {err}", err=True)
    typer.echo(line, err=True)
    if errors:
        raise typer.Exit(1)


@command()
def query(sql: Annotated[str, typer.Argument(help="One SQL statement.")], db: DbOpt = DEFAULT_DB,
          format: FormatOpt = None, output: OutputOpt = None) -> None:
    """Run SQL on the database (read-only) and print the rows.

    Tables: metrics, events, rejects, sources, source_ranges, ingests, and the view sessions.

    Example: logship query "SELECT name, count(*) FROM events GROUP BY name" --format csv
    """
    from logship.store.query import run_query

    print_rows(lambda: run_query(db, sql), format, output)


@command()
def sessions(db: DbOpt = DEFAULT_DB,
             client_id: Annotated[Optional[str], typer.Option("--client-id", help="Only this client.")] = None,
             end_reason: Annotated[Optional[EndReason], typer.Option(
                 "--end-reason", help="Only clean, crashed, lost or open sessions.")] = None,
             limit: Annotated[int, typer.Option("--limit", min=0, help="At most this many rows.")] = 1000,
             format: FormatOpt = None, output: OutputOpt = None) -> None:
    """List sessions with how they ended (clean, crashed, lost, open), newest first.

    Example: logship sessions --end-reason crashed
    """
    from logship.store.query import sessions_query

    print_rows(lambda: sessions_query(db, client_id, end_reason.value if end_reason else None, limit),
               format, output)


@command()
def rejects(db: DbOpt = DEFAULT_DB,
            error_code: Annotated[Optional[str], typer.Option("--error-code", help="Only this error code.")] = None,
            limit: Annotated[int, typer.Option("--limit", min=0, help="At most this many rows.")] = 100,
            format: FormatOpt = None, output: OutputOpt = None) -> None:
    """List entries that did not parse, with the parse error and their raw bytes.

    Example: logship rejects --error-code syntax --limit 20
    """
    from logship.store.query import rejects_query

    print_rows(lambda: rejects_query(db, error_code, limit), format, output)


@command()
def reparse(db: DbOpt = DEFAULT_DB, grammar_dir: GrammarDirOpt = None) -> None:
    """Run the current grammars over stored rejects; what now parses moves into the tables.

    Example: logship reparse --grammar-dir my-grammars/
    """
    from logship.store.door import open_door

    with open_door(db) as door:
        typer.echo(door.reparse(tuple(grammar_dir or ())), err=True)


@command()
def export(out: Annotated[Path, typer.Option("--out", help="Directory to write the Parquet data set into.")],
           db: DbOpt = DEFAULT_DB) -> None:
    """Export metrics, events and sessions as hive-partitioned Parquet (client_id=/date=),
    from the file or through the running collector that holds it.

    Example: logship export --out export/
    """
    from logship.console.progress import rows_progress
    from logship.store.door import open_door
    from logship.store.export import export_parquet

    with open_door(db) as door, rows_progress() as on_rows:
        counts = export_parquet(door, out, on_rows=on_rows)
    typer.echo(", ".join(f"{n:,} {t}" for t, n in counts.items()) + f" written to {out}", err=True)


@command()
def summary(db: DbOpt = DEFAULT_DB, format: Annotated[Optional[SummaryFormat], typer.Option(
        "--format", help="Output format: table (default on a terminal), csv (default when piped; a `# title` "
        "line before each table), json (one document), ndjson (one table a line).")] = None) -> None:
    """Print the fleet summary: sessions per client and how they ended, CPU p95 per session,
    top events, rejects by error, and what the database keeps (oldest and newest data, file size).

    Example: logship summary --db logship.duckdb
    """
    from logship.console.output import write_summary
    from logship.store.query import summary as summary_tables

    write_summary(summary_tables(db), format.value if format else None)


@command()
def prune(db: DbOpt = DEFAULT_DB,
          before: Annotated[Optional[str], typer.Option(
              "--before", help="Delete rows older than this date or ISO timestamp (UTC unless it has an offset).")] = None,
          older_than: Annotated[Optional[str], typer.Option(
              "--older-than", help="Delete rows older than this long ago: 30d, 12h, 90m.")] = None,
          export_dir: Annotated[Optional[Path], typer.Option(
              "--export", help="First write the rows that go as hive-partitioned Parquet into this directory.")] = None,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would go; change nothing.")] = False,
          ) -> None:
    """Delete metrics, events, rejects and ingests older than a cutoff, and the sessions whose
    last record is before it; sources and their committed ranges stay, so a resend or a
    re-ingest of pruned data adds nothing (`logship ingest --replace` brings it back).
    From the file or through the running collector that holds it.

    Example: logship prune --older-than 30d --export archive/ --db logship.duckdb
    """
    from logship.store.door import open_door
    from logship.store.prune import parse_cutoff

    cutoff = parse_cutoff(before, older_than)
    with open_door(db) as door:
        typer.echo(door.prune(cutoff, export_dir, dry_run).line(), err=True)


@command()
def compact(db: DbOpt = DEFAULT_DB) -> None:
    """Rewrite the database file without its free space (DuckDB keeps a file's size after a
    prune and reuses the space; this gives it back). Through the running collector, which
    pauses its commits meanwhile, or on the file.

    Example: logship compact --db logship.duckdb
    """
    from logship.store.door import open_door

    with open_door(db) as door:
        typer.echo(door.compact().line(), err=True)


# [formats toolkit: formats, check, grammar check]


def _grammar_registry(grammar_dir: Optional[list[Path]]):
    """The format registry with the user's --grammar-dir directories added."""
    from logship.parser import load_user_grammars

    return load_user_grammars([str(d) for d in grammar_dir or ()])


@command()
def formats(grammar_dir: GrammarDirOpt = None,
            samples: Annotated[bool, typer.Option("--samples/--no-samples",
                                                  help="Show each format's sample lines.")] = True) -> None:
    """List the log formats (shipped and from --grammar-dir), most specific first, with
    their sample lines.

    Example: logship formats --grammar-dir my-grammars/
    """
    for fmt in _grammar_registry(grammar_dir).formats():
        flags = ("context-free" if fmt.context_free else "needs context") + f"; fast path: {fmt.fast_path()}"
        typer.echo(f"{fmt.name}: {fmt.description} [{flags}; {fmt.path}]")
        if samples:
            for line in fmt.samples:
                typer.echo(f"    {line}")


@command()
def check(paths: Annotated[list[Path], typer.Argument(help="Log files (plain or .gz) to check; - for stdin.")],
          log_format: Annotated[Optional[str], typer.Option(
              "--log-format", help="Input log format (default: detected on each file's first 200 lines).")] = None,
          tz: TzOpt = None,
          errors: Annotated[int, typer.Option("--errors", help="Show at most this many errors per file.")] = 5,
          grammar_dir: GrammarDirOpt = None) -> None:
    """Parse log files without storing anything: per file the detected format and hit
    rate, lines, records, rejects and the first errors. Exits 1 when a file has rejects.

    Example: logship check /var/log/syslog samples/access.log
    """
    from logship.parser.check import check_file

    registry = _grammar_registry(grammar_dir)
    tz = tz or local_zone()  # the same default as ingest: a checked file reads as it would be stored
    bad = False
    for path in paths:
        r = check_file(path, log_format=log_format, tz=tz, registry=registry, max_errors=errors)
        how = ("given" if not r.detected else f"not detected; nearest: {r.nearest}; ingest refuses it "
               "without --log-format" if r.log_format == "unknown"
               else f"detected, {r.hit_rate:.0%} of the first lines parse")
        typer.echo(f"{r.path}: format {r.log_format} ({how}); {r.lines:,} lines, "
                   f"{r.entries:,} entries, {r.records:,} records, {r.rejects:,} rejected"
                   + (f", {r.future:,} future-dated" if r.future else ""))
        for line, offset, code, error in r.errors:
            typer.echo(f"  line {line} (byte {offset}): {code}: {error}")
        if r.read_error:
            typer.echo(f"error: {r.read_error}", err=True)
        bad = bad or r.rejects > 0 or r.read_error is not None
    if bad:
        raise typer.Exit(1)


@command("check", parent=grammar_app)
def grammar_check(path: Annotated[Path, typer.Argument(help="The .lark file to check.")]) -> None:
    """Check a format grammar: its directives, that it compiles, that every `// sample:`
    line parses and every `// sample_reject:` line does not. Exits 1 on a failure.

    Example: logship grammar check my-grammars/myapp.lark
    """
    from logship.parser.check import check_grammar

    r = check_grammar(path)
    for failure in r.failures:
        typer.echo(f"  {failure}")
    verdict = "ok" if r.ok else f"{len(r.failures)} failure(s)"
    typer.echo(f"{r.path}: format {r.name}: {r.samples} sample(s), {r.sample_rejects} sample_reject(s): {verdict}")
    if not r.ok:
        raise typer.Exit(1)


# [simulate]


@command("simulate")
def simulate_cmd(
    out: Annotated[Path, typer.Option(
        "--out", help="Directory for DIR/<client-id>/app.log* and DIR/manifest.json.")],
    clients: Annotated[int, typer.Option("--clients", help="Number of clients.")] = 10,
    duration: Annotated[str, typer.Option("--duration", help="Simulated time span: 90s, 10m, 1h30m.")] = "10m",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed writes the same bytes.")] = 0,
    start: Annotated[Optional[str], typer.Option(
        "--start", help="ISO 8601 start time (default 2026-11-27T21:00:00+00:00).")] = None,
    corrupt_rate: Annotated[float, typer.Option(
        "--corrupt-rate", help="Share of entries preceded by a corrupt line.")] = 0.002,
    rate: Annotated[float, typer.Option("--rate", help="Metric lines a second per client.")] = 10.0,
    rotate_bytes: Annotated[int, typer.Option(
        "--rotate-bytes", help="Rotate app.log past this size (0: never).")] = 256 << 10,
    archive_copies: Annotated[bool, typer.Option(
        "--archive-copies/--no-archive-copies",
        help="Add gzipped copies of some rotated files (ingest must add nothing).")] = True,
    manifest: Annotated[Optional[Path], typer.Option(
        "--manifest", help="Where the known answers go (default DIR/manifest.json; put it outside DIR "
        "when DIR is ingested as a whole).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier simulation in --out.")] = False,
) -> None:
    """Write realistic client logs for a fleet, with a manifest of the known answers.

    Sessions (clean, crashed, lost, still open), ~10 metric lines a second per client,
    events, tracebacks, rotated and gzipped files and a small share of corrupt lines.

    Example: logship simulate --out fleet/logs --manifest fleet/manifest.json --clients 10 --seed 42
    """
    import time
    from datetime import datetime, timezone

    from logship.clientlog.simulate import DEFAULT_START, SimConfig, SimulateError, parse_duration, simulate

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
    manifest_file = manifest or out / "manifest.json"
    t = simulate(out, cfg, force=force, manifest_path=manifest_file)["totals"]
    reasons = ", ".join(f"{n} {k}" for k, n in t["end_reasons"].items())
    typer.echo(
        f"simulated {cfg.clients} clients, {t['sessions']} sessions ({reasons}), {t['lines']:,} lines "
        f"({t['bytes'] / 2**20:.1f} MiB, {t['corrupt_lines']} corrupt) in {time.perf_counter() - began:.1f} s "
        f"-> {out}/ (known answers: {manifest_file})"
    )


# [collector: collect]


@command("collect")
def collect(
    db: DbOpt = DEFAULT_DB,
    listen: Annotated[Optional[str], typer.Option(
        "--listen", help="HOST:PORT to serve on (port 0: a free one).")] = None,
    token_file: Annotated[Optional[Path], typer.Option("--token-file", help="`client_id token` lines.")] = None,
    admin_token_file: Annotated[Optional[Path], typer.Option(
        "--admin-token-file", help="Tokens for /v1/query.")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="collector.toml (unknown keys are an error).")] = None,
    tls_cert: Annotated[Optional[Path], typer.Option("--tls-cert", help="PEM certificate: serve HTTPS/WSS.")] = None,
    tls_key: Annotated[Optional[Path], typer.Option("--tls-key", help="PEM private key for --tls-cert.")] = None,
    http_tz: Annotated[Optional[str], typer.Option(
        "--http-tz", help="Zone of HTTP bodies whose request names none (default UTC).")] = None,
    grammar_dir: GrammarDirOpt = None,
    parse_workers: Annotated[Optional[int], typer.Option(
        "--parse-workers", min=0, help="Processes parsing big bodies and frames (default: CPUs, at most 4; "
        "0: the writer's thread parses).")] = None,
) -> None:
    """Run the collector: receive lines from shippers and HTTP clients into the database.

    Prints its URL as the first line, writes <db>.collector.json while it runs, and on
    SIGINT/SIGTERM commits and acks what it has before it exits.

    Example: logship collect --db fleet.duckdb --listen 127.0.0.1:8787 --token-file tokens.txt
    """
    from logship.collector.config import load_config, parse_listen
    from logship.collector.server import run

    host, port = parse_listen(listen) if listen else (None, None)
    cfg = load_config(config, db=db if (config is None or db != DEFAULT_DB) else None, host=host, port=port,
                      token_file=token_file, admin_token_file=admin_token_file, tls_cert=tls_cert, tls_key=tls_key,
                      http_tz=http_tz, grammar_dirs=tuple(grammar_dir) if grammar_dir else None,
                      parse_workers=parse_workers)
    run(cfg, on_ready=lambda url: print(url, flush=True))


# [shipper: ship, backlog]

backlog_app = typer.Typer(name="backlog", no_args_is_help=False, invoke_without_command=True, context_settings=CONTEXT)
app.add_typer(backlog_app, name="backlog")
DEFAULT_STATE_DIR = Path("logship-state")


@command("ship")
def ship_cmd(
    paths: Annotated[Optional[list[str]], typer.Argument(help="Files or globs to ship (quote globs).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Shipper TOML config (docs/shipper.md).")] = None,
    collector: Annotated[Optional[str], typer.Option(
        "--collector", help="Collector base URL, e.g. http://host:8787.")] = None,
    client_id: Annotated[Optional[str], typer.Option(
        "--client-id", help="This machine's client id (the token's).")] = None,
    state_dir: Annotated[Optional[Path], typer.Option(
        "--state-dir", help="State directory (checkpoints, status).", show_default=str(DEFAULT_STATE_DIR))] = None,
    token_file: Annotated[Optional[Path], typer.Option(
        "--token-file", help="File holding the bearer token (else LOGSHIP_TOKEN).")] = None,
    backlog: Annotated[Optional[str], typer.Option("--backlog", help="Backlog policy: ask, always or never.")] = None,
    log_format: Annotated[Optional[str], typer.Option("--log-format", help="Declare the files' log format.")] = None,
    tz: TzOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the config, try the connection, exit.")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="Print the running shipper's status file and exit.")] = False,
) -> None:
    """Tail log files and stream their lines to a collector (runs until stopped).

    Rotation-safe (rename, copytruncate, symlinks, .gz archives), exactly-once with the
    collector's acked ranges; old data waits for consent (see `logship backlog`).

    Example: logship ship --collector http://127.0.0.1:8787 --client-id desk-42 --token-file token --state-dir st 'logs/*.log*'
    """
    from logship.shipper import config as shipper_config
    from logship.console.status import format_status
    from logship.kernel.status import read_status

    if status and config is None and not collector:
        typer.echo(format_status(read_status(state_dir or DEFAULT_STATE_DIR)))
        return
    cfg = shipper_config.load_config(config, collector=collector, client_id=client_id, state_dir=state_dir,
                                     token_file=token_file, backlog=backlog, log_format=log_format, tz=tz,
                                     paths=paths or None)
    if status:
        typer.echo(format_status(read_status(cfg.state_dir)))
        return
    token = shipper_config.read_token(cfg)
    from logship.shipper import daemon

    if check:
        import asyncio

        try:
            typer.echo(asyncio.run(daemon.check_connection(cfg, token)))
        except daemon.ConnectionLost as exc:
            # a runtime condition, not a bad option: exit 1 (README: exit codes)
            raise LogshipError(f"config ok, but the collector is not reachable: {exc}") from None
        return
    daemon.exec_daemon(cfg)  # same pid, without the CLI framework in memory


@backlog_app.callback()
def backlog_cmd(ctx: typer.Context, state_dir: Annotated[Path, typer.Option(
        "--state-dir", help="The shipper's state directory.")] = DEFAULT_STATE_DIR) -> None:
    """List the backlog that waits for consent: files, bytes, oldest time.

    Example: logship backlog --state-dir st
    """
    from logship.console.status import format_backlog
    from logship.kernel.status import read_status

    ctx.obj = state_dir
    if ctx.invoked_subcommand is None:
        typer.echo(format_backlog(one_line_errors(read_status)(state_dir)))


@command("approve", parent=backlog_app)
def backlog_approve_cmd(
    ctx: typer.Context,
    seg_id: Annotated[Optional[str], typer.Argument(help="The backlog id to approve (from `logship backlog`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Approve everything pending now.")] = False,
    state_dir: Annotated[Optional[Path], typer.Option("--state-dir", help="The shipper's state directory.")] = None,
) -> None:
    """Consent to sending backlog: one id, or --all that is pending now.

    Example: logship backlog approve --all --state-dir st
    """
    from logship.shipper.backlog import approve
    from logship.kernel.status import read_status

    sd = state_dir or ctx.obj or DEFAULT_STATE_DIR
    pending = None
    if not all_:
        segs = read_status(sd).get("backlog", {}).get("segments", [])
        pending = {s["id"] for s in segs if s.get("status") == "pending"}
    approve(sd, seg_id, all_=all_, pending_ids=pending)
    typer.echo(f"approved {'all pending backlog' if all_ else seg_id} in {sd}")


# [watch: the client watchdog]


@command("watch", context_settings={**CONTEXT, "allow_interspersed_args": False})
def watch_cmd(
    command: Annotated[Optional[list[str]], typer.Argument(help="The app and its arguments, after --.")] = None,
    log_dir: Annotated[Path, typer.Option("--log-dir", help="Where the app's log files are written.")] = Path("logs"),
    pid: Annotated[Optional[int], typer.Option("--pid", help="Attach to this running process instead.")] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between samples.")] = 1.0,
    max_interval: Annotated[float, typer.Option(
        "--max-interval", help="The longest interval when asked to measure less.")] = 60.0,
    children: Annotated[bool, typer.Option("--children", help="Sum the app's child processes in.")] = False,
    app_version: Annotated[Optional[str], typer.Option("--app-version", help="Written in `session start`.")] = None,
    log_name: Annotated[str, typer.Option("--log-name", help="The log file's name.")] = "app.log",
    rotate_bytes: Annotated[str, typer.Option("--rotate-bytes", help="Rotate the log file at this size.")] = "10MiB",
    keep_for: Annotated[str, typer.Option("--keep-for", help="Delete rotated files older than this.")] = "7d",
    keep_bytes: Annotated[str, typer.Option("--keep-bytes", help="Cap the directory's total size.")] = "100MiB",
    shipper_state: Annotated[Optional[Path], typer.Option(
        "--shipper-state", help="The shipper's state directory: acked files, slow-down, lag.")] = None,
    busy_load: Annotated[float, typer.Option(
        "--busy-load", help="Load average per core that halves the sampling rate (0: off).")] = 2.0,
    udp: Annotated[bool, typer.Option("--udp", help="Events over UDP on 127.0.0.1, not a Unix socket.")] = False,
) -> None:
    """Run an app (or attach to one) and write its sessions, samples and events as client-format logs.

    Signals SIGTERM, SIGINT and SIGHUP are forwarded to the app; the app gets the event
    socket's address in LOGSHIP_EVENTS (docs/watch.md). Exits with the app's exit code.

    Example: logship watch --log-dir logs --shipper-state st -- ./my-app --port 6881
    """
    from logship.kernel.units import parse_duration_text, parse_size_text
    from logship.watch.config import WatchConfig
    from logship.watch.main import exec_watch

    def size(name: str, text: str) -> int:
        n = parse_size_text(text)
        if n is None:
            raise typer.BadParameter(f"{text!r} is not a size such as 100MiB", param_hint=name)
        return n

    def seconds(name: str, text: str) -> float:
        n = parse_duration_text(text)
        if n is None:
            raise typer.BadParameter(f"{text!r} is not a duration such as 7d or 12h", param_hint=name)
        return n

    cfg = WatchConfig(log_dir=log_dir, command=tuple(command or ()), pid=pid, interval=interval,
                      max_interval=max_interval, children=children, app_version=app_version, log_name=log_name,
                      rotate_bytes=size("--rotate-bytes", rotate_bytes), keep_for=seconds("--keep-for", keep_for),
                      keep_bytes=size("--keep-bytes", keep_bytes), shipper_state=shipper_state, busy_load=busy_load,
                      udp=udp)
    exec_watch(cfg)  # same pid, without the CLI framework in memory


def main() -> None:
    app(prog_name="logship")


if __name__ == "__main__":
    main()
