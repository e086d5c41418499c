"""Rotation-safe tailing of log files, by content fingerprint.

A *source* is one file's byte stream (docs/shipper.md): it keeps its identity when the file is
renamed, compressed to ``.gz`` or reached through a different symlink, because identity
is its head (the first 1024 bytes, fingerprint.py), never its inode or path. The
:class:`Tailer` finds files matching the configured globs, maps each to a source and
reads complete lines at an offset the caller names. It keeps no send cursor of its own:
the daemon decides what to read (acked offsets, credit), so a reconnect or a collector
that knows better simply reads again from another offset, and memory never grows with
how far behind the shipper is.

What it handles (each has a test in tests/test_tail*.py):

- rename rotation: the old file stays open and is read to its end; it becomes *final*
  (the FINAL flag) once its origin path holds another file or it was deleted, it is read
  to the end and has not grown for ``rotate_wait_s``;
- copytruncate: a shrink of the open file is detected; the source continues from a copy
  whose head matches (``app.log.1``) when the glob finds one, otherwise the bytes it had
  seen but not read are counted in ``missed_bytes`` and logged; the truncated file's new
  content is a new source, read from 0;
- symlinked paths (stat follows the link; a switched link is a rotation), deleted files
  (the open handle is read to the end), files created later, and rotated ``.gz`` files
  (offsets are decompressed offsets, so a ``.gz`` of a shipped file adds nothing);
- inode reuse: inodes only tie a path to a handle that is still open, never identity;
- lines longer than ``max_line_bytes``: the payload is cut, the chunk's span is the full
  line length and it carries FLAG_TRUNCATED, so the window never stalls on it.

It is synchronous and does no network I/O; the asyncio daemon calls it between awaits.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, Iterator

from logship.shipper.fileopen import open_shared
from logship.kernel.gunzip import GunzipReader, read_prefix
from logship.kernel.fingerprint import HEAD_BYTES, heads_match, is_gzip, read_head, source_id
from logship.kernel.protocol import DEFAULT_LIMITS, FLAG_FINAL, FLAG_TRUNCATED

__all__ = ["Chunk", "Reader", "Source", "Tailer", "expand_globs"]

log = logging.getLogger("logship.shipper.tail")

_SCAN_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes of complete lines read from a source: ``[start, start + span)``.

    ``payload`` equals the bytes of that range, except for a TRUNCATED line whose payload
    holds only its first ``max_line_bytes`` (span is still the full length).
    """

    start: int
    payload: bytes
    span: int
    flags: int = 0

    @property
    def end(self) -> int:
        return self.start + self.span

    @property
    def final(self) -> bool:
        return bool(self.flags & FLAG_FINAL)


