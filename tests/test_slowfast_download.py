"""The SlowFast release fetched on first use (vtg.slowfast.download) from a server on 127.0.0.1:
a pickle in the release's layout downloaded, checked against the network's shapes, recorded and
used; lying sizes, wrong structure and planted code refused with nothing left in place; a file
changed after the download noticed; offline and missing answered without a request."""

from __future__ import annotations

import pickle
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

torch = pytest.importorskip("torch")

from test_slowfast import DEPTHS, WIDTH, RunsCode, _load_tiny_pkl, reference_net, write_caffe2  # noqa: E402
from vtg.errors import CheckpointError, VtgError, WeightsNotFoundError  # noqa: E402
from vtg.slowfast import download as sfd  # noqa: E402
from vtg.slowfast import weights as sfw  # noqa: E402

TINY = (WIDTH, DEPTHS)


class Release:
    """One file served at ``/SLOWFAST_8x8_R50.pkl``; ``declared`` overrides its Content-Length
    (None: omit the header and close the connection to end the body)."""

    def __init__(self, body: bytes):
        self.body, self.declared, self.requests = body, str(len(body)), 0


@contextmanager
def serve(release: Release):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            release.requests += 1
            self.send_response(200)
            if release.declared is not None:
                self.send_header("Content-Length", release.declared)
            self.end_headers()
            self.wfile.write(release.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/SLOWFAST_8x8_R50.pkl"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return tmp_path / "cache" / "weights"


def release_bytes(tmp_path, planted=None, ref=None) -> bytes:
    write_caffe2(tmp_path / "r.pkl", ref or reference_net(), planted=planted)
    return (tmp_path / "r.pkl").read_bytes()


def nothing_left(folder) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_downloaded_verified_recorded_and_used(tmp_path, cache, capsys):
    ref = reference_net()
    release = Release(release_bytes(tmp_path, ref=ref))
    with serve(release) as url:
        path = sfd.ensure_release(url=url, arch=TINY)
        assert sfd.ensure_release(url=url, arch=TINY) == path  # present: not fetched again
    assert release.requests == 1 and path == sfw.default_weights() and path.read_bytes() == release.body
    import hashlib

    assert sfd.sidecar(path).read_text().strip() == hashlib.sha256(release.body).hexdigest()
    assert sorted(p.name for p in cache.iterdir()) == ["SLOWFAST_8x8_R50.pkl", "SLOWFAST_8x8_R50.pkl.sha256"]
    assert "vtg: downloading SlowFast R50" in capsys.readouterr().err
    sfd.check_recorded(path)
    net = _load_tiny_pkl(path)
    fast = torch.randn(1, 3, 32, 224, 224)
    slow = fast[:, :, torch.linspace(0, 31, 8).long()]
    with torch.no_grad():
        assert (net(slow, fast) - ref([slow, fast])).abs().max() <= 1e-5


def test_a_pinned_checksum_is_enforced(tmp_path, cache, monkeypatch):
    release = Release(release_bytes(tmp_path))
    monkeypatch.setattr(sfd, "RELEASE_SHA256", "0" * 64)
    with serve(release) as url, pytest.raises(CheckpointError, match="not the release's"):
        sfd.ensure_release(url=url, arch=TINY)
    assert nothing_left(cache)


@pytest.mark.parametrize("declared, match", [
    (lambda n: str(n + 100), "ended after"),        # truncated: fewer bytes than declared
    # longer than declared: the client reads no byte past the declared length, so what arrives is a
    # cut-off pickle, refused by the reader (the stream's own "more than" guard backs this up)
    (lambda n: str(n - 100), "more than the|pickle data was truncated"),
    (lambda n: None, "declares no size"),           # no Content-Length at all
    (lambda n: str(5 << 30), "refused before reading"),  # an absurd size
])
def test_lying_sizes_are_refused_and_nothing_is_kept(tmp_path, cache, declared, match):
    release = Release(release_bytes(tmp_path))
    release.declared = declared(len(release.body))
    with serve(release) as url, pytest.raises(VtgError, match=match):
        sfd.ensure_release(url=url, arch=TINY)
    assert nothing_left(cache) and release.requests == 1


def test_wrong_structure_is_refused(tmp_path, cache):
    # the width-8 file checked against the release's width-64 network: every shape differs
    release = Release(release_bytes(tmp_path))
    with serve(release) as url, pytest.raises(CheckpointError, match="wrong shape.*expected"):
        sfd.ensure_release(url=url)
    assert nothing_left(cache)
    # a parameter missing
    blobs = pickle.loads(release.body)["blobs"]
    blobs.pop(next(k for k in blobs if k.startswith("res2_0_branch2a")))
    release.body = pickle.dumps({"blobs": blobs}, protocol=2)
    release.declared = str(len(release.body))
    with serve(release) as url, pytest.raises(CheckpointError, match="lacks 1 parameters"):
        sfd.ensure_release(url=url, arch=TINY)
    assert nothing_left(cache)


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path, cache):
    marker = tmp_path / "pwned"
    release = Release(release_bytes(tmp_path, planted=RunsCode(marker)))
    with serve(release) as url, pytest.raises(CheckpointError, match="refusing to load .*system"):
        sfd.ensure_release(url=url, arch=TINY)
    assert not marker.exists() and nothing_left(cache)


