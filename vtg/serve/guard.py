"""ASGI middleware run before any route: the token, the Host header and the body size.

Pure ASGI (not ``BaseHTTPMiddleware``) so an oversize body is refused while it streams in, before
the application reads a byte of it.

* **Token** (when the server has one): every request must carry ``Authorization: Bearer TOKEN``
  or the cookie ``vtg_token=TOKEN``, compared in constant time. The page is opened once as
  ``/?token=TOKEN``: the server sets the cookie (HttpOnly, SameSite=Strict) and redirects to
  ``/`` so the token leaves the address bar; the page's own requests, ``<video>`` and ``<img>``
  included, then carry the cookie.
* **Host** (loopback binds, which need no token): the Host header must name this machine, so a
  web site the user visits cannot reach the server through DNS rebinding.
* **Body**: a declared ``Content-Length`` over the limit is refused at once (413); a body without
  one (chunked) is counted while it arrives and refused as soon as it passes the limit; a body
  that has not fully arrived within :data:`BODY_TIMEOUT` seconds is answered 408.
* **Shutdown**: a request still running when the server's grace period ends is cancelled by
  uvicorn; it is answered with a JSON 503 (uvicorn's own answer would be a text 500) and counted
  in :attr:`Guard.abandoned`, so the server can say so when it exits.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

COOKIE = "vtg_token"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
BODY_TIMEOUT = 10.0


async def send_json(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def same_token(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def request_token(scope) -> str | None:
    """The token a request carries: the Bearer header first, else the cookie."""
    auth = header(scope, b"authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    cookies = header(scope, b"cookie")
    if cookies:
        jar = SimpleCookie()
        try:
            jar.load(cookies)
        except Exception:  # a malformed cookie header is simply no token
            return None
        if COOKIE in jar:
            return jar[COOKIE].value
    return None


class Guard:
    """Token, Host and body-size checks around ``app`` (see the module docstring)."""

    def __init__(self, app, *, token: str | None, loopback: bool, max_body: int):
        self.app, self.token, self.loopback, self.max_body = app, token, loopback, max_body
        self.abandoned = 0  # requests cut off by the end of the shutdown grace period

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._checked(scope, receive, tracked)
        except asyncio.CancelledError:  # uvicorn's graceful shutdown ran out of time
            self.abandoned += 1
            if not started:
                await send_json(send, 503, "the server is shutting down; retry later", [(b"connection", b"close")])
            # returning (instead of re-raising) keeps uvicorn from logging a traceback and
            # answering a text 500 of its own

    async def _checked(self, scope, receive, send):
        if self.loopback and not self._local_host(scope):
            return await send_json(send, 400, "the Host header must name this machine (127.0.0.1 or localhost)")
        if self.token is not None:
            if scope["path"] == "/" and scope.get("query_string"):
                given = parse_qs(scope["query_string"].decode("latin-1")).get("token", [None])[0]
                if given is not None:
                    return await self._login(send, given)
            if not same_token(request_token(scope), self.token):
                return await send_json(send, 401, "a valid token is required (Authorization: Bearer TOKEN, "
                                       "or open /?token=TOKEN once in a browser)",
                                       [(b"www-authenticate", b"Bearer")])
        if scope["method"] in ("POST", "PUT", "PATCH"):
            return await self._bounded(scope, receive, send)
        return await self.app(scope, receive, send)

    def _local_host(self, scope) -> bool:
        host = (header(scope, b"host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOCAL_HOSTS

    async def _login(self, send, given: str) -> None:
        if self.token is None or not same_token(given, self.token):
            return await send_json(send, 401, "wrong token")
        cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def _bounded(self, scope, receive, send) -> None:
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return await send_json(send, 400, "malformed Content-Length")
            if int(declared) > self.max_body:
                return await send_json(send, 413, f"request body larger than {self.max_body} bytes")
        chunks, size = [], 0
        deadline = time.monotonic() + BODY_TIMEOUT
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return await send_json(send, 408, f"the request body did not arrive within {BODY_TIMEOUT:g} s",
                                       [(b"connection", b"close")])
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return await send_json(send, 413, f"request body larger than {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)
