"""Half-open byte ranges: the arithmetic that makes ingest exactly-once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logship.store.ranges import covered_end, merge, subtract


@pytest.mark.parametrize("ranges,merged", [
    ([], []),
    ([(0, 10)], [(0, 10)]),
    ([(10, 20), (0, 10)], [(0, 20)]),          # adjacent ranges join
    ([(0, 5), (3, 8), (20, 30)], [(0, 8), (20, 30)]),
    ([(5, 5), (7, 6)], []),                    # empty or inverted ranges vanish
], ids=["none", "one", "adjacent", "overlap-and-gap", "empty"])
def test_merge(ranges, merged):
    assert merge(ranges) == merged


@pytest.mark.parametrize("start,end,committed,left", [
    (0, 100, [], [(0, 100)]),
    (0, 100, [(0, 100)], []),
    (0, 100, [(20, 40)], [(0, 20), (40, 100)]),
    (0, 100, [(0, 30), (60, 200)], [(30, 60)]),
    (50, 80, [(0, 60)], [(60, 80)]),
    (50, 80, [(90, 100)], [(50, 80)]),
], ids=["nothing-committed", "all-committed", "hole", "two-sides", "head-committed", "after"])
def test_subtract(start, end, committed, left):
    assert subtract(start, end, committed) == left


def test_covered_end():
    assert covered_end(0, [(0, 10), (10, 20), (30, 40)]) == 20
    assert covered_end(5, [(0, 10)]) == 10
    assert covered_end(10, [(0, 5)]) == 10


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200))), st.integers(0, 200), st.integers(0, 200))
def test_subtract_and_merge_cover_exactly_once(committed, a, b):
    start, end = min(a, b), max(a, b)
    done = merge(committed)
    left = subtract(start, end, done)
    covered = {i for s, e in done for i in range(s, e)}
    assert {i for s, e in left for i in range(s, e)} == set(range(start, end)) - covered
    assert set(range(start, end)) <= {i for s, e in merge(done + left) for i in range(s, e)}
