"""Discovery: watchdog events only queue a marker and wake the loop; roots of the globs."""

from __future__ import annotations

import asyncio
import os

from logship.shipper.discovery import Discovery, watch_roots


def test_watch_roots(tmp_path):
    (tmp_path / "a").mkdir()
    roots = watch_roots([str(tmp_path / "a" / "*.log"), str(tmp_path / "**" / "*.log"),
                         str(tmp_path / "missing" / "*.log")])
    assert roots[str(tmp_path / "a")] is False
    assert roots[str(tmp_path)] is True
    assert str(tmp_path / "missing") in roots  # watched once it exists (the slow poll finds it)


def test_created_and_moved_files_wake_the_loop(tmp_path):
    async def main() -> tuple[bool, bool, bool]:
        wake = asyncio.Event()
        d = Discovery([str(tmp_path / "*.log")], asyncio.get_running_loop(), wake)
        d.start()
        try:
            (tmp_path / "app.log").write_bytes(b"x\n")
            await asyncio.wait_for(wake.wait(), 5)
            created = d.drain()
            wake.clear()
            with open(tmp_path / "app.log", "ab") as f:   # appends are not events (fstat polls them)
                f.write(b"y\n")
            await asyncio.sleep(0.3)
            appended = d.drain()
            os.rename(tmp_path / "app.log", tmp_path / "app.log.1")
            await asyncio.wait_for(wake.wait(), 5)
            moved = d.drain()
            return created, appended, moved
        finally:
            d.stop()

    assert asyncio.run(main()) == (True, False, True)
