"""Shipper config, consent (approvals, backlog split) and the status file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from logship.shipper.backlog import Approvals, BacklogError, approve, read_approvals, split_backlog
from logship.shipper.config import ShipperConfig, load_config, parse_duration, parse_size, read_token
from logship.kernel.errors import ConfigError
from logship.shipper.state import SourceState
from logship.console.status import format_backlog, format_status
from logship.kernel.status import read_status
from logship.shipper.status import StatusWriter

GOOD = """
collector = "http://127.0.0.1:8787"
client_id = "desk-42"
state_dir = "{d}/st"
paths = ["{d}/*.log"]
backlog = "always"
backlog_after = "5m"
backlog_bytes = "1MiB"
max_line_bytes = 4096
"""


def test_toml_config_with_units(tmp_path):
    p = tmp_path / "shipper.toml"
    p.write_text(GOOD.format(d=tmp_path))
    cfg = load_config(p)
    assert cfg.backlog == "always" and cfg.backlog_after == 300.0 and cfg.backlog_bytes == 1 << 20
    assert cfg.max_line_bytes == 4096 and cfg.paths == (f"{tmp_path}/*.log",)
    assert cfg.stream_url() == "ws://127.0.0.1:8787/v1/stream"
    assert load_config(p, backlog="never").backlog == "never"


@pytest.mark.parametrize("extra,needle", [
    ('colector = "x"', "unknown config key(s): colector"),
    ('backlog = "maybe"', "backlog must be one of"),
    ('backlog_bytes = "lots"', "backlog_bytes"),
    ('poll_interval = -1', "must not be negative"),
    ('paths = 3', "paths"),
    ('max_frame_bytes = 99999999', "max_frame_bytes"),
], ids=["unknown-key", "bad-policy", "bad-size", "negative", "bad-paths", "frame-too-big"])
def test_bad_config_is_one_clear_error(tmp_path, extra, needle):
    p = tmp_path / "shipper.toml"
    p.write_text(GOOD.format(d=tmp_path) + extra + "\n")
    if extra.split("=")[0].strip() in GOOD:
        p.write_text("\n".join(l for l in GOOD.format(d=tmp_path).splitlines()
                               if not l.startswith(extra.split("=")[0].strip() + " ")) + "\n" + extra + "\n")
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config(p)


def test_every_option_has_a_default_and_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "shipper.md").read_text()
    for name in ShipperConfig.__dataclass_fields__:
        assert f"`{name}`" in doc, f"docs/shipper.md does not document {name}"


def test_invalid_toml_and_missing_required(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("collector = ")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="no collector"):
        load_config(None, client_id="a", paths=["x"])
    with pytest.raises(ConfigError, match="no client id"):
        load_config(None, collector="http://h:1", paths=["x"])


def test_sizes_and_durations():
    assert parse_size("x", "2MiB") == 2 << 20 and parse_size("x", "1.5KB") == 1500 and parse_size("x", 7) == 7
    assert parse_duration("x", "10m") == 600 and parse_duration("x", "250ms") == 0.25
    with pytest.raises(ConfigError):
        parse_size("x", True)


def test_token_from_file_or_env(tmp_path, monkeypatch):
    cfg = load_config(None, collector="http://h:1", client_id="a", paths=["x"])
    monkeypatch.delenv("LOGSHIP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="no token"):
        read_token(cfg)
    monkeypatch.setenv("LOGSHIP_TOKEN", "envtok")
    assert read_token(cfg) == "envtok"
    (tmp_path / "t").write_text("filetok\n")
    cfg2 = load_config(None, collector="http://h:1", client_id="a", paths=["x"], token_file=tmp_path / "t")
    assert read_token(cfg2) == "filetok"


def _split(st: SourceState, size: int, mtime: float, now: float, policy: str = "ask", data: bytes | None = None):
    data = data if data is not None else b"".join(b"%09d\n" % i for i in range(size // 10 + 1))[:size]
    def line_end_after(off: int):
        i = data.find(b"\n", off)
        return None if i < 0 else i + 1
    return split_backlog(st, size, mtime, now=now, policy=policy, backlog_after=600, backlog_bytes=1000,
                         line_end_after=line_end_after)


def test_split_by_bytes_keeps_the_live_tail():
    st = SourceState(key="k" * 64, head=b"h", origin="o")
    seg = _split(st, 5000, mtime=10_000.0, now=10_000.0)
    assert seg is not None and seg.start == 0 and seg.status == "pending"
    assert st.live_from == 4000 and seg.end == 4000  # cut at a line boundary 1000 bytes behind


def test_split_by_age_and_policies():
    for policy, status in (("always", "approved"), ("never", "skipped"), ("ask", "pending")):
        st = SourceState(key="k" * 64, head=b"h", origin="o")
        seg = _split(st, 500, mtime=1000.0, now=5000.0, policy=policy)  # the whole file is old
        assert seg is not None and (seg.start, seg.end, seg.status) == (0, 500, status)


def test_no_split_when_close_behind():
    st = SourceState(key="k" * 64, head=b"h", origin="o", ranges=[[0, 4500]])
    assert _split(st, 5000, mtime=10_000.0, now=10_000.0) is None
    assert st.live_from == 0


def test_approvals_file(tmp_path):
    assert read_approvals(tmp_path) == Approvals()
    with pytest.raises(BacklogError, match="no pending backlog"):
        approve(tmp_path, "nope", pending_ids={"abc-0"})
    a = approve(tmp_path, "abc-0", pending_ids={"abc-0"})
    assert a.ids == {"abc-0"}
    a = approve(tmp_path, all_=True, now=123.0)
    assert read_approvals(tmp_path).all_at == 123.0 and read_approvals(tmp_path).ids == {"abc-0"}
    (tmp_path / "approvals.json").write_text("\x00\x00")
    assert read_approvals(tmp_path) == Approvals()


def test_status_file_written_atomically_and_formatted(tmp_path):
    w = StatusWriter(tmp_path, min_interval_s=1.0)
    doc = {"pid": 1, "client_id": "c", "collector": "http://h", "connection": {"state": "down"},
           "files": [{"path": "/x/app.log", "sid": 1, "size": 10, "acked": 5, "lag_bytes": 5,
                      "lag_seconds": 2.0, "missed_bytes": 0, "final": False}],
           "backlog": {"policy": "ask", "pending_files": 1, "pending_bytes": 4096, "oldest": 1.0,
                       "segments": [{"id": "abc-0", "path": "/x/app.log.1", "bytes": 4096, "oldest": 1.0,
                                     "status": "pending"}]},
           "consent": "needed", "missed_bytes_total": 0}
    assert w.maybe_write(doc, now=10.0)
    assert not w.maybe_write(doc, now=10.5)
    got = read_status(tmp_path)
    assert got["files"][0]["lag_bytes"] == 5 and got["version"] == 1
    text = format_status(got)
    assert "/x/app.log" in text and "abc-0" in text and "consent: needed" in text
    assert "4.0 KiB" in format_backlog(got)
