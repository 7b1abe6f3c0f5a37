"""The secret behind video ids: ids are ``HMAC-SHA256(key, real path)``, so they cannot be guessed.

An unsalted hash of the path let an attacker who saw one id confirm guesses of the server's
folders offline (the root of a listed id was recovered that way). With a key, an id reveals
nothing and no id can be made up.

The key is **persisted** (32 random bytes in ``$VTG_CACHE_DIR/serve/id-key``, mode 0600, in a
0700 folder) rather than drawn per process, so a page, bookmark or script keeps working across
restarts, as the earlier path-derived ids did. It is created once, atomically (written to a
private temporary file, then hard-linked into place, so two servers starting together agree on
one key). A key file that is not a private regular file of this user with exactly 32 bytes is
never used (nor touched): the server then draws a key for this process only and says so, and ids
change on restart. Deleting the file is how to make every old id invalid.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from vtg.features import cache_root

log = logging.getLogger("vtg.serve")
KEY_BYTES = 32


def key_path(cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "serve" / "id-key"


def load_id_key(cache_dir: str | Path | None = None) -> bytes:
    """The persisted id key (created on first use), or a per-process one when it cannot be kept."""
    path = key_path(cache_dir)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        return _process_key(f"{path} is not usable ({exc})")
    try:
        return _create_key(path)
    except OSError as exc:
        return _process_key(f"cannot create {path} ({exc.strerror or exc})")


def _process_key(why: str) -> bytes:
    log.warning("video ids will change when the server restarts: %s", why)
    return secrets.token_bytes(KEY_BYTES)


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != KEY_BYTES:
            raise ValueError(f"expected a regular file of {KEY_BYTES} bytes")
        if info.st_mode & 0o077 or info.st_uid != os.geteuid():
            raise ValueError("readable by other users, or not owned by this user")
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise ValueError("truncated")
    return data


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".id-key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)  # atomic; fails if another server created it first
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)
    return _read_key(path)
