"""POST /login: email and password in, a bearer token out."""

from __future__ import annotations

from litestar import post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_401_UNAUTHORIZED
from sqlalchemy import bindparam, select, update

from api.auth import PUBLIC, issue_token
from api.errors import ApiError
from api.routes._common import BAD_ID, UNAVAILABLE, _error
from api.routes.users import normalize_email
from api.schemas import Credentials, Token
from api.state import AppState
from shared.db import Query
from shared.models import User
from shared.passwords import hash_password_async, needs_upgrade, verify_async

INVALID_CREDENTIALS = "invalid credentials"

FIND_LOGIN = Query(select(User.id, User.password).where(User.email == bindparam("email"), User.deleted_at.is_(None)))
SET_PASSWORD = Query(update(User).where(User.id == bindparam("row_id")).values(password=bindparam("password")))


@post(
    "/login",
    opt=PUBLIC,
    status_code=HTTP_200_OK,
    tags=["auth"],
    responses={**BAD_ID, 401: _error(INVALID_CREDENTIALS), **UNAVAILABLE},
)
async def login(state: AppState, data: JSONBody[Credentials]) -> Token:
    """Unknown email and wrong password fail alike, in message and in time."""
    row = await state.db.fetch_one(FIND_LOGIN, email=normalize_email(data.email))
    verified = await verify_async(row[1] if row else None, data.password)
    if row is None or not verified:
        raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_CREDENTIALS)
    if needs_upgrade(row[1]):  # legacy bcrypt, or argon2 with old parameters
        await state.db.execute(SET_PASSWORD, row_id=row[0], password=await hash_password_async(data.password))
    return Token("success login", issue_token(state.settings, row[0]))
