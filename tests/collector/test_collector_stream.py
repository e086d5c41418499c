"""/v1/stream against a real `logship collect` process and a real DuckDB file."""

from __future__ import annotations

import asyncio
import time


from logship.kernel.protocol import FLAG_TRUNCATED, DataFrame, encode_frame, encode_message
from tests.collectorkit import TOKENS, CollectorProc, StreamClient, client_line, client_lines, run, uncovered


def test_lines_are_stored_and_acked_after_commit(collector):
    data = client_lines(0, 1000)

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            w = await c.hello()
            assert w["version"] == 1 and w["client_id"] == "alpha" and w["credit"] > 0
            opened = await c.open(1, data)
            assert opened["ranges"] == []
            end = await c.send(1, 0, data, final=True)
            await c.wait_acked(1, end)
            assert c.errors == []

    run(go())
    collector.stop()
    assert collector.query("SELECT count(*), count(DISTINCT attrs), min(client_id), max(client_id) FROM events") == [
        (1000, 1000, "alpha", "alpha")]
    assert collector.query("SELECT start_offset, end_offset FROM source_ranges") == [(0, len(data))]


def test_kill9_midway_then_resume_from_opened_ranges_stores_100k_lines_once(tmp_path):
    n = 100_000
    data = client_lines(0, n)
    coll = CollectorProc(tmp_path).start()

    async def first_half():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(7, data)
            half = data.rfind(b"\n", 0, len(data) // 2) + 1
            await c.send(7, 0, data[:half])
            await c.wait_acked(7, half // 3)  # some of it is committed, some is in flight
            coll.kill9()

    run(first_half())
    coll.start()

    async def resume():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            await c.hello()
            opened = await c.open(7, data)
            todo = uncovered(len(data), opened["ranges"])
            assert todo and todo[0][0] > 0, f"nothing was committed before the kill: {opened}"
            for s, e in todo:
                await c.send(7, s, data[s:e], final=(e == len(data)))
            await c.wait_acked(7, len(data), timeout=120)
            assert c.errors == []

    run(resume())
    coll.stop()
    assert coll.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(n, n)]
    assert coll.query("SELECT start_offset, end_offset FROM source_ranges") == [(0, len(data))]
    assert coll.query("SELECT count(*) FROM rejects") == [(0,)]


def test_two_ranges_out_of_order_are_merged(collector):
    data = client_lines(0, 3000)
    mid = data.rfind(b"\n", 0, len(data) // 2) + 1

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, data)
            await c.send(1, mid, data[mid:], final=True)  # the live tail first
            await c.wait_acked(1, len(data))
            opened = await c.open(2, data)  # the same source, seen again
            assert opened["ranges"] == [[mid, len(data)]]
            await c.send(2, 0, data[:mid])  # then the older part
            await c.wait_acked(2, mid)
            await c.send(2, 0, data)  # a full resend adds nothing
            await c.wait_acked(2, len(data))

    run(go())
    collector.stop()
    assert collector.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(3000, 3000)]
    assert collector.query("SELECT start_offset, end_offset FROM source_ranges") == [(0, len(data))]


def test_multiline_entry_split_across_two_frames_is_one_event(collector):
    head = client_line(0)
    entry = (b"2026-11-27T21:09:07.500+00:00 ERROR sess=3f2a9c1e5b7d9e01 event disk.write_failed errno=28 "
             b"-- No space left on device\n")
    cont1 = b"    Traceback (most recent call last):\n"
    cont2 = b"    OSError: [Errno 28] No space left on device\n"
    after = client_line(2)
    data = head + entry + cont1 + cont2 + after

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, data)
            p1 = len(head + entry + cont1)
            await c.send(1, 0, data[:p1])
            # the entry may go on: the ack stops at its start
            await c.wait_acked(1, len(head))
            await asyncio.sleep(0.3)
            assert c.sids[1].acked == len(head)
            await c.send(1, p1, data[p1:])
            await c.wait_acked(1, len(data) - len(after))
            # the last entry is flushed after multiline_flush_s without new bytes
            await c.wait_acked(1, len(data), timeout=15)

    run(go())
    collector.stop()
    rows = collector.query("SELECT name, message FROM events ORDER BY byte_offset")
    assert [r[0] for r in rows] == ["test.line", "disk.write_failed", "test.line"]
    assert "Traceback" in rows[1][1] and "Errno 28" in rows[1][1]
    assert collector.query("SELECT count(*) FROM rejects") == [(0,)]


