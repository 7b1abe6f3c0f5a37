"""Attacks on vtg's bounds: redirection by input data, hangs, memory blow-ups, machine faults, a
cache that could lie (issue 8).

Every case asserts the outcome a user can rely on: one ``vtg: error:`` line and a non-zero exit (or
an error record in batch, the rest of the batch going on), no traceback, input files byte-identical,
no request to an address a line named, and bounded work measured by counting (connections, bytes a
server managed to send, frames decoded, bytes allocated) rather than by the wall clock. Servers bind
127.0.0.1 only; threads are joined with a generous timeout that only turns a hang into a failure.
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from test_hostile_inputs import one_line_error
from vtg.cli.main import main

RED, BLUE = (200, 30, 30), (30, 30, 200)
HANG_GUARD_S = 60.0  # only turns a hang into a failure; never an assertion about speed


# --- shared helpers ---------------------------------------------------------------------------


@pytest.fixture
def colour_method(monkeypatch):
    import batch_helpers  # noqa: F401  (tests/ is on sys.path under pytest)
    from vtg.registry import RUNTIME_METHODS

    monkeypatch.setitem(RUNTIME_METHODS, "colour-test", "batch_helpers:ColourMethod")


@pytest.fixture
def clip(make_video):
    """2 s at 10 fps, 32x24: red then blue."""
    return make_video("clip.mp4", [(RED, 1.0, 0), (BLUE, 1.0, 0)], size=(32, 24))


@pytest.fixture
def decoded(monkeypatch) -> list[int]:
    """Counts frames the PyAV backend decodes and converts (the memory a video costs)."""
    from vtg.video import pyav_backend

    real, count = pyav_backend.decode, [0]

    def counting(*args, **kwargs):
        for item in real(*args, **kwargs):
            count[0] += 1
            yield item

    monkeypatch.setattr(pyav_backend, "decode", counting)
    return count


def snapshot(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def unchanged(before: dict[Path, bytes]) -> bool:
    return all(p.read_bytes() == data for p, data in before.items())


def y4m(path: Path, width: int, height: int, frames: int, payload: int | None = None) -> Path:
    """A raw YUV4MPEG2 video: its header declares the size; ``payload`` bytes per frame are present
    (fewer than declared makes a tiny file that claims huge frames)."""
    size = width * height * 3 // 2 if payload is None else payload
    head = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(head + (b"FRAME\n" + b"\x80" * size) * frames)
    return path


class Listener:
    """A 127.0.0.1 socket nobody should connect to; counts connections that reach it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def connections(self) -> int:
        self.sock.setblocking(False)
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, OSError):
                return n
            conn.close()
            n += 1

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    srv = Listener()
    yield srv
    srv.close()


# --- 1. a line of input data cannot redirect the network or credentials ------------------------

REDIRECTS = [
    ("tfvtg", {"llm_url": "{url}"}, "llm_url"),
    ("tfvtg", {"llm": "openai:gpt-4o", "llm_url": "{url}"}, "llm"),
    ("tfvtg", {"llm": "hf:/tmp/evil-model"}, "llm"),
    ("tfvtg", {"llm": "json:/etc/passwd"}, "llm"),
    ("tfvtg", {"encoder": "hf-clip:{url}"}, "encoder"),
    ("tfvtg", {"device": "cuda:7"}, "device"),
    ("tfvtg", {"llm_timeout": 1e9}, "llm_timeout"),
    ("univtg", {"model": "/tmp/evil"}, "model"),
    ("numpro", {"model": "{url}"}, "model"),
    ("timemarker", {"device": "cuda"}, "device"),
    ("vtgllm", {"time_tokens": "add"}, "time_tokens"),
    ("numpro", {"max_new_tokens": 10 ** 9}, "max_new_tokens"),
    ("refine", {"fast_model": "/tmp/evil"}, "fast_model"),
    ("refine", {"llm": "openai:gpt-4o"}, "llm"),
    ("numpro", {"select_encoder": "hf-clip:{url}"}, "select_encoder"),
    ("colour-test", {"sleep": 1, "nope": 1}, "nope"),
]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    from vtg.encoders.testing import random_open_clip

    return str(random_open_clip(tmp_path_factory.mktemp("oc") / "tiny"))


