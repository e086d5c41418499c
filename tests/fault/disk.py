"""A small tmpfs that the soak can fill up, to put a store or a state dir on a full disk.

The machine runs as root, so ``mount -t tmpfs -o size=..`` works; where it does not
(no privilege, no tmpfs), ``TmpfsDisk.mount`` says why and the soak skips the fault kind
and prints so. Filling first shrinks the tmpfs to what it holds plus a little
(``mount -o remount,size=``), then writes a filler file until ENOSPC (tests/diskkit.py): a full disk
without holding gigabytes of RAM. ``heal`` deletes the filler and gives the size back.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.diskkit import Filler

__all__ = ["TmpfsDisk"]

_FILL_HEADROOM = 1 << 20   # what a shrunk tmpfs holds above its use before the filler


class TmpfsDisk:
    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        self.size_mb = size_mb
        self.mounted = False
        self.full = False
        self.filler = Filler(path, ".soak-filler")

    def mount(self) -> str | None:
        """Mount; None when done, else the reason it could not be."""
        self.path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}M", "tmpfs", str(self.path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return f"mount -t tmpfs {self.path}: {r.stderr.strip() or r.returncode}"
        self.mounted = True
        return None

    def _remount(self, size_bytes: int) -> bool:
        size = max(size_bytes, 1 << 20)
        size = (size + 4095) // 4096 * 4096
        r = subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], capture_output=True, text=True)
        return r.returncode == 0

    def used(self) -> int:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def fill(self) -> int:
        """Leave no free byte; returns the filler's size."""
        assert self.mounted
        self._remount(self.used() + _FILL_HEADROOM)  # may fail if the store grew meanwhile: fill anyway
        size = self.filler.fill()
        self.full = True
        return size

    def heal(self) -> None:
        if not self.mounted:
            return
        self.filler.release()
        self._remount(self.size_mb << 20)
        self.full = False

    def unmount(self) -> None:
        if not self.mounted:
            return
        self.heal()
        r = subprocess.run(["umount", str(self.path)], capture_output=True, text=True)
        if r.returncode != 0:
            r = subprocess.run(["umount", "-l", str(self.path)], capture_output=True, text=True)
        self.mounted = r.returncode != 0
