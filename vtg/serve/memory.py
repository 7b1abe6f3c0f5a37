"""Keep the server's resident memory level under a long stream of thumbnails (glibc only).

Each thumbnail opens a decoder, decodes a few frames and frees them. With glibc's default of up to
8 malloc arenas per core, the buffers freed by short-lived decoder and worker threads stay
scattered over many arenas and are rarely given back: the server grew by ~90 MB over 5,500 new
thumbnails although its cache held at most 512 (flat with ``MALLOC_ARENA_MAX=2``). So the server
(1) caps the arenas at :data:`ARENAS` before its threads start (``mallopt(M_ARENA_MAX)``, what
``MALLOC_ARENA_MAX`` does; an explicit ``MALLOC_ARENA_MAX`` in the environment wins),
(2) decodes thumbnails with at most two FFmpeg threads (:mod:`vtg.serve.thumbs`), and (3) asks glibc to
return freed memory every :data:`TRIM_EVERY` new thumbnails (``malloc_trim(0)``).
``benchmarks/bench_thumbs.py`` shows the effect. Elsewhere (macOS, musl) these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

ARENAS = 2
TRIM_EVERY = 64
_M_ARENA_MAX = -8  # from glibc's malloc.h


@functools.lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # glibc has both; musl has neither
    except (OSError, AttributeError):
        return None
    return libc


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True when applied."""
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give freed heap memory back to the system; True when some was."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
