"""Store.resolve_sources: many heads in one transaction give the sources that resolving
them one after the other gives.

The reference is the one-head resolution as it was written before batching (one query
for the client's candidates, heads_match, then an INSERT or an UPDATE of its own), run
on a second database. Hypothesis draws asks whose heads share prefixes, reach
HEAD_BYTES or not, and give or leave out a path, a format and an mtime; both databases
then hold the same rows and each ask named the same source."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logship.kernel.fingerprint import HEAD_BYTES, heads_match, source_id as make_source_id
from logship.store.errors import StoreError
from logship.store.store import Store
from tests.hypothesis_profiles import examples

BASES = [(b"2026-11-30 line one of the file\n" * 40), (b"2026-11-30 line one of the file\n" * 40)[:600] + b"X" * 600,
         b"2026-11-30 another file\n" * 60]
CUTS = [5, 40, 700, HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 20]

ask = st.tuples(
    st.sampled_from(["alpha", "beta"]),
    st.sampled_from(BASES), st.sampled_from(CUTS),
    st.sampled_from([None, "/var/log/a.log", "/var/log/b.log"]),
    st.sampled_from([None, "client", "jsonl"]),
    st.sampled_from([None, 1_764_500_000.25, 1_764_600_000.5]),
    st.sampled_from([None, 0.5, 1.0]),
)


def resolve_one_before_batching(st_: Store, client_id: str, head: bytes, path, log_format, mtime, rate) -> str:
    """The reference: the one-head resolution as written before batching."""
    head = bytes(head[:HEAD_BYTES])
    sid = make_source_id(client_id, head)
    con = st_.con
    rows = con.execute("SELECT source_id, head FROM sources WHERE client_id = $c "
                       "AND (source_id = $s OR octet_length(head) < $n OR $len < $n)",
                       {"c": client_id, "s": sid, "n": HEAD_BYTES, "len": len(head)}).fetchall()
    match = next((r for r in rows if r[0] == sid), None)
    if match is None:
        candidates = [r for r in rows if heads_match(bytes(r[1]), head)]
        match = max(candidates, key=lambda r: len(r[1]), default=None)
    if match is None:
        con.execute("INSERT INTO sources (source_id, client_id, head, path, log_format, tz, mtime, first_seen, "
                    "last_seen, context, format_hit_rate) VALUES ($s, $c, $h, $p, $f, 'UTC', to_timestamp($m), "
                    "now(), now(), NULL, $r)",
                    {"s": sid, "c": client_id, "h": head, "p": path, "f": log_format, "m": mtime, "r": rate})
        return sid
    con.execute("""UPDATE sources SET
                    head = CASE WHEN octet_length($h) > octet_length(head) THEN $h ELSE head END,
                    path = coalesce($p, path),
                    log_format = coalesce(log_format, $f),
                    format_hit_rate = CASE WHEN log_format IS NULL THEN $r ELSE format_hit_rate END,
                    mtime = greatest(mtime, to_timestamp($m)),
                    last_seen = now()
                WHERE source_id = $s""",
                {"s": match[0], "h": head, "p": path, "f": log_format, "m": mtime, "r": rate})
    return str(match[0])


def rows(st_: Store, prefix: str) -> list[tuple]:
    return st_.con.execute(
        "SELECT source_id, client_id, head, path, log_format, tz, epoch_us(mtime), format_hit_rate FROM sources "
        "WHERE starts_with(client_id, $p) ORDER BY source_id", {"p": prefix}).fetchall()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    d: Path = tmp_path_factory.mktemp("resolve")
    a, b = Store(d / "one_by_one.duckdb"), Store(d / "batched.duckdb")
    yield a, b, itertools.count()
    a.close()
    b.close()


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ask, max_size=4), st.lists(ask, min_size=1, max_size=8))
def test_a_batch_resolves_as_one_by_one(stores, before, batch):
    ref, batched, counter = stores
    prefix = f"e{next(counter)}-"

    def as_kw(a):
        client, base, cut, path, fmt, mtime, rate = a
        return prefix + client, base[:cut], dict(path=path, log_format=fmt, mtime=mtime, format_hit_rate=rate)

    for a in before:  # what is stored already: resolved one by one in both
        client, head, kw = as_kw(a)
        resolve_one_before_batching(ref, client, head, kw["path"], kw["log_format"], kw["mtime"], kw["format_hit_rate"])
        batched.resolve_source(client, head, **kw)
    assert rows(batched, prefix) == rows(ref, prefix)
    expected = []
    for a in batch:
        client, head, kw = as_kw(a)
        expected.append(resolve_one_before_batching(ref, client, head, kw["path"], kw["log_format"], kw["mtime"],
                                                    kw["format_hit_rate"]))
    got = batched.resolve_sources([as_kw(a) for a in batch])
    assert [info.source_id for info in got] == expected
    assert rows(batched, prefix) == rows(ref, prefix)
    for info in got:  # what each ask was given is what is stored
        stored = next(r for r in rows(batched, prefix) if r[0] == info.source_id)
        assert (info.client_id, info.head, info.path, info.log_format) == stored[1:5]


def test_a_bad_ask_gets_its_error_and_the_others_resolve(tmp_path):
    st_ = Store(tmp_path / "s.duckdb")
    try:
        got = st_.resolve_sources([("alpha", b"head one\n", {}), ("alpha", b"", {"path": "/x.log"}),
                                   ("beta", b"head two\n", {"tz": "Mars/Olympus"}),
                                   ("beta", b"head one\n", {"log_format": "client"})])
        assert [type(g).__name__ for g in got] == ["SourceInfo", "StoreError", "StoreError", "SourceInfo"]
        assert isinstance(got[1], StoreError) and "/x.log has no bytes yet" in str(got[1])
        assert "Mars/Olympus" in str(got[2])
        assert (got[0].client_id, got[3].client_id, got[3].log_format) == ("alpha", "beta", "client")
        assert st_.con.execute("SELECT count(*) FROM sources").fetchall() == [(2,)]
    finally:
        st_.close()
