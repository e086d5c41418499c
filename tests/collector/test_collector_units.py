"""The collector's small parts on their own: config, auth, credit."""

from __future__ import annotations

from pathlib import Path

import pytest

from logship.collector.auth import Authenticator, bearer_token, hmac_token
from logship.collector.config import load_config, parse_listen
from logship.collector.credit import CreditBank
from logship.collector.errors import AuthFileError
from logship.collector.metrics import Metrics
from logship.kernel.errors import ConfigError
from tests.run import logship



@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    p = tmp_path / "tokens.txt"
    p.write_text("# fleet\nalpha tok-a\n\nbeta tok-b\n")
    return p


def test_config_toml_limits_and_overrides(tmp_path, tokens):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'listen = "0.0.0.0:9000"\ntoken_file = "{tokens}"\nheartbeat_s = 5\n'
                        "[limits]\nmax_batch_bytes = 1048576\nmultiline_flush_s = 0.5\n")
    cfg = load_config(cfg_file, port=9100)
    assert (cfg.host, cfg.port, cfg.heartbeat_s) == ("0.0.0.0", 9100, 5.0)
    assert cfg.limits.max_batch_bytes == 1 << 20 and cfg.limits.multiline_flush_s == 0.5
    assert cfg.limits.max_frame_bytes == 4 << 20  # untouched defaults stay
    assert cfg.token_file == tokens and cfg.scheme == "http"


@pytest.mark.parametrize("text, msg", [
    ("prot = 1\n", "unknown config key(s): prot"),
    ("[limits]\nmax_batch = 1\n", "limits.max_batch"),
    ("heartbeat_s = 'x'\n", "heartbeat_s"),
    ("[limits]\nqueue_bytes = -1\n", "must not be negative"),
    ("listen = 'nope'\n", "HOST:PORT"),
    ("token_file = 3\n", "path string"),
    ("a = [\n", "invalid TOML"),
    ("max_concurrent_queries = 0\n", "max_concurrent_queries must be at least 1"),
    ("query_queue_timeout_s = 'soon'\n", "query_queue_timeout_s"),
    ("query_nice = 20\n", "query_nice must be 0..19"),
    ("db_threads = 0\n", "db_threads must be at least 1"),
], ids=["unknown", "unknown-limit", "type", "negative", "listen", "path", "toml", "no-query-slot",
        "queue-timeout-type", "nice", "db-threads"])
def test_config_errors_are_named(tmp_path, tokens, text, msg):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        load_config(p, token_file=tokens)


def test_query_limits_have_defaults_and_can_be_set(tmp_path, tokens):
    cfg = load_config(None, token_file=tokens)
    assert (cfg.query_row_limit, cfg.query_time_limit_s, cfg.max_concurrent_queries,
            cfg.query_queue_timeout_s, cfg.query_nice, cfg.db_threads) == (10_000, 10.0, 2, 10.0, 19, 1)
    p = tmp_path / "c.toml"
    p.write_text("max_concurrent_queries = 3\nquery_queue_timeout_s = 2\nquery_time_limit_s = 0.5\n")
    cfg = load_config(p, token_file=tokens)
    assert (cfg.max_concurrent_queries, cfg.query_queue_timeout_s, cfg.query_time_limit_s) == (3, 2.0, 0.5)


def test_config_needs_tokens_and_both_tls_files(tokens, tmp_path):
    with pytest.raises(ConfigError, match="--token-file"):
        load_config(None)
    with pytest.raises(ConfigError, match="go together"):
        load_config(None, token_file=tokens, tls_cert=tmp_path / "c.pem")
    assert parse_listen("[::1]:0") == ("::1", 0)


def test_collect_with_a_bad_config_is_one_line(tmp_path, tokens):
    p = tmp_path / "c.toml"
    p.write_text("bogus = 1\n")
    r = logship("collect", "--config", p, "--token-file", tokens)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "bogus" in r.stderr


