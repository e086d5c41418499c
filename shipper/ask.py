"""Asking the user before a backlog goes out: a configured command, its exit status the answer.

Besides ``logship backlog approve``, the shipper can run ``ask_command`` (for instance a
desktop notifier script) when backlog waits for consent under ``backlog = "ask"``. The
command gets the size and age of what waits as two arguments and in the environment;
exit 0 means yes (everything pending when it was asked is approved), any other status
means no (asked again after ``ask_interval``, or sooner when more backlog arrives); a
command that cannot start or outlives ``ask_timeout`` is no answer (retried after a
minute). One question at a time; its stdin and stdout are closed, stderr goes to the
shipper's log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass

__all__ = ["Question", "run_ask", "RETRY_AFTER_FAILURE_S"]

log = logging.getLogger("logship.shipper.ask")

RETRY_AFTER_FAILURE_S = 60.0


@dataclass(frozen=True)
class Question:
    """What waits: the pending segment ids, their bytes, files and oldest byte's time."""

    ids: frozenset[str]
    nbytes: int
    files: int
    oldest: float | None

    def env(self, now: float) -> dict[str, str]:
        age = 0 if self.oldest is None else max(0, int(now - self.oldest))
        return {"LOGSHIP_BACKLOG_BYTES": str(self.nbytes), "LOGSHIP_BACKLOG_AGE_S": str(age),
                "LOGSHIP_BACKLOG_FILES": str(self.files),
                "LOGSHIP_BACKLOG_OLDEST": "" if self.oldest is None else str(int(self.oldest))}


async def run_ask(command: tuple[str, ...], q: Question, timeout: float) -> bool | None:
    """Run the command once: True (exit 0), False (another status), None (no answer)."""
    now = time.time()
    env = {**os.environ, **q.env(now)}
    argv = [*command, env["LOGSHIP_BACKLOG_BYTES"], env["LOGSHIP_BACKLOG_AGE_S"]]
    try:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        log.error("ask_command %s cannot start: %s", command[0], exc.strerror or exc)
        return None
    try:
        rc = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("ask_command gave no answer within %.0f s: asked again later", timeout)
        return None
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    log.info("ask_command answered %s (exit %d) for %d bytes of backlog", "yes" if rc == 0 else "no", rc, q.nbytes)
    return rc == 0
