"""Measuring the app from outside with psutil: one metric line's fields per sample.

CPU percent is the share of one core used since the previous sample (so 200% is two
cores), as `top` shows it; the first sample primes the counter. With ``children`` the
app's descendants are summed in (each primed on first sight, so a new child counts from
its second sample on).
"""

from __future__ import annotations

import psutil

from logship.clientlog.writer import Percent, Size, Value

__all__ = ["Sampler", "Gone"]


class Gone(Exception):
    """The app is no longer there."""


class Sampler:
    def __init__(self, proc: psutil.Process, children: bool = False) -> None:
        self.proc = proc
        self.children = children
        self._known: dict[int, psutil.Process] = {}
        self.proc.cpu_percent(None)   # prime

    def _descendants(self) -> list[psutil.Process]:
        out = []
        try:
            kids = self.proc.children(recursive=True)
        except psutil.Error:
            return out
        alive = set()
        for k in kids:
            alive.add(k.pid)
            known = self._known.get(k.pid)
            if known is None or known != k:   # psutil compares pid and start time
                try:
                    k.cpu_percent(None)
                except psutil.Error:
                    continue
                self._known[k.pid] = k
            else:
                out.append(known)
        for pid in list(self._known):
            if pid not in alive:
                del self._known[pid]
        return out

    @staticmethod
    def _one(p: psutil.Process) -> tuple[float, int, int, int]:
        with p.oneshot():
            cpu = p.cpu_percent(None)
            rss = p.memory_info().rss
            threads = p.num_threads()
            fds = p.num_fds() if hasattr(p, "num_fds") else len(p.open_files())
        return cpu, rss, threads, fds

    def sample(self) -> dict[str, Value]:
        """The fields of one `metric proc` line; Gone when the app has exited."""
        try:
            cpu, rss, threads, fds = self._one(self.proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            raise Gone() from None
        except psutil.AccessDenied:
            cpu, rss, threads, fds = self.proc.cpu_percent(None), self.proc.memory_info().rss, 0, 0
        fields: dict[str, Value] = {}
        if self.children:
            n = 0
            for k in self._descendants():
                try:
                    c = self._one(k)
                except psutil.Error:
                    continue
                cpu, rss, threads, fds, n = cpu + c[0], rss + c[1], threads + c[2], fds + c[3], n + 1
            fields["children"] = n
        return {"cpu": Percent(round(cpu, 1)), "rss": Size.of(rss), "threads": threads, "open_files": fds,
                **fields}
