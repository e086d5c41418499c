"""The corpus of real program logs (tests/corpus) and its truth stay consistent, and the
fidelity targets of issue 10 can be run against it.

Why: bench/fidelity.py judges the formats by this corpus; a truth file that skips a
line or names a line past the end would make every figure wrong without anyone seeing.

The targets (every file >= 99% correct records, zero silently wrong records) carry the marker ``corpus_target``
and run in ``make test`` (~15 s; ``make corpus-target`` runs them alone). The
consistency checks below take ~0.1 s.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from logship.parser.levels import LEVELS
from bench.fidelity import CORPUS, EXPECTED, load_manifest, load_truth, measure, norm_level

MANIFEST = load_manifest()
FILES = [m["file"] for m in MANIFEST]
OWN = {"README.md", "manifest.json", "make_corpus.py"}


def corpus_files() -> set[str]:
    found = set()
    for p in CORPUS.rglob("*"):
        rel = p.relative_to(CORPUS)
        if p.is_file() and rel.parts[0] not in ("gen", "expected") and str(rel) not in OWN \
                and "__pycache__" not in rel.parts:
            found.add(str(rel))
    return found


def test_every_corpus_file_has_a_manifest_entry_and_a_truth_file() -> None:
    assert corpus_files() == set(FILES)
    truths = {str(p.relative_to(EXPECTED))[: -len(".truth.jsonl")] for p in EXPECTED.rglob("*.truth.jsonl")}
    assert truths == set(FILES)
    assert len(FILES) == len(set(FILES))


@pytest.mark.parametrize("rel", FILES)
def test_truth_covers_each_line_once(rel: str) -> None:
    data = (CORPUS / rel).read_bytes()
    data.decode("utf-8")  # the corpus is UTF-8 throughout
    lines = len(data.splitlines())
    entry = next(m for m in MANIFEST if m["file"] == rel)
    truth = load_truth(rel)
    assert entry["lines"] == lines
    assert entry["entries"] == len(truth)
    nxt = 1
    while nxt <= lines and not data.splitlines()[nxt - 1].strip():
        nxt += 1  # blank lines before the first entry belong to none (apt's history.log opens so)
    for row in truth:
        assert row["line"] == nxt, f"{rel}: entry at line {row['line']}, expected {nxt}"
        assert row["lines"] >= 1
        nxt += row["lines"]
        if row["ts"] is not None:
            assert row["ts"].endswith("Z")
            dt.datetime.fromisoformat(row["ts"].replace("Z", "+00:00"))
        if row["level"] is not None:
            assert norm_level(row["level"]) in LEVELS, row["level"]  # a word the six levels know
        assert set(row) <= {"line", "lines", "ts", "level", "message", "program", "fields", "message_alt"}
    assert nxt - 1 == lines, f"{rel}: the truth covers {nxt - 1} of {lines} lines"


def test_the_corpus_stays_small() -> None:
    total = sum((CORPUS / rel).stat().st_size for rel in FILES)
    assert total < 1 << 20
    assert all(m["tz"] == "UTC" for m in MANIFEST)
    json.loads((CORPUS / "manifest.json").read_text())


@pytest.mark.corpus_target
@pytest.mark.parametrize("rel", FILES)
def test_target_every_entry_a_correct_record_or_a_visible_reject(rel: str) -> None:
    """Issue 10's target: >= 99% correct records per file, and not one silently wrong."""
    r = measure(rel)
    assert r.crash is None, r.crash
    assert r.lost == 0
    assert r.silently_wrong == 0, r.examples
    assert r.correct_pct >= 99.0, f"{r.correct}/{r.entries} correct as {r.log_format}: {r.examples}"
