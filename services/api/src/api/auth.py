"""Bearer-token authentication, compatible with the original service's tokens.

Tokens are HS256 JWTs signed with ``JWT_SECRET`` carrying ``user_id``, ``authorized``
and ``exp``. Every route needs a token unless its handler is marked ``opt=PUBLIC``:
forgetting the mark fails closed. :func:`authenticate` runs before the route's parameters
are parsed, so a request without a valid token is a 401 whatever else is wrong with it.
A token is only as good as its user: once the user is deleted, or has changed their
password since the token was issued, it is a 401 too (:class:`LiveUsers` says how soon).
A token carries the user's ``token_version`` as ``ver`` (tokens of the original service,
and of wadah before migration 0007, carry none: version 0).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import jwt
from litestar import Request
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
OPENAPI_PATH: Final = "/schema"  # the document and its UIs are public, as the routes they describe say
_AUTHORIZATION: Final = b"authorization"


def issue_token(settings: Settings, user_id: int, version: int = 0) -> str:
    exp = datetime.now(UTC) + timedelta(hours=settings.jwt_ttl_hours)
    claims = {"user_id": user_id, "authorized": True, "exp": exp, "ver": version}
    return jwt.encode(claims, settings.jwt_secret, ALGORITHM)


def verify_token(secret: str, token: str) -> tuple[int, int]:
    """The token's user id and version, or a 401; the algorithm is pinned, so ``none`` or RS256 never pass."""
    try:
        user_id, expires, version = _verified_claims(secret, token)
    except jwt.PyJWTError as exc:
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT) from exc
    if expires <= time.time():  # a cached token still expires on time
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT)
    return user_id, version


@lru_cache(maxsize=8192)
def _verified_claims(secret: str, token: str) -> tuple[int, float, int]:
    """``(user_id, exp, ver)`` of a token whose signature and claims check out; raises otherwise.

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
    version = claims.get("ver", 0)
    if type(version) is not int or version < 0:
        raise jwt.InvalidTokenError("ver must be a non-negative integer")
    return user_id, float(claims["exp"]), version


LIVE_USER = Query(
    select(User.token_version, User.operator).where(User.id == bindparam("row_id"), User.deleted_at.is_(None))
)


class LiveUsers:
    """The users this process has lately seen live, their token versions and roles, so that a
    token costs no query per request.

    A deleted user's token, and a token issued before its user's last password change,
    must stop working, but asking the database on every authenticated request would add
    a query to every hot path. Each process remembers for ``ttl`` seconds
    (``AUTH_USER_CACHE_SECONDS``) that a user was live, at which version and whether an
    operator; the process that deletes a user or changes a password forgets it at once,
    so there the old token fails on the next request. Other API processes
    (``WEB_CONCURRENCY`` > 1) may accept it for at most ``ttl`` seconds more: that is the
    staleness bound, for a revoked operator role too. 0 asks the database every time.
    """

    __slots__ = ("_max", "_seen", "_ttl")

    def __init__(self, ttl: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._seen: dict[int, tuple[float, int, bool]] = {}

    async def version(self, db: Database, user_id: int) -> int | None:
        """The user's current token version, or None once they are deleted (or never were)."""
        found = await self._lookup(db, user_id)
        return None if found is None else found[0]

    async def is_live(self, db: Database, user_id: int) -> bool:
        return await self._lookup(db, user_id) is not None

    async def is_operator(self, db: Database, user_id: int) -> bool:
        found = await self._lookup(db, user_id)
        return found is not None and found[1]

    async def _lookup(self, db: Database, user_id: int) -> tuple[int, bool] | None:
        """None for a user who is gone, else their token version and whether they are an operator."""
        now = time.monotonic()
        seen = self._seen.get(user_id)
        if seen is not None and seen[0] > now:
            return seen[1], seen[2]
        row = await db.fetch_one(LIVE_USER, row_id=user_id)
        if row is None:
            self._seen.pop(user_id, None)
            return None
        if len(self._seen) >= self._max:
            self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
            if len(self._seen) >= self._max:
                self._seen.clear()
        version, operator = int(row[0]), bool(row[1])
        self._seen[user_id] = (now + self._ttl, version, operator)
        return version, operator

    def forget(self, user_id: int) -> None:
        """The user is gone or has a new password: their old tokens stop working here on the next request."""
        self._seen.pop(user_id, None)


async def authenticate(request: Request[Any, Any, Any]) -> None:
    """The app's ``before_request`` hook: the token's user becomes ``request.user``, or a 401.

    A hook rather than Litestar's authentication middleware: it runs at the same point
    (after routing, before the route's parameters are parsed) on the request object
    Litestar builds anyway, where a middleware costs every request a layer of its own,
    a second exception-handling layer, a connection object and a parse of every header.
    CORS preflights (``OPTIONS``), ``opt=PUBLIC`` handlers and the OpenAPI document need
    none. ``tests/api/test_auth.py`` checks that no handler replaces this hook with one of
    its own (the closest layer's ``before_request`` is the one Litestar runs).
    """
    scope = request.scope
    if (
        scope["method"] == "OPTIONS"
        or scope["route_handler"].opt.get("public")
        or scope["path"].startswith(OPENAPI_PATH)
    ):
        return
    header = next((value for name, value in scope["headers"] if name == _AUTHORIZATION), None)
    if header is None:
        raise ApiError(HTTP_401_UNAUTHORIZED, MISSING_JWT)
    scheme, _, token = header.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(HTTP_401_UNAUTHORIZED, MISSING_JWT)
    state = request.app.state
    user_id, version = verify_token(state.settings.jwt_secret, token)
    if await state.live_users.version(state.db, user_id) != version:
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT)
    scope["user"] = user_id
    scope["auth"] = token
