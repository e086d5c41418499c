"""The formats toolkit commands, run as a user runs them: `logship formats`,
`logship check FILE...` (stores nothing, needs no DuckDB) and `logship grammar check`."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from tests.run import logship

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def test_formats_lists_every_format_with_samples():
    r = logship("formats")
    assert r.returncode == 0, r.stderr
    heads = [ln.split(":")[0] for ln in r.stdout.splitlines() if not ln.startswith(" ")]
    assert heads == ["client", "syslog5424", "logcat", "windows_cbs", "apache_error", "nginx_error", "log4j",
                     "dpkg", "python_asctime", "python", "apt_history", "syslog", "access_vhost", "access", "jsonl", "golog",
                     "logfmt"]
    assert "    Nov  7 01:02:03 web-01 kernel: [ 1234.567890] eth0: link up" in r.stdout.splitlines()
    r = logship("formats", "--no-samples")
    assert len(r.stdout.splitlines()) == 17


def test_check_reports_format_counts_and_first_errors(tmp_path: Path):
    gz = tmp_path / "access.log.1.gz"
    gz.write_bytes(gzip.compress((SAMPLES / "access.log").read_bytes()))
    r = logship("check", str(SAMPLES / "logfmt.log"), str(gz), "--errors", "1")
    assert r.returncode == 1  # rejects were found
    lines = r.stdout.splitlines()
    assert lines[0] == (f"{SAMPLES / 'logfmt.log'}: format logfmt (detected, 82% of the first lines parse); "
                        "11 lines, 11 entries, 9 records, 2 rejected")
    assert lines[1].startswith("  line 9 (byte 836): bad_value: column 46, field msg: expected")
    assert lines[2] == (f"{gz}: format access (detected, 92% of the first lines parse); "
                        "12 lines, 12 entries, 19 records, 1 rejected")
    assert lines[3].startswith("  line 11 (byte 1545): bad_timestamp:")
    assert len(lines) == 4


def test_check_with_a_forced_format_and_a_clean_file(tmp_path: Path):
    f = tmp_path / "ok.log"
    f.write_text("t=1795813747 level=info msg=a\nt=1795813748 level=warn msg=b\n")
    r = logship("check", str(f), "--log-format", "logfmt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{f}: format logfmt (given); 2 lines, 2 entries, 2 records, 0 rejected\n"
    r = logship("check", str(f), "--log-format", "nope")
    assert r.returncode == 2 and r.stderr.startswith("error: unknown log format 'nope'")


def test_check_says_unknown_naming_the_nearest_formats(tmp_path: Path):
    """A README is no format (issue 10): `unknown`, and its errors are in no format's terms. ~0.6 s."""
    f = tmp_path / "README.md"
    f.write_text("# app\n\nNov 27 21:09:05 web-01 sshd[4242]: quoted in the docs\nSee docs/.\n")
    r = logship("check", str(f), "--errors", "1", "--tz", "UTC")
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        f"{f}: format unknown (not detected; nearest: syslog 33%; ingest refuses it without --log-format); "
        "4 lines, 4 entries, 0 records, 4 rejected",
        "  line 1 (byte 0): unknown_format: the source's format could not be detected (nearest: syslog 33%); "
        "give it with --log-format, or `logship reparse` re-detects"]


def test_check_an_unreadable_file_is_one_line():
    r = logship("check", "/nonexistent/file.log")
    assert r.returncode == 1
    assert r.stderr == "error: /nonexistent/file.log: No such file or directory\n"


def test_check_needs_no_duckdb_or_pyarrow():
    code = ("import sys, cli\n"
            "from typer.testing import CliRunner\n"
            f"r = CliRunner().invoke(cli.app, ['check', {str(SAMPLES / 'syslog.log')!r}])\n"
            "assert 'syslog' in r.output, r.output\n"
            "bad = [m for m in ('duckdb', 'pyarrow') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr


def test_grammar_check(tmp_path: Path):
    r = logship("grammar", "check", str(REPO / "grammars" / "access.lark"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("format access: 7 sample(s), 2 sample_reject(s): ok\n")
    bad = tmp_path / "bad.lark"
    bad.write_text("// format: bad\n// sample: 12:00:00 hello\n%import common (TIME_OF_DAY, SP)\n"
                   "start: TIME_OF_DAY\n%ignore SP\n")
    r = logship("grammar", "check", str(bad))
    assert r.returncode == 1
    assert "sample does not parse: '12:00:00 hello'" in r.stdout
    assert r.stdout.splitlines()[-1] == f"{bad}: format bad: 1 sample(s), 0 sample_reject(s): 1 failure(s)"
    broken = tmp_path / "broken.lark"
    broken.write_text("// format: broken\n// sample: x\nstart: NOPE\n")
    r = logship("grammar", "check", str(broken))
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {broken}: grammar does not load:")


def test_grammar_dir_reaches_formats_and_check(tmp_path: Path):
    (tmp_path / "mine.lark").write_text(
        "// format: mine\n// description: mine\n// detect_priority: 200\n// time: received\n// sample: MINE hello\n"
        "%import common (REST, SP)\nstart: _MINE REST\n_MINE: \"MINE\"\n%ignore SP\n")
    log = tmp_path / "x.log"
    log.write_text("MINE one\nMINE two\n")
    r = logship("formats", "--grammar-dir", str(tmp_path), "--no-samples")
    assert r.stdout.splitlines()[0].startswith("mine: mine [context-free;")
    r = logship("check", str(log), "--grammar-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "format mine (detected, 100% of the first lines parse); 2 lines" in r.stdout


def test_check_reads_stdin():
    r = logship("check", "-", input=(SAMPLES / "syslog.log").read_bytes())
    assert r.returncode == 1  # its deliberate corrupt line
    assert r.stdout.decode().startswith("-: format syslog (detected, 91% of the first lines parse); 22 lines, ")