@pytest.mark.parametrize("method,options,named", REDIRECTS, ids=[f"{m}-{n}" for m, _, n in REDIRECTS])
def test_a_line_cannot_pick_endpoints_models_or_devices(tmp_path, clip, colour_method, listener, monkeypatch,
                                                        tiny_encoder, method, options, named):
    """TFVTG lines run with a real (tiny) encoder given on the command line, so a line that got its
    ``llm_url`` through would really send its request (and the key) to the listener."""
    from vtg.batch import run_batch

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-sent")
    monkeypatch.setenv("VTG_LLM_TIMEOUT", "2")  # were a request sent, it could not hang the test
    options = {k: v.replace("{url}", listener.url) if isinstance(v, str) else v for k, v in options.items()}
    trusted = {"encoder": tiny_encoder} if method == "tfvtg" else {}
    default = "tfvtg" if method == "tfvtg" else "colour-test"
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"video": str(clip), "query": "red then blue", "qid": "attack", "method": method,
                               "options": options}) + "\n"
                   + json.dumps({"video": str(clip), "query": "red", "qid": "good"}) + "\n")
    before = snapshot(src, clip)
    summary = run_batch(src, tmp_path / "out.jsonl", method=default, options=trusted, fsync=False)
    records = {r["qid"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert listener.connections() == 0
    assert records["attack"]["status"] == "error" and repr(named) in records["attack"]["error"]
    assert records["good"]["status"] == "ok" and (summary.ok, summary.errors) == (1, 1)  # the batch went on
    assert unchanged(before)


def test_a_line_may_still_set_what_changes_the_result(tmp_path, clip, colour_method):
    from vtg.batch import run_batch

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"video": str(clip), "query": "red", "qid": 1, "options": {"fps": 4}}) + "\n")
    run_batch(src, tmp_path / "out.jsonl", method="colour-test", fsync=False)
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["status"] == "ok" and record["meta"]["fps"] == 4


def test_every_method_declares_its_line_options():
    """Each registered method says what a line may set, and none of it names a place or device."""
    from vtg.registry import list_methods
    from vtg.method import line_options

    never = {"llm", "llm_url", "encoder", "model", "device", "dtype", "llm_timeout", "time_tokens", "fast_model",
             "select_encoder", "videollm", "max_new_tokens"}
    for cls in list_methods():
        allowed = line_options(cls.Config)
        assert allowed and not allowed & never, (cls.name, allowed)


# --- 2. no hang: every LLM call has an overall deadline -----------------------------------------


class SlowServer:
    """A 127.0.0.1 HTTP server misbehaving in one of several ways; counts what it managed to do."""

    OK_BODY = json.dumps({"choices": [{"message": {"content": "not json at all"}}]}).encode()

    def __init__(self, mode: str, interval: float = 0.05):
        self.mode, self.interval = mode, interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.connections = self.requests = self.bytes_sent = 0
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def response(self) -> bytes:
        body = self.OK_BODY if self.mode == "slow-garbage" else b"x" * 100_000
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " \
            + str(len(body)).encode() + b"\r\n\r\n" + body

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        conn.settimeout(0.2)
        try:
            if conn.recv(65536):
                self.requests += 1
            data = self.response()
            if self.mode == "silent":
                self.stop.wait(HANG_GUARD_S)
            elif self.mode == "slow-garbage":  # a whole answer, but late; unusable every time
                self.stop.wait(self.interval)
                conn.sendall(data)
                self.bytes_sent += len(data)
            else:
                start = data.index(b"\r\n\r\n") + 4 if self.mode == "drip-body" else 0
                conn.sendall(data[:start])
                self.bytes_sent += start
                for i in range(start, len(data)):
                    if self.stop.wait(self.interval):
                        break
                    conn.send(data[i:i + 1])
                    self.bytes_sent += 1
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(HANG_GUARD_S)
        for t in self.threads:
            t.join(HANG_GUARD_S)
        self.sock.close()


