"""Log levels: every format's words and numbers -> the six of the client format
(TRACE DEBUG INFO WARN ERROR FATAL), so `WHERE level = 'ERROR'` works across formats."""

from __future__ import annotations

__all__ = ["is_level_word", "normalize_level", "syslog_severity_level", "numeric_level", "LEVELS",
           "SYSLOG_FACILITIES"]

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

_ALIASES = {
    "TRACE": "TRACE", "TRC": "TRACE", "FINEST": "TRACE", "VERBOSE": "TRACE",  # below DEBUG (Android, Serilog)
    "DEBUG": "DEBUG", "DBG": "DEBUG", "FINE": "DEBUG",
    "INFO": "INFO", "INFORMATION": "INFO", "INF": "INFO", "NOTICE": "INFO",
    "WARN": "WARN", "WARNING": "WARN", "WRN": "WARN",
    "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR",
    "FATAL": "FATAL", "CRITICAL": "FATAL", "CRIT": "FATAL", "ALERT": "FATAL",
    "EMERG": "FATAL", "EMERGENCY": "FATAL", "PANIC": "FATAL",
}

# RFC 5424 severities 0..7: emerg alert crit err warning notice info debug
_SEVERITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")

SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)


def is_level_word(word: str) -> bool:
    """`INFO`, `[warn]`, `ERROR:`: a level word, whatever its brackets or colon."""
    return word.strip("[]():").upper() in _ALIASES


def normalize_level(word: str | None, extra: dict[str, str] | None = None) -> str | None:
    """`warning` -> `WARN`, `crit` -> `FATAL`; unknown words are kept, upper-cased."""
    if word is None:
        return None
    w = word.strip().upper()
    if extra and w in extra:
        return extra[w]
    return _ALIASES.get(w, w or None)


def syslog_severity_level(pri: int) -> tuple[str, str, int]:
    """A syslog PRI value -> (level, facility name, severity number)."""
    facility, severity = divmod(pri, 8)
    name = SYSLOG_FACILITIES[facility] if facility < len(SYSLOG_FACILITIES) else str(facility)
    return _SEVERITY[severity], name, severity


def numeric_level(key: str, n: int) -> str | None:
    """A level given as a number, read by the convention of the key that holds it:
    journald's `PRIORITY` is a syslog severity (0..7), OpenTelemetry's `severityNumber`
    runs 1..24 in blocks of four (TRACE..FATAL), and bunyan/pino write 10..60 in tens.
    None for a number outside its convention (the caller keeps it as text)."""
    if key == "PRIORITY":
        return _SEVERITY[n] if 0 <= n <= 7 else None
    if key == "severityNumber":
        return LEVELS[(n - 1) // 4] if 1 <= n <= 24 else None
    if n % 10 == 0 and 10 <= n <= 60:
        return LEVELS[n // 10 - 1]
    return None
