"""``GET /videos/{id}``: a video's bytes from an already checked descriptor, with range requests.

starlette's ``FileResponse`` opens the file by path after the route has checked it (a swap in
between is served) and answers a bad or unsatisfiable ``Range`` with a text body. This response
streams from the descriptor :func:`vtg.serve.catalog.open_video` opened *and* checked, and answers
every error as JSON: ``400`` for a malformed range, ``416`` (with ``Content-Range: bytes */SIZE``)
for one past the end. One range per request (what players send); a multi-range request gets the
whole file (200), which HTTP allows.
"""

from __future__ import annotations

import os
import re

import anyio
from starlette.responses import Response

from vtg.serve.guard import send_json

CHUNK = 64 * 1024
_RANGE = re.compile(r"bytes=\s*(\d{0,19})\s*-\s*(\d{0,19})\s*", re.ASCII)


class RangeError(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte (inclusive) that ``Range: header`` asks for, None for the whole file;
    RangeError(400) when malformed, RangeError(416) when it starts past the end."""
    if "," in header:
        return None  # several ranges: the whole file
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise RangeError(400, "malformed Range header (expected bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX)")
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeError(416, "the range is empty")
        return max(0, size - count), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        raise RangeError(400, "malformed Range header (the last byte is before the first)")
    if start >= size:
        raise RangeError(416, f"the range starts past the end of the file ({size} bytes)")
    return start, end


class VideoResponse(Response):
    """The bytes of the open descriptor ``fd`` (closed when the answer ends, whatever happens)."""

    def __init__(self, fd: int, size: int, media_type: str, headers: dict[str, str]):
        self.fd, self.size = fd, size
        super().__init__(None, 200, headers, media_type)
        self.headers["accept-ranges"] = "bytes"
        del self.headers["content-length"]

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self._answer(scope, receive, send)
        finally:
            os.close(self.fd)

    async def _answer(self, scope, receive, send) -> None:
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"range"), None)
        try:
            span = parse_range(header, self.size) if header is not None else None
        except RangeError as exc:
            extra = [(b"content-range", f"bytes */{self.size}".encode())] if exc.status == 416 else []
            return await send_json(send, exc.status, str(exc), extra)
        first, last = span if span is not None else (0, self.size - 1)
        headers = list(self.raw_headers) + [(b"content-length", str(last - first + 1).encode())]
        if span is not None:
            headers.append((b"content-range", f"bytes {first}-{last}/{self.size}".encode()))
        await send({"type": "http.response.start", "status": 206 if span is not None else 200, "headers": headers})
        async with anyio.create_task_group() as group:
            async def stream() -> None:
                await self._stream(send, first, last + 1)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            while (await receive())["type"] != "http.disconnect":  # stop reading the file if the client left
                pass
            group.cancel_scope.cancel()

    async def _stream(self, send, start: int, stop: int) -> None:
        while True:
            chunk = await anyio.to_thread.run_sync(os.pread, self.fd, min(CHUNK, stop - start), start)
            start += len(chunk)
            more = bool(chunk) and start < stop
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return
