"""/users: registration is public; everything else needs a token, and writes are self-only.

A user's ``email`` is in their own record only (and in every record for an operator):
anyone else sees id, name and times (a
deliberate difference from the original, which listed every user's address to anyone
signed in). Changing the email or the password also needs ``current_password``, and a
new password ends every token issued before it (api.auth).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_409_CONFLICT,
    HTTP_429_TOO_MANY_REQUESTS,
)
from sqlalchemy import bindparam, select, update

from api.auth import PUBLIC, SECURITY
from api.errors import TOO_MANY_FAILURES, ApiError, error_response, forbidden, not_found
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
    client_address,
    forbidden_response,
    list_page,
    parse_id,
    update_by_id,
    updated_values,
)
from api.schemas import Envelope, FieldError, Message, Page, UserCreate, UserOut, UserUpdate, changes, utc
from api.state import AppState, AuthedRequest, app_state
from shared.db import Query
from shared.db_errors import DuplicateKey
from shared.jobs import JobKind
from shared.models import User, utcnow

EMAIL_TAKEN = "email is already registered"
TOO_MANY_REGISTRATIONS = "too many registrations, try again later"
WRONG_PASSWORD = "current password is incorrect"  # noqa: S105 - a message, not a password
NEEDS_CURRENT_PASSWORD = "current password is required to change the email or the password"  # noqa: S105
_EMAIL_TAKEN = error_response(409, "another live user has this email", EMAIL_TAKEN)
_NOT_YOURS = forbidden_response("user")

_COLUMNS = (User.id, User.name, User.email, User.created_at, User.updated_at)

USERS = Statements(
    User,
    _COLUMNS,
    insert_fields=("name", "email", "password"),
)


SECRETS = Query(select(User.email, User.password).where(User.id == bindparam("row_id"), User.deleted_at.is_(None)))
# Every token issued before this statement carries an older version and stops working.
END_TOKENS = Query(update(User).where(User.id == bindparam("row_id")).values(token_version=User.token_version + 1))

REGISTRATION_LIMITED = error_response(
    429, "too many registrations from this address; wait Retry-After seconds", TOO_MANY_REGISTRATIONS
)
UPDATE_REFUSED = {
    **error_response(
        403,
        "another user's record, or `current_password` missing or wrong",
        forbidden("user").detail,
        NEEDS_CURRENT_PASSWORD,
        WRONG_PASSWORD,
    ),
    **error_response(429, "too many wrong current passwords; wait Retry-After seconds", TOO_MANY_FAILURES),
}


def user_out(row: Sequence[Any], viewer: int, operator: bool = False) -> UserOut:
    """The record as ``viewer`` may see it: the email only in their own, or to an operator."""
    out = UserOut(row[0], row[1], utc(row[3]), utc(row[4]))
    if operator or row[0] == viewer:
        out.email = row[2]
    return out


async def confirm_password(request: AuthedRequest, state: AppState, user_id: int, current: str | None) -> None:
    """The signed-in user proves they know the password, as at login and throttled with it.

    A token alone (stolen, or left on a shared machine) must not be enough to lock the
    owner out by changing their email or password. Each try is counted against the
    account's email and the client's address before it is checked, exactly like a login.
    """
    if current is None:  # a 403, not a 400: the body is well-formed, the proof is missing
        raise ApiError(HTTP_403_FORBIDDEN, NEEDS_CURRENT_PASSWORD, [FieldError("current_password", "is required")])
    row = await state.db.fetch_one(SECRETS, row_id=user_id)
    if row is None:
        raise not_found()
    email, address = row[0], client_address(request)
    wait = await state.login_throttle.reserve(email, address)
    if wait is not None:
        raise ApiError(HTTP_429_TOO_MANY_REQUESTS, TOO_MANY_FAILURES, headers={"Retry-After": str(wait)})
    if not await state.passwords.verify(row[1], current):
        raise ApiError(HTTP_403_FORBIDDEN, WRONG_PASSWORD)
    await state.login_throttle.succeeded(email, address)


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @post(
        opt=PUBLIC,
        operation_id="register",
        summary="Register a user",
        description="Creates an account (no token needed) and queues its welcome email. The email must be "
        "exactly one address; it is stored in one normal form (NFKC, lower case, IDNA domain), so look-alike "
        "spellings are one account. Registrations from one client address are limited (429).",
        responses={**BAD_BODY, **_EMAIL_TAKEN, **TOO_LARGE, **REGISTRATION_LIMITED, **UNAVAILABLE},
    )
    async def register(self, request: Request[Any, Any, Any], data: JSONBody[UserCreate]) -> Envelope[UserOut]:
        """Counted per client address before the password is hashed, and hashed in a bounded
        pool (shared.passwords.PasswordWork), so a burst of sign-ups cannot starve logins."""
        state = app_state(request)
        wait = await state.registration_throttle.reserve(client_address(request))
        if wait is not None:
            raise ApiError(HTTP_429_TOO_MANY_REQUESTS, TOO_MANY_REGISTRATIONS, headers={"Retry-After": str(wait)})
        email = data.email  # normalised by the schema (shared.emails)
        password = await state.passwords.hash(data.password)
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
        return Envelope("success creating user", UserOut(outcome.lastrowid, data.name, utc(now), utc(now), email=email))

    @get(
        security=SECURITY,
        operation_id="listUsers",
        summary="List users",
        description="A page of live users in id order; `meta.total` counts them all.",
        responses={**BAD_QUERY, **AUTH, **UNAVAILABLE},
    )
    async def list_users(
        self, request: AuthedRequest, limit: Limit = 20, offset: Offset = 0, cursor: Cursor = None
    ) -> Page[UserOut]:
        """Every live user; ``email`` only in the caller's own record (every record for an operator)."""
        state = app_state(request)
        viewer = request.user
        operator = await state.live_users.is_operator(state.db, viewer)
        return await list_page(
            state.db, USERS, "success getting users", lambda row: user_out(row, viewer, operator), limit, offset, cursor
        )

    @get(
        "/{user_id:str}",
        security=SECURITY,
        operation_id="getUser",
        summary="Get a user",
        description="One live user; a deleted one is a 404. `email` only in your own record (or to an operator).",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **UNAVAILABLE},
    )
    async def get_user(self, request: AuthedRequest, user_id: PathId) -> Envelope[UserOut]:
        """``email`` only when the caller asks for their own record, or is an operator."""
        state = app_state(request)
        row = await state.db.fetch_one(USERS.get, row_id=parse_id(user_id))
        if row is None:
            raise not_found()
        operator = await state.live_users.is_operator(state.db, request.user)
        return Envelope("success getting user", user_out(row, request.user, operator))

    @put(
        "/{user_id:str}",
        security=SECURITY,
        operation_id="updateUser",
        summary="Update your user",
        description="Changes only the fields sent; only the token's own user may be changed. Changing `email` or "
        "`password` needs `current_password`; a new password ends every token issued before it.",
        responses={**BAD_ID_OR_BODY, **AUTH, **UPDATE_REFUSED, **NOT_FOUND, **_EMAIL_TAKEN, **TOO_LARGE, **UNAVAILABLE},
    )
    async def update_user(
        self, request: AuthedRequest, user_id: PathId, data: JSONBody[UserUpdate]
    ) -> Envelope[UserOut]:
        state = app_state(request)
        ident = parse_id(user_id)
        if ident != request.user:
            raise forbidden("user")
        sent = changes(data)
        current = sent.pop("current_password", None)
        new_password = "password" in sent
        if "email" in sent or new_password:
            await confirm_password(request, state, ident, None if current is None else str(current))
        if new_password:
            sent["password"] = await state.passwords.hash(str(sent["password"]))
        try:
            async with state.db.transaction() as tx:
                if await tx.fetch_one(USERS.lock, row_id=ident) is None:
                    raise not_found()
                await tx.execute(update_by_id(User, [*sent, "updated_at"]), row_id=ident, **updated_values(sent))
                if new_password:
                    await tx.execute(END_TOKENS, row_id=ident)
                row = await tx.fetch_one(USERS.get, row_id=ident)
        except DuplicateKey:
            raise ApiError(HTTP_409_CONFLICT, EMAIL_TAKEN) from None
        if new_password:
            state.live_users.forget(ident)  # here the old tokens fail from the next request on
        assert row is not None
        return Envelope("success updating user", user_out(row, ident))

    @delete(
        "/{user_id:str}",
        status_code=200,
        security=SECURITY,
        operation_id="deleteUser",
        summary="Delete your user",
        description="Soft-deletes the token's own user; its token stops working with the next request.",
        responses={**BAD_ID, **AUTH, **_NOT_YOURS, **NOT_FOUND, **UNAVAILABLE},
    )
    async def delete_user(self, request: AuthedRequest, user_id: PathId) -> Message:
        state = app_state(request)
        ident = parse_id(user_id)
        if ident != request.user:
            raise forbidden("user")
        outcome = await state.db.execute(USERS.soft_delete, row_id=ident, now=utcnow())
        state.live_users.forget(ident)  # their token stops working with the next request
        if outcome.rowcount == 0:
            raise not_found()
        return Message("success deleting user")
