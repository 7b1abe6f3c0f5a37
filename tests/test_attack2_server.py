"""`vtg serve` against hostile clients, second pass (issue 17): idle and slow sockets, the
connection cap, secrets in the log, files that are not videos, guessable ids, non-JSON error
bodies, the overload queue and shutdown past the grace period.

Every case runs a real ``vtg serve`` subprocess on 127.0.0.1 with the test-only ``gated-test``
method (tests/serve_helpers.py: no model to load; ``-O gate=DIR`` holds requests until the test
releases them). Times are bounded by socket timeouts and counted work, never asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from serve_helpers import start_server

pytestmark = pytest.mark.slow
TOKEN = "Tk-attack2-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HALF_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: the head never ends


def is_json_error(data: bytes) -> str:
    body = json.loads(data)
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert "Traceback" not in body["error"] and "internal error" not in body["error"]
    return body["error"]


def raw_exchange(port: int, payload: bytes, timeout: float = 60) -> bytes:
    """Send ``payload`` on a fresh socket and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def split_response(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def open_idle(port: int, count: int, half: bool) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if half:
            sock.sendall(HALF_HEAD)
        socks.append(sock)
    return socks


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def closed_by_server(sock: socket.socket, timeout: float = 60) -> bool:
    """True once the server has closed ``sock`` (end of stream or reset), within ``timeout``."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def wait_until(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A root with one real video and files that are not videos; (root, outside folder, cache)."""
    from conftest import SCENES, scene_frame, write_video

    base = tmp_path_factory.mktemp("attack2")
    root, outside = base / "root", base / "outside"
    (root / ".git").mkdir(parents=True)
    outside.mkdir()

    def frames():
        for colour, pattern in SCENES:
            yield from [scene_frame(colour, (96, 64), pattern)] * 20

    write_video(root / "clip.mp4", frames(), 10.0)
    write_video(outside / "other.mp4", frames(), 10.0)
    (root / ".env").write_text("SECRET=hunter2-do-not-serve\n")
    (root / ".git" / "config").write_text("[remote]\n\turl = https://user:SECRET@example.invalid/x\n")
    (root / "fake.mp4").write_text("SECRET=a text file named like a video\n")
    os.mkfifo(root / "pipe.mp4")
    return root, outside, base / "cache"


@pytest.fixture(scope="module")
def server(site, tmp_path_factory):
    root, _, cache = site
    log = tmp_path_factory.mktemp("attack2-log") / "server.log"
    srv = start_server([str(root), "--method", "gated-test"], log, token=TOKEN, cache=cache)
    yield srv
    srv.stop()


@pytest.fixture
def gated(site, tmp_path):
    """A server whose grounding requests hold until ``gate/release`` exists: (server, gate)."""
    root, _, cache = site
    gate = tmp_path / "gate"
    gate.mkdir()
    servers = []

    def start(*extra: str):
        srv = start_server([str(root), "--method", "gated-test", "-O", f"gate={gate}", *extra],
                           tmp_path / f"server{len(servers)}.log", token=TOKEN, cache=cache)
        servers.append(srv)
        return srv

    yield start, gate
    (gate / "release").touch()
    for srv in servers:
        srv.stop()


def clip_id(srv) -> str:
    status, listing = srv.json("GET", "/videos")
    assert status == 200
    return next(v["id"] for v in listing["videos"] if v["name"] == "clip.mp4")


# -- idle and slow clients ---------------------------------------------------------------------

@pytest.mark.parametrize("half", [False, True], ids=["silent", "half-sent"])
def test_80_idle_connections_do_not_lock_out_a_real_request(server, half):
    socks = open_idle(server.port, 80, half)
    try:
        status, _, data = server.request("GET", "/health", headers=AUTH, timeout=15)
        assert status == 200 and json.loads(data)["status"] == "ok"
        status, _, data = server.request("GET", "/health", auth=False, timeout=15)
        assert status == 401 and "token" in is_json_error(data)  # refused for the token, not for load
    finally:
        close_all(socks)


def test_silent_and_half_sent_connections_are_closed_by_the_head_deadline(server):
    silent, half = open_idle(server.port, 1, False)[0], open_idle(server.port, 1, True)[0]
    try:
        assert closed_by_server(silent)  # closed without a word: it said nothing
        half.settimeout(60)
        raw = b""
        while chunk := half.recv(65536):
            raw += chunk
        status, headers, body = split_response(raw)
        assert status == 408 and headers["content-type"] == "application/json"
        assert "did not arrive" in is_json_error(body)
    finally:
        close_all([silent, half])


def test_a_trickled_head_does_not_extend_the_deadline(server):
    """One byte at a time keeps an idle timer alive forever; a deadline ends it."""
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 500
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sent = 0
    try:
        for byte in request:  # 500+ bytes, 0.05 s apart: at least 25 s, past the 10-s deadline
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sent += 1
            time.sleep(0.05)
        assert sent < len(request)  # the server cut the trickle off
    finally:
        sock.close()


def test_a_body_that_never_arrives_gets_a_json_408(server):
    head = (b"POST /ground HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode() +
            b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"video\"")
    status, headers, body = split_response(raw_exchange(server.port, head))
    assert status == 408 and "did not arrive" in is_json_error(body)


def test_a_malformed_request_line_gets_a_json_400(server):
    status, headers, body = split_response(raw_exchange(server.port, b"NOT HTTP AT ALL\r\n\r\n"))
    assert status == 400 and headers["content-type"] == "application/json"
    assert "malformed" in is_json_error(body)
    endless = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000  # a head past 16 KiB
    status, _, body = split_response(raw_exchange(server.port, endless))
    assert status == 400 and is_json_error(body)


def test_at_the_connection_cap_the_idlest_connection_makes_room(gated):
    start, _ = gated
    srv = start("--max-connections", "8")
    socks = open_idle(srv.port, 8, True)
    try:
        status, _, _ = srv.request("GET", "/health", headers=AUTH, timeout=15)
        assert status == 200
        assert closed_by_server(socks[0])  # the oldest idle one was closed for it
    finally:
        close_all(socks)


def test_at_the_connection_cap_with_every_connection_busy_the_answer_is_json_503(gated):
    start, gate = gated
    srv = start("--max-connections", "8", "--max-concurrent", "2", "--queue", "6", "--queue-wait", "60")
    answers: list[int] = []
    body = {"video": "clip.mp4", "query": "red"}
    busy = [threading.Thread(target=lambda: answers.append(srv.request("POST", "/ground", body)[0]))
            for _ in range(8)]
    for t in busy:
        t.start()
    try:
        wait_until(lambda: len(list(gate.glob("started-*"))) == 2, "2 requests running")
        # 2 running + 6 queued hold all 8 connections: the next one (this /health) cannot get in
        wait_until(lambda: srv.request("GET", "/health", timeout=30)[0] == 503, "8 requests in flight")
        assert len(list(gate.glob("started-*"))) == 2
        status, headers, data = srv.request("GET", "/health", headers=AUTH, timeout=30)
        assert status == 503 and headers["content-type"] == "application/json"
        assert 1 <= int(headers["retry-after"]) <= 6 and "connections" in is_json_error(data)
    finally:
        (gate / "release").touch()
        for t in busy:
            t.join(timeout=120)
    assert sorted(answers) == [200] * 8


# -- the overload queue --------------------------------------------------------------------------

def test_refusals_carry_jittered_retry_after(gated):
    start, gate = gated
    srv = start("--max-concurrent", "1", "--queue", "0")
    holder = threading.Thread(target=lambda: srv.request("POST", "/ground", {"video": "clip.mp4", "query": "red"}))
    holder.start()
    try:
        wait_until(lambda: any(gate.glob("started-*")), "one request running")
        waits = set()
        for _ in range(30):
            status, headers, data = srv.request("POST", "/ground", {"video": "clip.mp4", "query": "blue"})
            assert status == 503 and "busy" in is_json_error(data)
            waits.add(int(headers["retry-after"]))
        assert len(waits) >= 2 and min(waits) >= 1 and max(waits) <= 6  # spread, not lockstep
        assert len(list(gate.glob("started-*"))) == 1  # no refused request reached the method
    finally:
        (gate / "release").touch()
        holder.join(timeout=120)


def test_four_clients_on_two_slots_are_all_served_by_the_queue(gated):
    start, gate = gated
    srv = start("--max-concurrent", "2", "--queue", "8", "--queue-wait", "60")
    answers: list[int] = []
    clients = [threading.Thread(target=lambda q=q: answers.append(
        srv.request("POST", "/ground", {"video": "clip.mp4", "query": q})[0])) for q in ("red", "green", "blue", "red")]
    for t in clients:
        t.start()
    wait_until(lambda: srv.json("GET", "/health")[1]["waiting"] == 2, "two requests queued")
    (gate / "release").touch()
    for t in clients:
        t.join(timeout=120)
    assert sorted(answers) == [200] * 4


# -- secrets stay out of the log -----------------------------------------------------------------

@pytest.mark.parametrize("level", ["critical", "error", "warning", "info", "debug"])
def test_the_token_never_reaches_the_log(site, tmp_path, level):
    root, _, cache = site
    srv = start_server([str(root), "--method", "gated-test"], tmp_path / "server.log", token=TOKEN, cache=cache,
                       log_level=level)
    guesses = ["Guess-aaaa1111", "Guess-bbbb2222", "Guess-cccc3333"]
    try:
        assert srv.request("GET", f"/?token={TOKEN}", auth=False)[0] == 303
        assert srv.request("GET", f"/?token={guesses[0]}", auth=False)[0] == 401
        assert srv.request("GET", f"/videos?token={TOKEN}&x=1", auth=False)[0] == 401
        assert srv.request("GET", "/health", headers={"Authorization": f"Bearer {guesses[1]}"}, auth=False)[0] == 401
        assert srv.request("GET", "/health", headers={"Cookie": f"vtg_token={guesses[2]}"}, auth=False)[0] == 401
        assert srv.request("GET", f"/nowhere/{TOKEN}", headers=AUTH)[0] == 404
        assert srv.request("POST", "/ground", {"video": "clip.mp4", "query": "raise internal error"})[0] == 500
        raw_exchange(srv.port, b"GET /?token=" + TOKEN.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nBroken header line\r\n\r\n")
    finally:
        assert srv.stop() == 0
    log = srv.log.read_text(errors="replace")
    if level in ("info", "debug"):
        assert "/?token=[redacted]" in log  # the request is logged, its token is not
    for secret in [TOKEN, *guesses]:
        assert secret not in log
    assert "vtg: internal error" not in log


# -- only videos are registered, ids cannot be guessed ---------------------------------------------

@pytest.mark.parametrize("name", [".env", ".git/config", "fake.mp4", "pipe.mp4"])
def test_files_that_are_not_videos_are_never_registered_or_served(server, name):
    status, _, data = server.request("POST", "/ground", {"video": name, "query": "red"})
    assert status in (404, 422) and "SECRET" not in is_json_error(data)
    status, listing = server.json("GET", "/videos")
    assert [v["name"] for v in listing["videos"]] == ["clip.mp4"]
    for video in listing["videos"]:
        _, _, content = server.request("GET", video["url"])
        assert b"SECRET" not in content


def test_a_non_image_query_image_is_refused_and_not_registered(server):
    status, _, data = server.request("POST", "/ground", {"video": "clip.mp4", "image": ".env"})
    assert status == 400 and "picture" in is_json_error(data)
    assert len(server.json("GET", "/videos")[1]["videos"]) == 1


def test_ids_are_keyed_and_survive_a_restart(site, server, tmp_path):
    root, _, cache = site
    ident = clip_id(server)
    path = str((root / "clip.mp4").resolve())
    assert ident not in (hashlib.sha256(path.encode()).hexdigest()[:20], hashlib.sha256(path.encode()).hexdigest()[:24])
    key = cache / "serve" / "id-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    again = start_server([str(root), "--method", "gated-test"], tmp_path / "again.log", token=TOKEN, cache=cache)
    try:
        assert clip_id(again) == ident  # the persisted key: bookmarks keep working
    finally:
        again.stop()


def test_a_registered_video_swapped_for_a_secret_is_not_served(site, gated, tmp_path):
    root, outside, _ = site
    start, _ = gated
    mine = root / "swap.mp4"
    mine.write_bytes((root / "clip.mp4").read_bytes())
    try:
        srv = start()
        ident = next(v["id"] for v in srv.json("GET", "/videos")[1]["videos"] if v["name"] == "swap.mp4")
        assert srv.request("GET", f"/videos/{ident}", headers={"Range": "bytes=0-3"})[0] == 206
        mine.write_text("SECRET=swapped in after registration\n")
        status, _, data = srv.request("GET", f"/videos/{ident}")
        assert status == 422 and "SECRET" not in is_json_error(data)
        mine.unlink()
        mine.symlink_to(outside / "other.mp4")
        status, _, data = srv.request("GET", f"/videos/{ident}")
        assert status in (403, 404) and is_json_error(data)
    finally:
        mine.unlink(missing_ok=True)


# -- every error body is JSON ----------------------------------------------------------------------

@pytest.mark.parametrize("header, status", [
    ("bytes=abc", 400), ("items=0-10", 400), ("bytes=20-10", 400), ("bytes=-", 400),
    ("bytes=99999999999-", 416), ("bytes=-0", 416), ("bytes=" + "9" * 5000 + "-", 400),
])
def test_bad_ranges_answer_json(server, header, status):
    got, headers, data = server.request("GET", f"/videos/{clip_id(server)}", headers={"Range": header})
    assert got == status and headers["content-type"] == "application/json" and is_json_error(data)
    if status == 416:
        assert headers["content-range"].startswith("bytes */")


def test_good_ranges_still_work(site, server):
    root, _, _ = site
    data = (root / "clip.mp4").read_bytes()
    path = f"/videos/{clip_id(server)}"
    status, headers, body = server.request("GET", path, headers={"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20] and headers["content-range"] == f"bytes 10-19/{len(data)}"
    status, _, body = server.request("GET", path, headers={"Range": "bytes=0-1,5-9"})  # several: the whole file
    assert status == 200 and body == data


def test_shutdown_past_the_grace_answers_json_503_and_exits_promptly(gated):
    start, gate = gated
    srv = start()
    answer: list[tuple] = []
    stuck = threading.Thread(target=lambda: answer.append(
        srv.request("POST", "/ground", {"video": "clip.mp4", "query": "red"}, timeout=90)))
    stuck.start()
    wait_until(lambda: any(gate.glob("started-*")), "a request in the method")
    srv.proc.send_signal(signal.SIGTERM)
    code = srv.proc.wait(timeout=60)  # the gate is never opened: the work would run 120 s
    stuck.join(timeout=60)
    status, headers, data = answer[0]
    assert status == 503 and "shutting down" in is_json_error(data)
    assert code == 1
    log = srv.log.read_text(errors="replace")
    assert "still running after the 10-s grace" in log
    assert "Traceback" not in log and "vtg: internal error" not in log


# -- the new settings are checked ------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [("--queue", "-1"), ("--queue", "100000"), ("--queue-wait", "nan"),
                                         ("--queue-wait", "1e308"), ("--queue-wait", "0"),
                                         ("--max-connections", "1")])
def test_overload_settings_out_of_range_are_one_line_errors(tmp_path, capsys, flag, value):
    from vtg.cli.main import main

    assert main(["serve", str(tmp_path), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"vtg: error: {flag} must be ") and "Traceback" not in err[0]
    assert "got" in err[0] and "[" in err[0]  # the value and the allowed range, from the option schema


# -- the id key file -------------------------------------------------------------------------------

def test_an_id_key_readable_by_others_is_neither_used_nor_touched(tmp_path):
    import logging

    from vtg.serve.ids import key_path, load_id_key

    path = key_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"k" * 32)
    path.chmod(0o644)
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("vtg.serve").addHandler(handler)
    try:
        first, second = load_id_key(tmp_path), load_id_key(tmp_path)
    finally:
        logging.getLogger("vtg.serve").removeHandler(handler)
    assert first != b"k" * 32 and first != second  # a fresh key per process, not the exposed one
    assert path.read_bytes() == b"k" * 32 and stat.S_IMODE(path.stat().st_mode) == 0o644  # left alone
    assert len(seen) == 2 and all("ids will change when the server restarts" in m for m in seen)


def test_the_id_key_is_created_once_and_private(tmp_path):
    from vtg.serve.ids import key_path, load_id_key

    keys = {load_id_key(tmp_path) for _ in range(3)}
    path = key_path(tmp_path)
    assert len(keys) == 1 and path.read_bytes() in keys
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["id-key"]  # no temporary file left
