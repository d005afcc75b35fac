"""A handler's plain JSON answer is sent exactly as Litestar would send it, only built with less."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.testing import AsyncTestClient

from api.responses import AppResponse, JSONAnswer
from api.schemas import Envelope, Message

touched: list[str] = []


@get("/envelope", sync_to_thread=False)
def envelope() -> Envelope[dict[str, Any]]:
    return Envelope("success", {"id": 1, "name": "Ada <&> \u00e9", "tags": ["a", "b"]})


@post("/created", sync_to_thread=False)
def created() -> Message:
    return Message("made")


@get("/empty", status_code=204, sync_to_thread=False)
def empty() -> None:
    return None


@get("/with-header", response_headers={"X-Extra": "1"}, sync_to_thread=False)
def with_header() -> Message:
    return Message("headed")


@get("/with-cookie", response_cookies={"flavour": "oat"}, sync_to_thread=False)
def with_cookie() -> Message:
    return Message("baked")


@get("/with-background", background=BackgroundTask(touched.append, "ran"), sync_to_thread=False)
def with_background() -> Message:
    return Message("later")


@get("/text", media_type="text/plain", sync_to_thread=False)
def text() -> str:
    return "plain words"


@get("/own-response", sync_to_thread=False)
def own_response() -> Response[Message]:
    return Response(Message("own"), status_code=202, headers={"X-Own": "yes"})


HANDLERS = [envelope, created, empty, with_header, with_cookie, with_background, text, own_response]
PATHS = [
    ("GET", "/envelope"),
    ("POST", "/created"),
    ("GET", "/empty"),
    ("GET", "/with-header"),
    ("GET", "/with-cookie"),
    ("GET", "/with-background"),
    ("GET", "/text"),
    ("GET", "/own-response"),
]


async def answer(app: Litestar, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    async with AsyncTestClient(app=app) as client:
        response = await client.request(method, path)
    return response.status_code, sorted(response.headers.multi_items()), response.content


@pytest.mark.parametrize(("method", "path"), PATHS)
async def test_every_answer_is_what_litestar_sends(method: str, path: str) -> None:
    litestars = Litestar(route_handlers=HANDLERS)
    ours = Litestar(route_handlers=HANDLERS, response_class=AppResponse)
    assert await answer(ours, method, path) == await answer(litestars, method, path)


async def test_a_plain_answer_takes_the_short_way_and_anything_more_does_not() -> None:
    plain = AppResponse(Message("x")).to_asgi_response(None, None)  # type: ignore[arg-type]
    assert isinstance(plain, JSONAnswer)
    headed = AppResponse(Message("x"), headers={"X-Extra": "1"}).to_asgi_response(None, None)  # type: ignore[arg-type]
    assert not isinstance(headed, JSONAnswer)
    no_content = AppResponse(None, status_code=204).to_asgi_response(None, None)  # type: ignore[arg-type]
    assert not isinstance(no_content, JSONAnswer)


async def test_a_background_task_still_runs() -> None:
    touched.clear()
    ours = Litestar(route_handlers=HANDLERS, response_class=AppResponse)
    await answer(ours, "GET", "/with-background")
    assert touched == ["ran"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"status_code": 201, "media_type": "text/plain", "encoding": "latin-1", "type_encoders": {int: str}},
        {"background": BackgroundTask(touched.append, "x")},
        {"headers": {"X-Extra": "1"}, "cookies": {"flavour": "oat"}},
    ],
)
def test_a_response_holds_what_litestars_holds(options: dict[str, Any]) -> None:
    # The short constructor must set every attribute Litestar's sets, to the same values.
    ours, litestars = AppResponse(Message("x"), **options), Response(Message("x"), **options)
    assert {name: getattr(ours, name) for name in Response.__slots__} == {
        name: getattr(litestars, name) for name in Response.__slots__
    }
