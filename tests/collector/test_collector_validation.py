"""Everything a collector takes from the network is range-checked before use, and a
source row is created only after every parameter that defines it is valid.

Real `logship collect` processes and real DuckDB files; each test sends one bad value
and checks the exact answer and that nothing was stored, acked or created."""

from __future__ import annotations

import base64
import socket
import time

import aiohttp
import pytest

from logship.kernel.protocol import FLAG_TRUNCATED, FRAME_HEADER, DataFrame, encode_frame
from tests.collectorkit import TOKENS, CollectorProc, StreamClient, client_lines, run

U63 = (1 << 63) - 1


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(url: str, data: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url, data=data, headers={**auth(TOKENS["alpha"]), **(headers or {})}) as r:
            return r.status, await r.json(content_type=None)


def backlog_headers(head: bytes, tz: str = "UTC", log_format: str = "client") -> dict[str, str]:
    return {"X-Logship-Head": base64.b64encode(head[:1024]).decode(), "X-Logship-Path": "/var/log/app.log.1",
            "X-Logship-Tz": tz, "X-Logship-Log-Format": log_format}


@pytest.mark.parametrize("value", ["²", "١٢", "5 5", "+5", "1_000", "-1", "", str(U63 + 1), "9" * 40])
def test_logship_offset_header_must_be_ascii_digits_within_u63(collector, value):
    status, body = run(post(collector.url + "/v1/lines?source=off", client_lines(0, 3),
                            {"Logship-Offset": value}))
    assert status == 400, body
    assert body["error"]["code"] == "bad_request" and "Logship-Offset" in body["error"]["message"]
    collector.stop()
    assert collector.query("SELECT count(*) FROM sources") == [(0,)]
    assert collector.query("SELECT count(*) FROM events") == [(0,)]


def test_logship_offset_at_the_u63_limit_minus_the_body_is_accepted(collector):
    body = client_lines(0, 3)
    status, res = run(post(collector.url + "/v1/lines?source=edge", body, {"Logship-Offset": str(U63 - len(body))}))
    assert status == 200 and res["committed_end"] == U63, res
    collector.stop()
    assert collector.query("SELECT count(*) FROM events") == [(3,)]


@pytest.mark.parametrize("start", [str(1 << 70), str(U63 + 1), "²", " 7", "0x10", "1e3"])
def test_backlog_start_out_of_range_or_not_ascii_digits_is_400_and_stores_nothing(collector, start):
    data = client_lines(0, 5)
    status, body = run(post(f"{collector.url}/v1/backlog?start={start}&final=1", data, backlog_headers(data)))
    assert status == 400, body
    assert body["error"]["code"] == "bad_request" and "start" in body["error"]["message"]
    collector.stop()
    assert collector.query("SELECT count(*) FROM sources") == [(0,)]
    assert collector.query("SELECT count(*) FROM events") == [(0,)]


def test_backlog_body_running_past_u63_is_refused_with_nothing_acked_past_it(collector):
    data = client_lines(0, 5)
    status, body = run(post(f"{collector.url}/v1/backlog?start={U63 - 10}&final=1", data, backlog_headers(data)))
    assert status == 400 and body["error"]["code"] == "bad_request", body
    assert "offset" in body["error"]["message"]
    collector.stop()
    assert collector.query("SELECT count(*) FROM events") == [(0,)]
    assert collector.query("SELECT count(*) FROM source_ranges") == [(0,)]


@pytest.mark.parametrize("mtime", ["nan", "inf", "-inf", "1e300", "abc", "١٢", "1_0", "99999999999999"])
def test_backlog_bad_mtime_is_400_and_creates_no_source(collector, mtime):
    data = client_lines(0, 5)
    status, body = run(post(f"{collector.url}/v1/backlog?start=0&final=1", data,
                            {**backlog_headers(data), "X-Logship-Mtime": mtime}))
    assert status == 400 and body["error"]["code"] == "bad_request", body
    assert "X-Logship-Mtime" in body["error"]["message"]
    collector.stop()
    assert collector.query("SELECT count(*) FROM sources") == [(0,)]


def frame(sid: int, flags: int, start: int, span: int, payload: bytes) -> bytes:
    return FRAME_HEADER.pack(sid, flags, start, span) + payload


@pytest.mark.parametrize("raw, field", [
    (frame(1, 0, U63 + 1, 4, b"abc\n"), "start"),
    (frame(1, 0, (1 << 64) - 5, 4, b"abc\n"), "start"),
    (frame(1, 0, U63 - 2, 4, b"abc\n"), "start + span"),
    (frame(1, FLAG_TRUNCATED, 0, 1 << 62, b"x" * 100), "span"),
    (frame(1, FLAG_TRUNCATED, 0, U63 + 1, b"x" * 100), "span"),
    (frame(1, FLAG_TRUNCATED, U63 - 50, 1000, b"x" * 100), "start + span"),
], ids=["start-over-u63", "start-negative-wrapped", "end-over-u63", "truncated-span-2^62", "truncated-span-over-u63",
        "truncated-end-over-u63"])
def test_frames_with_offsets_out_of_range_are_bad_frame_naming_the_field_and_never_acked(collector, raw, field):
    good = client_lines(0, 10)

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            await c.hello()
            await c.open(1, good)
            c.credit -= len(raw) - FRAME_HEADER.size
            await c.send_raw(raw)
            await c.wait_for(lambda: len(c.errors) >= 1)
            # the connection goes on: good data after the bad frame is stored and acked
            end = await c.send(1, 0, good)
            await c.wait_acked(1, end)
            assert [e["code"] for e in c.errors] == ["bad_frame"], c.errors
            assert c.errors[0]["sid"] == 1 and f"{field} " in c.errors[0]["message"], c.errors
            acks = [m["end"] for m in c.messages if m["type"] == "ack"]
            assert max(acks) == len(good) and all(0 <= a <= len(good) for a in acks), acks

    run(go())
    collector.stop()
    assert collector.query("SELECT start_offset, end_offset FROM source_ranges") == [(0, len(good))]
    assert collector.query("SELECT count(*) FROM events") == [(10,)]
    assert collector.query("SELECT count(*) FROM rejects") == [(0,)]


