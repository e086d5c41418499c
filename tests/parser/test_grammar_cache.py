"""The shipped grammars' Lark cache (parser/grammar.py `_cache_file`): a grammar loaded
from it parses exactly as the freshly analysed one (tokens, Lark's errors, the compiled
fast path and the records), only shipped grammars are cached, and a directory others
may write is not used."""

from __future__ import annotations

import functools
import random

import pytest
from lark.exceptions import UnexpectedInput

from logship.parser import EntryParser, FormatRegistry, list_formats
from logship.parser import grammar as grammar_mod
from logship.parser.compiled import compiled_for
from logship.parser.lalr import FlatTransformer, flat
from tests.parser.mutations import mutate
from tests.parser.test_compiled import sample_lines


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory and an empty per-process parser cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LOGSHIP_GRAMMAR_CACHE", raising=False)
    monkeypatch.setattr(grammar_mod, "cache_dir", functools.cache(grammar_mod.cache_dir.__wrapped__))
    monkeypatch.setattr(grammar_mod, "_CACHE", {})
    return tmp_path / "logship" / "grammars"


def outcome(lark, line: str):
    try:
        return [tuple(t) for t in flat(lark.parse(line))]
    except UnexpectedInput as exc:
        return type(exc).__name__, str(exc)


def test_a_cached_grammar_parses_as_the_fresh_one(cache):
    """Every shipped Lark format, analysed (and written) then loaded from the file: the
    same tokens and errors on its samples and near misses, the same compiled split."""
    formats = [f for f in list_formats() if f.lark() is not None]
    assert len(formats) >= 10
    rnd = random.Random(11)
    for fmt in formats:
        grammar_mod._CACHE.clear()
        for f in cache.glob(f"{fmt.name}-*"):
            f.unlink()
        fresh = grammar_mod.compile_lark(fmt.spec, FlatTransformer())
        assert fresh.source_path != "<deserialized>"
        grammar_mod._CACHE.clear()
        loaded = grammar_mod.compile_lark(fmt.spec, FlatTransformer())
        assert loaded.source_path == "<deserialized>", fmt.name  # it came from the file
        lines = sample_lines(fmt)[:150]
        lines += [mutate(line, rnd) for line in lines[:60]]
        a, b = compiled_for(fresh)[0], compiled_for(loaded)[0]
        assert (a is None) == (b is None), fmt.name
        for line in lines:
            assert outcome(loaded, line) == outcome(fresh, line), (fmt.name, line)
            if a is not None:
                assert b.split(line) == a.split(line), (fmt.name, line)
    assert {p.name.rsplit("-", 1)[0] for p in cache.glob("*.lark")} == {f.name for f in formats}


def test_records_from_a_cached_grammar_are_the_same(cache):
    fmt = next(f for f in list_formats() if f.name == "client")
    data = "\n".join(sample_lines(fmt)).encode() + b"\n"
    grammar_mod._CACHE.clear()
    for f in cache.glob("client-*"):
        f.unlink()

    def columns():
        b = EntryParser(fmt, tz="UTC").parse(data).batch
        return b.metrics.columns(), b.events.columns(), b.rejects.columns()

    fresh = columns()
    assert fmt.lark().source_path != "<deserialized>"
    grammar_mod._CACHE.clear()
    assert fmt.lark().source_path == "<deserialized>"
    assert columns() == fresh


def test_user_grammars_and_a_shared_directory_are_not_cached(cache, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "tiny.lark").write_text("// format: tiny\n// sample: a 1\nstart: WORD INT\n"
                                    "%import common (WORD, INT, SP)\n%ignore SP\n")
    fmt = FormatRegistry([mine]).get("tiny")
    assert fmt.lark().source_path != "<deserialized>"
    assert not cache.exists() or not list(cache.glob("tiny-*"))
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o777)  # others may write it: its pickles are not loaded
    monkeypatch.setattr(grammar_mod, "cache_dir", functools.cache(grammar_mod.cache_dir.__wrapped__))
    assert grammar_mod.cache_dir() is None
    monkeypatch.setenv("LOGSHIP_GRAMMAR_CACHE", "0")
    cache.chmod(0o700)
    monkeypatch.setattr(grammar_mod, "cache_dir", functools.cache(grammar_mod.cache_dir.__wrapped__))
    client = next(f for f in list_formats() if f.name == "client")
    assert grammar_mod._cache_file(client.spec, FlatTransformer(), []) is False
