"""`logship check FILE` and `logship ingest FILE` count the same file the same way: the
format, lines, records and rejects per error code that check reports are what ingest
stores. Real files, a real DuckDB file; both as the CLI calls them (check_file,
ingest_paths). A truncated .gz keeps its intact start in both, with one error line.
"""

from __future__ import annotations

import gzip
import json
import random
import zlib
from collections import Counter
from pathlib import Path

from logship.parser.check import check_file
from logship.store import Store
from logship.store.fileingest import IngestOptions, ingest_paths

CLIENT = "2026-11-27T21:09:{s:02d}.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 event test.line seq={i} -- pad\n"


def client_lines(a: int, b: int) -> bytes:
    return "".join(CLIENT.format(s=i % 60, i=i) for i in range(a, b)).encode()


def counts_check(path: Path) -> tuple:
    r = check_file(path, tz="UTC", max_errors=10**9)
    return r.log_format, r.lines, r.records, r.rejects, Counter(code for _, _, code, _ in r.errors)


def _refused(path: Path, db: Path) -> str:
    """Offline ingest of an undetectable file: its one error line; nothing stored."""
    s = ingest_paths(db, [str(path)], IngestOptions(tz="UTC", workers=1))
    assert not s.ok and len(s.errors) == 1 and s.files[0].source_id is None
    with Store(db, read_only=True) as st:
        assert st.con.execute("SELECT (SELECT count(*) FROM sources) + (SELECT count(*) FROM rejects)").fetchone()[0] == 0
    return s.errors[0]


def counts_ingest(path: Path, db: Path, log_format: str | None = None) -> tuple:
    s = ingest_paths(db, [str(path)], IngestOptions(tz="UTC", workers=1, log_format=log_format))
    f = s.files[0]
    with Store(db, read_only=True) as st:
        codes = Counter(dict(st.con.execute("SELECT error_code, count(*) FROM rejects GROUP BY 1").fetchall()))
        stored = st.con.execute("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM metrics)").fetchone()[0]
    assert stored == f.records and sum(codes.values()) == f.rejects
    return f.log_format, f.lines, f.records, f.rejects, codes


def test_a_50mb_first_line_counts_the_same(tmp_path: Path):
    """The first line is longer than check's read-ahead: nothing to detect on, so the file
    is `unknown` to both: check counts 11 lines (the long one a line_too_long reject, the
    others unknown_format), and ingest refuses it in one line, storing nothing; with
    --log-format both store the same."""
    p = tmp_path / "long.log"
    p.write_bytes(b"x" * (50 << 20) + b"\n" + client_lines(0, 10))
    assert counts_check(p) == ("unknown", 11, 0, 11, Counter({"line_too_long": 1, "unknown_format": 10}))
    assert _refused(p, tmp_path / "db.duckdb") == f"{p}: format not detected (nearest: none); not ingested: give it with --log-format"
    expected = ("client", 11, 10, 1, Counter({"line_too_long": 1}))
    r = check_file(p, tz="UTC", log_format="client", max_errors=10**9)
    assert (r.log_format, r.lines, r.records, r.rejects, Counter(c for _, _, c, _ in r.errors)) == expected
    assert counts_ingest(p, tmp_path / "db.duckdb", log_format="client") == expected


def test_nested_json_lines_longer_than_4k_count_the_same(tmp_path: Path):
    """Ingest detected on lines cut at 4 KiB: no nested JSON object over 4 KiB parses cut,
    so it stored the file as `client`, all rejects; check read `jsonl`, all records."""
    doc = {"ts": "2026-11-27T21:09:01Z", "level": "info", "msg": "m",
           "x": {"y": [{f"k{i}": {"v": "v" * 50, "n": [i, {"deep": True}]}} for i in range(80)]}}
    one = (json.dumps(doc) + "\n").encode()
    assert len(one) > 4096
    p = tmp_path / "nested.jsonl"
    p.write_bytes(one * 3)
    expected = ("jsonl", 3, 3, 0, Counter())
    assert counts_check(p) == expected
    assert counts_ingest(p, tmp_path / "db.duckdb") == expected