def decompose_guarded(backend, query="a person opens the door then walks out"):
    """Run ``backend.decompose`` in a thread joined with a generous timeout (a hang fails the test)."""
    out: dict = {}

    def work():
        try:
            out["d"] = backend.decompose(query)
        except Exception as exc:  # re-raised in the test's thread
            out["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(HANG_GUARD_S)
    assert not worker.is_alive(), "decompose hung"
    if "error" in out:
        raise out["error"]
    return out["d"]


@pytest.mark.parametrize("mode", ["silent", "drip-headers", "drip-body"])
def test_llm_server_that_never_finishes_ends_in_the_fallback(mode, caplog):
    from vtg.llm.openai_http import OpenAIBackend

    server = SlowServer(mode)
    try:
        d = decompose_guarded(OpenAIBackend(server.url, "m", deadline=0.5, retries=3))
    finally:
        server.close()
    assert d.relationship == "single-query" and "deadline" in d.warning
    assert server.connections == 1  # the deadline covers all attempts: no second one after it passed
    assert server.bytes_sent < len(server.response())  # the answer never completed
    if mode != "silent":
        assert server.bytes_sent <= 0.5 / server.interval + 1000  # read while the deadline ran (+ ample slack), not on


def test_ground_with_a_dripping_llm_server_answers_with_the_whole_query(tmp_path, capsys, clip, tiny_encoder):
    """End to end: `vtg ground --llm openai:m --llm-url ... -O llm_timeout=0.5` against a server that
    drips its answer still prints a result, with one warning saying the deadline passed."""
    server = SlowServer("drip-headers")
    try:
        code = main(["ground", str(clip), "red then blue", "--encoder", tiny_encoder, "--llm", "openai:m",
                     "--llm-url", server.url, "-O", "llm_timeout=0.5", "--json"])
    finally:
        server.close()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["meta"]["decomposition"]["warning"]
    warnings = [line for line in err.splitlines() if line.startswith("vtg: warning:")]
    assert len(warnings) == 1 and "deadline" in warnings[0] and "Traceback" not in err
    assert server.connections == 1 and server.bytes_sent < len(server.response())


def test_llm_deadline_covers_every_retry():
    """Unusable answers that each arrive late: attempts stop when the overall deadline passes."""
    from vtg.llm.openai_http import OpenAIBackend

    server = SlowServer("slow-garbage", interval=0.4)
    try:
        d = decompose_guarded(OpenAIBackend(server.url, "m", deadline=0.6, retries=10))
    finally:
        server.close()
    assert d.relationship == "single-query" and d.warning
    assert server.requests <= 2  # 11 attempts allowed; time for at most two


def test_llm_refused_connection_is_an_error_not_a_hang():
    from vtg.errors import LLMError
    from vtg.llm.openai_http import OpenAIBackend

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(LLMError, match="--llm rules"):
        decompose_guarded(OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", deadline=5))


@pytest.mark.parametrize("value", ["0", "-3", "nan", "soon"])
def test_llm_deadline_must_be_a_positive_number(monkeypatch, value):
    from vtg.errors import UsageError
    from vtg.llm.openai_http import OpenAIBackend

    monkeypatch.setenv("VTG_LLM_TIMEOUT", value)
    with pytest.raises(UsageError):
        OpenAIBackend("http://127.0.0.1:9/v1", "m")


# --- 3. no memory blow-up from a small input ----------------------------------------------------


def test_batch_line_asking_for_ten_million_fps_costs_only_its_record(tmp_path, clip, colour_method, decoded):
    from vtg.batch import run_batch

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"video": str(clip), "query": "red", "qid": "flood", "options": {"fps": 1e7}}) + "\n")
    run_batch(src, tmp_path / "out.jsonl", method="colour-test", fsync=False)
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["status"] == "error" and "VideoTooLargeError" in record["error"] and "--frame-limit" in record["error"]
    assert decoded[0] == 0


def test_overlay_at_a_billion_fps_is_refused_before_decoding(tmp_path, capsys, clip, decoded):
    out = tmp_path / "numbered.mp4"
    line = one_line_error(capsys, main(["overlay", str(clip), "-o", str(out), "--fps", "1e9"]))
    assert "--fps must be a number in (0, 1000]" in line and not out.exists() and decoded[0] == 0
    # a rate in range that still asks for more frames than the ceiling: refused by the frame limit
    line = one_line_error(capsys, main(["--frame-limit", "100", "overlay", str(clip), "-o", str(out), "--fps", "900"]))
    assert "frame-limit" in line and not out.exists() and decoded[0] == 0


def test_tiny_file_declaring_huge_frames_is_refused_at_probe(tmp_path, capsys, monkeypatch):
    from vtg.video import pyav_backend

    decodes = []
    monkeypatch.setattr(pyav_backend, "_first_frame", lambda *a: decodes.append(a))
    bomb = y4m(tmp_path / "bomb.y4m", 16000, 16000, frames=2, payload=50_000)
    assert bomb.stat().st_size < 200_000
    before = snapshot(bomb)
    line = one_line_error(capsys, main(["overlay", str(bomb), "-o", str(tmp_path / "o.mp4")]))
    assert "16000x16000" in line and "--pixel-limit" in line
    assert decodes == [] and unchanged(before)


def test_query_image_declaring_huge_size_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    from vtg.video import load_image
    from vtg.video.limits import VideoTooLargeError

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = tmp_path / "bomb.png"  # a 100-byte PNG whose header says 12000x12000 (Pillow would only warn)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 12000, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(VideoTooLargeError, match="12000x12000"):
        load_image(png)


def test_export_refuses_a_source_declaring_huge_frames(tmp_path, capsys):
    bomb = y4m(tmp_path / "bomb.y4m", 16000, 16000, frames=2, payload=50_000)
    line = one_line_error(capsys, main(["export", str(predictions(tmp_path, bomb)), "--out-dir", str(tmp_path / "clips")]))
    assert "16000x16000" in line and not list((tmp_path / "clips").glob("*.mp4"))


def test_pixel_limit_flag_lowers_and_raises_the_ceiling(tmp_path, capsys):
    small = y4m(tmp_path / "small.y4m", 64, 48, frames=20)
    one_line_error(capsys, main(["--pixel-limit", "1000", "overlay", str(small), "-o", str(tmp_path / "a.mp4")]))
    assert main(["--pixel-limit", "1e9", "overlay", str(small), "-o", str(tmp_path / "b.mp4")]) == 0
    assert (tmp_path / "b.mp4").is_file()


