"""Parsers of one grammar in several threads at once give what one thread gives.

The collector parses a /v1/lines body's sample on a body thread (collector/fit.py)
while its writer thread parses with the same grammar, and both share the per-process
caches (the compiled Lark object, FastLALR's trie of line shapes, which grows while it
parses). Each test starts from a grammar no thread has parsed with (a copy under a new
path), so the trie is built by racing threads.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from bench.formats import GENERATORS
from logship.parser import EntryParser
from logship.parser.formats import FormatRegistry, builtin_grammar_dir


def _rows(res) -> tuple:
    ev, mt, rj = res.batch.events, res.batch.metrics, res.batch.rejects
    return (tuple(map(tuple, ev.columns().values())), tuple(map(tuple, mt.columns().values())),
            tuple(map(tuple, rj.columns().values())))


@pytest.mark.parametrize("name", ["client", "syslog", "access", "logfmt"])
def test_threads_sharing_a_cold_grammar_parse_as_one_thread(tmp_path: Path, name: str) -> None:
    data = GENERATORS[name](1500, seed=7) + b"garbage line\n" + GENERATORS[name](500, seed=8)
    fresh = tmp_path / "grammars"
    fresh.mkdir()
    for p in builtin_grammar_dir().glob("*.lark"):  # `%import common` must resolve beside it
        shutil.copy(p, fresh / p.name)
    results: list = [None] * 4
    start = threading.Barrier(4)

    def work(i: int) -> None:
        parser = EntryParser(name, tz="UTC", mtime=1_795_800_000.0, registry=FormatRegistry([fresh]))
        start.wait()
        results[i] = _rows(parser.parse(data, 0, final=True))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    alone = _rows(EntryParser(name, tz="UTC", mtime=1_795_800_000.0).parse(data, 0, final=True))
    assert all(r == alone for r in results)
    assert len(alone[2][0]) >= 1  # the garbage line is a reject in every run
