"""A real full disk for tests: a small tmpfs mounted over a directory, and a filler file
that takes every free byte of it (and gives them back).

Mounting needs root (CAP_SYS_ADMIN); `tmpfs_or_skip` says so and skips when it cannot.
Use the directory for a database (or a state file), then `Filler(dir).fill()` makes
every write under it fail with ENOSPC until `release()`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["tmpfs", "tmpfs_or_skip", "Filler"]


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "16m") -> Iterator[Path]:
    """Mount a tmpfs of `size` at `path` (created) for the block; unmounted after it.

    Raises OSError naming the reason when mount is not permitted here."""
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise OSError(f"mount -t tmpfs at {path} failed: {res.stderr.strip() or res.returncode}")
    try:
        yield path
    finally:
        # lazy: a process that still holds a file there must not keep the mount forever
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def tmpfs_or_skip(path: Path, size: str = "16m") -> Iterator[Path]:
    try:
        cm = tmpfs(path, size)
        mounted = cm.__enter__()
    except (OSError, FileNotFoundError) as exc:
        pytest.skip(f"a full-disk test needs a tmpfs mount (root): {exc}")
    try:
        yield mounted
    finally:
        cm.__exit__(None, None, None)


class Filler:
    """One file that takes all free space of its file system (ENOSPC for everyone else)."""

    def __init__(self, directory: Path, name: str = "filler") -> None:
        self.path = directory / name

    def fill(self, leave: int = 0) -> int:
        """Write until ENOSPC, then give back `leave` bytes. Returns the filler's size."""
        block = b"\0" * (64 << 10)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                try:
                    n = os.write(fd, block)
                except OSError as exc:
                    if exc.errno != 28:
                        raise
                    if len(block) == 1:
                        break
                    block = block[:len(block) // 2]
                    continue
                if n == 0:
                    break
        finally:
            os.close(fd)
        size = self.path.stat().st_size
        if leave:
            os.truncate(self.path, max(0, size - leave))
        return self.path.stat().st_size

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