def test_a_file_changed_after_the_download_is_one_line(tmp_path, cache):
    release = Release(release_bytes(tmp_path))
    with serve(release) as url:
        path = sfd.ensure_release(url=url, arch=TINY)
    data = bytearray(path.read_bytes())
    data[-20] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="changed since vtg downloaded it") as info:
        sfw.load_network(path)
    assert "\n" not in str(info.value) and "delete both" in str(info.value)
    assert isinstance(info.value, VtgError)


def test_a_file_the_user_put_there_has_no_record_to_check(tmp_path, cache):
    cache.mkdir(parents=True)
    write_caffe2(cache / "SLOWFAST_8x8_R50.pkl", reference_net())
    sfd.check_recorded(cache / "SLOWFAST_8x8_R50.pkl")  # no sidecar: nothing to compare, nothing written
    assert [p.name for p in cache.iterdir()] == ["SLOWFAST_8x8_R50.pkl"]


@pytest.mark.parametrize("how", ["env", "flag"])
def test_offline_and_missing_is_one_line_without_a_request(tmp_path, cache, monkeypatch, how):
    from vtg.encoders.weights import offline

    release = Release(release_bytes(tmp_path))
    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with serve(release) as url, offline(how == "flag"), pytest.raises(WeightsNotFoundError) as info:
        sfd.ensure_release(url=url, arch=TINY)
    message = str(info.value)
    assert release.requests == 0 and nothing_left(cache)
    assert "\n" not in message and "offline" in message and url in message and str(sfw.default_weights()) in message


def test_the_features_entry_point_downloads_nothing_offline(cache, monkeypatch):
    """What a SlowFast+CLIP model calls with no weights given: the module's URL, never a request offline."""
    from vtg.slowfast.features import clip_slowfast

    monkeypatch.setattr(sfw, "RELEASE_URL", "http://127.0.0.1:9/never-requested.pkl")
    monkeypatch.setattr("vtg.slowfast.features.cached_features", lambda *a, **k: pytest.fail("computed"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="never-requested.pkl"):
        clip_slowfast("video.mp4", None, None)


def test_a_large_download_asks_first_at_a_terminal(tmp_path, cache, monkeypatch):
    from test_download_confirm import at_terminal

    from vtg.encoders.hub import DownloadDeclinedError

    monkeypatch.setenv("VTG_ASK_ABOVE_BYTES", "1000")  # the tiny release is "large" here
    monkeypatch.delenv("VTG_YES", raising=False)
    err = at_terminal(monkeypatch, "n\n")
    release = Release(release_bytes(tmp_path))
    with serve(release) as url, pytest.raises(DownloadDeclinedError, match="add --yes"):
        sfd.ensure_release(url=url, arch=TINY)
    assert "Download it now?" in err.getvalue() and url in err.getvalue() and nothing_left(cache)
    at_terminal(monkeypatch, "y\n")
    with serve(release) as url:
        assert sfd.ensure_release(url=url, arch=TINY).is_file()
