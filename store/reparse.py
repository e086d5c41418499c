"""`logship reparse`: run the current grammars over stored rejects.

An entry that now parses moves into metrics/events (through the one commit path,
store/commit.py: a Commit of already-committed bytes, so sessions and the ``ingests``
log follow and the ranges stay) and out of ``rejects``, all in one transaction. The source's own format, zone, mtime and path are reused, so reparsing
anywhere gives the same instants. ``line_too_long`` rejects hold only the start of
their line and are left alone.

A source stored as `unknown` (its format could not be detected live) is detected again
first, on its rejects: when a format is found now, the source takes it, its rejects that
parse move, and the others are replaced by that format's own rejects (their
``unknown_format`` code and message said nothing about the format). The same holds for
the early rejects of a source that was detected later (at 200 lines, at its end).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from logship.store.commit import UNKNOWN, UNKNOWN_RETRY_LINES, Commit
from logship.store.parsing import ParsedPiece, detect, parse_piece
from logship.store.store import Store

__all__ = ["ReparseSummary", "reparse_rejects", "REPARSE_PAGE"]

REPARSE_PAGE = 10_000


@dataclass
class ReparseSummary:
    examined: int = 0
    moved: int = 0
    records: int = 0
    sources: int = 0

    @property
    def still_rejected(self) -> int:
        return self.examined - self.moved

    def line(self) -> str:
        return (f"reparsed {self.examined:,} rejects of {self.sources:,} sources: {self.moved:,} now parse "
                f"({self.records:,} records), {self.still_rejected:,} still rejected")


def reparse_rejects(db: str | Path | Store, grammar_dirs: tuple[Path, ...] | list[Path] = (),
                    page: int = REPARSE_PAGE) -> ReparseSummary:
    """Reparse every reject (except line_too_long) with the current grammars; one transaction."""
    if grammar_dirs:
        from logship.parser import load_user_grammars

        load_user_grammars([str(d) for d in grammar_dirs])
    st = db if isinstance(db, Store) else Store(db)
    summary = ReparseSummary()
    try:
        with st.transaction():
            source_ids = [r[0] for r in st.con.execute(
                "SELECT DISTINCT source_id FROM rejects WHERE error_code <> 'line_too_long' ORDER BY 1"
            ).fetchall()]
            for sid in source_ids:
                # an unknown_format reject of a source with a format now is that format's own
                known = _redetect(st, sid) or st.source(sid).log_format != UNKNOWN
                parser = Commit(st).parser(sid)
                summary.sources += 1
                after = -1
                while True:  # pages of `page` rejects: a source of garbage is never loaded whole
                    rows = st.con.execute(
                        "SELECT byte_offset, raw, error_code FROM rejects WHERE source_id = ? AND error_code <> 'line_too_long' "
                        "AND byte_offset > ? ORDER BY byte_offset LIMIT ?",
                        [sid, after, page],
                    ).fetchall()
                    if not rows:
                        break
                    after = int(rows[-1][0])
                    summary.examined += len(rows)
                    pieces: list[ParsedPiece] = []
                    replaced: list[tuple[int, str, str]] = []
                    for offset, raw, code in rows:
                        piece = parse_piece(parser, bytes(raw), int(offset), final=True, arrow=False)
                        if piece.entries and not piece.rejects:
                            pieces.append(piece)
                        elif code == "unknown_format" and known and piece.rejects:
                            rj = piece.batch.rejects
                            replaced.append((int(offset), rj.error_code[0], rj.error[0]))
                    if replaced:
                        st.con.executemany(
                            "UPDATE rejects SET error_code = ?, error = ? WHERE source_id = ? AND byte_offset = ?",
                            [[code, err, sid, off] for off, code, err in replaced])
                    if not pieces:
                        continue
                    commit = Commit(st)
                    res = commit.add(Commit.reparse_plan(sid, pieces), pieces)
                    commit.write()
                    st.con.execute(
                        "DELETE FROM rejects WHERE source_id = ? AND list_contains(?, byte_offset)",
                        [sid, [p.start for p in pieces]],
                    )
                    summary.moved += len(pieces)
                    summary.records += res.records
    finally:
        if not isinstance(db, Store):
            st.close()
    return summary


def _redetect(st: Store, sid: str) -> bool:
    """Detect an `unknown` source's format on its first rejects; True when found (the
    source then has it, and a fresh context)."""
    src = st.source(sid)
    if src.log_format != UNKNOWN:
        return False
    rows = st.con.execute(
        "SELECT raw FROM rejects WHERE source_id = ? AND error_code = 'unknown_format' ORDER BY byte_offset LIMIT ?",
        [sid, UNKNOWN_RETRY_LINES]).fetchall()
    found = detect(b"".join(bytes(r[0]) + b"\n" for r in rows), tz=src.tz, mtime=src.mtime)
    if not found.detected:
        return False
    st.set_format(sid, found.name, found.rate)
    st.con.execute("UPDATE sources SET context = NULL WHERE source_id = ?", [sid])
    st.remember(sid, src.ranges, None)
    return True
