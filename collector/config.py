"""The collector's configuration: one frozen value class, loaded from TOML or options.

Unknown keys are an error (docs/protocol.md): a typo in a limit must not
silently fall back to its default.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from logship.kernel.protocol import DEFAULT_LIMITS, Limits
from logship.kernel.tomlconfig import read_toml

from .errors import ConfigError

__all__ = ["CollectorConfig", "SyslogListener", "load_config", "parse_listen", "default_parse_workers"]

MAX_PARSE_WORKERS = 64


def default_parse_workers() -> int:
    """``parse_workers`` when not set: one per CPU this process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


@dataclass(frozen=True)
class SyslogListener:
    """One syslog listener (`[[syslog]]` tables; none by default). Syslog carries no
    token: the listener stands for one client id. Bound to 127.0.0.1 unless `listen`
    says otherwise; RFC 3164 payloads take its zone `tz` and the receive time's year."""

    protocol: str          # tcp (RFC 6587 framing), udp, or tls (RFC 5425)
    client_id: str
    host: str = "127.0.0.1"
    port: int = 0          # 0: a free port (the log says which)
    tz: str = "UTC"
    tls_cert: Path | None = None  # tls: default the collector's --tls-cert/--tls-key
    tls_key: Path | None = None
    # sender network (CIDR) -> client id, the longest match first; a sender in none of
    # them is the listener's client_id, or refused when there is none
    networks: tuple[tuple[str, str], ...] = ()
    # tls: the CA that signs the senders' client certificates, and certificate name
    # (a SAN DNS name or the subject CN) -> client id. Set: client certificates are
    # required, and one that maps to no client is refused
    tls_ca: Path | None = None
    certificates: tuple[tuple[str, str], ...] = ()

    def client_for_cert(self, peercert: dict[str, Any] | None) -> tuple[str | None, list[str]]:
        """The client id a verified client certificate stands for (its SAN DNS names
        first, in their order, then its subject CN), or None; and the names it holds."""
        if not peercert:
            return None, []
        names = [v for k, v in peercert.get("subjectAltName", ()) if k == "DNS"]
        names += [v for rdn in peercert.get("subject", ()) for k, v in rdn if k == "commonName"]
        mapping = dict(self.certificates)
        for name in names:
            if name in mapping:
                return mapping[name], names
        return None, names

    def client_for(self, address: str) -> str | None:
        """The client id messages from this sender address are stored for, or None."""
        import ipaddress

        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return self.client_id or None
        best: tuple[int, str] | None = None
        for net, cid in self.networks:
            n = ipaddress.ip_network(net, strict=False)
            if ip.version == n.version and ip in n and (best is None or n.prefixlen > best[0]):
                best = (n.prefixlen, cid)
        return best[1] if best else (self.client_id or None)


_SYSLOG_KEYS = {"protocol", "client_id", "listen", "tz", "tls_cert", "tls_key", "networks", "tls_ca",
                "certificates"}


def _certificates(path: Path | None, i: int, t: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """`certificates = {"web-1.example" = "web"}` with `tls_ca`: certificate name -> client id."""
    raw = t.get("certificates")
    if raw is None:
        return ()
    where = f"{path}: [[syslog]] #{i + 1}: certificates"
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where} must be a table of \"certificate name\" = \"client id\"")
    if t.get("protocol") != "tls" or not isinstance(t.get("tls_ca"), str):
        raise ConfigError(f"{where} needs protocol = \"tls\" and tls_ca (the CA file that signs the client certificates)")
    if "client_id" in t or "networks" in t:
        raise ConfigError(f"{where}: the client ids come from the certificates; drop client_id and networks")
    out = []
    for name, cid in raw.items():
        if not isinstance(cid, str) or not cid:
            raise ConfigError(f"{where}: {name!r} needs a client id")
        out.append((name, cid))
    return tuple(out)


def _networks(path: Path | None, i: int, raw: Any) -> tuple[tuple[str, str], ...]:
    """`networks = {"10.1.0.0/16" = "routers"}`: CIDR -> client id."""
    import ipaddress

    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [[syslog]] #{i + 1}: networks must be a table of \"CIDR\" = \"client id\"")
    out = []
    for net, cid in raw.items():
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"{path}: [[syslog]] #{i + 1}: networks: {net!r} is not a network (e.g. 10.0.0.0/8)") \
                from None
        if not isinstance(cid, str) or not cid:
            raise ConfigError(f"{path}: [[syslog]] #{i + 1}: networks: {net!r} needs a client id")
        out.append((net, cid))
    return tuple(out)


