"""The OpenAPI document, made to say what the routes really send.

FastAPI documents every 2xx as ``application/json`` next to the media types a route
declares, and an error model under the route's media type. Clients and the API fuzzer
(tests/api/test_fuzz.py) check responses against this document, so it is corrected once
here rather than route by route:

- an error response (4xx, 5xx) is ``application/problem+json`` with the Problem schema
  (from a page, also ``text/html``: people are shown a page);
- a 2xx that declares a media type of its own (a PDF, a certificate, a zip) does not also
  claim ``application/json`` with an empty schema;
- every path parameter carries the single-line text pattern that
  :class:`~zhengyin.api.middleware.InputGuardMiddleware` enforces on every path.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .problems import PROBLEM_MEDIA_TYPE
from .schemas.inputs import LINE_PATTERN

__all__ = ["install_openapi"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _is_page(operation: dict[str, Any]) -> bool:
    """Whether the operation answers with an HTML page (the public verification pages)."""
    return any(set(response.get("content", {})) == {"text/html"}
               for status, response in operation["responses"].items() if status[:1] == "2")


def _correct(document: dict[str, Any]) -> dict[str, Any]:
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            page = _is_page(operation)
            for status, response in operation["responses"].items():
                content = response.get("content")
                if status[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                    if page:  # a page shows its refusals to people, as a page
                        response["content"]["text/html"] = {"schema": {"type": "string"}}
                elif content and len(content) > 1 and \
                        content.get("application/json", {}).get("schema") in ({}, None):
                    del content["application/json"]
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and schema.get("type") == "string":
                    schema.setdefault("pattern", LINE_PATTERN)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the corrected document at ``app.openapi_url``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _correct(get_openapi(
                title=app.title, version=app.version, summary=app.summary,
                description=app.description, routes=app.routes,
            ))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
