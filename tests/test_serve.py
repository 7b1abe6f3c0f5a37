"""`vtg serve` against a live uvicorn subprocess on 127.0.0.1: the API, its answers, its safety.

One server (tiny random CLIP, TFVTG, a token) serves a folder holding a real video, a symlink to
a video outside the folder, a symlinked directory pointing outside, a symlink inside the folder and
a text file posing as a video. Every safety rule of docs/serve.md is checked case by case.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serve_helpers import start_server

import vtg
from vtg.cli.main import main
from vtg.encoders.testing import tiny_hf_clip

TOKEN = "test-token-0123456789"
QUERY = "a person opens the door"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, root, model dir, outside video): the module's one live server."""
    from conftest import SCENES, scene_frame, write_video

    base = tmp_path_factory.mktemp("serve")
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()

    def frames():
        for colour, pattern in SCENES:
            img = scene_frame(colour, (160, 120), pattern)
            yield from [img] * 40

    video = write_video(root / "sub" / "scenes.mp4", frames(), 10.0)
    secret = write_video(outside / "secret.mp4", frames(), 10.0)
    (root / "escape.mp4").symlink_to(secret)
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    (root / "inside.mp4").symlink_to(video)
    (root / "notes.mp4").write_text("not a video\n")
    model = tiny_hf_clip(base / "clip")
    library = base / "library"
    with pytest.MonkeyPatch.context() as mp:  # module scope: the per-test cache is not set up yet
        mp.setenv("VTG_CACHE_DIR", str(base / "cache"))
        assert main(["index", str(root), "--library", str(library), "--encoder", str(model), "--device", "cpu",
                     "--no-progress"]) in (0, 1)  # notes.mp4 is recorded as an error
    server = start_server([str(root), "--library", str(library), "--encoder", str(model), "--device", "cpu",
                           "-O", "stride=6", "--max-concurrent", "2"], base / "server.log", token=TOKEN,
                          cache=base / "cache")
    yield server, root, model, secret, library
    server.stop()


def server_of(served):
    return served[0]


# -- answers ---------------------------------------------------------------------------------

def test_models_are_loaded_before_the_first_request(served):
    server = server_of(served)
    status, health = server.json("GET", "/health")
    assert status == 200
    encoders = [m for m in health["models"]["models"] if m["kind"] == "encoder"]
    assert len(encoders) == 1 and "text tower" not in encoders[0]["label"]  # the full model, once
    assert encoders[0]["device"] == "cpu" and encoders[0]["parameter_bytes"] > 0


def test_ground_equals_the_library_call(served):
    server, root, model, _, _ = served
    status, body = server.json("POST", "/ground", {"video": "sub/scenes.mp4", "query": QUERY, "top_k": 3})
    assert status == 200, body
    expected = vtg.ground(root / "sub" / "scenes.mp4", QUERY, method="tfvtg", encoder=str(model), device="cpu",
                          stride=6, top_k=3).to_dict()
    assert body["pred_relevant_windows"] == expected["pred_relevant_windows"]
    assert body["saliency_scores"] == expected["saliency_scores"]
    assert body["saliency_times"] == expected["saliency_times"]
    assert body["duration"] == expected["duration"] == 12.0
    # the video is named as the user sees it, never by the server's absolute path
    assert body["video"] == "sub/scenes.mp4" and str(root) not in json.dumps(body)
    assert body["video_url"] == f"/videos/{body['video_id']}"


def test_ground_by_id_and_allowed_options(served):
    server = server_of(served)
    _, listing = server.json("GET", "/videos")
    names = {v["name"]: v["id"] for v in listing["videos"]}
    # listed once each by their real names; the symlink out of the root and the text file posing
    # as a video (no container signature) are not listed
    assert sorted(names) == ["sub/scenes.mp4"]
    status, by_id = server.json("POST", "/ground", {"video": names["sub/scenes.mp4"], "query": QUERY,
                                                    "options": {"stride": 3, "nms_iou": 0.5}})
    assert status == 200
    assert by_id["meta"]["stride_frames"] == 3
    status, body = server.json("POST", "/ground", {"video": "inside.mp4", "query": QUERY})
    assert status == 200 and body["video"] == "sub/scenes.mp4"  # a symlink inside the root is fine