def test_a_binary_file_counts_the_same(tmp_path: Path):
    """No format reads it: it is `unknown`; check counts every line an invalid_utf8
    reject, ingest refuses it in one line and stores nothing."""
    rnd = random.Random(8)
    p = tmp_path / "blob.bin"
    p.write_bytes(b"".join(bytes(rnd.randrange(0x80, 0x100) for _ in range(99)) + b"\n" for _ in range(2000)))
    assert counts_check(p) == ("unknown", 2000, 0, 2000, Counter({"invalid_utf8": 2000}))
    assert _refused(p, tmp_path / "db.duckdb") == f"{p}: format not detected (nearest: none); not ingested: give it with --log-format"


def _truncated_gz(p: Path, n: int) -> tuple[int, int]:
    """n client lines gzipped and cut at 2/3: (lines kept, intact bytes).

    Kept: the complete entries before the damage. In `client` (continuation lines are
    indented) the last whole line could have had continuation lines after it, so it is
    not kept, as /v1/backlog does not commit it either.
    """
    z = gzip.compress(client_lines(0, n), mtime=0)
    cut = z[: len(z) * 2 // 3]
    p.write_bytes(cut)
    intact = zlib.decompressobj(wbits=31).decompress(cut)
    return intact.count(b"\n") - 1, len(intact)


def _stored_seqs(db: Path) -> Counter:
    with Store(db, read_only=True) as st:
        rows = st.con.execute("SELECT CAST(json_extract(attrs, '$.seq') AS BIGINT) FROM events").fetchall()
    return Counter(r[0] for r in rows)


def test_a_truncated_gz_keeps_its_intact_start_in_ingest_and_check(tmp_path: Path):
    for n in (100, 60_000):  # damage inside the read-ahead, and far behind it
        p = tmp_path / f"app{n}.log.gz"
        db = tmp_path / f"app{n}.duckdb"
        complete, intact = _truncated_gz(p, n)
        assert 0 < complete < n
        expected = ("client", complete, complete, 0, Counter())
        summary = ingest_paths(db, [str(p)], IngestOptions(tz="UTC", workers=1))
        f = summary.files[0]
        assert (f.log_format, f.lines, f.records, f.rejects) == expected[:4]
        seqs = _stored_seqs(db)
        assert set(seqs) == set(range(complete)) and max(seqs.values()) == 1
        assert len(summary.errors) == 1 and "\n" not in summary.errors[0]
        assert summary.errors[0].startswith(f"{p}: truncated or corrupt at byte {intact:,} ")
        assert summary.line().endswith(", 1 error")

        c = check_file(p, tz="UTC", max_errors=10**9)
        assert (c.log_format, c.lines, c.records, c.rejects) == expected[:4]
        assert c.read_error == summary.errors[0]


def test_a_truncated_gz_in_parallel_ingest_keeps_the_same_start(tmp_path: Path):
    p = tmp_path / "big.log.gz"
    complete, intact = _truncated_gz(p, 120_000)
    db = tmp_path / "par.duckdb"
    summary = ingest_paths(db, [str(p)], IngestOptions(tz="UTC", workers=2, parallel_min_bytes=0))
    f = summary.files[0]
    assert (f.lines, f.records, f.rejects) == (complete, complete, 0)
    seqs = _stored_seqs(db)
    assert set(seqs) == set(range(complete)) and max(seqs.values()) == 1
    assert len(summary.errors) == 1
    assert summary.errors[0].startswith(f"{p}: truncated or corrupt at byte {intact:,} ")


def test_check_of_gzip_on_stdin_counts_what_ingest_of_it_stores(tmp_path: Path):
    """`logship check -` did not gunzip a pipe (`ingest -` does): 0 records, all garbage."""
    import io
    import subprocess
    import sys

    data = gzip.compress(client_lines(0, 40), mtime=0)
    out = subprocess.run([str(Path(sys.executable).parent / "logship"), "check", "--tz", "UTC", "-"],
                         input=data, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().startswith("-: format client (detected, 100% of the first lines parse); "
                                          "40 lines, 40 entries, 40 records, 0 rejected")
    s = ingest_paths(tmp_path / "db.duckdb", ["-"], IngestOptions(tz="UTC", workers=1), stdin=io.BytesIO(data))
    assert (s.files[0].log_format, s.files[0].lines, s.files[0].records, s.files[0].rejects) == ("client", 40, 40, 0)
