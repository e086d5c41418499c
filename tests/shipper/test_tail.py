"""The tailer against real files: rotation, truncation, symlinks, gzip, identity, long lines."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from logship.shipper.fileopen import open_shared
from logship.kernel.protocol import FLAG_FINAL, FLAG_TRUNCATED
from logship.shipper.tail import Tailer, expand_globs
from tests.tailkit import Clock, Consumer


def lines(prefix: str, n: int, start: int = 0) -> bytes:
    return b"".join(f"{prefix} line {i:05d} {'x' * 40}\n".encode() for i in range(start, start + n))


def make(log_dir: Path, pattern: str = "*.log*", **kw) -> tuple[Tailer, Clock, Consumer]:
    clock = Clock()
    t = Tailer([str(log_dir / pattern)], "c1", clock=clock, **kw)
    return t, clock, Consumer(t)


def test_complete_lines_only(log_dir):
    p = log_dir / "app.log"
    p.write_bytes(lines("a", 30) + b"partial")
    t, clock, c = make(log_dir)
    c.cycle(clock)
    assert [bytes(v) for v in c.data.values()] == [lines("a", 30)]
    with open(p, "ab") as f:
        f.write(b" end\n")
    c.cycle(clock)
    assert [bytes(v) for v in c.data.values()] == [lines("a", 30) + b"partial end\n"]


def test_short_file_settles_after_quiet_time(log_dir):
    (log_dir / "app.log").write_bytes(b"only one line\n")
    t, clock, c = make(log_dir, head_settle_s=2.0)
    os.utime(log_dir / "app.log", (clock.t, clock.t))
    c.cycle(clock)
    assert not t.sources[0].ready and c.data == {}
    c.cycle(clock, 2.5)
    assert c.all_bytes() == [b"only one line\n"]


def test_rename_rotation_reads_old_file_to_end_then_final(log_dir):
    p = log_dir / "app.log"
    p.write_bytes(lines("a", 30))
    t, clock, c = make(log_dir, rotate_wait_s=1.0)
    c.cycle(clock)
    with open(p, "ab") as f:  # the app still holds the old file after the rename
        os.rename(p, log_dir / "app.log.1")
        p.write_bytes(lines("b", 30))
        f.write(lines("a", 5, 30))
    c.cycle(clock)
    first = t.by_key(next(iter(c.data)))
    assert first is not None and first.rotated and not c.finals  # not final before rotate_wait
    c.cycle(clock, 1.5)
    assert len(c.finals) == 1
    assert c.all_bytes() == sorted([lines("a", 35), lines("b", 30)])


def test_rotation_chain_twenty_times_nothing_twice(log_dir):
    p = log_dir / "app.log"
    t, clock, c = make(log_dir, rotate_wait_s=0.0)
    expected = []
    for gen in range(20):
        body = lines(f"g{gen:02d}", 25)
        p.write_bytes(body)
        expected.append(body)
        c.cycle(clock)
        for k in range(gen, 0, -1):  # logrotate numbering: .1 -> .2 ...
            if (log_dir / f"app.log.{k}").exists():
                os.rename(log_dir / f"app.log.{k}", log_dir / f"app.log.{k + 1}")
        os.rename(p, log_dir / "app.log.1")
    c.cycle(clock, 1.0)
    c.cycle(clock, 1.0)
    assert c.all_bytes() == sorted(expected)


def test_gz_of_rotated_file_is_the_same_source(log_dir):
    p = log_dir / "app.log"
    body = lines("a", 60)
    p.write_bytes(body)
    t, clock, c = make(log_dir, rotate_wait_s=0.0)
    c.cycle(clock)
    os.rename(p, log_dir / "app.log.1")
    with open(log_dir / "app.log.1", "rb") as src, gzip.open(log_dir / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(log_dir / "app.log.1")
    c.cycle(clock, 1.0)
    c.cycle(clock, 1.0)
    assert c.all_bytes() == [body]
    assert len([s for s in t.sources if s.ready]) == 1


def test_gz_alone_is_read_with_decompressed_offsets(log_dir):
    body = lines("z", 200)
    with gzip.open(log_dir / "old.log.gz", "wb") as f:
        f.write(body)
    t, clock, c = make(log_dir)
    c.max_bytes = 1000
    c.cycle(clock)
    assert c.all_bytes() == [body] and len(c.finals) == 1


def test_gz_of_restarted_partial_source_resumes_at_offset(log_dir):
    body = lines("a", 100)
    with gzip.open(log_dir / "app.log.1.gz", "wb") as f:
        f.write(body)
    t, clock, c = make(log_dir)
    from logship.kernel.fingerprint import source_id
    key = source_id("c1", body[:1024])
    t.add_known(key, body[:1024], str(log_dir / "app.log"))
    c.pos[key] = 3000 - 3000 % len(lines("a", 1))
    c.cycle(clock)
    assert bytes(c.data[key]) == body[c.pos[key] - len(c.data[key]):][: len(c.data[key])]
    assert c.pos[key] == len(body)


def test_copytruncate_without_copy_reports_missed_bytes(log_dir):
    p = log_dir / "app.log"
    p.write_bytes(lines("a", 30))
    t, clock, c = make(log_dir)
    c.cycle(clock)
    with open(p, "ab") as f:
        f.write(lines("a", 10, 30))
    t.refresh()              # the shipper saw the growth but did not read it yet
    os.truncate(p, 0)
    with open(p, "ab") as f:
        f.write(lines("b", 25))
    c.cycle(clock)
    c.cycle(clock, 3.0)
    assert t.missed_bytes_total == len(lines("a", 10, 30))
    assert c.all_bytes() == sorted([lines("a", 30), lines("b", 25)])


def test_copytruncate_with_copy_in_glob_loses_nothing(log_dir):
    p = log_dir / "app.log"
    p.write_bytes(lines("a", 30))
    t, clock, c = make(log_dir)
    c.cycle(clock)
    with open(p, "ab") as f:
        f.write(lines("a", 10, 30))
    shutil.copy(p, log_dir / "app.log.1")
    os.truncate(p, 0)
    with open(p, "ab") as f:
        f.write(lines("b", 25))
    c.cycle(clock)
    c.cycle(clock, 3.0)
    assert t.missed_bytes_total == 0
    assert c.all_bytes() == sorted([lines("a", 40), lines("b", 25)])


def test_symlink_switch_is_a_rotation(tmp_path):
    d = tmp_path / "real"
    d.mkdir()
    (d / "a.log").write_bytes(lines("a", 30))
    (d / "b.log").write_bytes(lines("b", 30))
    link = tmp_path / "current.log"
    link.symlink_to(d / "a.log")
    clock = Clock()
    t = Tailer([str(link)], "c1", clock=clock, rotate_wait_s=0.0)
    c = Consumer(t)
    c.cycle(clock)
    with open(d / "a.log", "ab") as f:
        f.write(lines("a", 3, 30))
    tmp = tmp_path / "next.log"
    tmp.symlink_to(d / "b.log")
    os.replace(tmp, link)
    c.cycle(clock, 1.0)
    c.cycle(clock, 1.0)
    assert c.all_bytes() == sorted([lines("a", 33), lines("b", 30)])
    assert len(c.finals) == 1


def test_deleted_file_is_finished_from_the_open_handle(log_dir):
    p = log_dir / "app.log"
    p.write_bytes(lines("a", 30))
    t, clock, c = make(log_dir, rotate_wait_s=0.0)
    c.cycle(clock)
    with open(p, "ab") as f:
        f.write(lines("a", 7, 30) + b"no newline at the end")
    os.unlink(p)
    c.cycle(clock, 1.0)
    c.cycle(clock, 1.0)
    assert c.all_bytes() == [lines("a", 37) + b"no newline at the end"]
    assert len(c.finals) == 1


def test_file_created_later(log_dir):
    t, clock, c = make(log_dir)
    c.cycle(clock)
    assert c.data == {}
    (log_dir / "late.log").write_bytes(lines("l", 30))
    c.cycle(clock)
    assert c.all_bytes() == [lines("l", 30)]


def test_inode_reuse_is_a_new_source(log_dir):
    p = log_dir / "app.log"
    p.write_bytes(lines("a", 30))
    t, clock, c = make(log_dir, rotate_wait_s=0.0)
    c.cycle(clock)
    ino = p.stat().st_ino
    os.unlink(p)
    c.cycle(clock, 1.0)
    c.cycle(clock, 1.0)  # finished and closed: the inode is free now
    for attempt in range(50):
        p.write_bytes(lines("b", 30))
        if p.stat().st_ino == ino or attempt == 49:
            break   # reused, or (another process took it) a new file at the same path all the same
        os.rename(p, log_dir / f"other{attempt}.tmp")
    c.cycle(clock)
    c.cycle(clock, 3.0)
    assert lines("a", 30) in c.all_bytes() and lines("b", 30) in c.all_bytes()


def test_same_first_lines_differing_within_head_are_two_sources(log_dir):
    common = lines("same", 5)
    (log_dir / "one.log").write_bytes(common + lines("one", 30))
    (log_dir / "two.log").write_bytes(common + lines("two", 30))
    t, clock, c = make(log_dir)
    c.cycle(clock)
    assert c.all_bytes() == sorted([common + lines("one", 30), common + lines("two", 30)])


def test_growing_files_sharing_first_line_stay_apart(log_dir):
    common = b"2026-11-27T21:00:00Z INFO sess=0 session start\n"
    (log_dir / "one.log").write_bytes(common)
    (log_dir / "two.log").write_bytes(common)
    t, clock, c = make(log_dir, head_settle_s=5.0)
    for name in ("one.log", "two.log"):
        os.utime(log_dir / name, (clock.t, clock.t))
    c.cycle(clock)
    for name in ("one", "two"):
        with open(log_dir / f"{name}.log", "ab") as f:
            f.write(lines(name, 30))
    c.cycle(clock)
    c.cycle(clock, 6)
    assert c.all_bytes() == sorted([common + lines("one", 30), common + lines("two", 30)])


@pytest.mark.parametrize("limit", [100, 4096], ids=["limit-100", "limit-4k"])
def test_long_line_travels_truncated_with_full_span(log_dir, limit):
    long = b"L" * (limit * 3) + b"\n"
    (log_dir / "app.log").write_bytes(lines("a", 30) + long + lines("b", 3))
    t, clock, c = make(log_dir, max_line_bytes=limit)
    c.max_bytes = 64  # smaller than the long line: must not stall
    c.cycle(clock)
    key = next(iter(c.data))
    assert c.truncated == [(key, len(lines("a", 30)), len(long))]
    assert bytes(c.data[key]) == lines("a", 30) + b"X" * len(long) + lines("b", 3)


def test_long_line_waits_for_its_newline(log_dir):
    p = log_dir / "app.log"
    p.write_bytes(lines("a", 30) + b"L" * 500)
    t, clock, c = make(log_dir, max_line_bytes=100)
    c.cycle(clock)
    key = next(iter(c.data))
    assert c.pos[key] == len(lines("a", 30))
    with open(p, "ab") as f:
        f.write(b"L" * 500 + b"\n")
    c.cycle(clock)
    assert c.pos[key] == len(lines("a", 30)) + 1001 and c.truncated[0][2] == 1001


def test_read_never_returns_more_than_asked(log_dir):
    (log_dir / "app.log").write_bytes(lines("a", 100))
    t, clock, c = make(log_dir)
    t.scan()
    src = t.sources[0]
    ch = t.read(src, 0, 500)
    assert ch is not None and len(ch.payload) <= 500 and ch.payload.endswith(b"\n")
    assert ch.flags & (FLAG_FINAL | FLAG_TRUNCATED) == 0


def test_expand_globs_dedupes_and_skips_dirs(log_dir):
    (log_dir / "a.log").write_bytes(b"x\n")
    (log_dir / "sub.log").mkdir()
    assert expand_globs([str(log_dir / "*.log"), str(log_dir / "a.*")]) == [str(log_dir / "a.log")]


def test_open_shared_lets_others_rename_and_delete(tmp_path):
    p = tmp_path / "f.log"
    p.write_bytes(b"abc\n")
    with open_shared(p) as f:
        os.rename(p, tmp_path / "g.log")
        os.unlink(tmp_path / "g.log")
        assert f.read() == b"abc\n"


def test_file_empty_at_first_scan_then_rotated_is_known_as_rotated(log_dir):
    p = log_dir / "app.log"
    p.touch()
    t, clock, c = make(log_dir, rotate_wait_s=0.0)
    c.cycle(clock)                       # seen empty: no source yet, but its path is remembered
    p.write_bytes(lines("a", 30))
    os.rename(p, log_dir / "app.log.1")
    p.write_bytes(lines("b", 30))
    c.cycle(clock, 1.0)
    c.cycle(clock, 1.0)
    assert len(c.finals) == 1 and c.all_bytes() == sorted([lines("a", 30), lines("b", 30)])


def test_symlink_switched_before_its_empty_target_was_read(tmp_path):
    d = tmp_path / "real"
    d.mkdir()
    (d / "a.log").touch()
    (d / "b.log").touch()
    link = tmp_path / "current.log"
    link.symlink_to(d / "a.log")
    clock = Clock()
    t = Tailer([str(link)], "c1", clock=clock, rotate_wait_s=0.0)
    c = Consumer(t)
    c.cycle(clock)                      # a.log seen empty through the link
    (d / "a.log").write_bytes(lines("a", 30))
    tmp = tmp_path / "next.log"
    tmp.symlink_to(d / "b.log")
    os.replace(tmp, link)               # switched before the shipper read a.log
    (d / "b.log").write_bytes(lines("b", 30))
    c.cycle(clock, 1.0)
    c.cycle(clock, 1.0)
    assert c.all_bytes() == sorted([lines("a", 30), lines("b", 30)]) and len(c.finals) == 1


@pytest.mark.parametrize("when", ["before_head", "after_head"])
def test_symlink_switched_during_the_scan_that_first_reads_its_target(tmp_path, monkeypatch, when):
    """The link is switched in the middle of the scan that first finds its target with
    content (the e2e race: b.log's creation event wakes the scan while the app switches the
    link): the target stat'ed, read and opened must be one file, or the old one is lost."""
    import logship.shipper.tail as tail_mod
    d = tmp_path / "real"
    d.mkdir()
    (d / "a.log").touch()
    link = tmp_path / "current.log"
    link.symlink_to(d / "a.log")
    clock = Clock()
    t = Tailer([str(link)], "c1", clock=clock, rotate_wait_s=0.0)
    c = Consumer(t)
    c.cycle(clock)                      # a.log seen empty through the link
    (d / "a.log").write_bytes(lines("a", 30))
    (d / "b.log").touch()
    real_read_head = tail_mod._read_head
    switched = []

    def switch() -> None:
        if not switched:
            switched.append(True)
            tmp = tmp_path / "next.log"
            tmp.symlink_to(d / "b.log")
            os.replace(tmp, link)
            with open(d / "a.log", "ab") as f:  # the app still writes to the old target
                f.write(lines("a", 3, 30))

    def racing_read_head(path: str) -> bytes:
        if when == "before_head":
            switch()
        head = real_read_head(path)
        if when == "after_head":
            switch()
        return head

    monkeypatch.setattr(tail_mod, "_read_head", racing_read_head)
    c.cycle(clock, 1.0)                 # the scan that the switch lands in
    monkeypatch.setattr(tail_mod, "_read_head", real_read_head)
    assert switched
    (d / "b.log").write_bytes(lines("b", 30))  # then reopens the link
    for _ in range(3):
        c.cycle(clock, 1.0)
    assert c.all_bytes() == sorted([lines("a", 33), lines("b", 30)]) and len(c.finals) == 1


@pytest.mark.parametrize("block", [10 << 20, 4096], ids=["one-big-read", "small-reads"])
def test_a_truncated_gz_archive_gives_its_whole_intact_start(tmp_path, block):
    """A .gz cut short (its compressor died, its disk filled): every byte before the cut is
    sound deflate output and must be readable. gzip.GzipFile drops a whole read's output
    when it meets the end: read in 1 MiB frames, nothing of such an archive was shipped."""
    import zlib

    from logship.shipper.tail import Reader

    lines = b"".join(b"2026-11-30 line %06d of the rotated archive\n" % i for i in range(40000))
    data = gzip.compress(lines, mtime=0)
    path = tmp_path / "app.log.2.gz"
    path.write_bytes(data[: len(data) // 2])
    expected = zlib.decompressobj(wbits=31).decompress(path.read_bytes())
    assert len(expected) > len(lines) // 4 and lines.startswith(expected)
    r = Reader(str(path))
    try:
        got = b""
        while True:
            piece = r.pread(len(got), block)
            if not piece:
                break
            got += piece
        assert got == expected
        assert not r.complete and r.end_offset() is None    # it may still be being written
        assert r.pread(100, 50) == lines[100:150]          # a backwards read rewinds
    finally:
        r.close()
