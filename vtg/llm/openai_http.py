"""``--llm-url URL [--llm openai:<model>]``: any OpenAI-compatible chat endpoint over plain HTTP.

Works with vLLM (``vllm serve``), llama.cpp's ``llama-server``, Ollama and hosted services:
POST ``<url>/chat/completions`` (the URL is the API base, e.g. ``http://localhost:8000/v1``; a
URL already ending in ``/chat/completions`` is used as is). Without a model name the first one
listed by ``<url>/models`` is used. An ``OPENAI_API_KEY`` in the environment is sent as a bearer
token. Only the standard library (urllib) is used.

Bounded: a socket timeout alone bounds each read, not the exchange (a server dripping one byte a
second never trips it, and there are several attempts). Every request here runs under the
decomposition's overall :class:`~vtg.llm.chat.Deadline`: each socket it opens gets the time left as
its timeout and is shut down by a watchdog timer when the deadline passes, which ends a blocked
connect, send or read at once. Name resolution (``getaddrinfo``) cannot be interrupted at all, so
it runs in a thread of its own that the request waits for only until the deadline; a resolver
that hangs (a DNS server that never answers) is left to finish on its own.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import threading
import urllib.error
import urllib.request

from vtg.errors import UsageError
from vtg.llm.chat import ChatBackend, Deadline, TimedOut, Unreachable
from vtg.llm.parse import AnswerError
from vtg.net import resolve_within
from vtg.settings import DEFAULT_LLM_TIMEOUT, current_settings

MAX_RESPONSE = 4 << 20
#: Overall seconds for one decomposition (all requests and attempts), unless configured.
DEFAULT_DEADLINE = DEFAULT_LLM_TIMEOUT


def default_deadline() -> float:
    """The current session's LLM deadline: ``$VTG_LLM_TIMEOUT``, else :data:`DEFAULT_DEADLINE`."""
    return current_settings().llm_timeout


class SocketWatch:
    """Shuts down every socket registered with it once ``deadline`` passes (a timer thread)."""

    def __init__(self, deadline: Deadline):
        self.deadline = deadline
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline.remaining(), self._fire) if math.isfinite(deadline.remaining()) else None
        if self._timer is not None:
            self._timer.daemon = True

    def __enter__(self) -> "SocketWatch":
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def connect_within(address: tuple[str, int], deadline: Deadline, source_address=None) -> socket.socket:
    """``socket.create_connection`` whose name lookup also ends with ``deadline``."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in resolve_within(host, port, deadline.remaining()):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(max(1e-3, deadline.remaining()))
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"{host} has no address")


def _watched(base: type, watch: SocketWatch) -> type:
    """``base`` (HTTPConnection or HTTPSConnection) whose sockets ``watch`` can shut down and whose
    name lookup ends with the deadline."""

    class Watched(base):
        def connect(self):
            self.timeout = max(1e-3, min(self.timeout or math.inf, watch.deadline.remaining()))
            self._create_connection = lambda address, timeout=None, source_address=None: connect_within(
                address, watch.deadline, source_address)
            super().connect()
            watch.add(self.sock)

    return Watched


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: SocketWatch):
        super().__init__()
        self.watch = watch

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self.watch), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: SocketWatch):
        super().__init__()
        self.watch = watch

    def https_open(self, req):
        return self.do_open(_watched(http.client.HTTPSConnection, self.watch), req,
                            context=self._context)


class OpenAIBackend(ChatBackend):
    name = "openai"

    def __init__(self, url: str, model: str | None = None, *, deadline: float | None = None, retries: int = 2,
                 max_tokens: int = 1024):
        super().__init__(retries, deadline if deadline is not None else default_deadline())
        url = (url or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--llm-url must be an http(s) URL such as http://localhost:8000/v1, got {url!r}")
        self.endpoint = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.base = self.endpoint[: -len("/chat/completions")]
        self.model = model or None
        self.max_tokens = int(max_tokens)
        self.name = f"openai:{model}" if model else "openai"

    def _request(self, url: str, payload: dict | None = None) -> dict:
        deadline = self.current_deadline()
        if deadline.expired:
            raise TimedOut(f"no time left for a request to {url}")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
        with SocketWatch(deadline) as watch:
            opener = urllib.request.build_opener(_HTTPHandler(watch), _HTTPSHandler(watch))
            try:
                with opener.open(req, timeout=min(deadline.remaining(), 1e6)) as resp:
                    body = resp.read(MAX_RESPONSE + 1)
            except urllib.error.HTTPError as exc:
                raise Unreachable(f"HTTP {exc.code} from {url}") from None
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
                if watch.fired or deadline.expired:
                    raise TimedOut(f"{url} did not answer completely in time") from None
                raise Unreachable(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
            if watch.fired:  # the read returned early because the watchdog shut the socket
                raise TimedOut(f"{url} did not answer completely in time")
        if len(body) > MAX_RESPONSE:
            raise AnswerError("the server's response is too large")
        try:
            return json.loads(body.decode("utf-8", errors="replace"))
        except json.JSONDecodeError:
            raise AnswerError("the server's response is not JSON") from None

    def _model_name(self) -> str:
        if self.model is None:
            try:
                listed = self._request(self.base + "/models").get("data") or []
                self.model = str(listed[0]["id"]) if listed and isinstance(listed[0], dict) else "default"
            except TimedOut:
                raise
            except (Unreachable, AnswerError, AttributeError, KeyError, TypeError):
                self.model = "default"
        return self.model

    def complete(self, messages: list[dict[str, str]], attempt: int) -> str:
        payload = {"model": self._model_name(), "messages": messages, "max_tokens": self.max_tokens,
                   "temperature": 0.0 if attempt == 0 else 0.7}
        reply = self._request(self.endpoint, payload)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise AnswerError("the server's reply has no choices[0].message.content") from None
        if not isinstance(content, str):
            raise AnswerError("the reply's content is not text")
        return content
