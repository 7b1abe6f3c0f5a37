"""A small Hugging Face hub on 127.0.0.1, so tests run huggingface_hub's real download path.

It speaks the part of the hub protocol ``huggingface_hub`` uses to download a model (checked
against the installed client's ``hf_api.model_info``, ``file_download.get_hf_file_metadata`` and
``http_get``):

* ``GET /api/models/{repo}[/revision/{rev}]`` -> ``{"id", "sha", "siblings": [{"rfilename",
  "size", "blobId", "lfs"}]}``; an unknown repo is a 404 with ``X-Error-Code: RepoNotFound``.
* ``HEAD|GET /{repo}/resolve/{rev}/{file}``: a small (git) file answers itself with ``ETag`` (its
  git blob id), ``Content-Length`` and ``X-Repo-Commit``; a weights file (LFS) answers ``302`` to a
  second server on another port standing in for the CDN, carrying ``X-Linked-Etag`` (its sha256),
  ``X-Linked-Size`` and ``X-Repo-Commit``, as the real hub does. A missing file is a 404 with
  ``X-Error-Code: EntryNotFound``.

Repos are folders (e.g. written by ``save_pretrained``); every request is logged so tests count
what was fetched. A hostile hub for attack tests: ``listing_hook(repo, info) -> dict | bytes``
rewrites (or replaces with raw bytes) the file list (or returns ``f(handler)`` to answer itself), and ``cdn_hook(handler, data)`` answers a
CDN download itself (endless, stalled, lying bodies). Both servers bind 127.0.0.1 on free ports, answer bounded requests, and stop
when the context exits.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5")


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"", head: bool = False) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)


class LocalHub:
    """``with LocalHub({"org/name": folder}) as hub: os.environ["HF_ENDPOINT"] = hub.url``."""

    def __init__(self, repos: dict[str, str | Path]):
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self.listing_hook = None  # (repo, info dict) -> dict or raw bytes answered instead
        self.cdn_hook = None  # (handler, file bytes) -> None: answers a CDN GET itself
        self._files: dict[str, dict[str, dict]] = {repo: self._index(folder) for repo, folder in self.repos.items()}
        self._sha = {repo: hashlib.sha1(repo.encode()).hexdigest() for repo in self.repos}
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), self._hub_handler())
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._cdn_handler())
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self._hub, self._cdn)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def __enter__(self) -> "LocalHub":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        for s in (self._hub, self._cdn):
            s.shutdown()
            s.server_close()

    def downloaded(self) -> list[str]:
        """Paths of the file bodies served (GETs of files, not metadata)."""
        return [p for m, p in self.requests if m == "GET" and not p.startswith("/api/")]

    @staticmethod
    def _index(folder: Path) -> dict[str, dict]:
        out = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            name = path.relative_to(folder).as_posix()
            git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            out[name] = {"path": path, "size": len(data), "oid": git_oid,
                         "sha256": hashlib.sha256(data).hexdigest(), "lfs": name.endswith(LFS_SUFFIXES)}
        return out

    def _model_info(self, repo: str) -> dict:
        siblings = []
        for name, f in self._files[repo].items():
            entry = {"rfilename": name, "size": f["size"], "blobId": f["oid"]}
            if f["lfs"]:
                entry["lfs"] = {"size": f["size"], "sha256": f["sha256"], "pointerSize": 134}
            siblings.append(entry)
        return {"id": repo, "modelId": repo, "sha": self._sha[repo], "private": False, "siblings": siblings}

    def _split_resolve(self, path: str) -> tuple[str, str] | None:
        """``/org/name/resolve/rev/file`` -> (repo, file)."""
        parts = path.lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        return "/".join(parts[:2]), "/".join(parts[4:])

    def _hub_handler(self):
        hub = self

        class Handler(_Quiet):
            def do_GET(self):
                self._serve(head=False)

            def do_HEAD(self):
                self._serve(head=True)

            def _serve(self, head: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                hub.requests.append(("HEAD" if head else "GET", path))
                if path.startswith("/api/models/"):
                    repo = "/".join(path[len("/api/models/"):].split("/")[:2])
                    if repo not in hub.repos:
                        return self._send(404, {"X-Error-Code": "RepoNotFound"}, b'{"error":"Repository not found"}')
                    info = hub._model_info(repo)
                    if hub.listing_hook is not None:
                        info = hub.listing_hook(repo, info)
                        if callable(info):  # the hook answers the request itself
                            return info(self)
                    body = info if isinstance(info, bytes) else json.dumps(info).encode()
                    return self._send(200, {"Content-Type": "application/json"}, body, head)
                found = hub._split_resolve(path)
                if found is None or found[0] not in hub.repos:
                    return self._send(404, {"X-Error-Code": "RepoNotFound"}, b"not found", head)
                repo, name = found
                f = hub._files[repo].get(name)
                commit = {"X-Repo-Commit": hub._sha[repo]}
                if f is None:
                    return self._send(404, {"X-Error-Code": "EntryNotFound", **commit}, b"entry not found", head)
                if f["lfs"]:
                    location = f"{hub.cdn_url}/{repo}/{f['sha256']}/{name}"
                    return self._send(302, {"Location": location, "X-Linked-Etag": f'"{f["sha256"]}"',
                                            "X-Linked-Size": str(f["size"]), **commit}, b"", head)
                data = f["path"].read_bytes()
                return self._send(200, {"ETag": f'"{f["oid"]}"', "Content-Type": "application/octet-stream",
                                        **commit}, data, head)

        return Handler

    def _cdn_handler(self):
        hub = self

        class Handler(_Quiet):
            def do_GET(self):
                path = unquote(urlsplit(self.path).path)
                hub.requests.append(("GET", path))
                parts = path.lstrip("/").split("/")
                repo, name = "/".join(parts[:2]), "/".join(parts[3:])
                f = hub._files.get(repo, {}).get(name)
                if f is None or f["sha256"] != parts[2]:
                    return self._send(404, {}, b"no such blob")
                data = f["path"].read_bytes()
                if hub.cdn_hook is not None:
                    return hub.cdn_hook(self, data)
                start = _range_start(self.headers.get("Range"))
                if start:
                    return self._send(206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
                                      data[start:])
                return self._send(200, {"Content-Type": "application/octet-stream"}, data)

        return Handler


def _range_start(header: str | None) -> int:
    if not header or not header.startswith("bytes="):
        return 0
    first = header[len("bytes="):].split("-")[0]
    return int(first) if first.isdigit() else 0


def closed_port_url() -> str:
    """A 127.0.0.1 URL nobody listens on (bound, then released): connections are refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