def test_frame_limit_from_environment_and_overlay_flag(tmp_path, capsys, monkeypatch, decoded):
    small = y4m(tmp_path / "small.y4m", 64, 48, frames=20)  # 2 s at 10 fps
    monkeypatch.setenv("VTG_MAX_FRAMES", "5")
    line = one_line_error(capsys, main(["overlay", str(small), "-o", str(tmp_path / "a.mp4"), "--fps", "10"]))
    assert "over the limit of 5" in line and decoded[0] == 0
    assert main(["overlay", str(small), "-o", str(tmp_path / "b.mp4"), "--fps", "10", "--frame-limit", "20"]) == 0
    assert decoded[0] == 20


def test_header_that_understates_the_frames_is_stopped_while_decoding(tmp_path, monkeypatch):
    """No frame count and a duration of 0.1 s in the header, 200 frames in the file: decoding stops
    one frame past the ceiling instead of trusting the header."""
    import dataclasses

    from vtg.video import iter_frames, pyav_backend
    from vtg.video.limits import VideoTooLargeError, limits

    small = y4m(tmp_path / "long.y4m", 16, 16, frames=200)
    real_probe = pyav_backend.probe
    monkeypatch.setattr(pyav_backend, "probe",
                        lambda p: dataclasses.replace(real_probe(p), duration=0.1, num_frames=None))
    seen = 0
    with limits(frames=10), pytest.raises(VideoTooLargeError):
        for batch in iter_frames(small, None, batch_size=1):
            seen += len(batch)
    assert seen == 10


def test_reading_every_frame_into_memory_is_bounded(tmp_path, monkeypatch, decoded):
    """``read_frames`` (the Video-LLM methods' input) keeps every frame: refused up front when they
    would not fit the held-bytes ceiling, so a line's ``max_frames`` cannot exhaust memory."""
    from vtg.video import read_frames
    from vtg.video.limits import VideoTooLargeError

    small = y4m(tmp_path / "small.y4m", 64, 48, frames=20)
    monkeypatch.setenv("VTG_MAX_FRAME_BYTES", str(64 * 48 * 3 * 10))  # room for 10 frames
    with pytest.raises(VideoTooLargeError, match="VTG_MAX_FRAME_BYTES"):
        read_frames(small, 10.0)
    assert decoded[0] == 0
    assert len(read_frames(small, 10.0, max_frames=10)) == 10 == decoded[0]


def test_resize_target_over_the_pixel_ceiling_is_refused(clip):
    from vtg.video import iter_frames
    from vtg.video.limits import VideoTooLargeError

    with pytest.raises(VideoTooLargeError, match="resized"):
        iter_frames(clip, 1.0, size=100_000)


@pytest.mark.parametrize("flag", ["--frame-limit", "--pixel-limit"])
@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_limit_flags_must_be_positive(capsys, clip, flag, value):
    one_line_error(capsys, main([flag, value, "overlay", str(clip), "-o", "x.mp4"]))


# --- checkpoints: declared sizes checked against the bytes present and a ceiling ----------------

torch_only = pytest.mark.skipif(not __import__("importlib").util.find_spec("torch"), reason="needs torch")


