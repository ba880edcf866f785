"""API bearer tokens: minting, the ``NAME:ROLE:SHA256`` entries of ``CLAW_API_TOKENS``, verification.

Tokens are random with 256 bits of entropy, so a fast SHA-256 digest is a safe thing to
store and no slow password hash sits on the request path. Only digests are configured;
comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import IntEnum

from claw_lab.errors import ConfigurationError

TOKEN_PREFIX = "claw_"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Role(IntEnum):
    """What a token may do; each role includes the ones below it."""

    VIEWER = 1  # reads
    OPERATOR = 2  # submit, cancel, retry
    ADMIN = 3  # worker control

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role called ``text`` (case-insensitive); ValueError for anything else."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}; use viewer, operator or admin") from None


@dataclass(frozen=True)
class ApiToken:
    """One configured token: who it is for, its role and the SHA-256 of the secret."""

    name: str
    role: Role
    digest: str

    @property
    def entry(self) -> str:
        """The ``NAME:ROLE:HASH`` line for ``CLAW_API_TOKENS``."""
        return f"{self.name}:{self.role.name.lower()}:{self.digest}"


def digest(token: str) -> str:
    """Hex SHA-256 of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def mint_token(name: str, role: Role | str) -> tuple[str, ApiToken]:
    """A new random token and its configuration entry; the token is shown once and never stored."""
    if not _NAME.match(name):
        raise ValueError("token name must be 1-64 letters, digits, '_', '.', '@' or '-'")
    level = role if isinstance(role, Role) else Role.parse(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, ApiToken(name=name, role=level, digest=digest(token))


def parse_entries(entries: list[str]) -> list[ApiToken]:
    """Parse ``CLAW_API_TOKENS`` entries; a malformed one is a `ConfigurationError` naming it by position."""
    tokens = []
    for position, entry in enumerate(entries, start=1):
        parts = entry.split(":")
        if len(parts) != 3 or not _NAME.match(parts[0]) or not _DIGEST.match(parts[2].lower()):
            raise ConfigurationError(f"CLAW_API_TOKENS entry {position} must be NAME:ROLE:SHA256HEX")
        try:
            role = Role.parse(parts[1])
        except ValueError as exc:
            raise ConfigurationError(f"CLAW_API_TOKENS entry {position}: {exc}") from None
        tokens.append(ApiToken(name=parts[0], role=role, digest=parts[2].lower()))
    return tokens


class TokenVerifier:
    """Checks presented bearer tokens against the configured digests in constant time."""

    def __init__(self, tokens: list[ApiToken]) -> None:
        self.tokens = tokens

    def verify(self, presented: str) -> ApiToken | None:
        """The token entry matching ``presented``, or None; every entry is compared."""
        candidate = digest(presented)
        match = None
        for token in self.tokens:
            if hmac.compare_digest(candidate, token.digest):
                match = token
        return match
