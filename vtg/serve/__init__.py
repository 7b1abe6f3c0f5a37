"""``vtg serve``: the models loaded once behind a small HTTP API and a web page.

>>> from vtg.serve import ServeConfig, run
>>> run(ServeConfig(roots=("videos",), method_options={"encoder": "ViT-B-32/openai"}))

Routes (JSON unless noted; see docs/serve.md): ``POST /ground``, ``POST /search``,
``GET /videos``, ``GET /videos/{id}`` (the file, with HTTP range requests), ``GET /thumbs/{id}?t=``
(JPEG), ``GET /health`` and the page at ``/``. FastAPI and uvicorn are an optional extra
(``pip install 'vtg[serve]'``); importing this package does not import them.
"""

from __future__ import annotations

import signal

from vtg.errors import DependencyError, VtgError
from vtg.serve.config import ServeConfig
from vtg.serve.logs import install_redaction
from vtg.serve.memory import limit_malloc_arenas
from vtg.serve.service import Service

#: Seconds requests in flight may take to finish once the server is told to stop.
GRACE = 10
#: Seconds a kept-alive connection may stay idle between requests.
KEEP_ALIVE = 5


def build(config: ServeConfig):
    """The warmed-up service and its ASGI app (models load here, before any port is bound)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise DependencyError("vtg serve", exc.name or "fastapi", "serve") from None
    from vtg.serve.app import create_app

    service = Service(config)  # in the current session (the CLI's: its flags apply to every request)
    service.session.run(service.warm_up)
    return service, create_app(service)


def run(config: ServeConfig, *, log_level: str = "info", ready=None) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight (at most
    :data:`GRACE` s) and return.

    uvicorn re-raises the signal it caught once it has shut down; the handlers installed here
    absorb it, so a stopped server exits 0 instead of dying by the signal. Requests still running
    when the grace period ends are answered 503 and abandoned (their computation runs in daemon
    threads, so it does not hold the process): ``run`` then raises VtgError saying how many, so
    the exit status is 1 and the last line says why.
    """
    import uvicorn

    from vtg.serve.protocol import ensure_descriptors, protocol_class

    limit_malloc_arenas()  # before the decoders' and servers' threads exist
    ensure_descriptors(config.max_connections + 256)
    service, app = build(config)
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.host, port=config.port, log_level=log_level, timeout_graceful_shutdown=GRACE,
        server_header=False, http=protocol_class(config.head_timeout, config.max_connections),
        timeout_keep_alive=KEEP_ALIVE, limit_concurrency=None, ws="none"))
    install_redaction(config.token)  # uvicorn.Config set up its log handlers just now
    if ready is not None:
        ready(service)
    previous = {sig: signal.signal(sig, _absorb) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind, after logging why
        raise VtgError(f"could not listen on {config.host}:{config.port} (in use, or not an address of "
                       "this machine; see the line above)") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if app.abandoned:
        raise VtgError(f"stopped with {app.abandoned} request(s) still running after the {GRACE}-s grace "
                       "period; they were answered 503 and their work abandoned")


def _absorb(signum, frame) -> None:
    """Stand-in handler while serving: uvicorn handles the signal; this swallows its re-raise."""


__all__ = ["ServeConfig", "build", "run"]