def rewrite_zip(src: Path, dst: Path, *, compress: int = zipfile.ZIP_STORED, cut: dict | None = None) -> Path:
    """Copy a torch zip with every entry re-stored (``compress``) and some entries cut short."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            for suffix, keep in (cut or {}).items():
                if info.filename.endswith(suffix):
                    data = data[:keep]
            zout.writestr(info.filename, data, compress_type=compress)
    return dst


@torch_only
def test_checkpoint_with_a_stride_zero_giant_is_refused(tmp_path, capsys):
    import torch

    ckpt = tmp_path / "s0.ckpt"
    torch.save({"model": {"w": torch.zeros(1).expand(2 ** 30)}}, ckpt)
    assert ckpt.stat().st_size < 10_000
    before = snapshot(ckpt)
    line = one_line_error(capsys, main(["models", "convert", "univtg", str(ckpt)]))
    assert "stride" in line and "1073741824" in line and unchanged(before)
    assert not (tmp_path / "vtg-univtg").exists()


@torch_only
def test_checkpoint_zip_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    import torch

    from vtg.errors import CheckpointError
    from vtg.methods.univtg.convert import read_checkpoint

    torch.save({"model": {"w": torch.zeros(2_000_000)}}, tmp_path / "plain.ckpt")
    bomb = rewrite_zip(tmp_path / "plain.ckpt", tmp_path / "bomb.ckpt", compress=zipfile.ZIP_DEFLATED)
    opened = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(a) or 1 / 0)
    with pytest.raises(CheckpointError, match="zip bomb"):
        read_checkpoint(bomb)
    assert opened == []  # nothing was inflated


@torch_only
def test_checkpoint_storage_shorter_than_declared_is_refused(tmp_path):
    import torch

    from vtg.errors import CheckpointError
    from vtg.methods.univtg.convert import read_checkpoint

    torch.save({"model": {"w": torch.ones(1000)}}, tmp_path / "plain.ckpt")
    cut = rewrite_zip(tmp_path / "plain.ckpt", tmp_path / "cut.ckpt", cut={"/data/0": 16})
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint(cut)


@torch_only
def test_checkpoint_over_the_ceiling_is_refused_and_flag_raises_it(tmp_path, capsys):
    import torch

    from vtg.methods.univtg.convert import RestrictedUnpickler, read_checkpoint

    ckpt = tmp_path / "m.ckpt"
    torch.save({"model": {"w": torch.ones(50_000)}}, ckpt)
    line = one_line_error(capsys, main(["models", "convert", "univtg", str(ckpt), "--max-gib", "0.0001"]))
    assert "--max-gib" in line
    spent = []
    real_spend = RestrictedUnpickler._spend

    def counting(self, nbytes, what):
        spent.append(nbytes)
        return real_spend(self, nbytes, what)

    RestrictedUnpickler._spend = counting
    try:
        assert read_checkpoint(ckpt, max_bytes=1 << 20)["model"]["w"].numel() == 50_000
    finally:
        RestrictedUnpickler._spend = real_spend
    assert sum(spent) == 2 * 50_000 * 4  # the storage once and the tensor once: nothing else allocated


# --- UniVTG training data -----------------------------------------------------------------------


def test_training_refuses_windows_outside_the_video(tmp_path, capsys):
    from vtg.errors import DataError
    from vtg.methods.univtg.data import read_annotations

    ann = tmp_path / "train.jsonl"
    ann.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "duration": 20,
                               "relevant_windows": [[1e6, 1e6 + 5]]}) + "\n")
    with pytest.raises(DataError, match="outside") as exc:
        read_annotations(ann)
    assert "train.jsonl" in str(exc.value) and "\n" not in str(exc.value)


def test_training_refuses_nan_features(tmp_path):
    from vtg.errors import DataError
    from vtg.methods.univtg.features import load_array

    feats = np.ones((4, 8), np.float32)
    feats[2, 3] = np.nan
    np.save(tmp_path / "v.npy", feats)
    with pytest.raises(DataError, match="NaN") as exc:
        load_array(tmp_path / "v.npy")
    assert "v.npy" in str(exc.value)


def test_training_sample_with_infinite_text_features_is_refused():
    from vtg.errors import DataError
    from vtg.methods.univtg.data import Sample, check_sample

    sample = Sample(qid=1, query="q", vid="v", duration=10.0, video=np.ones((5, 4), np.float32),
                    text=np.full((3, 4), np.inf, np.float32), windows=[[1.0, 2.0]])
    with pytest.raises(DataError, match="text features"):
        check_sample(sample)


# --- 4. faults of the machine are errors, not crashes --------------------------------------------


def batch_input(tmp_path: Path, clip: Path) -> Path:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"video": str(clip), "query": "red", "qid": 1}) + "\n")
    return src


def run_batch_cli(src: Path, out: Path) -> int:
    import batch_helpers

    batch_helpers.register()
    return main(["batch", str(src), "-o", str(out), "-m", "colour-test", "--no-fsync"])


def test_batch_output_under_a_file_is_one_line(tmp_path, capsys, clip, colour_method):
    src = batch_input(tmp_path, clip)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    before = snapshot(src, blocker, clip)
    line = one_line_error(capsys, run_batch_cli(src, blocker / "out.jsonl"))
    assert "notes.txt" in line and unchanged(before)


def test_batch_output_that_is_a_directory_is_one_line(tmp_path, capsys, clip, colour_method):
    src = batch_input(tmp_path, clip)
    (tmp_path / "out.jsonl").mkdir()
    before = snapshot(src, clip)
    line = one_line_error(capsys, run_batch_cli(src, tmp_path / "out.jsonl"))
    assert "out.jsonl" in line and unchanged(before)


def test_full_disk_while_writing_batch_records_is_one_line(tmp_path, capsys, clip, colour_method, monkeypatch):
    src = batch_input(tmp_path, clip)
    out = tmp_path / "out.jsonl"
    real_write = os.write

    def full(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target == str(out):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    before = snapshot(src, clip)
    line = one_line_error(capsys, run_batch_cli(src, out))
    assert "No space left" in line and "out.jsonl" in line and "free some space" in line  # path and remedy
    assert unchanged(before)


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_unwritable_cache_folder_is_an_error_before_decoding(tmp_path, clip, monkeypatch, decoded, where):
    """Tests run as root, for whom chmod blocks nothing: a path under a regular file, and /proc
    (where even root cannot create a folder), are real unwritable places."""
    from batch_helpers import ColourEncoder

    from vtg.features import CacheError, video_features

    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    cache = blocker / "sub" if where == "under-a-file" else Path("/proc/vtg-cache-test")
    monkeypatch.setenv("VTG_CACHE_DIR", str(cache))
    with pytest.raises(CacheError, match="VTG_CACHE_DIR") as exc:
        video_features(clip, ColourEncoder(), 2.0)
    assert str(cache) in str(exc.value) and decoded[0] == 0


def test_unwritable_cache_in_batch_is_an_error_record_per_line(tmp_path, clip, colour_method, monkeypatch):
    from vtg.batch import run_batch

    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    monkeypatch.setenv("VTG_CACHE_DIR", str(blocker))
    src = batch_input(tmp_path, clip)
    run_batch(src, tmp_path / "out.jsonl", method="colour-test", fsync=False)
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["status"] == "error" and "CacheError" in record["error"] and "VTG_CACHE_DIR" in record["error"]


def test_full_disk_while_caching_keeps_the_result(clip, monkeypatch, caplog):
    import vtg.fileio
    from batch_helpers import ColourEncoder

    from vtg.features import video_features

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(vtg.fileio, "atomic_write_bytes", full)
    feats = video_features(clip, ColourEncoder(), 2.0)
    assert len(feats) == 4 and not feats.cached and feats.path is None
    assert any("could not save features" in r.getMessage() for r in caplog.records)


def eval_inputs(tmp_path: Path) -> tuple[Path, Path]:
    gt, pred = tmp_path / "gt.jsonl", tmp_path / "pred.jsonl"
    gt.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "duration": 10, "relevant_windows": [[1, 3]]}) + "\n")
    pred.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "pred_relevant_windows": [[1, 3, 0.9]]}) + "\n")
    return gt, pred


def test_full_disk_while_writing_eval_results_is_one_line(tmp_path, capsys, monkeypatch):
    import vtg.fileio

    gt, pred = eval_inputs(tmp_path)
    real = vtg.fileio.atomic_write_bytes

    def full(path, data):
        if Path(path).name == "metrics.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(vtg.fileio, "atomic_write_bytes", full)
    before = snapshot(gt, pred)
    line = one_line_error(capsys, main(["eval", str(pred), str(gt), "-o", str(tmp_path / "metrics.json")]))
    assert "metrics.json" in line and "No space left" in line and unchanged(before)


def test_eval_output_in_proc_is_one_line(tmp_path, capsys):
    gt, pred = eval_inputs(tmp_path)
    line = one_line_error(capsys, main(["eval", str(pred), str(gt), "-o", "/proc/vtg-metrics.json"]))
    assert "/proc/vtg-metrics.json" in line and ".tmp" not in line  # the name the user gave, not a temp file


def test_overlay_output_under_a_file_is_one_line(tmp_path, capsys, clip):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_line_error(capsys, main(["overlay", str(clip), "-o", str(blocker / "n.mp4")]))
    assert str(blocker) in line


@pytest.mark.parametrize("fault", [
    PermissionError(errno.EACCES, "Permission denied", "/data/results.jsonl"),
    OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out.jsonl"),
    IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp"),
    MemoryError(),
], ids=["eacces", "erofs", "eisdir", "memory"])
def test_any_machine_fault_ends_in_one_line(tmp_path, capsys, clip, monkeypatch, fault):
    """The CLI's last line of defence: an OSError or MemoryError nobody caught is still one line."""
    import vtg.batch

    def fail(*args, **kwargs):
        raise fault

    monkeypatch.setattr(vtg.batch, "run_batch", fail)
    src = batch_input(tmp_path, clip)
    line = one_line_error(capsys, main(["batch", str(src), "-o", str(tmp_path / "o.jsonl")]))
    assert "internal error" not in line
    if isinstance(fault, OSError):
        assert fault.filename in line and "(" in line  # the path and what to do


