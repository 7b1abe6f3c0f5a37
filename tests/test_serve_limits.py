"""`vtg serve` under load and at shutdown: with N slots and a queue of Q, N+Q concurrent requests
are all served and request N+Q+1 gets one 503, an unexpected exception gives a generic 500, and
SIGTERM stops the process cleanly (exit 0, port freed).

The server runs the test-only ``gated-test`` method (tests/serve_helpers.py): each grounding
request holds until the test creates a release file, so "slow" is decided by the test, not a clock.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from serve_helpers import port_is_free, start_server

pytestmark = pytest.mark.slow
LIMIT = 2
QUEUE = 1


@pytest.fixture
def gated(tmp_path, make_video):
    root, gate = tmp_path / "root", tmp_path / "gate"
    root.mkdir()
    gate.mkdir()
    make_video("clip.mp4").rename(root / "clip.mp4")
    server = start_server([str(root), "--method", "gated-test", "-O", f"gate={gate}",
                           "--max-concurrent", str(LIMIT), "--queue", str(QUEUE), "--queue-wait", "60"],
                          tmp_path / "server.log")
    yield server, gate
    (gate / "release").touch()
    server.stop()


def wait_until(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_requests_beyond_the_limit_and_queue_get_503_at_once(gated):
    server, gate = gated
    answers: list[int] = []
    body = {"video": "clip.mp4", "query": "red"}

    def call():
        answers.append(server.request("POST", "/ground", body)[0])

    held = [threading.Thread(target=call) for _ in range(LIMIT)]
    for t in held:
        t.start()
    wait_until(lambda: len(list(gate.glob("started-*"))) == LIMIT, f"{LIMIT} requests inside the method")
    assert server.json("GET", "/health")[1]["busy"] == LIMIT  # health needs no slot

    queued = threading.Thread(target=call)  # request N+1 waits in the queue
    queued.start()
    wait_until(lambda: server.json("GET", "/health")[1]["waiting"] == QUEUE, "a request in the queue")

    status, headers, data = server.request("POST", "/ground", body)  # request N+Q+1
    assert status == 503 and 1 <= int(headers["retry-after"]) <= 6 and "busy" in json.loads(data)["error"]
    assert server.request("POST", "/search", {"query": "red"})[0] == 503  # search shares the slots
    assert len(list(gate.glob("started-*"))) == LIMIT  # neither the queued nor the refused reached the method

    (gate / "release").touch()
    for t in [*held, queued]:
        t.join(timeout=120)
    assert sorted(answers) == [200] * (LIMIT + QUEUE)  # the queued one was served once a slot freed
    assert server.json("GET", "/health")[1]["busy"] == 0
    assert server.request("POST", "/ground", body)[0] == 200  # slots are given back


def test_unexpected_errors_are_a_generic_500_and_logged(gated):
    server, _ = gated
    status, body = server.json("POST", "/ground", {"video": "clip.mp4", "query": "raise internal error"})
    assert status == 500
    assert body == {"error": "internal server error (logged on the server)"}  # nothing of the exception
    wait_until(lambda: "secret detail" in server.log.read_text(errors="replace"), "the log line")
    assert server.json("GET", "/health")[1]["busy"] == 0


def test_sigterm_exits_0_and_frees_the_port(gated):
    server, gate = gated
    answers: list[int] = []
    inflight = threading.Thread(target=lambda: answers.append(
        server.request("POST", "/ground", {"video": "clip.mp4", "query": "green"})[0]))
    inflight.start()
    wait_until(lambda: any(gate.glob("started-*")), "a request in flight")
    server.proc.send_signal(signal.SIGTERM)
    (gate / "release").touch()  # the request in flight finishes during the graceful shutdown
    assert server.proc.wait(timeout=60) == 0
    inflight.join(timeout=60)
    assert answers == [200]
    assert port_is_free(server.port)
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log


def test_port_in_use_is_a_one_line_error(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from serve_helpers import TESTS

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=str(TESTS))
        done = subprocess.run([sys.executable, "-m", "serve_helpers", "serve", str(tmp_path), "--method", "gated-test",
                               "--port", str(port), "--log-level", "critical"],
                              env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"vtg: error: could not listen on 127.0.0.1:{port}")
    assert "Traceback" not in done.stderr
