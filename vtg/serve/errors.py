"""Every failure as a JSON answer ``{"error": message}`` with the right status, never a traceback.

vtg's own errors are the caller's to fix (or the file's), so they map to 4xx with their message;
an unexpected exception is a bug: it is logged with its traceback and answered with a generic 500.
Messages pass through :func:`scrub`, so an error about a served file names it relative to its
root instead of revealing where the server keeps its folders.
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

from vtg.errors import (DataError, LLMError, ModelError, UsageError, VideoError, VideoNotFoundError,
                        VtgError)
from vtg.serve.catalog import OutsideRootError

log = logging.getLogger("vtg.serve")


MAX_RETRY_AFTER = 30


def retry_after(expected_wait: float = 1.0) -> int:
    """Seconds a refused client should wait: a whole number drawn uniformly from 1 to twice the
    expected wait for a free slot (at least 2, at most :data:`MAX_RETRY_AFTER`), so refused
    clients spread out instead of returning in lockstep, and do not wait longer than the work
    in front of them takes."""
    high = min(MAX_RETRY_AFTER, max(2, math.ceil(2 * expected_wait))) if math.isfinite(expected_wait) else 2
    return random.randint(1, high)


class Overloaded(Exception):
    """Every slot is busy and the queue is full (or the wait ran out): 503 with ``Retry-After``."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


#: Most specific class first.
STATUS = (
    (OutsideRootError, 403),
    (VideoNotFoundError, 404),
    (UsageError, 400),
    (VideoError, 422),
    (DataError, 422),
    (LLMError, 502),
    (ModelError, 500),
    (VtgError, 400),
)


def status_of(exc: BaseException) -> int:
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


def scrub(message: str, roots: tuple[Path, ...]) -> str:
    """``message`` with the served roots' absolute paths removed (longest first)."""
    for root in sorted(roots, key=lambda r: len(str(r)), reverse=True):
        message = message.replace(str(root) + "/", "").replace(str(root), ".")
    return message


def install(app, roots: tuple[Path, ...]) -> None:
    """Register the JSON error handlers on a FastAPI ``app``."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def answer(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(VtgError)
    async def vtg_error(request, exc: VtgError):
        return answer(status_of(exc), scrub(str(exc), roots))

    @app.exception_handler(Overloaded)
    async def overloaded(request, exc: Overloaded):
        return answer(503, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return answer(422, "invalid request: " + "; ".join(problems))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return answer(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return answer(500, "internal server error (logged on the server)")
