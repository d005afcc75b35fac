"""uvicorn's httptools protocol with the limits it lacks: a bounded request head and time limits.

uvicorn hands every byte to httptools, which keeps a header being received by
concatenating its pieces: a header that never ends costs memory without bound and CPU
that grows with the square of its length (120 MB cost 32 s of CPU and starved every
other request of the process). Nor does uvicorn time out a client that sends its head
or body slowly; its only timer is the idle keep-alive one. uvicorn's options do not help
with httptools: ``h11_max_incomplete_event_size`` applies to the pure-Python h11
protocol only (several times slower), and ``timeout_keep_alive`` only to idle
connections between requests. So this subclass, selected by ``python -m api``, adds:

* **Head size** (``HTTP_MAX_HEAD_BYTES``, 64 KiB): bytes are counted before httptools
  sees them and it is fed no more than the limit of a head; past it the answer is 431
  and the connection is closed without reading further. A pipelined request that
  begins in the same read as the previous one ends is charged for that whole read
  minus the previous body's bytes, so the limit can only be reached early, never passed.
* **Head time** (``HTTP_HEAD_TIMEOUT_SECONDS``): the whole head, from its first byte,
  must arrive within it; a new connection that sends nothing is closed after it too.
* **Body time** (``HTTP_BODY_IDLE_TIMEOUT_SECONDS``): while the server is ready to read
  the body, some of it must arrive at least this often. Not a total deadline: a large
  upload on a slow link is legitimate; a stall is not. Time while the server itself
  holds the client back (flow control, a handler that has not read yet) does not count.

Too slow is a 408. Every answer this layer writes itself (431, 408 and the parser's
400 for a malformed request) is JSON ``{"message": ...}`` with ``X-Content-Type-Options:
nosniff`` and a fresh ``X-Request-ID``, like every answer of the application; before
this, uvicorn's 400 was plain text without either.

One timer per connection, re-armed only when it fires, so a fast request costs two
clock reads and no timer calls.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from asyncio import TimerHandle
from typing import Any

import msgspec
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from shared.settings import Settings, get_settings

log = logging.getLogger("api.protocol")


class _Phase(enum.Enum):
    IDLE = "idle"  # no request under way: before the first byte of a head, or after a whole request
    HEAD = "head"
    BODY = "body"


def refusal(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 response closing the connection, in the application's JSON shape."""
    body = msgspec.json.encode({"message": message})
    reason = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
        b"x-content-type-options: nosniff\r\n",
        b"x-request-id: " + secrets.token_hex(16).encode() + b"\r\n",
        b"\r\n",
        body,
    ]
    return b"".join(lines)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a head size limit, head and body time limits, and JSON refusals."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = settings or get_settings()
        self.max_head_bytes = settings.http_max_head_bytes
        self.head_timeout = settings.http_head_timeout_seconds
        self.body_idle_timeout = settings.http_body_idle_timeout_seconds
        self._phase = _Phase.IDLE
        self._head_bytes = 0  # bytes of the current head counted so far (an upper bound)
        self._requests_begun = 0
        self._deadline = 0.0  # when the current phase's time runs out
        self._timer: TimerHandle | None = None
        self._completed_in_feed = False
        self._body_bytes_in_feed = 0

    # -- time ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.time() + self.head_timeout
        self._arm(self.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(max(delay, 0.0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._phase is _Phase.IDLE:
            # Between requests uvicorn's keep-alive timer decides; only a connection that
            # never began a request is this layer's to close.
            if self._requests_begun == 0:
                if now >= self._deadline:
                    self.transport.close()
                else:
                    self._arm(self._deadline - now)
            return
        if self.flow.read_paused:  # the server holds the client back: not the client's delay
            self._deadline = now + (self.head_timeout if self._phase is _Phase.HEAD else self.body_idle_timeout)
            self._arm(self._deadline - now)
            return
        if now < self._deadline:
            self._arm(self._deadline - now)
            return
        if self._phase is _Phase.HEAD:
            self._refuse(408, f"the request head did not arrive within {self.head_timeout:g} s")
        else:
            self._refuse(408, f"the request body stalled for {self.body_idle_timeout:g} s")

    # -- size ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        while data and not self.transport.is_closing():
            if self._phase is _Phase.BODY:
                piece, data = data, b""
            else:
                room = self.max_head_bytes - self._head_bytes
                if room <= 0:
                    self._refuse(431, f"the request head is larger than {self.max_head_bytes} bytes")
                    return
                if len(data) <= room:
                    piece, data = data, b""
                else:
                    piece, data = data[:room], data[room:]
                self._head_bytes += len(piece)
            self._completed_in_feed = False
            self._body_bytes_in_feed = 0
            super().data_received(piece)
            if self._completed_in_feed and self._phase is _Phase.HEAD:
                # A request began after another ended inside this piece: where is unknown,
                # so its head is charged for everything in the piece but the other's body.
                self._head_bytes = len(piece) - self._body_bytes_in_feed
        if self._phase is not _Phase.BODY and self._head_bytes >= self.max_head_bytes:
            self._refuse(431, f"the request head is larger than {self.max_head_bytes} bytes")

    # -- parser callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _Phase.HEAD
        self._requests_begun += 1
        self._deadline = self.loop.time() + self.head_timeout
        if self._timer is None:
            self._arm(self.head_timeout)

    def on_headers_complete(self) -> None:
        self._phase = _Phase.BODY
        self._deadline = self.loop.time() + self.body_idle_timeout
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes_in_feed += len(body)
        self._deadline = self.loop.time() + self.body_idle_timeout
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._phase = _Phase.IDLE
        self._head_bytes = 0
        self._completed_in_feed = True
        super().on_message_complete()

    # -- answers of this layer ------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """The parser refused the request (uvicorn logs why): JSON, like every other answer."""
        self._refuse(400, "the request is not valid HTTP/1.1")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` unless the application already began a response, and close."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            # In the body phase a complete response means this request was answered already.
            write = cycle is None or self._phase is not _Phase.BODY
        else:
            # The cycle is this request's in the body phase, else an earlier one still answering.
            write = self._phase is _Phase.BODY and not cycle.response_started
            cycle.disconnected = True  # the application's receive() sees a disconnect; its send() is dropped
            cycle.message_event.set()
        if status != 400:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.warning("refused %s from %s: %s", status, client, message)
        if write and not self.transport.is_closing():
            self.transport.write(refusal(status, message, self.server_state.default_headers))
        self.transport.close()