# --- 5. the feature cache never lies -------------------------------------------------------------


def cached_entry(clip: Path):
    from batch_helpers import ColourEncoder

    from vtg.features import features_dir, video_features

    first = video_features(clip, ColourEncoder(), 2.0)
    return first, features_dir() / Path(first.path).name


def test_same_size_edit_between_sampled_chunks_is_a_miss(clip, monkeypatch):
    """The sampled content hash cannot see an edit between its chunks (simulated by a constant
    hash); the modification time in the key still does."""
    import vtg.features
    from batch_helpers import ColourEncoder

    monkeypatch.setattr(vtg.features, "content_hash", lambda path: "same-chunks")
    cached_entry(clip)
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not vtg.features.video_features(clip, ColourEncoder(), 2.0).cached


def test_verify_catches_an_edit_that_kept_size_and_mtime(clip, monkeypatch):
    import vtg.features
    from batch_helpers import ColourEncoder

    monkeypatch.setattr(vtg.features, "content_hash", lambda path: "same-chunks")
    cached_entry(clip)
    st = clip.stat()
    data = bytearray(clip.read_bytes())
    at = data.index(b"options: ") + 9  # inside x264's settings text: same size, still decodable
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")
    clip.write_bytes(bytes(data))
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime: invisible to the key
    enc = ColourEncoder()
    assert vtg.features.video_features(clip, enc, 2.0).cached  # the documented blind spot without --verify
    with vtg.features.verifying():
        assert not vtg.features.video_features(clip, enc, 2.0).cached  # full hash: recomputed
        assert vtg.features.video_features(clip, enc, 2.0).cached  # and recorded


