"""Fidelity: does logship store what real programs wrote? The corpus against its truth.

For every file of tests/corpus (manifest.json), ingest it offline with the one ingest
path (``ingest_paths``, format auto-detected, ``--tz UTC``: every corpus program wrote
UTC) into a temporary DuckDB, and compare each stored record with the truth the
generator wrote (tests/corpus/expected/<file>.truth.jsonl):

- an entry is CORRECT when a record starts at its head line and its time (to the
  second), level, message and program equal the truth's, where the truth has them;
- REJECTED when no record starts there and a reject lies within its lines;
- SILENTLY WRONG when a record starts there with a field that differs, and every
  record that starts on no entry's head (a continuation line stored as an entry) counts
  as one more: what a user would query without knowing;
- LOST when neither (should never happen: bad input never loses data).

Beside it, lnav's recognition of the same file (`lnav -n`, the format it gives most
lines and how many log messages it finds), or "-" when lnav is not installed.

    .venv/bin/python -m bench.fidelity [--given-format] [--json OUT] [--no-lnav] [FILE...]

``--given-format`` ingests with the manifest's ``log_format`` (``--log-format``) where it
names one, instead of detecting. Exits 1 only when logship crashed on a file.
How a stored record's fields are read (which attribute keys count as the program,
which level words are the same level) is in `read_program` and `norm_level` below.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from logship.parser.levels import normalize_level

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
EXPECTED = CORPUS / "expected"

# Levels are compared as the store keeps them: the six of the client format (docs/formats.md:
# `notice` is INFO, `crit`/`alert`/`emerg` are FATAL), the truth's word read the same way.
def norm_level(value: object) -> str | None:
    if value is None:
        return None
    return normalize_level(str(value))


# Attribute keys a format may store the program / logger under, in order (a dotted path
# reads nested objects: OTLP's resource attributes); then the record's `name` column.
PROGRAM_KEYS = ["app", "program", "logger", "logger_name", "log.logger", "component", "tag", "name",
                "SYSLOG_IDENTIFIER", "service", "service.name", "resource.service.name"]


@dataclass
class FileResult:
    file: str
    lines: int = 0
    entries: int = 0
    log_format: str | None = None
    hit_rate: float | None = None
    correct: int = 0
    rejected: int = 0
    wrong: int = 0  # entries stored with a wrong field
    extra: int = 0  # records that start on no entry's head
    lost: int = 0
    reject_rows: int = 0
    lnav: str = "-"
    refused: str | None = None  # ingest said no in one line (a visible outcome: every entry counts rejected)
    crash: str | None = None
    examples: list[str] = field(default_factory=list)  # the first few wrong ones, for the reader

    @property
    def silently_wrong(self) -> int:
        return self.wrong + self.extra

    @property
    def correct_pct(self) -> float:
        return 100.0 * self.correct / self.entries if self.entries else 100.0


def load_manifest() -> list[dict]:
    return json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))


def load_truth(rel: str) -> list[dict]:
    path = EXPECTED / f"{rel}.truth.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def line_offsets(data: bytes) -> list[int]:
    """Byte offset of each line's start (a last line without a newline counts)."""
    offsets, pos = [], 0
    for line in data.splitlines(keepends=True):
        offsets.append(pos)
        pos += len(line)
    return offsets


def read_program(attrs: dict, name: str | None) -> list[str]:
    found = [str(attrs[k]) for k in PROGRAM_KEYS if attrs.get(k) is not None]
    for path in ("log.logger", "resource.service.name"):
        head, _, rest = path.partition(".")
        inner = attrs.get(head)
        if isinstance(inner, dict) and inner.get(rest) is not None:
            found.append(str(inner[rest]))
    if name is not None:
        found.append(name)
    return found


