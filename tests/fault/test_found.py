"""Faults the soak found, each reproduced deterministically with the real processes.

Each test here fails on the code it was found on; it is marked ``xfail(strict=True)``
with the cause until the fix lands (then it passes, strict xfail fails the run, and the
fixer removes the marker, keeping the test as the regression test).
"""

from __future__ import annotations

import pytest

from tests.fault.disk import TmpfsDisk
from tests.shipkit import Collector, ShipperProc, line, wait_for


@pytest.fixture
def db_disk(tmp_path):
    disk = TmpfsDisk(tmp_path / "db", 64)
    why = disk.mount()
    if why:
        pytest.skip(f"needs a tmpfs to fill: {why}")
    yield disk
    disk.unmount()


def _write(path, seqs):
    with open(path, "ab") as f:
        f.write(b"".join(line(s) for s in seqs))


@pytest.mark.xfail(strict=True, reason=(
    "shipper/collector/stream.py StreamSession._open answers every store error while resolving "
    "the source (ENOSPC on its commit) as bad_open, and shipper/daemon.py Shipper._on_error drops a "
    "bad_open source for the rest of the connection: after the disk heals, the file is never shipped "
    "until some reconnect"))
def test_a_source_opened_while_the_store_is_full_is_shipped_once_space_returns(tmp_path, db_disk):
    logs = tmp_path / "logs"
    logs.mkdir()
    coll = Collector(tmp_path)
    coll.db = db_disk.path / "e2e.duckdb"
    coll.start()
    ship = ShipperProc(tmp_path, [str(logs / "*.log")], coll.url).start()
    try:
        _write(logs / "a.log", range(100))
        ship.wait_caught_up(live=(logs / "a.log",))
        db_disk.fill()
        _write(logs / "b.log", range(1000, 1100))   # a new source while the store cannot commit
        wait_for(lambda: "bad_open" in (tmp_path / "shipper.log").read_text(), timeout=20,
                 what="the open of b.log to fail")
        db_disk.heal()
        _write(logs / "b.log", range(1100, 1150))
        ship.wait_caught_up(live=(logs / "a.log", logs / "b.log"), timeout=20)
        ship.stop()
        coll.stop()
        got = coll.seqs()
    finally:
        ship.stop()
        coll.stop()
    expected = set(range(100)) | set(range(1000, 1150))
    assert set(got) == expected and max(got.values()) == 1
