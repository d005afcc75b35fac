"""The app's response class: what a handler returns, sent with the bytes and headers Litestar
would send, built with less.

For every answer Litestar's ``Response.to_asgi_response`` merges the layers' headers and
cookies, resolves type encoders, and builds an ``ASGIResponse``, whose constructor fills a
header multidict one ``setdefault`` at a time; on GET /users/{id} that was the largest
share of the framework's work (docs/performance.md). wadah's handlers return plain values
(an ``Envelope``, a ``Page``) with no response headers, cookies or background tasks, so
such an answer is only a status, ``content-type``, ``content-length`` and the JSON body,
encoded exactly as Litestar encodes it (:meth:`Response.render`, the same type
encoders). Anything more (a header, a cookie, a background task, another media type)
goes Litestar's own way, unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from litestar import MediaType, Response
from litestar.response.base import ASGIResponse
from litestar.serialization import get_serializer
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT, HTTP_304_NOT_MODIFIED

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar import Litestar, Request
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures import Cookie
    from litestar.enums import OpenAPIMediaType
    from litestar.types import Receive, ResponseCookies, ResponseHeaders, Scope, Send, TypeEncodersMap

T = TypeVar("T")
_JSON_TYPE = (b"content-type", MediaType.JSON.value.encode())
_NO_BODY = frozenset({HTTP_204_NO_CONTENT, HTTP_304_NOT_MODIFIED})


class JSONAnswer(ASGIResponse):
    """A whole JSON answer: its status and body, sent as two ASGI messages."""

    def __init__(self, status_code: int, body: bytes) -> None:  # none of ASGIResponse's header machinery
        self.status_code = status_code
        self.body = body
        self.background = None
        self.is_head_response = False

    def encode_headers(self) -> list[tuple[bytes, bytes]]:
        return [_JSON_TYPE, (b"content-length", b"%d" % len(self.body))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.encode_headers()})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class AppResponse(Response[T]):
    """Litestar's ``Response``, with the short way for a plain JSON answer."""

    def __init__(
        self,
        content: T,
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: ResponseCookies | None = None,
        encoding: str = "utf-8",
        headers: ResponseHeaders | None = None,
        media_type: MediaType | OpenAPIMediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> None:
        """Without cookies or headers, the same attributes as Litestar's, set directly.

        Litestar tests both for ``typing.Mapping``, whose ``isinstance`` goes through the
        generic alias's subclass check: two of them cost more than the rest of the
        constructor, on every answer. ``tests/api/test_responses.py`` compares the two.
        """
        if cookies or headers:
            super().__init__(
                content,
                background=background,
                cookies=cookies,
                encoding=encoding,
                headers=headers,
                media_type=media_type,
                status_code=status_code,
                type_encoders=type_encoders,
            )
            return
        self.content = content
        self.background = background
        self.cookies = []
        self.encoding = encoding
        self.headers = {}
        self.media_type = media_type
        self.status_code = status_code
        self.response_type_encoders = {**(self.type_encoders or {}), **(type_encoders or {})}

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        status = self.status_code or status_code or HTTP_200_OK
        plain = not (
            app or background or self.background or cookies or self.cookies or encoded_headers or headers
        ) and not (self.headers or is_head_response or type_encoders)
        json = (self.media_type or media_type or MediaType.JSON) == MediaType.JSON
        if plain and json and status >= HTTP_200_OK and status not in _NO_BODY:
            body = self.render(self.content, MediaType.JSON, get_serializer(self.response_type_encoders))
            return JSONAnswer(status, body)
        return super().to_asgi_response(
            app,
            request,
            background=background,
            cookies=cookies,
            encoded_headers=encoded_headers,
            headers=headers,
            is_head_response=is_head_response,
            media_type=media_type,
            status_code=status_code,
            type_encoders=type_encoders,
        )
