"""The id columns a commit appends to its fact tables (store/commit.py ``_with_ids``):
a fleet's thousands of short runs and a file's few long ones give the same columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

import logship.store.commit as commit
from logship.store.tables import EVENTS


def _table(rows: int) -> pa.Table:
    return pa.table({"byte_offset": pa.array(range(rows), pa.int64())})


@pytest.mark.parametrize("runs", [
    [(3, "c1", "s1"), (0, "c1", "s2"), (2, "c2", "s3")],
    [(k % 4, f"c{k % 7}", f"s{k}") for k in range(40)],  # past _FEW_RUNS, empty runs among them
])
def test_many_short_runs_give_the_columns_of_one_array_a_run(monkeypatch: pytest.MonkeyPatch,
                                                              runs: list[tuple[int, str, str]]) -> None:
    rows = sum(n for n, _, _ in runs)
    monkeypatch.setattr(commit, "_FEW_RUNS", 10_000)
    one_a_run = commit._with_ids(_table(rows), EVENTS, runs)
    monkeypatch.setattr(commit, "_FEW_RUNS", 0)
    flat = commit._with_ids(_table(rows), EVENTS, runs)
    assert flat.equals(one_a_run)
    expected = [(c, s) for n, c, s in runs for _ in range(n)]
    got = list(zip(flat.column("client_id").to_pylist(), flat.column("source_id").to_pylist()))
    assert got == expected and len(got) == rows
