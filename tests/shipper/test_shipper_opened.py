"""What the daemon does when the collector answers `opened` for a source after an outage.

In process, with the daemon's own tailer on a real file: the collector's answer is the
one message the test writes by hand."""

from __future__ import annotations

from pathlib import Path

from logship.shipper.config import ShipperConfig
from logship.shipper.daemon import Shipper, _Conn, _Open
from tests.shipkit import line


def test_the_backlog_cut_uses_the_files_size_when_the_collector_answers(tmp_path: Path):
    """The backlog is cut at the file's size when the source is opened, not at the size the
    tailer last observed (appends are observed every ``read_interval``).

    Seen as a flake of tests/shipper/test_shipper_ask.py: when the collector came back
    within a ``read_interval`` of 300 kB written during the outage, the shipper sent all of
    it live and never asked the user."""
    log_path = tmp_path / "app.log"
    log_path.write_bytes(b"".join(line(i) for i in range(50)))
    cfg = ShipperConfig(collector="http://127.0.0.1:9", client_id="desk1", state_dir=tmp_path / "state",
                        paths=(str(log_path),), backlog="ask", backlog_bytes=20_000, head_settle=0.0)
    shipper = Shipper(cfg, "token")
    shipper.state.load()
    shipper._scan()
    (src,) = [s for s in shipper.tailer.sources if s.ready]
    acked = src.size()
    with open(log_path, "ab") as f:                     # the outage: not observed yet
        f.write(b"".join(line(i) for i in range(50, 3050)))
    size = log_path.stat().st_size
    assert src.size() == acked < size - 20_000

    conn = _Conn(client=None, credit=1 << 20)  # type: ignore[arg-type]  # no frames are sent here
    op = _Open(sid=1, src=src, st=shipper.state.get(src.key))
    conn.by_sid[1] = op
    shipper._on_opened(conn, {"type": "opened", "sid": 1, "source_id": "s1", "ranges": [[0, acked]]})

    (seg,) = op.st.backlogs
    assert (seg.status, seg.start) == ("pending", acked)
    assert size - 20_000 <= seg.end <= size - 20_000 + len(line(3049)), (seg.end, size)
    assert op.send_from == seg.end   # live goes on after the backlog