def test_frame_ending_inside_a_line_waits_for_the_rest(collector):
    data = client_lines(0, 10)

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, data)
            cut = len(client_line(0)) + 20
            await c.send_raw(encode_frame(DataFrame(1, 0, data[:cut])))
            await c.send_raw(encode_frame(DataFrame(1, cut, data[cut:], flags=1)))
            await c.wait_acked(1, len(data))

    run(go())
    collector.stop()
    assert collector.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(10, 10)]


def test_bad_input_gets_clear_error_codes_and_the_others_keep_being_served(collector):
    good = client_lines(0, 50)
    bad_utf8 = client_line(50).replace(b"test.line", b"test.line bad=\xff\xfe")
    long_line = b"x" * 5000 + b"\n"

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c, \
                StreamClient(collector.url, TOKENS["beta"]) as other:
            await c.hello()
            await other.hello()
            await c.open(1, good)
            await other.open(1, good)
            await c.send_text("{not json")
            await c.send_text('{"type": "welcome", "version": 1}')
            await c.send_text(encode_message("open", sid=9, head_b64="***", path="x", tz="UTC"))
            await c.send_text(encode_message("open", sid=8, head_b64="QUJD", path="x", tz="UTC", log_format="nope"))
            await c.send_raw(b"\x00\x01")  # shorter than a header
            await c.send_raw(encode_frame(DataFrame(1, 0, b"abc", flags=0x80)))  # unknown flag
            await c.send_raw(encode_frame(DataFrame(99, 0, good)))  # never opened
            await c.send_raw(encode_frame(DataFrame(1, 0, b"y" * (4 << 20) + b"\n")))  # over max_frame_bytes
            await c.wait_for(lambda: len(c.errors) >= 8)
            codes = sorted(e["code"] for e in c.errors)  # open is answered asynchronously
            assert codes == ["bad_frame", "bad_frame", "bad_message", "bad_message", "bad_open", "bad_open",
                             "frame_too_large", "unknown_sid"], codes
            assert any("unknown log format 'nope'" in e["message"] for e in c.errors)
            assert [e["sid"] for e in c.errors if e["code"] == "unknown_sid"] == [99]
            assert all(e["message"] for e in c.errors)
            # the same connection still works, and so does the other one
            end = await c.send(1, 0, good)
            pos = end + len(bad_utf8)
            await c.send(1, end, bad_utf8)
            await c.send_raw(encode_frame(DataFrame(1, pos, long_line[:1000], flags=FLAG_TRUNCATED,
                                                    span=len(long_line))))
            c.credit -= 1000
            pos += len(long_line)
            await c.send(1, pos, client_line(51), final=True)
            pos += len(client_line(51))
            await other.send(1, 0, good, final=True)
            await c.wait_acked(1, pos)
            await other.wait_acked(1, len(good))

    run(go())
    collector.stop()
    by_client = dict(collector.query("SELECT client_id, count(*) FROM events GROUP BY 1"))
    assert by_client == {"alpha": 51, "beta": 50}
    rejects = collector.query("SELECT byte_offset, error_code, raw FROM rejects ORDER BY byte_offset")
    assert [r[1] for r in rejects] == ["invalid_utf8", "line_too_long"]
    assert bytes(rejects[0][2]) == bad_utf8.rstrip(b"\n")  # the raw bytes survive
    assert bytes(rejects[1][2]) == long_line[:1000]
    assert collector.query("SELECT max(end_offset) FROM source_ranges") == [(len(good) + len(bad_utf8)
                                                                            + len(long_line) + len(client_line(51)),)]


def test_unsupported_version_and_data_before_hello(collector):
    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            await c.send_raw(encode_frame(DataFrame(1, 0, b"x\n")))
            await c.send_text(encode_message("hello", version=99, shipper="x", host="h"))
            await c.wait_for(lambda: len(c.errors) >= 2)
            assert [e["code"] for e in c.errors] == ["hello_first", "unsupported_version"]

    run(go())


