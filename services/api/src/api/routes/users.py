"""/users: registration is public; everything else needs a token, and writes are self-only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_409_CONFLICT

from api.auth import PUBLIC, SECURITY
from api.errors import ApiError, error_response, forbidden, not_found
from api.routes.common import (
    AUTH,
    BAD_BODY,
    BAD_ID,
    BAD_ID_OR_BODY,
    BAD_QUERY,
    NOT_FOUND,
    TOO_LARGE,
    UNAVAILABLE,
    Cursor,
    Limit,
    Offset,
    PathId,
    Statements,
    forbidden_response,
    list_page,
    parse_id,
    update_by_id,
    updated_values,
)
from api.schemas import Envelope, Message, Page, UserCreate, UserOut, UserUpdate, changes, utc
from api.state import AppState, AuthedRequest
from shared.db_errors import DuplicateKey
from shared.jobs import JobKind
from shared.models import User, utcnow
from shared.passwords import hash_password_async

EMAIL_TAKEN = "email is already registered"
_EMAIL_TAKEN = error_response(409, "another live user has this email", EMAIL_TAKEN)
_NOT_YOURS = forbidden_response("user")

_COLUMNS = (User.id, User.name, User.email, User.created_at, User.updated_at)

USERS = Statements(
    User,
    _COLUMNS,
    insert_fields=("name", "email", "password"),
)


def user_out(row: Sequence[Any]) -> UserOut:
    return UserOut(row[0], row[1], row[2], utc(row[3]), utc(row[4]))


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively everywhere (MySQL's collation already does)."""
    return email.strip().lower()


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @post(
        opt=PUBLIC,
        operation_id="register",
        summary="Register a user",
        description="Creates an account (no token needed) and queues its welcome email. Emails are "
        "compared case-insensitively and stored lower-cased.",
        responses={**BAD_BODY, **_EMAIL_TAKEN, **TOO_LARGE, **UNAVAILABLE},
    )
    async def register(self, state: AppState, data: JSONBody[UserCreate]) -> Envelope[UserOut]:
        email = normalize_email(data.email)
        password = await hash_password_async(data.password)
        now = utcnow()
        try:
            async with state.db.transaction() as tx:  # the welcome email's job commits with the user
                outcome = await tx.execute(USERS.insert, name=data.name, email=email, password=password, now=now)
                job = await state.jobs.request(
                    tx, JobKind.WELCOME_EMAIL, {"user_id": outcome.lastrowid}, requested_by=outcome.lastrowid
                )
        except DuplicateKey:
            raise ApiError(HTTP_409_CONFLICT, EMAIL_TAKEN) from None
        state.jobs.dispatch(job)
        return Envelope("success creating user", UserOut(outcome.lastrowid, data.name, email, utc(now), utc(now)))

    @get(
        security=SECURITY,
        operation_id="listUsers",
        summary="List users",
        description="A page of live users in id order; `meta.total` counts them all.",
        responses={**BAD_QUERY, **AUTH, **UNAVAILABLE},
    )
    async def list_users(
        self, state: AppState, limit: Limit = 20, offset: Offset = 0, cursor: Cursor = None
    ) -> Page[UserOut]:
        return await list_page(state.db, USERS, "success getting users", user_out, limit, offset, cursor)

    @get(
        "/{user_id:str}",
        security=SECURITY,
        operation_id="getUser",
        summary="Get a user",
        description="One live user; a deleted one is a 404.",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **UNAVAILABLE},
    )
    async def get_user(self, state: AppState, user_id: PathId) -> Envelope[UserOut]:
        row = await state.db.fetch_one(USERS.get, row_id=parse_id(user_id))
        if row is None:
            raise not_found()
        return Envelope("success getting user", user_out(row))

    @put(
        "/{user_id:str}",
        security=SECURITY,
        operation_id="updateUser",
        summary="Update your user",
        description="Changes only the fields sent; only the token's own user may be changed.",
        responses={**BAD_ID_OR_BODY, **AUTH, **_NOT_YOURS, **NOT_FOUND, **_EMAIL_TAKEN, **TOO_LARGE, **UNAVAILABLE},
    )
    async def update_user(
        self, request: AuthedRequest, state: AppState, user_id: PathId, data: JSONBody[UserUpdate]
    ) -> Envelope[UserOut]:
        ident = parse_id(user_id)
        if ident != request.user:
            raise forbidden("user")
        sent = changes(data)
        if "email" in sent:
            sent["email"] = normalize_email(str(sent["email"]))
        if "password" in sent:
            sent["password"] = await hash_password_async(str(sent["password"]))
        try:
            async with state.db.transaction() as tx:
                if await tx.fetch_one(USERS.lock, row_id=ident) is None:
                    raise not_found()
                await tx.execute(update_by_id(User, [*sent, "updated_at"]), row_id=ident, **updated_values(sent))
                row = await tx.fetch_one(USERS.get, row_id=ident)
        except DuplicateKey:
            raise ApiError(HTTP_409_CONFLICT, EMAIL_TAKEN) from None
        assert row is not None
        return Envelope("success updating user", user_out(row))

    @delete(
        "/{user_id:str}",
        status_code=200,
        security=SECURITY,
        operation_id="deleteUser",
        summary="Delete your user",
        description="Soft-deletes the token's own user; its token stops working with the next request.",
        responses={**BAD_ID, **AUTH, **_NOT_YOURS, **NOT_FOUND, **UNAVAILABLE},
    )
    async def delete_user(self, request: AuthedRequest, state: AppState, user_id: PathId) -> Message:
        ident = parse_id(user_id)
        if ident != request.user:
            raise forbidden("user")
        outcome = await state.db.execute(USERS.soft_delete, row_id=ident, now=utcnow())
        state.live_users.forget(ident)  # their token stops working with the next request
        if outcome.rowcount == 0:
            raise not_found()
        return Message("success deleting user")
