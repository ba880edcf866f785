"""Bearer-token authentication and role checks for the management API.

Tokens come from ``CLAW_API_TOKENS`` and ``CLAW_API_TOKENS_FILE`` (``NAME:ROLE:SHA256``
entries, see `claw_lab.tokens`); the file is re-read when it changes, at most every
``CLAW_API_TOKENS_RELOAD`` seconds, so a token removed there stops working without a
restart. The presented token is hashed and compared in constant time; it is never logged or echoed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from claw_lab.errors import AuthenticationFailed, ConfigurationError, PermissionDenied
from claw_lab.settings import Settings
from claw_lab.tokens import ApiToken, Role, TokenVerifier, parse_entries

logger = logging.getLogger(__name__)

# Documents the scheme in OpenAPI; the check itself is ours (auto_error would answer 403).
bearer_scheme = HTTPBearer(auto_error=False, description="A token minted by `claw-lab token create`.")

ANONYMOUS_ADMIN = ApiToken(name="anonymous", role=Role.ADMIN, digest="0" * 64)


def read_token_file(path: Path) -> list[ApiToken]:
    """The entries of a tokens file: one per line or comma-separated, ``#`` starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"CLAW_API_TOKENS_FILE {path} cannot be read: {exc.strerror}") from None
    entries = [part.strip() for line in text.splitlines() for part in line.split("#", 1)[0].split(",")]
    try:
        return parse_entries([entry for entry in entries if entry])
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc.message} (in CLAW_API_TOKENS_FILE {path})") from None


class TokenSource:
    """The configured tokens: the fixed ``CLAW_API_TOKENS`` plus a file checked for changes every ``reload`` seconds."""

    def __init__(self, fixed: list[ApiToken], path: Path | None, reload: float) -> None:
        self.fixed = fixed
        self.path = path
        self.reload = reload
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = time.monotonic()
        self._verifier = TokenVerifier([*fixed, *(read_token_file(path) if path else [])])
        if path is not None:
            self._stamp = self._file_stamp(path)

    @staticmethod
    def _file_stamp(path: Path) -> tuple[int, int] | None:
        try:
            status = path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    @property
    def empty(self) -> bool:
        """True when no token is configured at all."""
        return not self._verifier.tokens

    def verifier(self) -> TokenVerifier:
        """The verifier for the tokens configured now (re-reading the file if it changed)."""
        if self.path is None or not self.reload or time.monotonic() - self._checked < self.reload:
            return self._verifier
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._file_stamp(self.path)
            if stamp != self._stamp:
                try:
                    self._verifier = TokenVerifier([*self.fixed, *read_token_file(self.path)])
                    logger.info("API tokens reloaded from %s (%d)", self.path, len(self._verifier.tokens))
                except ConfigurationError as exc:  # a half-written file: keep what worked, say so once
                    logger.warning("keeping the previous API tokens: %s", exc.message)
                self._stamp = stamp
        return self._verifier


class Authenticator:
    """Turns a request's ``Authorization`` header into the `ApiToken` it presents."""

    def __init__(self, source: TokenSource | None) -> None:
        self.source = source

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The authenticator ``settings`` describe; refuses an API with no tokens unless auth is switched off."""
        if settings.api_auth_disabled:
            return cls(None)
        source = TokenSource(parse_entries(settings.api_tokens), settings.api_tokens_file, settings.api_tokens_reload)
        if source.empty:
            raise ConfigurationError(
                "CLAW_API_TOKENS is empty: mint a token with `claw-lab token create --name NAME --role admin` "
                "and set its entry, or set CLAW_API_AUTH_DISABLED=true for a private, local API"
            )
        return cls(source)

    @property
    def enabled(self) -> bool:
        """False when ``CLAW_API_AUTH_DISABLED`` lets every request act as admin."""
        return self.source is not None

    def authenticate(self, credentials: HTTPAuthorizationCredentials | None) -> ApiToken:
        """The configured token presented, or `AuthenticationFailed`."""
        if self.source is None:
            return ANONYMOUS_ADMIN
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise AuthenticationFailed("send an Authorization: Bearer <token> header")
        token = self.source.verifier().verify(credentials.credentials)
        if token is None:
            raise AuthenticationFailed("the bearer token is not one this API accepts", details="invalid_token")
        return token


def require_role(role: Role) -> Callable[..., ApiToken]:
    """A dependency that authenticates the request and checks its role is at least ``role``."""

    def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> ApiToken:
        authenticator: Authenticator = request.app.state.authenticator
        token = authenticator.authenticate(credentials)
        if token.role < role:
            raise PermissionDenied(
                f"this needs the {role.name.lower()} role; token {token.name!r} is {token.role.name.lower()}"
            )
        return token

    check.__name__ = f"require_{role.name.lower()}"
    return check
