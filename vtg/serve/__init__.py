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


def build(config: ServeConfig):
    """The warmed-up service and its ASGI app (models load here, before any port is bound)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise DependencyError("vtg serve", exc.name or "fastapi", "serve") from None
    from vtg.serve.app import create_app
    from vtg.serve.service import Service

    service = Service(config)
    service.warm_up()
    return service, create_app(service)


def run(config: ServeConfig, *, log_level: str = "info", ready=None) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight (at most 10 s) and return.

    uvicorn re-raises the signal it caught once it has shut down; the handlers installed here
    absorb it, so a stopped server exits 0 instead of dying by the signal.
    """
    import uvicorn

    service, app = build(config)
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level,
                                           timeout_graceful_shutdown=10, server_header=False,
                                           limit_concurrency=max(64, 4 * config.max_concurrent)))
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


def _absorb(signum, frame) -> None:
    """Stand-in handler while serving: uvicorn handles the signal; this swallows its re-raise."""


__all__ = ["ServeConfig", "build", "run"]
