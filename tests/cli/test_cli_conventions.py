"""CLI conventions that every command must keep (docs/architecture.md, README)."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from logship import cli
from tests.run import REPO, logship


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


def test_version_from_the_console_script_and_python_m():
    """Tests run `python -P -m logship` (tests/run.py); this one also runs the installed script."""
    script = Path(sys.executable).parent / "logship"
    for r in (logship("--version"), subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)):
        assert (r.returncode, r.stdout, r.stderr) == (0, f"logship {version('logship')}\n", "")


GROUPS = [(), ("grammar",), ("backlog",)]


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS] + GROUPS, ids=lambda p: " ".join(p) or "logship")
def test_dash_h_is_help(path):
    r = CliRunner().invoke(cli.app, [*path, "-h"], prog_name="logship")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"Usage: {' '.join(['logship', *path])} "), r.output[:200]
    assert "-h, --help" in r.output


def test_usage_error_exits_2_and_data_error_exits_1(tmp_path: Path):
    """The exit codes of README 'Exit codes': 2 for usage, 1 for a data or runtime error."""
    assert logship("query", "--no-such-option").returncode == 2
    missing = logship("check", str(tmp_path / "missing.log"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: "), missing


def test_one_option_style():
    """Options and arguments are declared as Annotated[T, typer.Option(...)] = default,
    never the older `x: T = typer.Option(default, ...)` (nor module-level Option objects)."""
    tree = ast.parse((REPO / "cli.py").read_text())
    old = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("Option", "Argument"):
            old.append(node.lineno)
    annotated = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Annotated":
            annotated.extend(n.lineno for n in ast.walk(node) if isinstance(n, ast.Call))
    assert sorted(set(old) - set(annotated)) == [], "typer.Option/Argument outside Annotated[...] at cli.py lines"


def _tz_options():
    for path, cmd in COMMANDS:
        for param in cmd.params:
            if "--tz" in getattr(param, "opts", []):
                yield " ".join(path), param


def test_one_tz_default_shown_in_help():
    """Every command that reads log files takes --tz with one default, the local zone, and says so."""
    found = dict(_tz_options())
    assert sorted(found) == ["check", "ingest", "ship"]
    assert {(p.default, p.show_default, p.help) for p in found.values()} == {
        (None, "this machine's zone", "IANA zone of timestamps without an offset.")}
    assert "[default: (this machine's zone)]" in CliRunner().invoke(cli.app, ["check", "-h"]).output


def test_check_reads_in_the_local_zone_like_ingest(monkeypatch, tmp_path: Path):
    seen = []

    def fake_check_file(path, *, tz, **kw):
        seen.append(tz)
        raise SystemExit(0)

    import logship.parser.check

    monkeypatch.setattr(logship.parser.check, "check_file", fake_check_file)
    monkeypatch.setattr(cli, "local_zone", lambda: "Asia/Tokyo")
    CliRunner().invoke(cli.app, ["check", str(tmp_path / "a.log")])
    CliRunner().invoke(cli.app, ["check", "--tz", "UTC", str(tmp_path / "a.log")])
    assert seen == ["Asia/Tokyo", "UTC"]
