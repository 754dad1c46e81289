"""What every request passes before an endpoint sees it: a cap on its body, the token, and, for
requests that change something, a same-origin check.

The body cap is an ASGI middleware, so it holds for every route, however the route reads: a
declared ``Content-Length`` over the cap is refused before a byte is read, and a body that turns
out longer (chunked, or lying) is cut off once it passes the cap. Nothing a client sends is
trusted: not its length, not its credentials, not its origin.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATH: Final = "/ingest"  # the one route whose body may be as large as an upload
# One header each: Chromium refuses a Basic challenge followed by another in the same header.
CHALLENGES: Final = ('Basic realm="storestatus"', 'Bearer realm="storestatus"')


class UnauthorizedError(Exception):
    """A request without the right token: answered 401 with the two challenges
    (``app.create_app`` turns it into the response)."""


class BodyTooLargeError(Exception):
    """A request body passed its cap while being read."""


class BodyLimit:
    """Refuse (413) request bodies over ``max_upload`` bytes on ``/ingest``, over ``max_body``
    elsewhere."""

    def __init__(self, app: ASGIApp, *, max_upload: int, max_body: int) -> None:
        self.app, self.max_upload, self.max_body = app, max_upload, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if scope["path"] == UPLOAD_PATH else self.max_body
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLargeError:
            if started:  # too late for a status line: the connection is closed instead
                raise
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"error": "request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def token_checker(token: str | None) -> Callable[[Request], None]:
    """A dependency that lets a request through only with the token (none set: everyone).

    ``Authorization: Bearer <token>`` for programs; ``Basic`` with the token as the password
    (any user name) so that a browser can open the dashboard: it asks for it on a 401.
    """
    expected = None if token is None else token.encode()

    def check(request: Request) -> None:
        if expected is None:
            return
        given = _credential(request.headers.get("authorization", ""))
        # Compared in constant time, and always compared: no early exit on a wrong length.
        if not hmac.compare_digest(given or b"\0", expected):
            raise UnauthorizedError("missing or wrong token: send Authorization: Bearer <token>")

    return check


def _credential(header: str) -> bytes | None:
    """The secret an Authorization header carries (a Bearer token or a Basic password)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip().encode()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


def same_origin(request: Request) -> None:
    """A dependency for requests that change something: a browser sends ``Origin`` (or
    ``Sec-Fetch-Site``) with them, and another site's page must not trigger our reports or
    ingest its files with the credentials a browser remembers (cross-site request forgery).
    Programs such as curl send neither and pass."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in {"same-origin", "none"}:
        raise HTTPException(status_code=403, detail=f"cross-site request refused ({site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise HTTPException(
            status_code=403, detail=f"request from another origin refused: {origin}"
        )
