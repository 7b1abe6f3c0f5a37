"""Running a real ``vtg serve`` subprocess on 127.0.0.1 for tests, and talking to it over HTTP.

``python -m serve_helpers serve ...`` (with this folder on PYTHONPATH) is the real CLI with one
more method, ``gated-test``: batch_helpers' colour method that, given ``-O gate=DIR``, holds each
request until the file ``DIR/release`` exists (so tests make requests slow deterministically,
without sleeping), and answers the query ``raise internal error`` with an unexpected exception.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from batch_helpers import ColourMethod

from vtg.errors import VtgError

TESTS = Path(__file__).resolve().parent
GATE_WAIT = 120.0  # seconds a gated request waits for its release before failing


class GatedMethod(ColourMethod):
    name = "gated-test"

    @dataclass(frozen=True)
    class Config:
        fps: float = 2.0
        sleep: float = 0.0
        gate: str = ""

    def ground(self, video, query, *, progress=False):
        if query.text == "raise internal error":
            raise RuntimeError("secret detail: /etc/shadow at line 3")
        if self.config.gate:
            gate = Path(self.config.gate)
            (gate / f"started-{uuid.uuid4().hex}").touch()
            deadline = time.monotonic() + GATE_WAIT
            while not (gate / "release").exists():
                if time.monotonic() > deadline:
                    raise VtgError("test gate was never released")
                time.sleep(0.01)
        return super().ground(video, query, progress=progress)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` and a new server can listen there (with SO_REUSEADDR, as
    uvicorn binds: the closed connections' TIME_WAIT entries do not hold the port)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path
    token: str | None = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None, *,
                auth: bool = True, raw: bytes | None = None, timeout: float = 120):
        """``(status, headers, body bytes)``; ``body`` is sent as JSON, ``raw`` as is."""
        hdrs = dict(headers or {})
        if auth and self.token and "Authorization" not in hdrs and "Cookie" not in hdrs:
            hdrs["Authorization"] = f"Bearer {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body=None, **kw):
        status, _, data = self.request(method, path, body, **kw)
        return status, json.loads(data)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode


def start_server(args: list[str], log: Path, *, token: str | None = None, cache: Path | None = None,
                 timeout: float = 300, log_level: str = "warning") -> Server:
    """Start ``vtg serve ARGS --port P`` and wait until ``/health`` answers (or the process dies).
    ``cache``: the server's feature cache (module-scoped servers start before the per-test one)."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if cache is not None:
        env["VTG_CACHE_DIR"] = str(cache)
    cmd = [sys.executable, "-m", "serve_helpers", "serve", *args, "--port", str(port), "--log-level", log_level]
    if token:
        cmd += ["--token", token]
    handle = open(log, "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    server = Server(proc, port, log, token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"vtg serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if server.request("GET", "/health", timeout=5)[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"vtg serve did not come up:\n{log.read_text(errors='replace')}")


def register() -> None:
    from batch_helpers import register as register_colour
    from vtg.registry import RUNTIME_METHODS

    register_colour()
    RUNTIME_METHODS["gated-test"] = "serve_helpers:GatedMethod"


if __name__ == "__main__":
    register()
    from vtg.cli.main import main

    sys.exit(main(sys.argv[1:]))
