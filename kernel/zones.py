"""This machine's time zone: the one default of every `--tz` (ingest, check, ship).

tzlocal is imported when asked (it is a light dependency of every install), so a part
that never needs the local zone never loads it.
"""

from __future__ import annotations

import logging

__all__ = ["local_zone"]

log = logging.getLogger("logship.zones")


def local_zone() -> str:
    """The machine's IANA zone name, or UTC (with a warning) when it cannot be told."""
    try:
        import tzlocal

        return str(tzlocal.get_localzone_name() or "UTC")
    except Exception as exc:  # noqa: BLE001 - tzlocal raises its own zone errors; fall back loudly
        log.warning("cannot tell the local time zone (%s); using UTC", exc)
        return "UTC"
