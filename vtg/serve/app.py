"""The FastAPI application: routes over a :class:`~vtg.serve.service.Service`.

Routes stay thin: they validate the body (pydantic models with bounded fields), take a slot
(waiting briefly in a bounded queue, :mod:`vtg.serve.admission`), run the blocking work in a
daemon thread and return JSON. ``GET /videos/{id}``
streams from the descriptor the catalog opened and checked (:mod:`vtg.serve.files`), answering
HTTP range requests (206 with ``Content-Range``, suffix ranges, JSON 416 for a range past the
end), so browsers can seek without downloading.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Dict, Optional, Union

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from vtg.serve import errors
from vtg.serve.admission import in_thread
from vtg.serve.files import VideoResponse
from vtg.serve.config import MAX_QUERY_CHARS, MAX_TOP
from vtg.serve.guard import Guard
from vtg.serve.service import Service

STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "favicon.svg": "image/svg+xml"}
#: The page loads nothing from elsewhere; scripts only from this server (no inline script).
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


Scalar = Union[bool, int, float, str]


class GroundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    video: str = Field(min_length=1, max_length=1024)
    query: Optional[str] = Field(None, max_length=MAX_QUERY_CHARS)
    image: Optional[str] = Field(None, min_length=1, max_length=1024)
    top_k: Optional[int] = Field(None, ge=1, le=MAX_TOP)
    options: Dict[str, Scalar] = Field(default_factory=dict, max_length=16)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: Optional[str] = Field(None, max_length=MAX_QUERY_CHARS)
    image: Optional[str] = Field(None, min_length=1, max_length=1024)
    library: Optional[str] = Field(None, max_length=256)
    top: int = Field(20, ge=1, le=MAX_TOP)
    options: Dict[str, Scalar] = Field(default_factory=dict, max_length=16)


def static_text(name: str) -> str:
    return resources.files("vtg.serve").joinpath("static").joinpath(name).read_text("utf-8")


def create_app(service: Service):
    """The ASGI app serving ``service`` (wrapped in the token / Host / body-size guard)."""
    app = FastAPI(title="vtg", docs_url=None, redoc_url=None, openapi_url=None)
    errors.install(app, service.config.roots)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(static_text("index.html"), headers={"Content-Security-Policy": CSP})

    @app.get("/static/{name}")
    async def static(name: str):
        if name not in STATIC:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(static_text(name), media_type=STATIC[name])

    @app.get("/favicon.ico")  # browsers ask for it whatever the page says: an icon, not a 404
    async def favicon():
        return Response(static_text("favicon.svg"), media_type=STATIC["favicon.svg"],
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return service.health()

    @app.post("/ground")
    async def ground(req: GroundRequest) -> Dict[str, Any]:
        async with service.slots.slot():
            return await in_thread(service.ground, req.video, req.query, req.image, req.top_k, req.options)

    @app.post("/search")
    async def search(req: SearchRequest) -> Dict[str, Any]:
        async with service.slots.slot():
            return await in_thread(service.search, req.library, req.query, req.image, req.top, req.options)

    @app.get("/videos")
    async def videos() -> Dict[str, Any]:
        return {"videos": await in_thread(service.videos)}

    @app.get("/videos/{ident}")
    async def video(ident: str):
        entry, fd, info = await in_thread(service.catalog.open_id, ident)
        return VideoResponse(fd, info.st_size, media_type(entry.path.name),
                             {"Cache-Control": "private, max-age=3600"})

    @app.get("/thumbs/{ident}")
    async def thumb(ident: str, t: float = Query(0.0)):
        async with service.thumb_slots.slot():
            data = await in_thread(service.thumbnail, ident, t)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    return Guard(app, token=service.config.token, loopback=service.config.loopback,
                 max_body=service.config.max_body_bytes)


def media_type(name: str) -> str:
    import mimetypes

    guess = mimetypes.guess_type(name)[0] or ""
    return guess if guess.startswith("video/") else "application/octet-stream"
