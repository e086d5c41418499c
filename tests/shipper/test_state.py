"""The shipper's checkpoint file: ranges, atomic saves, corrupt files that are not fatal."""

from __future__ import annotations

import json

import pytest

from logship.shipper.state import STATE_FILE, ShipperState, SourceState, add_range, covered, first_gap


def test_add_range_merges_overlapping_and_adjacent():
    r: list[list[int]] = []
    r = add_range(r, 10, 20)
    r = add_range(r, 30, 40)
    assert r == [[10, 20], [30, 40]]
    r = add_range(r, 20, 30)
    assert r == [[10, 40]]
    r = add_range(r, 0, 5)
    r = add_range(r, 3, 12)
    assert r == [[0, 40]]
    assert add_range([[0, 5]], 7, 7) == [[0, 5]]


def test_first_gap_and_covered():
    r = [[0, 10], [20, 30]]
    assert first_gap(r, 0) == 10 and first_gap(r, 15) == 15 and first_gap(r, 20) == 30
    assert covered(r, 5, 25) == 10


def _state(tmp_path) -> ShipperState:
    st = ShipperState(tmp_path, "c1", min_interval_s=1.0)
    st.load()
    return st


def test_round_trip_and_at_most_once_a_second(tmp_path):
    st = _state(tmp_path)
    s = SourceState(key="k" * 64, head=b"\x00\xffhead", origin="/x/app.log", ranges=[[0, 100]])
    st.put(s)
    assert st.maybe_save(now=100.0)
    s.ranges = add_range(s.ranges, 100, 200)
    st.mark_dirty()
    assert not st.maybe_save(now=100.5)       # too soon
    assert st.maybe_save(now=101.1)
    again = _state(tmp_path)
    got = again.get("k" * 64)
    assert got is not None and got.ranges == [[0, 200]] and got.head == b"\x00\xffhead"
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


@pytest.mark.parametrize("content", [
    b"\x00" * 4096,
    b'{"version": 1, "client_id": "c1", "sources": [{"key": "a", "head_b64": "',
    b"",
    b"[1, 2, 3]",
    b'{"version": 1, "client_id": "c1", "sources": [{"nokey": 1}]}',
    b"\xff\xfe garbage",
], ids=["nul-filled", "truncated", "empty", "not-an-object", "missing-field", "not-utf8"])
def test_corrupt_state_is_set_aside_not_fatal(tmp_path, content):
    (tmp_path / STATE_FILE).write_bytes(content)
    st = _state(tmp_path)
    assert st.sources == {} and st.load_error is not None and STATE_FILE in st.load_error
    assert (tmp_path / (STATE_FILE + ".corrupt")).read_bytes() == content
    st.put(SourceState(key="a", head=b"h", origin="o"))
    assert st.maybe_save(now=10.0)
    assert json.loads((tmp_path / STATE_FILE).read_text())["sources"][0]["key"] == "a"


def test_state_of_another_client_is_not_used(tmp_path):
    (tmp_path / STATE_FILE).write_text(json.dumps({"version": 1, "client_id": "other", "sources": []}))
    st = _state(tmp_path)
    assert st.sources == {} and "other" in (st.load_error or "")


def test_size_history_tells_old_offsets():
    s = SourceState(key="a", head=b"h", origin="o")
    s.note_size(100, 1000.0)
    s.note_size(200, 1030.0)     # within a minute: not sampled
    s.note_size(300, 1070.0)
    assert s.offset_written_before(999.0) == 0
    assert s.offset_written_before(1000.0) == 100
    assert s.offset_written_before(1100.0) == 300
    for i in range(200):
        s.note_size(400 + i, 2000.0 + 61 * i)
    assert len(s.history) == 64


def test_temp_files_of_a_crashed_write_are_removed_at_load(tmp_path):
    """A kill -9 inside atomic_write leaves `.state.json.PID.tmp` (the rename never ran)."""
    good = ShipperState(tmp_path, "c1")
    good.put(SourceState(key="k", head=b"h", origin="/a.log", ranges=[[0, 10]]))
    assert good.maybe_save(force=True)
    (tmp_path / ".state.json.4242.tmp").write_bytes(b"")
    (tmp_path / ".status.json.4242.tmp").write_bytes(b'{"vers')
    (tmp_path / "notes.tmp").write_bytes(b"not ours")
    (tmp_path / ".approvals.json.4243.tmp").write_bytes(b"the CLI may be writing it now")
    st = ShipperState(tmp_path, "c1")
    st.load()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".approvals.json.4243.tmp", "notes.tmp", "state.json"]
    assert st.sources["k"].ranges == [[0, 10]]
