"""collector/resolver.py: the asks that arrive while the writer's thread is busy are
resolved together, in one job; a lone ask goes at once; each ask gets its own answer."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from logship.collector.resolver import SourceResolver
from logship.collector.storeport import StoreAdapter
from logship.store.errors import StoreError
from logship.store.store import Store


def test_asks_waiting_for_the_writer_go_as_one_job(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    writer = ThreadPoolExecutor(max_workers=1)  # the writer's one thread
    busy = threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        resolver = SourceResolver(lambda fn: loop.run_in_executor(writer, fn), StoreAdapter(store).resolve_sources)
        first = await resolver.resolve("alpha", b"file zero\n", {})
        assert (resolver.jobs, resolver.asks) == (1, 1)  # a lone ask: at once, alone
        hold = loop.run_in_executor(writer, busy.wait)  # the writer is busy (a commit)
        asks = [asyncio.create_task(resolver.resolve(f"c{k % 10}", f"file {k}\n".encode(), {"path": f"/f{k}"}))
                for k in range(50)]
        bad = asyncio.create_task(resolver.resolve("alpha", b"", {"path": "/empty.log"}))
        again = asyncio.create_task(resolver.resolve("alpha", b"file zero\nand more\n", {"path": "/zero.log"}))
        await asyncio.sleep(0)  # every ask is waiting now
        busy.set()
        await hold
        infos = await asyncio.gather(*asks)
        try:
            await bad
            raise AssertionError("an empty head resolved")
        except StoreError as exc:
            assert "/empty.log has no bytes yet" in str(exc)
        grown = await again
        return resolver, first, infos, grown

    try:
        resolver, first, infos, grown = asyncio.run(main())
        # the first ask alone, then ONE job for the 52 that waited behind the commit
        assert (resolver.jobs, resolver.asks) == (2, 53)
        assert [(i.client_id, i.path) for i in infos] == [(f"c{k % 10}", f"/f{k}") for k in range(50)]
        assert len({i.source_id for i in infos}) == 50
        # a head that extends a stored one is that source, its head and path updated
        assert grown.source_id == first.source_id and grown.head == b"file zero\nand more\n"
        assert grown.path == "/zero.log"
        assert store.con.execute("SELECT count(*) FROM sources").fetchall() == [(51,)]
    finally:
        writer.shutdown()
        store.close()
