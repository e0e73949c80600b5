"""Server-rendered web pages (holder wallet, public verification): shared plumbing.

Pages are plain HTML in Chinese rendered by Jinja2 (autoescaped; times through the
``beijing`` filter, licence statuses through :mod:`.statuses`), styled by one static
CSS file, with no inline script, so the Content-Security-Policy can forbid scripts that
are not ours. Forms that change state carry a CSRF token bound to the session cookie.
"""

from __future__ import annotations

import hmac
import secrets
from hashlib import sha256
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from zhengyin.core.clock import beijing_time

from .statuses import validity_text

__all__ = ["STATIC_DIR", "csrf_token", "render", "valid_csrf"]

STATIC_DIR = Path(__file__).parent / "static"
_templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# Every time a page shows is Beijing time with its zone named; every validity period is
# written one way (trust/clock.py, api/pages/statuses.py).
_templates.env.filters["beijing"] = beijing_time
_templates.env.globals["validity_text"] = validity_text

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; "
                                "style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
                                "form-action 'self'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def render(request: Request, template: str, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """Render a page with the security headers every page carries."""
    response = _templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def csrf_token(session_secret: str) -> str:
    """A token for forms, derived from the session's secret (double submit)."""
    return hmac.new(session_secret.encode(), b"csrf", sha256).hexdigest()[:32]


def valid_csrf(session_secret: str, token: str) -> bool:
    """Whether a submitted form token belongs to this session."""
    return hmac.compare_digest(csrf_token(session_secret), token or "")


def new_secret() -> str:
    """Random per-session secret."""
    return secrets.token_urlsafe(24)
