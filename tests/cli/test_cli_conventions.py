"""CLI conventions that every command must keep (docs/architecture.md, README)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

from logship import cli

HEAVY = ("duckdb", "pyarrow", "lark")


def _walk(group, prefix: tuple[str, ...] = ()):
    """Leaf commands of the app (typer vendors click; duck-type its groups)."""
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            yield from _walk(sub, prefix + (name,))
    else:
        yield prefix, group


COMMANDS = list(_walk(typer.main.get_command(cli.app)))


def test_there_are_commands():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"ingest", "query"} <= names


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, cmd):
    help_text = cmd.help or ""
    assert help_text.strip(), f"`logship {' '.join(path)}` has no help text"
    assert "Example:" in help_text and "logship " in help_text.split("Example:", 1)[1], (
        f"`logship {' '.join(path)}` help does not end with 'Example: logship ...'"
    )


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_output_format_means_output(path, cmd):
    """--format is always the OUTPUT format; the input log format is --log-format."""
    for param in cmd.params:
        if "--format" in getattr(param, "opts", []):
            annotation = param.type_descriptor.annotation
            values = {m.value for m in annotation} if isinstance(annotation, type) else set()
            assert values and values <= {"table", "csv", "json", "ndjson", "parquet"}, (path, annotation)


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_no_token_values_on_the_command_line(path, cmd):
    for param in cmd.params:
        for opt in getattr(param, "opts", []):
            assert opt not in ("--token", "--admin-token", "--secret"), f"{path}: {opt} would show in ps"


CLIENT_SIDE = [
    "from logship import cli; cli.app(['ship', '--help'], standalone_mode=False)",
    "from logship import cli; cli.app(['backlog', '--help'], standalone_mode=False)",
    "import logship.shipper.daemon, logship.kernel.fingerprint, logship.kernel.protocol, logship.clientlog.writer",
    "import logship.clientlog.simulate, logship.watch, logship.kernel.status",
]


@pytest.mark.parametrize("code", CLIENT_SIDE)
def test_client_side_stays_light(code):
    """The shipper runs on users' desktops: no duckdb, pyarrow or lark in its process."""
    probe = code + "\nimport sys\nprint('HEAVY:' + ' '.join(m for m in " + repr(HEAVY) + " if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:", f"heavy modules imported: {out.stdout[-200:]!r}"
