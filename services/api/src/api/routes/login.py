"""POST /login: email and password in, a bearer token out; guessing is throttled (api.throttle)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_401_UNAUTHORIZED, HTTP_429_TOO_MANY_REQUESTS
from sqlalchemy import bindparam, select, update

from api.auth import PUBLIC, issue_token
from api.errors import INVALID_CREDENTIALS, TOO_MANY_FAILURES, ApiError, error_response
from api.routes.common import BAD_BODY, TOO_LARGE, UNAVAILABLE, client_address
from api.schemas import Credentials, Token
from api.state import app_state
from shared.db import Query
from shared.emails import email_key
from shared.models import User
from shared.passwords import needs_upgrade

# The column compares bytes (migration 0007) and holds shared.emails' normal form, which
# is also the throttle's key: one address, one account, one counter.
FIND_LOGIN = Query(
    select(User.id, User.password, User.token_version).where(
        User.email == bindparam("email"), User.deleted_at.is_(None)
    )
)
# A rehash is bookkeeping, not an edit: updated_at keeps saying when the user last changed something.
SET_PASSWORD = Query(
    update(User)
    .where(User.id == bindparam("row_id"))
    .values(password=bindparam("password"), updated_at=User.updated_at)
)


@post(
    "/login",
    opt=PUBLIC,
    status_code=HTTP_200_OK,
    tags=["auth"],
    operation_id="login",
    summary="Log in",
    description="Trades an email and password for a bearer token (`Authorization: Bearer <token>`). "
    "Repeated failures for one email or from one address are refused with 429 until `Retry-After` has passed.",
    responses={
        **BAD_BODY,
        **error_response(401, "unknown email or wrong password (the same answer for both)", INVALID_CREDENTIALS),
        **TOO_LARGE,
        **error_response(429, "too many failed logins; wait Retry-After seconds", TOO_MANY_FAILURES),
        **UNAVAILABLE,
    },
)
async def login(request: Request[Any, Any, Any], data: JSONBody[Credentials]) -> Token:
    """Unknown email and wrong password fail alike, in message and in time.

    The attempt is counted before the password is checked (api.throttle), so concurrent
    guesses cannot all slip under the limit while the first ones are being verified.
    """
    state = app_state(request)
    email = email_key(data.email)
    address = client_address(request)
    wait = await state.login_throttle.reserve(email, address)
    if wait is not None:
        raise ApiError(HTTP_429_TOO_MANY_REQUESTS, TOO_MANY_FAILURES, headers={"Retry-After": str(wait)})
    row = await state.db.fetch_one(FIND_LOGIN, email=email)
    verified = await state.passwords.verify(row[1] if row else None, data.password)
    if row is None or not verified:
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_CREDENTIALS)
    await state.login_throttle.succeeded(email, address)
    if needs_upgrade(row[1]):  # legacy bcrypt, or argon2 with old parameters
        await state.db.execute(SET_PASSWORD, row_id=row[0], password=await state.passwords.rehash(data.password))
    return Token("success login", issue_token(state.settings, row[0], row[2]))
