"""Schemathesis hooks for the fuzz test: a bearer token for a user the fuzz run owns.

``schemathesis run`` loads this file through ``SCHEMATHESIS_HOOKS``. With
``WADAH_FUZZ_TOKEN=1`` every request carries a token of a user registered through the
API itself at ``WADAH_FUZZ_URL``. Generated requests may delete that very user
(``DELETE /users/{id}`` with its own token is legal); the next request then gets a 401,
schemathesis asks for a token again, and a new user is registered, so the rest of the
run stays authenticated.
"""

from __future__ import annotations

import os
import secrets

import httpx
import schemathesis
from hypothesis import strategies as st

MAX_CURSOR = 200  # the cursor parameter's maxLength in the document


class FreshUserToken:
    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        credentials = {"email": f"fuzz-{secrets.token_hex(8)}@example.com", "password": secrets.token_urlsafe(16)}
        with httpx.Client(base_url=os.environ["WADAH_FUZZ_URL"], timeout=30) as api:
            api.post("/users", json={"name": "Fuzz", **credentials}).raise_for_status()
            response = api.post("/login", json=credentials)
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


if os.environ.get("WADAH_FUZZ_TOKEN") == "1":
    # Cached for the whole run; schemathesis drops it on a 401 (its default retry_on) and asks again.
    schemathesis.auth(refresh_interval=24 * 3600)(FreshUserToken)


# The import's body is a file of at least one byte (``minLength: 1`` on its ``format: binary``
# schema); schemathesis draws any bytes for a binary body, the empty file included, unless told
# what the media type's content is.
schemathesis.openapi.media_type("text/csv", st.binary(min_size=1))


@schemathesis.hook
def before_call(ctx: schemathesis.HookContext, case: schemathesis.Case, **kwargs: object) -> None:
    """No made-up ``cursor`` that the document counts as valid: it is an opaque token only the API
    hands out (``meta.next_cursor``), so any other string is rightly a 400, which schemathesis
    would count as a valid request refused. Such a cursor is left out (the request pages by
    offset); one the document itself rules out (longer than its maxLength) is still sent.
    tests/api/test_cursor_paging.py covers cursors, good and bad.
    """
    query = case.query
    if query and isinstance(query.get("cursor"), str) and len(query["cursor"]) <= MAX_CURSOR:
        case.query = {k: v for k, v in query.items() if k != "cursor"}
