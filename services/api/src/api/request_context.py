"""What every response carries, and the request id every log line of its request carries.

One small pure-ASGI wrapper around the whole Litestar application rather than a
Litestar middleware, for two reasons: Litestar runs its middleware only for requests
that match a route, and this must also cover its 404s, 405s and CORS preflights; and
GET /users/{id} is benchmarked, so the per-request cost is kept to a header scan, a
context-variable set and one list built per response.

* ``X-Request-ID``: the client's own, if it is short and printable (:func:`sane_request_id`),
  else a new random one. It is set in :data:`shared.logging.request_id_var` for the
  request's lifetime, so every log line written on its behalf ends with ``request_id=...``
  (and a job the request asks for can carry it to the worker's lines), and it goes back
  in the response.
* ``X-Content-Type-Options: nosniff``: browsers must not guess a type other than the
  JSON the API declares.
* ``Content-Security-Policy``: nothing from anywhere but this origin, no inline script
  or style, no framing. A JSON answer needs none of it; the docs UI (:mod:`api.docs_ui`)
  needs exactly its own scripts, styles and the document. A response that sets a policy
  of its own (the console's page) keeps only that one.

It is also the one place that watches the response go out, so it counts and times each
request for :mod:`api.metrics` when metrics are on (and answers ``GET /metrics`` through
it): one layer and one wrapper of ``send`` per request, not two of each. The status a
response starts with is left in the scope (:func:`response_status`) for the tracing
wrapper inside it to read when the application returns.

There is no ``Server`` header to remove: Litestar sends none and ``python -m api`` turns
uvicorn's off.
"""

from __future__ import annotations

import os
import re
import secrets
from itertools import count
from typing import TYPE_CHECKING, Any, Final, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import request_id_var

if TYPE_CHECKING:
    from api.metrics import HttpMetrics

REQUEST_ID_HEADER: Final = "x-request-id"
_REQUEST_ID: Final = REQUEST_ID_HEADER.encode()
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_CSP: Final = b"content-security-policy"
_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
_POLICY: Final = (_CSP, CONTENT_SECURITY_POLICY.encode())
# Where the response's status waits for the wrappers inside this one (an ASGI scope may
# carry keys of its own; Litestar routes on the same dict, as its ``path_template`` shows).
_STATUS: Final = "wadah.response_status"

# What a client may choose as its own request id: short, printable, no spaces or quotes,
# so it goes into a log line or a header unescaped. Anything else gets a fresh id.
_SANE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class _RequestIds:
    """New request ids: this process's random prefix and a count, 32 hex digits.

    Unique like a random id, without a system call per request: an id names a request
    in the logs and is no secret. A forked child draws a prefix of its own.
    """

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.numbers = count(1)

    def new(self) -> str:
        return f"{self.prefix}{next(self.numbers):016x}"


_IDS: Final = _RequestIds()


def sane_request_id(candidate: str | None) -> str:
    """``candidate`` if it is safe to log and echo, else a new one."""
    if candidate is not None and _SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return _IDS.new()


def response_status(scope: Scope) -> int:
    """The status the response started with; 500 if the application ended before starting one."""
    status: int = cast("dict[str, Any]", scope).get(_STATUS, 500)
    return status


class RequestContext:
    """ASGI middleware: request id in, request id and security headers out; and ``metrics``, if on."""

    __slots__ = ("app", "metrics")

    def __init__(self, app: ASGIApp, metrics: HttpMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        sent: str | None = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                sent = value.decode("latin-1")
                break
        request_id = sane_request_id(sent)
        extra = ((_REQUEST_ID, request_id.encode()), _NOSNIFF)
        keys = cast("dict[str, Any]", scope)  # the scope, with room for the status

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                keys[_STATUS] = message["status"]
                headers = [*message.get("headers", ()), *extra]
                # A page with a policy of its own (the console) keeps it alone: two are both enforced.
                if not any(name.lower() == _CSP for name, _ in headers):
                    headers.append(_POLICY)
                message["headers"] = headers
            await send(message)

        metrics = self.metrics
        token = request_id_var.set(request_id)
        try:
            if metrics is None:
                await self.app(scope, receive, send_with_headers)
            elif metrics.serves(scope):
                await metrics.scrape(scope, send_with_headers)
            else:
                started = metrics.begin()
                try:
                    await self.app(scope, receive, send_with_headers)
                finally:
                    metrics.end(scope, keys.get(_STATUS, 500), started)
        finally:
            request_id_var.reset(token)