def compare(row: dict, rec: tuple, text_lines: list[str]) -> list[str]:
    """The fields of a stored record that differ from the truth row (empty: correct)."""
    ts_us, level, name, message, attrs = rec
    attrs = json.loads(attrs) if isinstance(attrs, str) else (attrs or {})
    bad = []
    if row.get("ts") is not None:
        import datetime as dt

        want = int(dt.datetime.fromisoformat(row["ts"].replace("Z", "+00:00")).timestamp())
        got = None if ts_us is None else ts_us // 1_000_000
        if got != want:
            shown = None if got is None else dt.datetime.fromtimestamp(got, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            bad.append(f"ts {shown} != {row['ts']}")
    if row.get("level") is not None and norm_level(level) != norm_level(row["level"]):
        bad.append(f"level {level!r} != {row['level']!r}")
    if row.get("message") is not None:
        want = [row["message"], *row.get("message_alt", [])]
        if row.get("lines", 1) > 1:  # the entry's continuation lines joined to it
            rest = "\n".join(text_lines[1:])
            want += [f"{m}\n{rest}" for m in list(want)]
        got = message.rstrip("\n") if isinstance(message, str) else message
        if got not in want:
            bad.append(f"message {_short(message)} != {_short(row['message'])}")
    if row.get("program") is not None and row["program"] not in read_program(attrs, name):
        bad.append(f"program {_short(read_program(attrs, name))} != {row['program']!r}")
    for key, value in (row.get("fields") or {}).items():
        if str(attrs.get(key)) != str(value):
            bad.append(f"{key} {attrs.get(key)!r} != {value!r}")
    return bad


def _short(value: object, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def measure(rel: str, log_format: str | None = None, workdir: Path | None = None) -> FileResult:
    """Ingest one corpus file into a fresh DuckDB and compare it with its truth."""
    import duckdb

    from logship.store.errors import InputError
    from logship.store.fileingest import IngestOptions, ingest_paths

    path = CORPUS / rel
    data = path.read_bytes()
    truth = load_truth(rel)
    offsets = line_offsets(data)
    text = data.decode("utf-8", errors="replace").splitlines()
    res = FileResult(rel, lines=len(offsets), entries=len(truth))
    own = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="fidelity-"))
    db = workdir / (rel.replace("/", "_") + ".duckdb")
    try:
        try:
            summary = ingest_paths(str(db), [str(path)], IngestOptions(tz="UTC", log_format=log_format, workers=1))
        except InputError as exc:
            summary = None
            res.refused = str(exc)
        if summary is not None and summary.errors:
            res.refused = "; ".join(summary.errors)
        if res.refused or not db.exists():
            res.rejected = res.entries
            return res
        if summary.files:
            res.log_format = summary.files[0].log_format
        con = duckdb.connect(str(db), read_only=True)
        try:
            hit = con.execute("SELECT log_format, format_hit_rate FROM sources").fetchone()
            if hit:
                res.log_format, res.hit_rate = hit
            recs = con.execute("SELECT byte_offset, epoch_us(ts), level, name, message, attrs FROM events "
                               "ORDER BY byte_offset").fetchall()
            rejects = [r[0] for r in con.execute("SELECT byte_offset FROM rejects").fetchall()]
        finally:
            con.close()
    except Exception as exc:  # a crash is a finding: reported, and the exit status says so
        res.crash = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
        return res
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    res.reject_rows = len(rejects)
    by_offset: dict[int, list[tuple]] = {}
    for off, *rest in recs:
        by_offset.setdefault(off, []).append(tuple(rest))
    heads = set()
    for row in truth:
        first = row["line"] - 1
        span = row.get("lines", 1)
        start = offsets[first]
        end = offsets[first + span] if first + span < len(offsets) else len(data)
        heads.add(start)
        at = by_offset.get(start, [])
        if at:
            bad = compare(row, at[0], text[first:first + span])
            if bad:
                res.wrong += 1
                if len(res.examples) < 3:
                    res.examples.append(f"line {row['line']}: " + "; ".join(bad))
            else:
                res.correct += 1
            res.extra += len(at) - 1
        elif any(start <= r < end for r in rejects):
            res.rejected += 1
        else:
            res.lost += 1
    for off, at in by_offset.items():
        if off not in heads:
            res.extra += len(at)
            if len(res.examples) < 3:
                res.examples.append(f"byte {off}: a record on no entry's head line")
    return res


def lnav_recognition(path: Path) -> str:
    """The format lnav gives most messages and how many it finds: 'syslog_log 12'."""
    exe = shutil.which("lnav")
    if exe is None:
        return "-"
    home = tempfile.mkdtemp(prefix="fidelity-lnav-")
    try:
        p = subprocess.run([exe, "-n", "-c", ";SELECT log_format, count(*) AS n FROM all_logs GROUP BY 1 ORDER BY 2 DESC",
                            "-c", ":write-csv-to -", str(path)], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "HOME": home, "TZ": "UTC"})
        rows = list(csv.DictReader(io.StringIO(p.stdout)))
        if not rows:
            return "none"
        total = sum(int(r["n"]) for r in rows)
        return f"{rows[0]['log_format']} {rows[0]['n']}" + (f" (+{total - int(rows[0]['n'])})" if len(rows) > 1 else "")
    except (subprocess.SubprocessError, OSError, KeyError, ValueError) as exc:
        return f"error: {type(exc).__name__}"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def table(results: list[FileResult]) -> str:
    head = ["file", "lines", "entries", "detected (hit)", "correct", "%", "rejected", "silently wrong", "lost", "lnav"]
    rows = []
    for r in results:
        fmt = "CRASH" if r.crash else "refused" if r.refused else f"{r.log_format} ({r.hit_rate:.2f})" if r.hit_rate is not None else str(r.log_format)
        rows.append([r.file, r.lines, r.entries, fmt, r.correct, f"{r.correct_pct:.0f}", r.rejected,
                     r.silently_wrong, r.lost, r.lnav])
    entries = sum(r.entries for r in results)
    correct = sum(r.correct for r in results)
    rows.append(["TOTAL", sum(r.lines for r in results), entries, f"{len(results)} files", correct,
                 f"{100.0 * correct / entries:.0f}" if entries else "-", sum(r.rejected for r in results),
                 sum(r.silently_wrong for r in results), sum(r.lost for r in results), ""])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="logship's fidelity on the corpus of real program logs")
    ap.add_argument("files", nargs="*", help="corpus files (relative to tests/corpus); default all")
    ap.add_argument("--given-format", action="store_true", help="ingest with the manifest's log_format where set")
    ap.add_argument("--json", type=Path, help="also write the per-file results as JSON here")
    ap.add_argument("--no-lnav", action="store_true", help="skip lnav's column")
    ap.add_argument("--examples", action="store_true", help="print the first wrong fields of each file")
    args = ap.parse_args(argv)
    manifest = {m["file"]: m for m in load_manifest()}
    files = args.files or list(manifest)
    results = []
    for rel in files:
        fmt = manifest[rel].get("log_format") if args.given_format else None
        if args.given_format and fmt is None:
            continue
        r = measure(rel, fmt)
        if not args.no_lnav:
            r.lnav = lnav_recognition(CORPUS / rel)
        results.append(r)
    print(table(results))
    if args.examples:
        for r in results:
            for e in r.examples:
                print(f"{r.file}: {e}")
    for r in results:
        if r.crash:
            print(f"{r.file}: CRASH {r.crash}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "silently_wrong": r.silently_wrong} for r in results],
                                        indent=1) + "\n")
    return 1 if any(r.crash for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
