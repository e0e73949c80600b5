"""Form bodies whose text is not valid in its charset are refused: 422, never mojibake.

Starlette decodes a multipart field that is not valid UTF-8 as Latin-1 and an
url-encoded one with replacement characters, so a broken value would reach a page or the
database as something the sender never wrote. Routes of a router built with
``route_class=StrictFormRoute`` see their body through :class:`StrictFormRequest`, which
checks it while it streams to the form parser (python-multipart's own parsers, for the
part headers and non-file parts only; file contents are not looked at) and raises
:class:`FormEncodingError` (422 problem+json, code ``request.invalid_encoding``) at the
first field name, value or file name that does not decode. FastAPI documents custom
request and route classes for exactly this ("Custom Request and APIRoute class").
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import suppress
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

__all__ = ["FormEncodingError", "StrictFormRequest", "StrictFormRoute"]

_FIELD_LIMIT = 1024 * 1024  # Starlette's own limit on a non-file part


class FormEncodingError(HTTPException):
    """A form field's name, value or file name is not valid text in the body's charset.

    An HTTPException so that FastAPI passes it on from body parsing (any other exception
    there becomes a bare 400).
    """

    code = "request.invalid_encoding"

    def __init__(self, what: str, charset: str) -> None:
        super().__init__(status_code=422,
                         detail=f"the form's {what} is not valid {charset} text; "
                                "send form fields encoded as UTF-8")


def _decodes(data: bytes, charset: str) -> bool:
    try:
        data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


class _UrlEncodedCheck:
    """``a=b&c=d``: every name and value, percent-decoded, is valid text."""

    def __init__(self, charset: str) -> None:
        self._charset = charset
        self._body = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._body += chunk

    def finish(self) -> None:
        for pair in bytes(self._body).split(b"&"):
            for part in pair.split(b"=", 1):
                if not _decodes(unquote_to_bytes(part.replace(b"+", b" ")), self._charset):
                    raise FormEncodingError("field", self._charset)


class _Nothing:
    """Stands in for a multipart parser that met a malformed body."""

    def write(self, data: bytes) -> int:
        return len(data)

    def finalize(self) -> None:
        return None


_NOTHING: Any = _Nothing()


class _MultipartCheck:
    """Part names, file names and non-file values are valid text (RFC 7578 §5.1)."""

    def __init__(self, boundary: bytes, charset: str) -> None:
        self._charset = charset
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._value: bytearray | None = None
        self._parser: Any = MultipartParser(boundary, {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(
                data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(
                data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        })

    def _begin(self) -> None:
        self._disposition, self._value = b"", None

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        for key, what in ((b"name", "field name"), (b"filename", "file name")):
            if key in options and not _decodes(options[key], self._charset):
                raise FormEncodingError(what, self._charset)
        self._value = None if b"filename" in options else bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._value is not None and len(self._value) <= _FIELD_LIMIT:
            self._value.extend(data[start:end])

    def _end(self) -> None:
        if self._value is not None and not _decodes(bytes(self._value), self._charset):
            raise FormEncodingError("field value", self._charset)

    def feed(self, chunk: bytes) -> None:
        # A body that is not well-formed multipart is the form parser's to refuse (400).
        try:
            self._parser.write(chunk)
        except FormParserError:
            self._parser = _NOTHING

    def finish(self) -> None:
        with suppress(FormParserError):
            self._parser.finalize()


def _check_for(content_type: str | None) -> _UrlEncodedCheck | _MultipartCheck | None:
    if not content_type:
        return None
    kind, options = parse_options_header(content_type)
    charset = options.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        raise FormEncodingError("charset", charset) from None
    if kind == b"application/x-www-form-urlencoded":
        return _UrlEncodedCheck(charset)
    if kind == b"multipart/form-data" and b"boundary" in options:
        return _MultipartCheck(options[b"boundary"], charset)
    return None  # not a form: the route's own parsing decides


class StrictFormRequest(Request):
    """A request whose form body is checked for valid text as it streams."""

    async def stream(self) -> AsyncGenerator[bytes, None]:
        """The body's chunks, each checked before it is handed on."""
        check = _check_for(self.headers.get("content-type"))
        async for chunk in super().stream():
            if check is not None and chunk:
                check.feed(chunk)
            yield chunk
        if check is not None:
            check.finish()


class StrictFormRoute(APIRoute):
    """A route whose form fields must be valid text (:class:`StrictFormRequest`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The stock handler, given the strict request."""
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictFormRequest(request.scope, request.receive))

        return strict