@pytest.mark.parametrize("option", ["encoder", "device", "llm_url", "llm", "fps", "model", "bogus"])
def test_options_outside_the_allow_list_are_refused(served, option):
    status, body = server_of(served).json("POST", "/ground", {"video": "sub/scenes.mp4", "query": QUERY,
                                                              "options": {option: "http://evil:1/"}})
    assert status == 400 and "cannot be set per request" in body["error"]


def test_search_equals_the_library_call(served):
    from vtg.library import open_library, search

    server, root, model, _, library = served
    status, body = server.json("POST", "/search", {"query": QUERY, "top": 4})
    assert status == 200, body
    with open_library(library) as lib:
        expected = search(lib, QUERY, top=4, method="tfvtg", device="cpu", stride=6)
    assert body["library"] == str(library) and len(body["results"]) == len(expected) >= 1
    for got, want in zip(body["results"], expected):
        want_dict = want.to_dict()
        assert got["video"] == Path(want.video).resolve().relative_to(root).as_posix()
        assert got["pred_relevant_windows"] == want_dict["pred_relevant_windows"]
        assert got["saliency_scores"] == want_dict["saliency_scores"]
        assert str(root) not in json.dumps(got)
        # the hit plays from the server
        assert server.request("GET", got["video_url"], headers={"Range": "bytes=0-9"})[0] == 206


def test_search_names_a_served_library(served):
    server, _, _, _, library = served
    status, body = server.json("POST", "/search", {"query": QUERY, "library": str(library), "top": 1})
    assert status == 200 and sum(len(r["pred_relevant_windows"]) for r in body["results"]) == 1
    status, body = server.json("POST", "/search", {"query": QUERY, "library": "other"})
    assert status == 400 and "not served" in body["error"]
    status, body = server.json("POST", "/search", {"query": QUERY, "options": {"encoder": "x"}})
    assert status == 400
    status, body = server.json("POST", "/search", {"query": "", "top": 3})
    assert status == 400 and "empty" in body["error"]