class Reader:
    """One open file behind a source: plain (positioned reads) or gzip (decompressed offsets)."""

    def __init__(self, path: str, name: str | None = None) -> None:
        """Open ``path``; ``name`` is the path it is known by (a symlink to it), for messages."""
        self.path = name or path
        self.fh: BinaryIO = open_shared(path)
        st = os.fstat(self.fh.fileno())
        self.dev, self.ino = st.st_dev, st.st_ino
        self.gz = is_gzip(path)
        self._gz: GunzipReader | None = None
        self._gz_pos = 0            # decompressed offset the open GunzipReader is at
        self._gz_complete = False   # the whole gzip stream decompressed without error
        self._gz_end: int | None = None  # decompressed size, once seen
        self.size = 0 if self.gz else st.st_size   # readable end as last observed
        self.mtime = st.st_mtime

    # -- observation ---------------------------------------------------------------
    def stat(self) -> os.stat_result:
        return os.fstat(self.fh.fileno())

    def deleted(self) -> bool:
        try:
            return self.stat().st_nlink == 0
        except OSError:
            return True

    @property
    def complete(self) -> bool:
        """A gzip stream that has been read to its end marker (it will not grow)."""
        return self.gz and self._gz_complete

    # -- reading -------------------------------------------------------------------
    def pread(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at decompressed ``offset`` (fewer at the current end)."""
        if n <= 0:
            return b""
        if not self.gz:
            self.fh.seek(offset)
            return self.fh.read(n)
        return self._gz_read(offset, n)

    def _gz_read(self, offset: int, n: int) -> bytes:
        """Decompressed bytes through kernel/gunzip.py, which keeps every byte before a
        truncation or damage (gzip.GzipFile dropped a whole read's output there)."""
        if self._gz_end is not None and offset >= self._gz_end:
            return b""
        if self._gz is None or offset < self._gz_pos:
            self.fh.seek(0)   # a backwards read rewinds: rare (reconnects, backlog)
            self._gz, self._gz_pos = GunzipReader(self.fh), 0
        err: BaseException | None = None
        while self._gz_pos < offset and err is None:   # forward to offset
            skipped, err = read_prefix(self._gz, min(offset - self._gz_pos, 1 << 20))
            if not skipped and err is None:
                break
            self._gz_pos += len(skipped)
        out = b""
        if err is None and self._gz_pos == offset:
            out, err = read_prefix(self._gz, n)
            self._gz_pos += len(out)
            if err is None and len(out) < n:
                self._gz_complete = True   # the end marker of the last member
                self._gz_end = self._gz_pos
        if isinstance(err, EOFError):
            self._gz = None   # still being written by a compressor: what we have is good, the rest later
        elif err is not None:
            log.error("%s: corrupt gzip stream at offset %d: %s", self.path, self._gz_pos, err)
            self._gz = None
            self._gz_complete = True
            self._gz_end = self._gz_pos
        self.size = max(self.size, offset + len(out))
        return out

    def find_newline(self, pos: int) -> int | None:
        """Offset of the first ``\\n`` at or after ``pos``, scanning in blocks (no buffering)."""
        while True:
            block = self.pread(pos, _SCAN_BLOCK)
            if not block:
                return None
            i = block.find(b"\n")
            if i >= 0:
                return pos + i
            pos += len(block)

    def end_offset(self) -> int | None:
        """The readable end if known without decompressing (plain: size; gz: once complete)."""
        if not self.gz:
            return self.size
        return self._gz_end

    def close(self) -> None:
        if self._gz is not None:
            self._gz.close()
            self._gz = None
        self.fh.close()


@dataclass(eq=False)
class Source:
    """A byte stream known by its head. ``key`` is its source id once the head is settled."""

    head: bytes
    origin: str                       # the path it was first seen at (a rotation frees it)
    key: str = ""                     # source_id; "" while the head may still grow/diverge
    paths: set[str] = field(default_factory=set)
    reader: Reader | None = None
    first_seen: float = 0.0
    last_growth: float = 0.0
    rotated: bool = False
    ended: bool = False               # no reader will ever bring more (truncated away)
    done: bool = False                # fully shipped and closed by the daemon
    read_hwm: int = 0                 # furthest offset handed to the caller
    missed_bytes: int = 0             # bytes seen in the file but lost to a truncation
    last_size: int = 0
    blocked_on: int = 0               # after read() returned None: a line this long needs that much room

    @property
    def ready(self) -> bool:
        return bool(self.key)

    def size(self) -> int:
        """The readable end as last observed (decompressed; for a gz: as far as read)."""
        if self.reader is None:
            return self.last_size
        end = self.reader.end_offset()
        return end if end is not None else max(self.reader.size, self.last_size)


def expand_globs(patterns: Iterable[str]) -> list[str]:
    """Regular files matching the patterns (``~`` expanded, ``**`` recursive), sorted, deduplicated."""
    seen: dict[str, None] = {}
    for pat in patterns:
        for p in sorted(glob.glob(os.path.expanduser(pat), recursive=True)):
            if os.path.isfile(p):
                seen.setdefault(os.path.abspath(p), None)
    return list(seen)


class Tailer:
    """The set of sources behind some globs. ``scan()`` to discover, ``read()`` to read."""

    def __init__(
        self,
        patterns: Iterable[str],
        client_id: str,
        *,
        max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes,
        head_settle_s: float = 2.0,
        rotate_wait_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.patterns = list(patterns)
        self.client_id = client_id
        self.max_line_bytes = max_line_bytes
        self.head_settle_s = head_settle_s
        self.rotate_wait_s = rotate_wait_s
        self.clock = clock
        self.sources: list[Source] = []
        self.missed_bytes_total = 0
        self.last_paths: list[str] = []   # what the globs matched at the last scan
        # files matched but empty at the last scan, by inode -> (real path, origin): refresh()
        # watches them, and scan() still reads one a switched symlink no longer points to
        self._empty: dict[tuple[int, int], tuple[str, str]] = {}
        self._origins: dict[tuple[int, int], str] = {}

    # -- known sources (from the state file) ----------------------------------------
    def add_known(self, key: str, head: bytes, origin: str, *, done: bool = False) -> Source:
        """Register a source remembered from an earlier run; a matching file re-attaches it."""
        src = Source(head=head, origin=origin, key=key, first_seen=self.clock(), done=done)
        self.sources.append(src)
        return src

    def by_key(self, key: str) -> Source | None:
        for s in self.sources:
            if s.key == key:
                return s
        return None

    # -- discovery -------------------------------------------------------------------
    def refresh(self) -> bool:
        """Cheap check (fstat/stat only); True when a full ``scan()`` is needed.

        Called every ``read_interval``: appends to open files update their sizes; a shrink
        (copytruncate), or a file that was empty at the last scan and has bytes now, asks
        for a scan.
        """
        now = self.clock()
        for src, r, st in self._plain_readers():
            if st.st_size < r.size:
                return True
            _note_growth(src, r, st, now)
            if st.st_nlink == 0 and not src.rotated:
                return True
        for real, _ in self._empty.values():
            try:
                if os.stat(real).st_size > 0:
                    return True
            except OSError:
                return True
        return False

    def scan(self) -> list[str]:
        """Full pass: globs, identity, rotation, truncation, heads. Returns log-worthy notes."""
        notes: list[str] = []
        now = self.clock()
        self._check_open_readers(now, notes)
        paths = expand_globs(self.patterns)
        self.last_paths = paths
        # where each file (by inode, from the last scan only) was first seen: a file that
        # was empty under app.log and has content under app.log.1 now was rotated
        prev_origins, self._origins = self._origins, {}
        prev_empty, self._empty = self._empty, {}
        by_inode: dict[tuple[int, int], Source] = {
            (s.reader.dev, s.reader.ino): s for s in self.sources if s.reader is not None
        }
        for src in self.sources:
            src.paths = set()
        # (glob path, the file it resolved to, its stat, origin). A symlink is resolved ONCE
        # and the file is then stat'ed, read and opened by its real path: resolving the link
        # again for each step races a switch of the link (stat of the old target, then the
        # head or the handle of the new one), and the old target, never read, was lost.
        candidates: list[tuple[str, str, os.stat_result, str]] = []
        for path in paths:
            try:
                real = os.path.realpath(path)
                st = os.stat(real)
            except OSError:
                continue
            origin = prev_origins.get((st.st_dev, st.st_ino), path)
            self._origins[(st.st_dev, st.st_ino)] = origin
            candidates.append((path, real, st, origin))
        for key, (real, origin) in prev_empty.items():
            # an empty file the globs no longer reach (a symlink switched before we read
            # it): it was the link's target, so its bytes are that link's rotated source
            if key in self._origins:
                continue
            try:
                st = os.stat(real)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == key:
                candidates.append((real, real, st, origin))
        for path, real, st, origin in candidates:
            ident = (st.st_dev, st.st_ino)
            owner = by_inode.get(ident)
            if owner is not None:
                owner.paths.add(path)
                continue
            try:
                head = _read_head(real)
            except OSError as exc:
                notes.append(f"{path}: cannot read: {exc}")
                continue
            if not head:
                self._empty[ident] = (real, origin)
                continue
            src = self._match(head)
            if src is None:
                src = self._new_source(path, real, ident, head, now, notes, origin)
                if src is not None:
                    by_inode[(src.reader.dev, src.reader.ino)] = src  # type: ignore[union-attr]
                continue
            src.paths.add(path)
            if src.reader is None and not src.ended and not src.done:
                if len(head) < len(src.head) and now - st.st_mtime < self.head_settle_s:
                    continue  # a copy still being written: decide when it settles
                reader = self._open(path, real, ident, notes)
                if reader is None:
                    continue
                src.reader = reader
                src.last_growth = max(src.last_growth, st.st_mtime)
                by_inode[(src.reader.dev, src.reader.ino)] = src
                notes.append(f"{path}: resumes source {src.key[:12] or '(new)'}")
        for src in self.sources:
            self._update_head(src, now)
            self._check_rotated(src)
        return notes

    def _match(self, head: bytes) -> Source | None:
        """A settled source whose head is a prefix-match of ``head`` (docs/shipper.md, identity)."""
        for src in self.sources:
            if src.ready and heads_match(src.head, head):
                return src
        return None

    def _open(self, path: str, real: str, ident: tuple[int, int], notes: list[str]) -> Reader | None:
        """A reader of the file ``real`` (named ``path``) if it is still the file stat'ed as ``ident``."""
        try:
            reader = Reader(real, name=path)
        except OSError as exc:
            notes.append(f"{path}: cannot open: {exc}")
            return None
        if (reader.dev, reader.ino) != ident:
            # renamed over since the stat: its head may be another file's; the next scan decides
            reader.close()
            notes.append(f"{path}: replaced while being opened; looked at again at the next scan")
            return None
        return reader

    def _new_source(self, path: str, real: str, ident: tuple[int, int], head: bytes, now: float,
                    notes: list[str], origin: str) -> Source | None:
        reader = self._open(path, real, ident, notes)
        if reader is None:
            return None
        src = Source(head=head, origin=origin, paths={path}, reader=reader, first_seen=now,
                     last_growth=reader.mtime)
        self.sources.append(src)
        notes.append(f"{path}: new file")
        return src

    def _update_head(self, src: Source, now: float) -> None:
        """Grow the head of an unsettled source; settle it when 1024 bytes, quiet or final."""
        r = src.reader
        if r is None:
            return
        if len(src.head) < HEAD_BYTES and (r.gz or r.size > len(src.head)):
            head = r.pread(0, HEAD_BYTES)
            if head.startswith(src.head):
                src.head = head
            elif src.ready:
                # content under an open handle changed without shrinking: a truncation
                self._truncated(src, [])
                return
            else:
                src.head = head
        if src.ready:
            return
        settled = (
            len(src.head) >= HEAD_BYTES
            or r.complete
            or (not r.gz and now - max(src.last_growth, r.mtime) >= self.head_settle_s)
            or src.rotated
        )
        if not settled:
            return
        twin = self._match(src.head)
        if twin is not None and twin is not src:
            # the same head as a known source (a copy made while we watched): one source
            twin.paths |= src.paths
            if twin.reader is None and not twin.ended and not twin.done:
                twin.reader = r
            else:
                r.close()
            self.sources.remove(src)
            return
        src.key = source_id(self.client_id, src.head)

    def _plain_readers(self) -> Iterator[tuple[Source, Reader, os.stat_result]]:
        """Open, uncompressed sources with a fresh fstat (a .gz archive does not grow).

        Iterates a snapshot: callers may drop a reader (truncation) as they go.
        """
        for src in list(self.sources):
            r = src.reader
            if r is None or r.gz:
                continue
            try:
                st = r.stat()
            except OSError:
                continue
            yield src, r, st

    def observe(self, src: Source) -> None:
        """``src``'s appends since the last ``refresh()``, from a fresh fstat.

        For decisions that need the file's size now rather than as of the last
        ``read_interval`` tick (where a reconnect cuts the backlog). A shrink or an unlink
        is left to ``scan()``, which knows what to do with it."""
        r = src.reader
        if r is None or r.gz:
            return
        try:
            _note_growth(src, r, r.stat(), self.clock())
        except OSError:
            pass

    def _check_open_readers(self, now: float, notes: list[str]) -> None:
        for src, r, st in self._plain_readers():
            if st.st_size < r.size or (src.ready and r.pread(0, len(src.head)) != src.head):
                self._truncated(src, notes)  # shrank, or rewritten in place past its old size
                continue
            _note_growth(src, r, st, now)
            src.last_size = max(src.last_size, r.size)

    def _truncated(self, src: Source, notes: list[str]) -> None:
        """The open file shrank (copytruncate): continue from a copy, else count the loss."""
        r = src.reader
        assert r is not None
        seen = max(r.size, src.last_size)
        src.last_size = seen
        src.reader = None
        r.close()
        src.paths.discard(r.path)
        for path in sorted(src.paths | set(expand_globs(self.patterns))):
            try:
                if os.path.samefile(path, r.path) if os.path.exists(r.path) else False:
                    continue
                if _read_head(path)[: len(src.head)] == src.head:
                    src.reader = Reader(path)
                    notes.append(f"{r.path}: truncated; source continues from {path}")
                    log.info("%s: truncated; source continues from %s", r.path, path)
                    return
            except OSError:
                continue
        src.ended = True
        src.rotated = True
        missed = max(0, seen - src.read_hwm)
        src.missed_bytes += missed
        self.missed_bytes_total += missed
        msg = f"{r.path}: truncated (copytruncate?); up to {missed} bytes written before the truncation may be missed"
        notes.append(msg)
        log.warning(msg)

    def _check_rotated(self, src: Source) -> None:
        r = src.reader
        if r is None or src.rotated:
            return
        if r.gz:
            src.rotated = True  # an archive: complete once read to its end marker
            return
        try:
            st = os.stat(src.origin)
            moved = (st.st_dev, st.st_ino) != (r.dev, r.ino)
        except OSError:
            moved = True
        if moved or r.deleted():
            src.rotated = True
            log.info("%s: rotated away (now %s)", src.origin, ", ".join(sorted(src.paths)) or "deleted")

    # -- reading ---------------------------------------------------------------------
    def final_ok(self, src: Source) -> bool:
        """Whether the end of the source's current data is its end for good."""
        if src.ended:
            return True
        r = src.reader
        if r is None or not src.rotated:
            return False
        if r.gz:
            return r.complete
        return self.clock() - src.last_growth >= self.rotate_wait_s

    def read(self, src: Source, offset: int, max_bytes: int) -> Chunk | None:
        """Complete lines at ``offset``, at most ``max_bytes`` of payload; None: nothing yet.

        When the next line is complete and at most ``max_line_bytes`` long but longer than
        ``max_bytes``, None is returned with ``src.blocked_on`` set to its length: the
        caller reads again with that much room once its credit allows.

        A FINAL chunk (possibly empty, possibly ending in a line without newline) closes a
        source that was rotated away, deleted or truncated and has been read to its end.
        """
        if src.reader is None:
            if src.ended:
                return Chunk(offset, b"", 0, FLAG_FINAL)
            return None
        r = src.reader
        src.blocked_on = 0
        src.read_hwm = max(src.read_hwm, offset)  # the caller has what lies before offset
        cap = max(1, max_bytes)
        data = r.pread(offset, cap)
        eof = len(data) < cap  # the current end of the file (or gzip stream so far)
        if data:
            src.read_hwm = max(src.read_hwm, offset + len(data))
        nl = data.rfind(b"\n")
        if nl >= 0:
            payload = data[: nl + 1]
            long_at = self._first_long_line(payload) if len(payload) > self.max_line_bytes else None
            if long_at is not None:
                if long_at > 0:
                    return Chunk(offset, payload[:long_at], long_at, 0)  # lines before the long one
                span = payload.find(b"\n") + 1
                return Chunk(offset, payload[: min(cap, self.max_line_bytes)], span, FLAG_TRUNCATED)
            at_end = eof and nl + 1 == len(data)
            flags = FLAG_FINAL if at_end and self.final_ok(src) else 0
            return Chunk(offset, payload, len(payload), flags)
        if eof and len(data) < self.max_line_bytes:
            # the end of the data so far: an unfinished line, or the source's last bytes
            if self.final_ok(src):
                return Chunk(offset, data, len(data), FLAG_FINAL)
            return None
        # no newline within cap bytes: a long line, or a credit too small for this line
        probe = data if len(data) >= self.max_line_bytes else r.pread(offset, self.max_line_bytes)
        if b"\n" in probe:
            src.blocked_on = probe.index(b"\n") + 1  # a whole line that is longer than max_bytes
            return None
        if len(probe) < self.max_line_bytes:
            return None  # an unfinished line that may still fit max_line_bytes: wait for more
        nl_at = r.find_newline(offset + len(probe))
        if nl_at is None:
            if not self.final_ok(src):
                return None  # its end is not written yet
            end = offset + len(probe)
            while True:  # length of the unterminated tail at the final end
                more = r.pread(end, _SCAN_BLOCK)
                if not more:
                    break
                end += len(more)
            span, flags = end - offset, FLAG_TRUNCATED | FLAG_FINAL
        else:
            span, flags = nl_at + 1 - offset, FLAG_TRUNCATED
        payload = data[: min(cap, self.max_line_bytes)]
        src.read_hwm = max(src.read_hwm, offset + span)
        return Chunk(offset, payload, span, flags)

    def read_piece(self, src: Source, offset: int, max_bytes: int) -> Chunk | None:
        """The first ``max_bytes`` of a complete line that does not fit the caller's credit.

        Protocol v1 lets a frame end mid-line: the collector holds the start of the line
        (unacked) and returns its credit, so a line longer than the window is sent in
        pieces instead of waiting for credit that only comes back when it is sent.
        Only for a line that ``read`` found complete (``src.blocked_on``).
        """
        r = src.reader
        if r is None or not src.blocked_on:
            return None
        data = r.pread(offset, max(1, min(max_bytes, src.blocked_on)))
        if not data:
            return None
        src.read_hwm = max(src.read_hwm, offset + len(data))
        return Chunk(offset, data, len(data), 0)

    def _first_long_line(self, payload: bytes) -> int | None:
        """Offset in ``payload`` of the first line longer than max_line_bytes, if any."""
        pos = 0
        limit = self.max_line_bytes
        while pos < len(payload):
            nl = payload.find(b"\n", pos)
            if nl < 0:
                return None
            if nl + 1 - pos > limit:
                return pos
            pos = nl + 1
        return None

    # -- lifecycle -------------------------------------------------------------------
    def finish(self, src: Source) -> None:
        """The daemon shipped the source to its FINAL and the collector acked it."""
        src.done = True
        if src.reader is not None:
            src.last_size = max(src.last_size, src.size())
            src.reader.close()
            src.reader = None

    def open_at_rest(self, src: Source) -> Reader | None:
        """A fresh reader of a source whose live reader is closed (shipped to its FINAL).

        A backlog segment approved after the file's live tail was acked still needs the
        file's bytes: the file is found again under one of the paths the last scan saw it
        at (a rotation may have renamed or compressed it; offsets are of the decompressed
        stream either way), and its head must still be the source's. Plain files are
        tried before ``.gz`` copies (a compressor may still be writing one). The caller
        closes the reader. None when no path holds the source any more.
        """
        for path in sorted(src.paths, key=lambda p: (is_gzip(p), p)):
            try:
                reader = Reader(path)
            except OSError:
                continue
            try:
                head = reader.pread(0, len(src.head))
            except OSError:
                head = b""
            if heads_match(src.head, head) and len(head) == len(src.head):
                return reader
            reader.close()
        return None

    def forget(self, src: Source) -> None:
        if src.reader is not None:
            src.reader.close()
        self.sources.remove(src)

    def close(self) -> None:
        for src in self.sources:
            if src.reader is not None:
                src.reader.close()
                src.reader = None


def _read_head(path: str) -> bytes:
    """fingerprint.read_head through the delete-sharing opener for plain files."""
    if is_gzip(path):
        return read_head(path)
    with open_shared(path) as f:
        return f.read(HEAD_BYTES)


def _note_growth(src: Source, r: Reader, st: os.stat_result, now: float) -> None:
    """A plain file grew past its readable end: move the end, note when."""
    if st.st_size > r.size:
        r.size = st.st_size
        src.last_growth = now
