"""Bearer-token authentication, compatible with the original service's tokens.

Tokens are HS256 JWTs signed with ``JWT_SECRET`` carrying ``user_id``, ``authorized``
and ``exp``. Every route needs a token unless its handler is marked ``opt=PUBLIC``:
forgetting the mark fails closed. The middleware runs before the route's parameters
are parsed, so a request without a valid token is a 401 whatever else is wrong with it.
A token is only as good as its user: once the user is deleted it is a 401 too
(:class:`LiveUsers` says how soon).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import jwt
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.status_codes import HTTP_401_UNAUTHORIZED
from sqlalchemy import bindparam, select

from api.errors import ApiError
from shared.db import Database, Query
from shared.models import User
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
        user_id, expires = _verified_claims(secret, token)
    except jwt.PyJWTError as exc:
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT) from exc
    if expires <= time.time():  # a cached token still expires on time
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT)
    return user_id


@lru_cache(maxsize=8192)
def _verified_claims(secret: str, token: str) -> tuple[int, float]:
    """``(user_id, exp)`` of a token whose signature and claims check out; raises otherwise.

    Verifying a JWT (base64, JSON, HMAC and PyJWT's key checks) costs more CPU than the
    rest of an authenticated request, and a client sends the same token with every
    request. A token string is immutable, so its signature is checked once per process
    (per secret) and remembered; only the expiry, which depends on the clock, is
    compared on every use. Failures are not cached (lru_cache keeps only returns).
    """
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "user_id"]})
    user_id = claims.get("user_id")
    if type(user_id) is not int or user_id <= 0:
        raise jwt.InvalidTokenError("user_id must be a positive integer")
    return user_id, float(claims["exp"])


USER_IS_LIVE = Query(select(User.operator).where(User.id == bindparam("row_id"), User.deleted_at.is_(None)))


class LiveUsers:
    """The users this process has lately seen live, so that a token costs no query per request.

    A deleted user's token must stop working, but asking the database on every
    authenticated request would add a query to every hot path. Each process remembers
    for ``ttl`` seconds (``AUTH_USER_CACHE_SECONDS``) that a user was live; the process
    that deletes a user forgets it at once, so there the token fails on the next
    request. Other API processes (``WEB_CONCURRENCY`` > 1) may accept it for at most
    ``ttl`` seconds more: that is the staleness bound. 0 asks the database every time.
    The same read brings the user's operator role, with the same bound on a revoke.
    """

    __slots__ = ("_max", "_seen", "_ttl")

    def __init__(self, ttl: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._seen: dict[int, tuple[float, bool]] = {}

    async def is_live(self, db: Database, user_id: int) -> bool:
        return await self._lookup(db, user_id) is not None

    async def is_operator(self, db: Database, user_id: int) -> bool:
        return await self._lookup(db, user_id) is True

    async def _lookup(self, db: Database, user_id: int) -> bool | None:
        """None for a user who is gone, else whether they are an operator."""
        now = time.monotonic()
        seen = self._seen.get(user_id)
        if seen is not None and seen[0] > now:
            return seen[1]
        row = await db.fetch_one(USER_IS_LIVE, row_id=user_id)
        if row is None:
            self._seen.pop(user_id, None)
            return None
        if len(self._seen) >= self._max:
            self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
            if len(self._seen) >= self._max:
                self._seen.clear()
        operator = bool(row[0])
        self._seen[user_id] = (now + self._ttl, operator)
        return operator

    def forget(self, user_id: int) -> None:
        """The user is gone: their token stops working here on the next request."""
        self._seen.pop(user_id, None)


class BearerAuth(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if header is None:
            raise ApiError(HTTP_401_UNAUTHORIZED, MISSING_JWT)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(HTTP_401_UNAUTHORIZED, MISSING_JWT)
        state = connection.app.state
        user_id = verify_token(state.settings.jwt_secret, token.strip())
        if not await state.live_users.is_live(state.db, user_id):
            raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT)
        return AuthenticationResult(user=user_id, auth=token)


auth_middleware = DefineMiddleware(BearerAuth, exclude_from_auth_key="public", exclude=["^/schema"])