def test_truncated_span_at_max_truncated_span_is_accepted_and_one_over_is_refused(tmp_path):
    coll = CollectorProc(tmp_path, config="[limits]\nmax_truncated_span = 5000\n").start()
    head = b"x" * 100

    async def go():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            w = await c.hello()
            assert w["max_truncated_span"] == 5000
            await c.open(1, head, log_format="client")
            c.credit -= 200
            await c.send_raw(encode_frame(DataFrame(1, 0, head, flags=FLAG_TRUNCATED, span=5001)))
            await c.wait_for(lambda: len(c.errors) >= 1)
            assert c.errors[0]["code"] == "bad_frame" and "max_truncated_span=5000" in c.errors[0]["message"]
            await c.send_raw(encode_frame(DataFrame(1, 0, head, flags=FLAG_TRUNCATED, span=5000)))
            await c.wait_acked(1, 5000)
            assert len(c.errors) == 1

    try:
        run(go())
    finally:
        coll.stop()
    assert coll.query("SELECT byte_offset, error_code FROM rejects") == [(0, "line_too_long")]
    assert coll.query("SELECT start_offset, end_offset FROM source_ranges") == [(0, 5000)]


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../../etc/passwd", "", "UTC\n"])
def test_bad_tz_on_open_creates_no_source_and_a_good_open_then_works(collector, tz):
    data = client_lines(0, 20)

    async def go():
        async with StreamClient(collector.url, TOKENS["alpha"]) as c:
            await c.hello()
            bad = await c.open(1, data, tz=tz)
            assert bad["type"] == "error" and bad["code"] == "bad_open" and "tz" in bad["message"], bad
            ok = await c.open(2, data, tz="Europe/Berlin")
            assert ok["type"] == "opened" and ok["ranges"] == [], ok
            end = await c.send(2, 0, data, final=True)
            await c.wait_acked(2, end)

    run(go())
    collector.stop()
    assert collector.query("SELECT tz, log_format FROM sources") == [("Europe/Berlin", "client")]
    assert collector.query("SELECT count(*) FROM events") == [(20,)]


def test_bad_tz_or_format_on_backlog_and_lines_creates_no_source(collector):
    data = client_lines(0, 5)

    async def go():
        out = []
        out.append(await post(f"{collector.url}/v1/backlog?start=0&final=1", data,
                              backlog_headers(data, tz="Not/AZone")))
        out.append(await post(f"{collector.url}/v1/backlog?start=0&final=1", data,
                              backlog_headers(data, log_format="nope")))
        out.append(await post(f"{collector.url}/v1/lines?source=s1&tz=Not/AZone", data))
        out.append(await post(f"{collector.url}/v1/lines?source=s2&log_format=nope", data))
        # the same names with good parameters work afterwards
        out.append(await post(f"{collector.url}/v1/backlog?start=0&final=1", data,
                              backlog_headers(data, tz="Asia/Tokyo")))
        out.append(await post(f"{collector.url}/v1/lines?source=s1&tz=America/New_York", data))
        return out

    res = run(go())
    assert [(s, b.get("error", {}).get("code")) for s, b in res] == [
        (400, "bad_source"), (400, "bad_source"), (400, "bad_source"), (400, "bad_source"), (200, None), (200, None)]
    assert "tz" in res[0][1]["error"]["message"] and "tz" in res[2][1]["error"]["message"]
    assert "nope" in res[1][1]["error"]["message"] and "nope" in res[3][1]["error"]["message"]
    collector.stop()
    assert sorted(collector.query("SELECT tz FROM sources")) == [("America/New_York",), ("Asia/Tokyo",)]
    assert collector.query("SELECT count(*) FROM events") == [(10,)]


def test_a_half_sent_request_header_is_dropped_after_header_timeout_s(tmp_path):
    coll = CollectorProc(tmp_path, config="header_timeout_s = 1.0\n").start()
    try:
        host, port = "127.0.0.1", coll.port
        with socket.create_connection((host, port), timeout=30) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
            t0 = time.monotonic()
            got = s.recv(1024)  # the collector closes the connection: recv returns b"" (or an error page)
            took = time.monotonic() - t0
        assert got == b"" or got.startswith(b"HTTP/1.1 408"), got
        assert 0.5 <= took < 10, took
        # a complete request is still served
        async def health() -> int:
            async with aiohttp.ClientSession() as s2:
                async with s2.get(coll.url + "/healthz") as r:
                    return r.status
        assert run(health()) == 200
    finally:
        coll.stop()


@pytest.mark.parametrize("name", ["abc%0A", "a%20b", "x" * 201, "%C3%A9", "a%2Fb", "a%00"])
def test_lines_source_name_outside_its_alphabet_is_400_and_creates_no_source(collector, name):
    """`source=` is 1-200 characters of letters, digits and _.:@+- and nothing else: a
    trailing newline (`%0A`) once passed (the check's `$` matches before it), giving a
    synthetic head that extends source `abc`'s."""
    status, body = run(post(f"{collector.url}/v1/lines?source={name}", client_lines(0, 3)))
    assert status == 400 and body["error"]["code"] == "bad_request", body
    assert "source=" in body["error"]["message"]
    collector.stop()
    assert collector.query("SELECT count(*) FROM sources") == [(0,)]
