"""Bearer-token authentication, compatible with the original service's tokens.

Tokens are HS256 JWTs signed with ``JWT_SECRET`` carrying ``user_id``, ``authorized``
and ``exp``. Every route needs a token unless its handler is marked ``opt=PUBLIC``:
forgetting the mark fails closed. The middleware runs before the route's parameters
are parsed, so a request without a valid token is a 401 whatever else is wrong with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.status_codes import HTTP_401_UNAUTHORIZED

from api.errors import ApiError
from shared.settings import Settings

PUBLIC: Final = {"public": True}
ALGORITHM: Final = "HS256"
MISSING_JWT: Final = "missing or malformed jwt"
INVALID_JWT: Final = "invalid or expired jwt"
BEARER_SCHEME: Final = "BearerToken"
SECURITY: Final[list[dict[str, list[str]]]] = [{BEARER_SCHEME: []}]


def issue_token(settings: Settings, user_id: int) -> str:
    exp = datetime.now(UTC) + timedelta(hours=settings.jwt_ttl_hours)
    return jwt.encode({"user_id": user_id, "authorized": True, "exp": exp}, settings.jwt_secret, ALGORITHM)


def verify_token(secret: str, token: str) -> int:
    """The token's user id, or a 401; the algorithm is pinned, so ``none`` or RS256 never pass."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "user_id"]})
    except jwt.PyJWTError as exc:
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT) from exc
    user_id = claims.get("user_id")
    if type(user_id) is not int or user_id <= 0:
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT)
    return user_id


class BearerAuth(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if header is None:
            raise ApiError(HTTP_401_UNAUTHORIZED, MISSING_JWT)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(HTTP_401_UNAUTHORIZED, MISSING_JWT)
        secret: str = connection.app.state.settings.jwt_secret
        return AuthenticationResult(user=verify_token(secret, token.strip()), auth=token)


auth_middleware = DefineMiddleware(BearerAuth, exclude_from_auth_key="public", exclude=["^/schema"])