def test_frames_beyond_credit_are_refused_not_stored(tmp_path):
    coll = CollectorProc(tmp_path, config="[limits]\ninitial_credit = 4096\n").start()
    data = client_lines(0, 200)

    async def go():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            w = await c.hello()
            assert w["credit"] == 4096
            await c.open(1, data)
            cut = data.rfind(b"\n", 0, 8000) + 1
            await c.send_raw(encode_frame(DataFrame(1, 0, data[:cut])))
            await c.wait_for(lambda: c.errors)
            assert c.errors[0]["code"] == "credit_exceeded"
            end = await c.send(1, 0, data, final=True)  # within credit: all of it
            await c.wait_acked(1, end)

    try:
        run(go())
    finally:
        coll.stop()
    assert coll.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(200, 200)]


def test_slow_store_stops_credit_keeps_heartbeats_and_loses_nothing(tmp_path):
    # each commit takes 0.6 s; 256 KiB of queue; heartbeats every 0.3 s
    coll = CollectorProc(tmp_path, config=(
        "commit_delay_s = 0.6\nheartbeat_s = 0.3\nmin_credit = 65536\n"
        "[limits]\nqueue_bytes = 262144\ninflight_budget = 524288\ninitial_credit = 131072\n")).start()
    data = client_lines(0, 12_000)  # ~1.1 MB: far more than the credit
    rss: list[int] = []

    async def go():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, data)
            sender = asyncio.get_running_loop().create_task(c.send(1, 0, data, final=True))
            stalls = 0
            t0 = time.monotonic()
            while not sender.done():
                rss.append(coll.rss())
                if c.credit == 0:
                    stalls += 1
                await asyncio.sleep(0.1)
                assert time.monotonic() - t0 < 90
            await sender
            await c.wait_acked(1, len(data), timeout=60)
            assert stalls > 3, "the shipper never ran out of credit"
            assert not c.ws.closed  # heartbeats kept the connection alive through the stalls
            assert c.errors == []

    try:
        run(go())
    finally:
        coll.stop()
    assert coll.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(12_000, 12_000)]
    # memory flat: the late samples are not above the early ones by more than the budget's order
    assert max(rss) - min(rss[: max(3, len(rss) // 4)]) < 64 << 20, rss


def test_sigterm_commits_and_acks_what_was_received_then_closes(tmp_path):
    import signal

    coll = CollectorProc(tmp_path, config="commit_delay_s = 0.5\n").start()
    data = client_lines(0, 5000)

    async def go():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, data)
            end = await c.send(1, 0, data, final=True)
            await asyncio.sleep(0.1)
            coll.proc.send_signal(signal.SIGTERM)  # while commits are still running
            await c.wait_for(lambda: c.ws.closed, timeout=30)
            assert c.sids[1].acked == end  # everything received was committed and acked
            assert c.ws.close_code == 1001

    try:
        run(go())
    finally:
        assert coll.stop() == 0
    assert coll.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(5000, 5000)]
    assert not (tmp_path / "coll.duckdb.collector.json").exists()


def test_a_second_sigterm_during_shutdown_does_not_cut_it_short(tmp_path):
    """Operators and supervisors signal twice; the shutdown still commits and exits 0."""
    import signal

    coll = CollectorProc(tmp_path, config="commit_delay_s = 0.5\n").start()
    data = client_lines(0, 3000)

    async def go():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, data)
            await c.send(1, 0, data, final=True)
            await asyncio.sleep(0.1)
            deadline = time.monotonic() + 30
            while coll.proc.poll() is None and time.monotonic() < deadline:
                coll.proc.send_signal(signal.SIGTERM)  # again and again, until it has exited
                await asyncio.sleep(0.01)

    run(go())
    assert coll.proc.wait(30) == 0
    assert coll.stop() == 0
    assert coll.query("SELECT count(*) FROM events") == [(3000,)]


def test_empty_final_frame_flushes_the_last_entry_and_the_writer_goes_idle(collector):
    import psutil

    data = client_lines(0, 10)
    last = len(client_line(9))

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, data)
            await c.send(1, 0, data)
            await c.wait_acked(1, len(data) - last)
            t0 = time.monotonic()
            await c.send_raw(encode_frame(DataFrame(1, len(data), b"", flags=1)))  # FINAL: the file ended
            await c.wait_acked(1, len(data))
            assert time.monotonic() - t0 < 1.5  # not the multiline_flush_s timer
            await c.send_raw(encode_frame(DataFrame(1, len(data), b"", flags=1)))  # again: nothing held
            await asyncio.sleep(0.5)
            assert psutil.Process(collector.pid).cpu_percent(interval=1.0) < 30  # no busy writer loop

    run(go())
    collector.stop()
    assert collector.query("SELECT count(*) FROM events") == [(10,)]
