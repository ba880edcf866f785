"""Bearer-token authentication and role checks for the management API.

Tokens come from ``CLAW_API_TOKENS`` (``NAME:ROLE:SHA256`` entries, see `claw_lab.tokens`).
The presented token is hashed and compared in constant time; it is never logged or echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from claw_lab.errors import AuthenticationFailed, ConfigurationError, PermissionDenied
from claw_lab.settings import Settings
from claw_lab.tokens import ApiToken, Role, TokenVerifier, parse_entries

# Documents the scheme in OpenAPI; the check itself is ours (auto_error would answer 403).
bearer_scheme = HTTPBearer(auto_error=False, description="A token minted by `claw-lab token create`.")

ANONYMOUS_ADMIN = ApiToken(name="anonymous", role=Role.ADMIN, digest="0" * 64)


class Authenticator:
    """Turns a request's ``Authorization`` header into the `ApiToken` it presents."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The authenticator ``settings`` describe; refuses an API with no tokens unless auth is switched off."""
        if settings.api_auth_disabled:
            return cls(None)
        tokens = parse_entries(settings.api_tokens)
        if not tokens:
            raise ConfigurationError(
                "CLAW_API_TOKENS is empty: mint a token with `claw-lab token create --name NAME --role admin` "
                "and set its entry, or set CLAW_API_AUTH_DISABLED=true for a private, local API"
            )
        return cls(TokenVerifier(tokens))

    @property
    def enabled(self) -> bool:
        """False when ``CLAW_API_AUTH_DISABLED`` lets every request act as admin."""
        return self.verifier is not None

    def authenticate(self, credentials: HTTPAuthorizationCredentials | None) -> ApiToken:
        """The configured token presented, or `AuthenticationFailed`."""
        if self.verifier is None:
            return ANONYMOUS_ADMIN
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise AuthenticationFailed("send an Authorization: Bearer <token> header")
        token = self.verifier.verify(credentials.credentials)
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