def test_verify_flag_is_accepted_by_ground_index_and_batch(capsys):
    for command in ("ground", "index", "batch"):
        assert main([command, "--help"]) == 0
        assert "--verify" in capsys.readouterr().out


DAMAGE = {
    "nan-times": lambda t, f, m: (np.full_like(t, np.nan), f, m),
    "negative-times": lambda t, f, m: (t - 100.0, f, m),
    "decreasing-times": lambda t, f, m: (t[::-1].copy(), f, m),
    "inf-features": lambda t, f, m: (t, np.full_like(f, np.inf), m),
    "nan-duration": lambda t, f, m: (t, f, {**m, "duration": math.nan}),
    "negative-duration": lambda t, f, m: (t, f, {**m, "duration": -3.0}),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_cached_arrays_are_recomputed_not_returned(clip, damage):
    from batch_helpers import ColourEncoder

    from vtg.features import video_features

    first, npy = cached_entry(clip)  # the entry: <key>.npy (features), <key>.times.npy, <key>.json
    meta_path, times_path = npy.with_suffix(".json"), npy.with_suffix(".times.npy")
    times, feats = np.load(times_path), np.array(np.load(npy))
    times, feats, meta = DAMAGE[damage](times, feats, json.loads(meta_path.read_text()))
    np.save(times_path, times)
    np.save(npy, feats)
    meta_path.write_text(json.dumps(meta))
    again = video_features(clip, ColourEncoder(), 2.0)
    assert not again.cached
    np.testing.assert_array_equal(again.times, first.times)
    assert again.duration == first.duration and np.isfinite(again.features).all()
    assert video_features(clip, ColourEncoder(), 2.0).cached  # repaired on disk


def test_command_line_bounds_travel_to_ray_workers():
    """Ray actors run in other processes: the driver's settings (--frame-limit / --pixel-limit /
    --verify) go with them, pickled, instead of silently falling back to the defaults."""
    import pickle

    from vtg.batch.ray_engine import GroundActor
    from vtg.features import verify_enabled
    from vtg.settings import Settings
    from vtg.video.limits import max_frames, max_pixels

    settings = Settings.from_environment(max_frames=1234, max_pixels=5678, verify=True)
    actor = GroundActor(top_k=1, settings=pickle.loads(pickle.dumps(settings)))  # what crosses the boundary
    seen = actor.session.run(lambda: (max_frames(), max_pixels(), verify_enabled()))
    assert seen == (1234, 5678, True)
    assert (max_frames(), verify_enabled()) != (1234, True)  # the driver's own thread is untouched


@pytest.mark.parametrize("fps,native", [(1e7, 30.0), (None, 1e9)], ids=["requested-fps", "header-fps"])
def test_window_sampling_grids_are_checked_before_allocating(fps, native):
    """Coarse-to-fine windows plan their own grids (a line's ``candidate_fps``, or every frame at the
    rate a header declares): the same frame ceiling applies before the grid exists."""
    from vtg.methods.videollm.frames import span_targets
    from vtg.video.limits import VideoTooLargeError

    with pytest.raises(VideoTooLargeError, match="--frame-limit"):
        span_targets(100.0, 110.0, fps, None, native)


@pytest.mark.parametrize("window,feature", [([1e6, 1e6 + 5], 1.0), ([2.0, 6.0], np.nan)], ids=["window", "nan"])
def test_train_univtg_refuses_bad_labels_and_features_in_one_line(tmp_path, capsys, window, feature):
    """`vtg train univtg` with precomputed features: a window far outside the 20-s video, or a
    feature file holding NaN, is one line naming the file before any training."""
    feats, texts = tmp_path / "vid", tmp_path / "txt"
    feats.mkdir()
    texts.mkdir()
    video = np.ones((10, 8), np.float32)
    video[3, 1] = feature
    np.save(feats / "v.npy", video)
    np.save(texts / "1.npy", np.ones((4, 8), np.float32))
    ann = tmp_path / "train.jsonl"
    ann.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "duration": 20, "relevant_windows": [window]}) + "\n")
    before = snapshot(ann, feats / "v.npy")
    line = one_line_error(capsys, main(["train", "univtg", str(ann), "--features", str(feats), "--text-features",
                                        str(texts), "-o", str(tmp_path / "run")]))
    assert ("train.jsonl" in line) if feature == 1.0 else ("v.npy" in line and "NaN" in line)
    assert unchanged(before) and not (tmp_path / "run" / "model.safetensors").exists()


