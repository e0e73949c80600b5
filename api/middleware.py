"""ASGI middleware: request ids, body size limits, the input guard, the last resort, the log."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_response
from .schemas.inputs import control_character

__all__ = [
    "AccessLogMiddleware",
    "BodySizeLimitMiddleware",
    "InputGuardMiddleware",
    "LastResortMiddleware",
]

access_log = logging.getLogger("zhengyin.access")
log = logging.getLogger("zhengyin.api")


class _BodyTooLargeError(HTTPException):
    """Raised from ``receive``: an HTTP exception, so that FastAPI's body parsing, which
    turns any other exception into a 400, passes it on to the 413 handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds the limit of {limit} bytes")


class _HTTPMiddleware:
    """Acts on HTTP requests (``http``); anything else (the lifespan) passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request."""
        raise NotImplementedError


class _TrackedSend:
    """``send``, remembering whether the response has started (then no other can be sent)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class BodySizeLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with a 413 problem, before a route reads them.

    Declared ``Content-Length`` is checked first; streamed bodies are counted as they
    arrive, so a client cannot bypass the limit by omitting the header.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLargeError(self.limit)
            return message

        tracked = _TrackedSend(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except _BodyTooLargeError:
            if not tracked.started:
                await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        import json

        body = json.dumps({
            "type": "urn:zhengyin:problem:request.too_large",
            "title": "Request Entity Too Large",
            "status": 413,
            "detail": f"the request body exceeds the limit of {self.limit} bytes",
            "instance": scope.get("path", ""),
            "code": "request.too_large",
        }).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})


_HEADER_REFUSED = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# A query string can only decode to a control character through one of these: a raw
# control byte, a percent-escape of C0 or DEL, or UTF-8 C2 80–C2 9F (C1). Others are
# not parsed at all (the status lookups of phones and intake systems).
_QUERY_SUSPECT = re.compile(rb"[\x00-\x1f\x7f]|%[01][0-9A-Fa-f]|%7[Ff]|%[Cc]2")


class InputGuardMiddleware(_HTTPMiddleware):
    """Refuse control characters in the path, the query and header values with a 422.

    The rule of :mod:`zhengyin.api.schemas.inputs` for every route, whatever its parameters are
    typed as: no path segment, query name or value and no header carries a control
    character (a header may carry a tab, RFC 9110 §5.5). Bodies are checked by their
    schemas.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 422 for a control character, else pass the request on."""
        where = self._refused(scope)
        if where is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(
            Request(scope), status=422, code="request.invalid",
            detail=f"the request is invalid: {where}",
            errors=[{"field": where, "message": "must not contain control characters"}],
        )
        await response(scope, receive, send)

    @staticmethod
    def _refused(scope: Scope) -> str | None:
        if control_character(scope.get("path", "")) is not None:
            return "path"
        query = scope.get("query_string", b"")
        if query and _QUERY_SUSPECT.search(query) is not None:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True,
                                         encoding="utf-8", errors="replace"):
                if control_character(name) is not None or control_character(value) is not None:
                    return f"query.{name}" if control_character(name) is None else "query"
        for name, value in scope.get("headers") or ():
            if _HEADER_REFUSED.search(value) is not None:
                return f"header.{name.decode('latin-1')}"
        return None


class LastResortMiddleware(_HTTPMiddleware):
    """Turn an unexpected exception into a logged 500 problem and keep the connection.

    Starlette's outermost error middleware answers 500 and then re-raises, and uvicorn,
    seeing an exception after the response started, drops the keep-alive connection.
    Installed just outside the routes, this answers with a problem+json 500 and ends the
    request normally. The traceback goes to the log, never to the client.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request; an exception before the response starts becomes a 500."""
        tracked = _TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if tracked.started:  # half a response is out: only closing the connection tells
                raise
            log.error("unhandled error on %s %s", scope.get("method"), scope.get("path"),
                      exc_info=exc)
            response = problem_response(
                Request(scope), status=500, code="internal",
                detail="internal error; the operation was not carried out",
            )
            await response(scope, receive, send)


class AccessLogMiddleware(_HTTPMiddleware):
    """Assigns a request id and logs one JSON line per request."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id; log it when it ends."""
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state", {})
            access_log.info(
                "%s %s %s", scope.get("method"), scope.get("path"), status,
                extra={
                    "request_id": request_id,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": state.get("client_name"),
                },
            )