def test_token_file_hmac_and_admin(tmp_path, tokens):
    secret = tmp_path / "secret"
    secret.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    admin = tmp_path / "admin"
    admin.write_text("ops adm-1\nadm-2\n")
    auth = Authenticator.from_files(tokens, secret, admin)
    assert auth.client_id("tok-a") == "alpha" and auth.client_id("tok-b") == "beta"
    t = hmac_token(b"0123456789abcdef0123456789abcdef", "desk-42")
    assert auth.client_id(t) == "desk-42"
    assert auth.client_id(t[:-1] + ("0" if t[-1] != "0" else "1")) is None
    assert auth.client_id("other:" + t.split(":")[1]) is None  # a token names its own client only
    assert auth.client_id(None) is None and auth.client_id("adm-1") is None
    assert auth.is_admin("adm-1") and auth.is_admin("adm-2") and not auth.is_admin("tok-a")
    assert bearer_token("Bearer  abc ") == "abc" and bearer_token("Basic abc") is None and bearer_token("") is None


@pytest.mark.parametrize("text, msg", [
    ("alpha\n", ":1: expected `client_id token`"),
    ("al pha tok\n", ":1: expected"),
    ("a t1\nb t1\n", ":2: token already given"),
    ("bad/id t\n", ":1:"),
])
def test_bad_token_files_name_file_and_line(tmp_path, text, msg):
    p = tmp_path / "t.txt"
    p.write_text(text)
    with pytest.raises(AuthFileError, match=msg.replace("`", ".")):
        Authenticator.from_files(p)


def _bank(budget=1000, initial=400, min_credit=100, full=lambda: False) -> CreditBank:
    return CreditBank(budget, initial, min_credit, Metrics(), writer_full=full)


def test_credit_fair_share_and_return():
    bank = _bank()
    a, ga = bank.open(lambda n: None)
    assert ga == 400 and bank.inflight == 400
    b, gb = bank.open(lambda n: None)
    assert gb == 400  # target = min(initial, 1000 // 2)
    c, gc = bank.open(lambda n: None)
    assert gc == 200 and bank.inflight == 1000  # the budget is spent
    assert bank.consume(a, 300) and not bank.consume(a, 101)
    assert bank.returned(a, 300) == 300 - 67  # back to budget; the target is now 1000 // 3 = 333
    bank.close(b)
    assert bank.inflight == 333 + 200 and b.window == 0


def test_credit_window_starts_at_initial_and_grows_to_max_credit_when_alone():
    """max_credit: a lone connection's window grows past initial_credit up to the ceiling."""
    bank = CreditBank(10_000, 400, 100, Metrics(), writer_full=lambda: False, max_credit=2_000)
    a, ga = bank.open(lambda n: None)
    assert ga == 400  # initial_credit on open
    assert bank.consume(a, 400)
    assert bank.returned(a, 400) == 2_000  # topped up to max_credit, not the budget (10,000)
    assert a.window == 2_000 and bank.inflight == 2_000
    crowd = [bank.open(lambda n: None) for _ in range(99)]
    assert bank.target() == 100  # 100 connections: the fair share (10,000 // 100) rules
    assert all(g <= 400 for _, g in crowd)


def test_credit_never_starves_and_stops_when_the_writer_is_full():
    full = [False]
    bank = _bank(budget=200, initial=200, min_credit=100, full=lambda: full[0])
    accounts = [bank.open(lambda n: None) for _ in range(4)]
    assert [g for _, g in accounts] == [200, 100, 100, 100]  # over budget only by min_credit each
    full[0] = True
    a = accounts[0][0]
    assert bank.consume(a, 200) and bank.returned(a, 200) == 0  # writer full: no new credit
    sent: list[int] = []
    a.send_credit = sent.append
    full[0] = False
    bank.replenish()
    assert sent and a.window == sent[0] > 0
