"""The HTTP/1.1 connection handler: uvicorn's h11 protocol with deadlines and a connection cap.

uvicorn alone lets a client that connects and sends nothing (or half a request head) hold its
connection forever, and its ``limit_concurrency`` counts such idle connections: 70 silent sockets
made every request, authenticated or not, answer a text ``503``. This protocol closes that hole:

* **Head deadline.** A connection must deliver a complete request head within
  ``head_timeout`` seconds of the moment the server starts waiting for one (when it connects, and
  after each answer on a kept-alive connection). It is a deadline, not an idle timer: trickling
  one byte a second does not extend it. A connection that sent part of a head gets a JSON ``408``;
  one that sent nothing is closed silently.
* **Connection cap, idle first out.** At most ``max_connections`` connections are open. A new one
  past the cap evicts the connection that has waited longest for a request head (an idle or slow
  client), so idle sockets can never lock out a client that sends its request; only when every
  open connection is busy with a request does the newcomer get a JSON ``503`` with ``Retry-After``.
* **Every refusal is JSON**: a request h11 cannot parse gets a JSON ``400`` (uvicorn's is text).
* Requests in flight are bounded by the cap (h11 serves one request per connection at a time);
  the costly work has its own admission queue (:mod:`vtg.serve.admission`).

The class is chosen explicitly (``uvicorn.Config(http=...)``), so installing httptools never
swaps in a handler without these rules.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from vtg.serve.errors import retry_after

log = logging.getLogger("vtg.serve")


def raw_json_response(status: int, reason: str, message: str, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 answer with a JSON error body, as bytes."""
    body = json.dumps({"error": message}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json",
            f"content-length: {len(body)}", "connection: close", *(f"{k}: {v}" for k, v in extra)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Throttled:
    """At most one log line per ``every`` seconds for an event that an attacker can repeat."""

    def __init__(self, every: float = 10.0):
        self.every, self.last, self.count = every, 0.0, 0

    def warn(self, message: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            log.warning("%s (%d time(s) since the last report)", message, self.count)
            self.last, self.count = now, 0


_CAP_REPORT = _Throttled()


async def _over_capacity(scope, receive, send) -> None:
    body = json.dumps({"error": "the server has too many open connections; retry shortly"}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(retry_after(2.0)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and an idle-first connection cap.

    Configured through class attributes set by :func:`protocol_class` (uvicorn instantiates the
    class itself with its own arguments).
    """

    head_timeout: float = 10.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: Any = None
        self._waiting_since: float | None = None
        self._head_bytes = 0

    # -- connection life ---------------------------------------------------------------------
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()
        if len(self.connections) > self.max_connections and not self._evict_idle():
            _CAP_REPORT.warn(f"more than {self.max_connections} connections, all busy: answering 503")
            self.app = _over_capacity

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._waiting_since is not None:
            self._head_bytes += len(data)
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self._in_request():
            self._stop_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._in_request():
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse (bad request line, head over 16 KiB...): JSON, not uvicorn's text."""
        self._stop_head_timer()
        if not self.transport.is_closing():
            self.transport.write(raw_json_response(400, "Bad Request", f"malformed HTTP request ({msg.rstrip('.')})"))
            self.transport.close()

    # -- the head deadline -------------------------------------------------------------------
    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._waiting_since, self._head_bytes = time.monotonic(), 0
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer, self._waiting_since = None, None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._in_request():
            return
        if self._head_bytes:
            self.transport.write(raw_json_response(
                408, "Request Timeout", f"the request head did not arrive within {self.head_timeout:g} s"))
        self.transport.close()

    def _evict_idle(self) -> bool:
        """Close the open connection that has waited longest for a request head; False if none waits."""
        waiting = [c for c in self.connections
                   if c is not self and isinstance(c, GuardedH11Protocol) and c._waiting_since is not None
                   and not c.transport.is_closing()]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._waiting_since or 0.0)
        oldest._stop_head_timer()
        oldest.transport.close()
        _CAP_REPORT.warn(f"more than {self.max_connections} connections: closed the one idle longest")
        return True


def protocol_class(head_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these limits (one per server)."""
    return type("VtgH11Protocol", (GuardedH11Protocol,),
                {"head_timeout": float(head_timeout), "max_connections": int(max_connections)})


def ensure_descriptors(needed: int) -> None:
    """Raise this process's open-file limit towards ``needed`` (connections plus files), within
    the hard limit; warn when it stays lower, as accepting would then fail before the cap does."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
        if soft < needed:
            log.warning("only %d open files allowed (ulimit -n); --max-connections should stay below %d",
                        soft, max(8, soft - 256))