def _syslog_listeners(path: Path | None, raw: Any) -> tuple[SyslogListener, ...]:
    """`[[syslog]]` tables: protocol, client_id, listen (HOST:PORT), tz, tls_cert, tls_key, networks,
    tls_ca with certificates."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(f"{path}: syslog must be an array of tables ([[syslog]])")
    out = []
    for i, t in enumerate(raw):
        unknown = set(t) - _SYSLOG_KEYS
        if unknown:
            raise ConfigError(f"{path}: [[syslog]] #{i + 1}: unknown key(s): {', '.join(sorted(unknown))}")
        proto, cid = t.get("protocol"), t.get("client_id")
        if proto not in ("tcp", "udp", "tls"):
            raise ConfigError(f"{path}: [[syslog]] #{i + 1}: protocol must be tcp, udp or tls, got {proto!r}")
        networks = _networks(path, i, t.get("networks", {}))
        certificates = _certificates(path, i, t)
        if cid is None and (networks or certificates):
            cid = ""
        if not isinstance(cid, str) or (not cid and not networks and not certificates):
            raise ConfigError(f"{path}: [[syslog]] #{i + 1}: client_id (the client this listener stands for) "
                              "or networks (sender network -> client id) is required")
        host, port = parse_listen(str(t.get("listen", "127.0.0.1:0")))
        tz = t.get("tz", "UTC")
        if not isinstance(tz, str):
            raise ConfigError(f"{path}: [[syslog]] #{i + 1}: tz must be a zone name")
        _check_http_tz(tz)
        paths = {k: Path(t[k]) if isinstance(t.get(k), str) else None for k in ("tls_cert", "tls_key", "tls_ca")}
        out.append(SyslogListener(proto, cid, host, port, tz, networks=networks, certificates=certificates,
                                  **paths))
    return tuple(out)


@dataclass(frozen=True)
class CollectorConfig:
    """Everything `logship collect` needs. Limits are the named limits of docs/protocol.md."""

    db: Path = Path("logship.duckdb")
    host: str = "127.0.0.1"
    port: int = 8787
    token_file: Path | None = None
    hmac_secret_file: Path | None = None
    admin_token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    limits: Limits = DEFAULT_LIMITS
    # smallest credit window granted to a connection when the budget is shared by many
    min_credit: int = 64 << 10
    # largest credit window of one connection (a lone fast shipper grows up to it; with
    # many connections their share of inflight_budget is smaller): two commits' worth
    max_credit: int = 16 << 20
    # WebSocket ping interval; a peer that misses a pong for this long is closed
    heartbeat_s: float = 20.0
    # /v1/query limits
    query_row_limit: int = 10_000
    # counted from when the query starts executing; it is then interrupted
    query_time_limit_s: float = 10.0
    # queries executing at once (each on its own cursor and thread); more wait in a queue
    max_concurrent_queries: int = 2
    # how long a query may wait in that queue before it is answered 503
    query_queue_timeout_s: float = 10.0
    # niceness of the threads that execute queries (Linux: per thread), so that runaway
    # queries leave the CPU to the writer and the connections first
    query_nice: int = 19
    # DuckDB worker threads of the collector's database; with 1 a query executes only on
    # its own (niced) thread instead of sharing DuckDB's pool with the writer's commits
    db_threads: int = 1
    # processes that parse big items of context-free formats for the writer (store/pool.py,
    # forked at start before the database opens); 0: the writer's thread parses everything
    parse_workers: int = field(default_factory=default_parse_workers)
    # test hook: sleep this long before every commit (simulates a slow store)
    commit_delay_s: float = 0.0
    # a connection must finish its request line and headers within this long (slowloris
    # guard; also how long an idle keep-alive connection stays open)
    header_timeout_s: float = 30.0
    # after the store failed to commit (disk full, I/O error, invalidated database): the
    # first wait before trying again, doubled after each failure up to store_retry_max_s
    store_retry_s: float = 0.5
    store_retry_max_s: float = 10.0
    # <db>.collector.json could not be written (a full disk at start): try again this often
    publish_retry_s: float = 2.0
    # the zone of HTTP bodies (/v1/lines, /v1/backlog) whose request names none (`--http-tz`)
    http_tz: str = "UTC"
    # user grammar directories (`--grammar-dir`): their formats may be declared and detected
    grammar_dirs: tuple[Path, ...] = ()
    # `[retention]` (docs/storage.md): rows older than `days` are pruned every `every_s` on
    # the writer's thread (0: never), first written as Parquet under `export_dir` if set
    retention_days: float = 0.0
    retention_every_s: float = 3600.0
    retention_export_dir: Path | None = None
    # syslog listeners (collector/intake/syslognet.py): off unless configured
    syslog: tuple[SyslogListener, ...] = ()

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


_LIMIT_NAMES = {f.name for f in fields(Limits)}
_RETENTION_KEYS = {"days": "retention_days", "every_s": "retention_every_s", "export_dir": "retention_export_dir"}
_TOP_NAMES = {f.name for f in fields(CollectorConfig)} - {"limits", "syslog"} - set(_RETENTION_KEYS.values())
_PATH_KEYS = {"db", "token_file", "hmac_secret_file", "admin_token_file", "tls_cert", "tls_key",
              "retention_export_dir"}
_PATH_LIST_KEYS = {"grammar_dirs"}


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (port 0 picks a free one); `[::1]:PORT` for IPv6."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8787")
    return host.strip("[]"), int(port)


def _coerce(name: str, value: Any, expected: Any) -> Any:
    if name in _PATH_LIST_KEYS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config key {name!r}: expected a list of path strings, got {value!r}")
        return tuple(Path(v) for v in value)
    if name in _PATH_KEYS:
        if not isinstance(value, str):
            raise ConfigError(f"config key {name!r}: expected a path string, got {value!r}")
        return Path(value)
    if isinstance(expected, bool) or isinstance(value, bool):
        if type(value) is not type(expected):
            raise ConfigError(f"config key {name!r}: expected {type(expected).__name__}, got {value!r}")
        return value
    if isinstance(expected, float) and isinstance(value, (int, float)):
        return float(value)
    if isinstance(expected, int) and isinstance(value, int):
        if value < 0:
            raise ConfigError(f"config key {name!r}: must not be negative, got {value}")
        return value
    if isinstance(expected, str) and isinstance(value, str):
        return value
    raise ConfigError(f"config key {name!r}: expected {type(expected).__name__}, got {value!r}")


def _check_http_tz(tz: str) -> None:
    from logship.parser.timestamps import TimestampError, zone

    try:
        zone(tz)
    except TimestampError:
        raise ConfigError(f"http_tz {tz!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None


def load_config(path: Path | None = None, **overrides: Any) -> CollectorConfig:
    """Read a TOML file (top-level keys plus a `[limits]` table), then apply overrides.

    Overrides whose value is None are ignored (unset CLI options). `listen = "H:P"` is
    accepted as a shorthand for host and port.
    """
    cfg = CollectorConfig()
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_toml(path)
    limits_raw = raw.pop("limits", {})
    syslog = _syslog_listeners(path, raw.pop("syslog", []))
    if not isinstance(limits_raw, dict):
        raise ConfigError(f"{path}: [limits] must be a table")
    retention_raw = raw.pop("retention", {})
    if not isinstance(retention_raw, dict):
        raise ConfigError(f"{path}: [retention] must be a table")
    unknown_retention = set(retention_raw) - set(_RETENTION_KEYS)
    if "listen" in raw:
        raw["host"], raw["port"] = parse_listen(str(raw.pop("listen")))
    unknown = set(raw) - _TOP_NAMES
    unknown_limits = set(limits_raw) - _LIMIT_NAMES
    if unknown or unknown_limits or unknown_retention:
        names = (sorted(unknown) + [f"limits.{n}" for n in sorted(unknown_limits)]
                 + [f"retention.{n}" for n in sorted(unknown_retention)])
        raise ConfigError(f"{path}: unknown config key(s): {', '.join(names)}")
    defaults = {f.name: getattr(cfg, f.name) for f in fields(CollectorConfig)}
    top = {k: _coerce(k, v, defaults[k]) for k, v in raw.items()}
    for k, v in retention_raw.items():
        name = _RETENTION_KEYS[k]
        top[name] = _coerce(name, v, defaults[name] if name != "retention_export_dir" else "")
    lim_defaults = dataclasses.asdict(DEFAULT_LIMITS)
    lims = {k: _coerce(k, v, lim_defaults[k]) for k, v in limits_raw.items()}
    for k, v in overrides.items():
        if v is None:
            continue
        if k in _LIMIT_NAMES:
            lims[k] = v
        elif k in _TOP_NAMES or k in _RETENTION_KEYS.values():
            top[k] = Path(v) if k in _PATH_KEYS else tuple(Path(p) for p in v) if k in _PATH_LIST_KEYS else v
        else:
            raise ConfigError(f"unknown collector option {k!r}")
    cfg = replace(cfg, limits=replace(DEFAULT_LIMITS, **lims), syslog=syslog, **top)
    if cfg.db_threads < 1:
        raise ConfigError(f"db_threads must be at least 1, got {cfg.db_threads}")
    if not 0 <= cfg.parse_workers <= MAX_PARSE_WORKERS:
        raise ConfigError(f"parse_workers must be 0..{MAX_PARSE_WORKERS} (0: parse in the writer's thread), "
                          f"got {cfg.parse_workers}")
    if cfg.query_nice > 19:
        raise ConfigError(f"query_nice must be 0..19, got {cfg.query_nice}")
    if cfg.max_concurrent_queries < 1:
        raise ConfigError(f"max_concurrent_queries must be at least 1, got {cfg.max_concurrent_queries}")
    if (cfg.tls_cert is None) != (cfg.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if cfg.retention_days < 0 or cfg.retention_every_s <= 0:
        raise ConfigError(f"[retention] days must be >= 0 and every_s > 0, got {cfg.retention_days}, "
                          f"{cfg.retention_every_s}")
    _check_http_tz(cfg.http_tz)
    for d in cfg.grammar_dirs:
        if not d.is_dir():
            raise ConfigError(f"grammar directory {d} does not exist (--grammar-dir / grammar_dirs)")
    if cfg.token_file is None and cfg.hmac_secret_file is None:
        raise ConfigError("the collector needs --token-file (or hmac_secret_file in its config)")
    return cfg


