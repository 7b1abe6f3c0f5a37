"""Name lookups with a deadline.

``socket.getaddrinfo`` cannot be interrupted: a DNS server that never answers holds the calling
thread for as long as the system resolver cares to wait (minutes with some configurations), and
socket timeouts start only after it. Every network call vtg makes has a deadline, so lookups run
in a thread of their own that the caller waits for only until the deadline; a hung lookup is
left to finish by itself (a daemon thread, it does not keep the process alive).
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit


def resolve_within(host: str, port: int, seconds: float) -> list:
    """``socket.getaddrinfo`` for a TCP connection, waited for at most ``seconds``; socket.timeout
    after that."""
    found: dict = {}

    def lookup() -> None:
        try:
            found["addresses"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as exc:
            found["error"] = exc

    worker = threading.Thread(target=lookup, name="vtg-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        raise socket.timeout(f"looking up {host} took longer than {seconds:.1f} s")
    if "error" in found:
        raise found["error"]
    return found["addresses"]


def check_resolvable(url: str, seconds: float) -> None:
    """Look up ``url``'s host within ``seconds`` (socket.timeout / OSError when it cannot be), before
    handing the URL to a client library whose own lookup has no deadline."""
    parts = urlsplit(url)
    if parts.hostname:
        resolve_within(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), seconds)
