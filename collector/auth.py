"""Who is calling: bearer tokens -> client ids, and admin tokens for /v1/query.

Shippers send `Authorization: Bearer <token>`; every HTTP intake also takes HTTP Basic
whose password is the token, and the bulk endpoint Elasticsearch's `ApiKey`.

The client id always comes from the token, never from the payload (docs/protocol.md, authentication).
Two ways to issue shipper tokens, usable together:
- a token file of `client_id token` lines (`#` comments and blank lines allowed);
- a secret file: the token of client C is `C:` + hex(HMAC-SHA256(secret, C)), so a
  fleet can be provisioned without the collector storing a line per client.
Admin tokens (one per line, optionally `name token`) only open /v1/query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import AuthFileError

__all__ = ["Authenticator", "hmac_token", "bearer_token", "request_token"]

_CLIENT_ID = re.compile(r"[A-Za-z0-9_.@+-]{1,128}")  # fullmatch: `$` would allow a final newline


def hmac_token(secret: bytes, client_id: str) -> str:
    """The per-client token derived from the fleet secret."""
    return client_id + ":" + hmac.new(secret, client_id.encode("utf-8"), hashlib.sha256).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def request_token(authorization: str | None, *, api_key: bool = False) -> str | None:
    """The token of an Authorization header: `Bearer <token>`, or `Basic` whose password
    is the token (Python's HTTPHandler, agents that only speak Basic; the user name is
    not checked: the token alone says who calls), or with `api_key` (the Elasticsearch
    bulk endpoint) `ApiKey base64(id:key)` whose key is the token. None otherwise."""
    token = bearer_token(authorization)
    if token is not None or not authorization:
        return token
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "apikey") or (scheme == "apikey" and not api_key):
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    _, sep, secret = decoded.partition(":")
    return secret if sep and secret else None


def _read_lines(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthFileError(f"{path}: cannot read token file: {exc}") from None
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append((no, line.split()))
    return out


@dataclass(frozen=True)
class Authenticator:
    """Maps bearer tokens to client ids; knows the admin tokens."""

    tokens: dict[str, str]
    secret: bytes | None
    admin_tokens: frozenset[str]

    @classmethod
    def from_files(cls, token_file: Path | None, hmac_secret_file: Path | None = None,
                   admin_token_file: Path | None = None) -> "Authenticator":
        tokens: dict[str, str] = {}
        if token_file is not None:
            for no, parts in _read_lines(token_file):
                if len(parts) != 2 or not _CLIENT_ID.fullmatch(parts[0]):
                    raise AuthFileError(f"{token_file}:{no}: expected `client_id token` "
                                        "(client id of letters, digits, _.@+-)")
                if parts[1] in tokens:
                    raise AuthFileError(f"{token_file}:{no}: token already given to client {tokens[parts[1]]!r}")
                tokens[parts[1]] = parts[0]
        secret = None
        if hmac_secret_file is not None:
            try:
                secret = hmac_secret_file.read_bytes().strip()
            except OSError as exc:
                raise AuthFileError(f"{hmac_secret_file}: cannot read secret: {exc.strerror}") from None
            if len(secret) < 16:
                raise AuthFileError(f"{hmac_secret_file}: secret shorter than 16 bytes")
        admins: set[str] = set()
        if admin_token_file is not None:
            for no, parts in _read_lines(admin_token_file):
                if len(parts) not in (1, 2):
                    raise AuthFileError(f"{admin_token_file}:{no}: expected `token` or `name token`")
                admins.add(parts[-1])
        overlap = admins & tokens.keys()
        if overlap:
            raise AuthFileError("a token is both a shipper token and an admin token")
        return cls(tokens=tokens, secret=secret, admin_tokens=frozenset(admins))

    def client_id(self, token: str | None) -> str | None:
        """The client id a shipper token stands for, or None (-> 401)."""
        if not token:
            return None
        cid = self.tokens.get(token)
        if cid is not None:
            return cid
        if self.secret is not None:
            claimed, sep, _ = token.partition(":")
            if sep and _CLIENT_ID.fullmatch(claimed) and hmac.compare_digest(
                    hmac_token(self.secret, claimed), token):
                return claimed
        return None

    def is_admin(self, token: str | None) -> bool:
        return bool(token) and any(hmac.compare_digest(token, t) for t in self.admin_tokens)