def test_health_and_page(served):
    server = server_of(served)
    status, health = server.json("GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["method"] == "tfvtg"
    assert health["max_concurrent"] == 2
    status, headers, page = server.request("GET", "/")
    assert status == 200 and b'<script src="/static/app.js">' in page
    assert "script-src 'self'" in headers["content-security-policy"]
    for name in ("app.js", "app.css"):
        assert server.request("GET", f"/static/{name}")[0] == 200
    assert server.request("GET", "/static/../config.py")[0] == 404


# -- errors are JSON with a message ----------------------------------------------------------

@pytest.mark.parametrize("body, status, words", [
    ({"video": "nope.mp4", "query": QUERY}, 404, "not found"),
    ({"video": "notes.mp4", "query": QUERY}, 422, "not a video"),
    ({"video": "sub/scenes.mp4"}, 400, "query is empty"),
    ({"video": "sub/scenes.mp4", "query": "x" * 1001}, 422, "at most 1000"),
    ({"video": "sub/scenes.mp4", "query": QUERY, "top_k": 0}, 422, "top_k"),
    ({"video": "sub/scenes.mp4", "query": QUERY, "extra": 1}, 422, "extra"),
    ({"video": "sub/scenes.mp4", "query": QUERY, "options": {"stride": "abc"}}, 400, "stride must be an integer"),
    ({"video": "sub/scenes.mp4", "query": QUERY, "options": {"preset": "x" * 200}}, 400, "too long"),
])
def test_bad_requests_answer_json_errors(served, body, status, words):
    server, root, _, _, _ = served
    got, answer = server.json("POST", "/ground", body)
    assert got == status, answer
    assert words in answer["error"] and str(root) not in answer["error"] and "Traceback" not in answer["error"]


def test_malformed_json_unknown_route_and_wrong_method(served):
    server = server_of(served)
    status, _, data = server.request("POST", "/ground", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 422 and "error" in json.loads(data)
    status, body = server.json("GET", "/nowhere")
    assert status == 404 and body == {"error": "Not Found"}
    status, body = server.json("GET", "/ground")
    assert status == 405 and "error" in body


# -- only files inside the roots -------------------------------------------------------------

@pytest.mark.parametrize("name, status", [
    ("../outside/secret.mp4", 403),
    ("sub/../../outside/secret.mp4", 403),
    ("escape.mp4", 403),                 # a symlink out of the root
    ("elsewhere/secret.mp4", 403),       # through a symlinked directory
    ("/etc/passwd", 403),
    ("OUTSIDE_ABSOLUTE", 403),           # the absolute path of a real video
    ("sub/scenes.mp4\u0000.txt", 400),
    ("sub", 404),                        # a directory is not a video
])
def test_paths_outside_the_roots_are_refused(served, name, status):
    server, root, _, secret, _ = served
    name = str(secret) if name == "OUTSIDE_ABSOLUTE" else name
    got, body = server.json("POST", "/ground", {"video": name, "query": QUERY})
    assert got == status, body
    got, body = server.json("POST", "/ground", {"video": "sub/scenes.mp4", "image": name})
    assert got == status, body


def test_unknown_video_ids_are_404(served):
    server = server_of(served)
    for ident in ("0" * 20, "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
        status, _, _ = server.request("GET", f"/videos/{ident}")
        assert status == 404
        assert server.request("GET", f"/thumbs/{ident}?t=1")[0] == 404


# -- the token -------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-000"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Cookie": "vtg_token=wrong-token-000"}])
@pytest.mark.parametrize("path", ["/health", "/", "/videos", "/static/app.js"])
def test_every_request_needs_the_token(served, headers, path):
    status, answer_headers, data = server_of(served).request("GET", path, headers=headers, auth=False)
    assert status == 401 and "token" in json.loads(data)["error"]
    assert answer_headers["www-authenticate"] == "Bearer"


def test_post_without_token_is_refused_before_the_body_is_read(served):
    server = server_of(served)
    status, body = server.json("POST", "/ground", {"video": "sub/scenes.mp4", "query": QUERY}, auth=False)
    assert status == 401
    oversize = json.dumps({"video": "sub/scenes.mp4", "query": "x" * (70 * 1024)}).encode()
    status, _, _ = server.request("POST", "/ground", raw=oversize, headers={"Content-Type": "application/json"},
                                  auth=False)
    assert status == 401  # not 413: nothing about the body is looked at without the token


def test_page_login_sets_an_httponly_cookie(served):
    server = server_of(served)
    status, headers, _ = server.request("GET", "/?token=wrong-token-000", auth=False)
    assert status == 401 and "set-cookie" not in headers
    status, headers, _ = server.request("GET", f"/?token={TOKEN}", auth=False)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"vtg_token={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _, _ = server.request("GET", "/health", headers={"Cookie": f"other=1; vtg_token={TOKEN}"}, auth=False)
    assert status == 200


def test_host_header_must_name_this_machine(served):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    server = server_of(served)
    assert server.request("GET", "/health", headers={"Host": "evil.example:80"})[0] == 400
    assert server.request("GET", "/health", headers={"Host": f"localhost:{server.port}"})[0] == 200


# -- bounded bodies ----------------------------------------------------------------------------

def test_oversize_body_by_content_length(served):
    server = server_of(served)
    body = json.dumps({"video": "sub/scenes.mp4", "query": "x" * (70 * 1024)}).encode()
    status, _, data = server.request("POST", "/ground", raw=body, headers={"Content-Type": "application/json"})
    assert status == 413 and "larger than 65536" in json.loads(data)["error"]


def test_oversize_body_streamed_without_length(served):
    """A chunked body declares no size: it is counted as it arrives and cut off past the limit."""
    import http.client

    server = server_of(served)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    chunks = (b"x" * 8192 for _ in range(10))  # 80 KiB in 8 KiB chunks
    conn.request("POST", "/ground", body=chunks, encode_chunked=True,
                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                          "Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 413 and "larger than" in json.loads(resp.read())["error"]
    conn.close()


def test_small_chunked_body_is_accepted(served):
    import http.client

    server = server_of(served)
    payload = json.dumps({"video": "sub/scenes.mp4", "query": QUERY, "top_k": 1}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", "/ground", body=iter([payload[:10], payload[10:]]), encode_chunked=True,
                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                          "Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 200 and len(json.loads(resp.read())["pred_relevant_windows"]) == 1
    conn.close()


# -- range requests ----------------------------------------------------------------------------

def video_id_of(server, name="sub/scenes.mp4") -> str:
    _, listing = server.json("GET", "/videos")
    return next(v["id"] for v in listing["videos"] if v["name"] == name)


def test_range_requests(served):
    server, root, _, _, _ = served
    data = (root / "sub" / "scenes.mp4").read_bytes()
    size, path = len(data), f"/videos/{video_id_of(server)}"

    status, headers, body = server.request("GET", path)
    assert status == 200 and body == data and headers["accept-ranges"] == "bytes"
    assert headers["content-type"] == "video/mp4"

    status, headers, body = server.request("GET", path, headers={"Range": "bytes=0-99"})
    assert status == 206 and body == data[:100] and headers["content-range"] == f"bytes 0-99/{size}"

    status, headers, body = server.request("GET", path, headers={"Range": "bytes=-100"})
    assert status == 206 and body == data[-100:] and headers["content-range"] == f"bytes {size - 100}-{size - 1}/{size}"

    status, headers, body = server.request("GET", path, headers={"Range": f"bytes={size - 10}-"})
    assert status == 206 and body == data[-10:]

    status, headers, _ = server.request("GET", path, headers={"Range": f"bytes={size}-{size + 10}"})
    assert status == 416 and headers["content-range"] == f"bytes */{size}"


# -- thumbnails --------------------------------------------------------------------------------

def test_thumbnails_are_small_jpegs_made_once(served):
    from io import BytesIO

    from PIL import Image

    server = server_of(served)
    ident = video_id_of(server)
    made = server.json("GET", "/health")[1]["thumbnails"]["made"]
    status, headers, data = server.request("GET", f"/thumbs/{ident}?t=6.0")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    image = Image.open(BytesIO(data))
    assert image.format == "JPEG" and image.width <= 320
    r, g, b = image.convert("RGB").resize((1, 1)).getpixel((0, 0))
    assert g > r and g > b  # 6 s is in the green scene
    assert server.request("GET", f"/thumbs/{ident}?t=6.0")[2] == data
    assert server.request("GET", f"/thumbs/{ident}?t=99")[0] == 200  # clamped to the last frame
    assert server.json("GET", "/health")[1]["thumbnails"]["made"] == made + 2  # the repeat was cached
    for bad in ("-1", "nan", "inf", "abc"):
        assert server.request("GET", f"/thumbs/{ident}?t={bad}")[0] in (400, 422)


# -- the CLI's own checks ------------------------------------------------------------------------

def test_public_bind_needs_a_token(tmp_path, capsys):
    assert main(["serve", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    ([], "nothing to serve"),
    (["MISSING"], "not a directory"),
    (["ROOT", "--token", "short"], "--token must be"),
    (["ROOT", "--token", "has space in it"], "--token must be"),
    (["ROOT", "--log-level", "loud"], "--log-level must be"),
])
def test_serve_usage_errors(tmp_path, capsys, args, words):
    args = [str(tmp_path / "missing") if a == "MISSING" else str(tmp_path) if a == "ROOT" else a for a in args]
    assert main(["serve", *args]) == 2
    assert words in capsys.readouterr().err
