"""Opening log files for reading without getting in the app's way.

On Windows a file opened with Python's ``open`` cannot be renamed or deleted by another
process, so the app's own rename rotation would fail while the shipper holds the file.
This seam opens it with CreateFileW and FILE_SHARE_READ|WRITE|DELETE (ctypes + msvcrt)
on Windows, and with a plain ``open`` everywhere else (POSIX lets any file be renamed or
unlinked while open). Offsets count bytes as stored, CR bytes included.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

__all__ = ["open_shared"]


def open_shared(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading so that others may rename, write or delete it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return _open_windows(str(path))
    return open(path, "rb")


def _open_windows(path: str) -> BinaryIO:  # pragma: no cover - Windows only
    import ctypes
    import msvcrt
    from ctypes import wintypes

    GENERIC_READ = 0x80000000
    FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SHARE_DELETE = 0x1, 0x2, 0x4
    OPEN_EXISTING = 3
    FILE_ATTRIBUTE_NORMAL = 0x80
    INVALID_HANDLE_VALUE = wintypes.HANDLE(-1).value

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    create = kernel32.CreateFileW
    create.restype = wintypes.HANDLE
    create.argtypes = [
        wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
        wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE,
    ]
    handle = create(
        path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
        None, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, None,
    )
    if handle == INVALID_HANDLE_VALUE:
        err = ctypes.get_last_error()
        raise OSError(err, ctypes.FormatError(err), path)
    fd = msvcrt.open_osfhandle(handle, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    return os.fdopen(fd, "rb")
