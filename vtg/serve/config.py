"""What a ``vtg serve`` process serves and how: :class:`ServeConfig`, checked once at start-up.

The safety rules live here so the CLI and tests build servers the same way: a bind address other
than loopback needs a token (anyone on the network could otherwise read the served videos and
spend the machine's compute), and every size the server accepts has a ceiling.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtg.errors import UsageError

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_CHARS = 1000
MAX_TOP = 100
MAX_QUEUE = 1000
MAX_QUEUE_WAIT = 60.0
MAX_CONNECTIONS = 100_000
#: Tokens travel in a header and a cookie: no spaces, quotes, commas or semicolons.
TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{8,256}")


@dataclass(frozen=True)
class ServeConfig:
    """``roots``: folders whose videos may be read; ``libraries``: library names or paths to search.

    ``method``/``method_options`` configure the one warm method every request uses;
    ``max_concurrent`` grounding or search requests run at once, up to ``queue`` more wait at most
    ``queue_wait`` seconds for a slot, the rest get 503 (:mod:`vtg.serve.admission`); ``token`` is
    required by every request when set. ``max_connections`` and ``head_timeout`` bound what idle
    or slow clients can hold (:mod:`vtg.serve.protocol`).
    """

    roots: tuple[Path, ...] = ()
    libraries: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_concurrent: int = 2
    queue: int = 8
    queue_wait: float = 5.0
    max_connections: int = 1000
    head_timeout: float = 10.0
    method: str = "tfvtg"
    method_options: dict[str, Any] = field(default_factory=dict)
    max_body_bytes: int = MAX_BODY_BYTES
    thumb_cache_entries: int = 512

    def __post_init__(self) -> None:
        roots = []
        for root in self.roots:
            path = Path(root).expanduser()
            if not path.is_dir():
                raise UsageError(f"served root {path} is not a directory")
            roots.append(path.resolve())
        object.__setattr__(self, "roots", tuple(roots))
        if not roots and not self.libraries:
            raise UsageError("nothing to serve: give a video folder (ROOT) or --library NAME")
        if self.token is not None and not TOKEN_RE.fullmatch(self.token):
            raise UsageError("--token must be 8-256 characters from A-Z a-z 0-9 . _ ~ + / = - "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
        if not is_loopback(self.host) and not self.token:
            raise UsageError(f"binding {self.host} exposes the server beyond this machine; "
                             "give --token (or VTG_SERVE_TOKEN) so every request must carry it")
        if self.max_concurrent < 1:
            raise UsageError("--max-concurrent must be at least 1")
        check_range("--queue", self.queue, 0, MAX_QUEUE)
        check_range("--queue-wait", self.queue_wait, 0.1, MAX_QUEUE_WAIT)
        check_range("--max-connections", self.max_connections, 8, MAX_CONNECTIONS)
        check_range("head_timeout", self.head_timeout, 1.0, 300.0)
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port} is not a TCP port")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def check_range(name: str, value: float, low: float, high: float) -> None:
    """A finite number in ``[low, high]``, else a UsageError naming the setting and the range."""
    if not (isinstance(value, (int, float)) and low <= value <= high):  # False for nan
        raise UsageError(f"{name} must be between {low:g} and {high:g}, not {value!r}")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