OUTPUT_FLAGS = {  # command -> (argv builder, name of the output)
    "ground-o": (lambda clip, p, tmp: ["ground", clip, "red", "-o", p], "out.json"),
    "ground-html": (lambda clip, p, tmp: ["ground", clip, "red", "--html", p], "page.html"),
    "overlay-o": (lambda clip, p, tmp: ["overlay", clip, "-o", p], "numbered.mp4"),
    "overlay-times": (lambda clip, p, tmp: ["overlay", clip, "-o", tmp / "n.mp4", "--times", p], "t.json"),
    "overlay-frames-dir": (lambda clip, p, tmp: ["overlay", clip, "--frames-dir", p], "frames"),
    "export-out-dir": (lambda clip, p, tmp: ["export", predictions(tmp, clip), "--out-dir", p], "clips"),
    "train-o": (lambda clip, p, tmp: ["train", "univtg", predictions(tmp, clip), "--videos", clip.parent, "-o", p],
                "run"),
}


def predictions(tmp: Path, clip: Path) -> Path:
    """A one-record predictions / annotations file about ``clip`` (export and train read it)."""
    path = tmp / "preds.jsonl"
    path.write_text(json.dumps({"qid": 1, "query": "red", "vid": clip.stem, "video": str(clip), "duration": 2.0,
                                "relevant_windows": [[0, 1]], "pred_relevant_windows": [[0.0, 1.0, 0.9]]}) + "\n")
    return path


@pytest.mark.parametrize("target", ["wrong-kind", "under-a-file", "in-proc"])
@pytest.mark.parametrize("command", list(OUTPUT_FLAGS))
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys, clip, decoded, monkeypatch, command, target):
    """An output that cannot be written is one line *before* decoding (counted: 0 frames), not an
    error after minutes of work. The wrong kind: a directory where a file is wanted, or a file
    where a folder is wanted."""
    import vtg
    import vtg.api

    for module in (vtg, vtg.api):
        monkeypatch.setattr(module, "ground", lambda *a, **k: pytest.fail("grounded before checking the output"))
    build, name = OUTPUT_FLAGS[command]
    (tmp_path / "sub").mkdir()
    blocker = tmp_path / "sub" / "notes.txt"
    blocker.write_text("mine")
    if target == "wrong-kind":
        path = tmp_path / "sub" / name
        path.write_text("a file") if command in ("overlay-frames-dir", "export-out-dir", "train-o") else path.mkdir()
    else:
        path = blocker / name if target == "under-a-file" else Path("/proc") / name
    before = snapshot(blocker, clip)
    line = one_line_error(capsys, main([str(a) for a in build(clip, path, tmp_path)]))
    assert str(path) in line
    assert decoded[0] == 0 and unchanged(before) and not (tmp_path / "n.mp4").exists()


def test_the_plan_and_the_cache_agree_on_the_key(clip, tiny_encoder):
    """`vtg ground`'s plan line asks whether features are cached with the same key (file identity
    included) that video_features stores them under."""
    from vtg.features import features_cached, video_features

    assert not features_cached(clip, tiny_encoder, 1.0, None)
    video_features(clip, tiny_encoder, 1.0, device="cpu")
    assert features_cached(clip, tiny_encoder, 1.0, None)
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: no longer the cached file
    assert not features_cached(clip, tiny_encoder, 1.0, None)


def test_llm_name_lookup_that_hangs_ends_in_the_fallback(monkeypatch):
    """A DNS server that never answers: getaddrinfo blocks and nothing can interrupt it, so the
    request must stop waiting for it when the deadline passes (the lookup here stays blocked until
    the test releases it, after decompose has returned)."""
    from vtg.llm import openai_http
    from vtg.llm.openai_http import OpenAIBackend

    release, looked_up = threading.Event(), []

    def hung_lookup(host, *args, **kwargs):
        looked_up.append(host)
        release.wait(HANG_GUARD_S)
        raise socket.gaierror("released by the test")

    monkeypatch.setattr(openai_http.socket, "getaddrinfo", hung_lookup)
    try:
        d = decompose_guarded(OpenAIBackend("http://llm.invalid:8000/v1", "m", deadline=0.3, retries=3))
        assert not release.is_set()  # decompose returned while the lookup was still blocked
    finally:
        release.set()
    assert d.relationship == "single-query" and "deadline" in d.warning
    assert looked_up == ["llm.invalid"]  # one lookup; no attempt after the deadline passed
