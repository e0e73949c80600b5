"""A real server (``zhengyin serve``) under bad input: limits hold and connections live on.

A chunked body carries no Content-Length, so only counting what arrives can enforce the
request limit; a refused input must not cost the client its keep-alive connection.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .test_serving import env, serve

__all__ = ["env"]

pytestmark = pytest.mark.slow

LIMIT = 64 * 1024


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``zhengyin serve`` (one process) with a 64 KiB request limit; its base URL."""
    with serve(env, tmp_path, ZHENGYIN_MAX_REQUEST_BYTES=str(LIMIT),
               ZHENGYIN_HTTP_WORKERS="1") as (_process, port):
        yield f"http://127.0.0.1:{port}"


def _chunks(total: int, size: int = 8192, *, head: bytes = b"") -> Iterator[bytes]:
    if head:
        yield head
    for _ in range(total // size):
        yield b"\x00" * size


# A well-formed form whose file part never ends: only the limit can stop it (garbage from
# the first byte would let the form parser refuse it before the limit is reached).
FORM_HEAD = (b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
             b"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n")


@pytest.mark.parametrize(("path", "content_type"), [
    ("/ocsp", "application/ocsp-request"),           # a raw body
    ("/verify", "multipart/form-data; boundary=x"),  # a form with a file
])
def test_a_chunked_body_over_the_limit_is_a_413(server: str, path: str,
                                                content_type: str) -> None:
    with httpx.Client() as client:
        head = FORM_HEAD if content_type.startswith("multipart/") else b""
        response = client.post(f"{server}{path}", content=_chunks(4 * LIMIT, head=head),
                               headers={"Content-Type": content_type})
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "request.too_large"


def _response(connection: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response read off ``connection``: status line and headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += connection.recv(65536)
    return head, body


def test_a_refused_input_keeps_the_connection_alive(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"GET /public/licences/x%00y/status HTTP/1.1\r\nHost: t\r\n\r\n")
        first, body = _response(connection)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        second, _ = _response(connection)
    assert first.startswith(b"HTTP/1.1 422"), first
    assert b"application/problem+json" in first
    assert b"request.invalid" in body
    assert second.startswith(b"HTTP/1.1 200"), second
