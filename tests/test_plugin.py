"""A method from another distribution, installed as a plugin, gains every front end of vtg.

The test writes a plugin package and its ``toy_vtg_plugin-0.1.dist-info`` (an entry point in the
``vtg.methods`` group) into a temporary folder and puts it on ``sys.path`` (``PYTHONPATH`` for the
server subprocess); no file of vtg is touched. The toy method is real: it reads frame features
through vtg's feature cache and scores each frame by its cosine to the query's text embedding
(a tiny random CLIP saved like a downloaded one), and it has the localise-on-features capability
(:class:`vtg.method.FeatureLocaliser`), so it can also search a library indexed with it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from serve_helpers import start_server

import vtg
from vtg.cli.main import main
from vtg.encoders import load_encoder
from vtg.encoders.testing import tiny_hf_clip
from vtg.features import video_features
from vtg.method import supports_feature_search
from vtg.registry import forget_registrations, method_class

PLUGIN = '''
"""toy_plugin: a grounding method shipped by another distribution (vtg's plugin test)."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vtg.method import Localised, Method
from vtg.types import Grounding, Moment, Query, Saliency


@dataclass
class ToyQuery:
    """The query's text embedding; a frame's relevance is its cosine to it."""

    label: str
    vector: np.ndarray

    def relevance(self, block):
        return np.asarray(block, np.float32) @ self.vector

    def direction(self):
        return self.vector


def best_run(times, scores, duration):
    """The frames around the best one that score above the middle of the curve's range."""
    peak, cut = int(np.argmax(scores)), (float(scores.min()) + float(scores.max())) / 2
    lo = hi = peak
    while lo > 0 and scores[lo - 1] >= cut:
        lo -= 1
    while hi + 1 < len(scores) and scores[hi + 1] >= cut:
        hi += 1
    end = min(duration, float(times[hi]) + duration / len(scores))
    return [Moment(float(times[lo]), end, float(scores[peak]))]


class ToyMethod(Method):
    name = "toy"
    summary = "plugin test: the run of frames closest to the query"
    score_meaning = "cosine similarity of the best frame to the query"

    @dataclass(frozen=True)
    class Config:
        encoder: str = ""
        fps: float = 2.0
        device: str = "cpu"
        line_options: ClassVar[frozenset] = frozenset({"fps"})

    def ground(self, video, query, *, progress=False):
        from vtg.encoders import load_encoder
        from vtg.features import video_features

        query = Query.of(query)
        self.check_query(query)
        cfg = self.config
        feats = video_features(video, cfg.encoder, cfg.fps, device=cfg.device)
        encoded = self.encode_query(query, load_encoder(cfg.encoder, device=cfg.device, text_only=True))
        found = self.localise(feats.features, feats.times, float(feats.duration), encoded)
        return Grounding(query.label, str(video), float(feats.duration), tuple(found.moments),
                         Saliency(feats.times, found.saliency), self.name, found.meta)

    def encode_query(self, query, encoder):
        return ToyQuery(query.label, encoder.encode_texts([query.text])[0])

    def localise(self, features, times, duration, encoded):
        curve = encoded.relevance(features)
        return Localised(best_run(times, curve, duration), curve.astype(np.float64), curve,
                         {"frames": int(len(curve))})
'''

QUERY = "red car"


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_hf_clip(tmp_path_factory.mktemp("plugin-clip"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from conftest import SCENES, scene_frame, write_video

    folder = tmp_path_factory.mktemp("plugin-videos")
    for name, order in (("a.mp4", SCENES), ("b.mp4", SCENES[::-1])):
        frames = [scene_frame(c, (160, 120), p) for c, p in order for _ in range(20)]
        write_video(folder / name, iter(frames), 10.0)
    return folder


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin package and its dist-info on sys.path (and PYTHONPATH, for subprocesses)."""
    site = tmp_path / "site"
    (site / "toy_vtg_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "toy_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "toy_vtg_plugin-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-vtg-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vtg.methods]\ntoy = toy_plugin:ToyMethod\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "cache"))
    forget_registrations()
    yield site
    forget_registrations()


def expected_curve(video: Path, clip_dir: Path) -> np.ndarray:
    """What the toy method must compute, from vtg's own features and encoder."""
    feats = video_features(video, str(clip_dir), 2.0, device="cpu")
    text = load_encoder(str(clip_dir), device="cpu", text_only=True).encode_texts([QUERY])[0]
    return np.asarray(feats.features, np.float32) @ text


def test_the_plugin_is_listed_and_has_the_capability(plugin, capsys):
    assert main(["methods"]) == 0
    assert "toy" in capsys.readouterr().out
    assert supports_feature_search(method_class("toy"))
    assert not supports_feature_search(method_class("numpro"))


def test_the_plugin_grounds_through_the_api_and_the_cli(plugin, videos, clip_dir, tmp_path, capsys):
    video = videos / "a.mp4"
    result = vtg.ground(video, QUERY, method="toy", encoder=str(clip_dir))
    curve = expected_curve(video, clip_dir)
    np.testing.assert_allclose(result.saliency.scores, curve, rtol=1e-5, atol=1e-6)
    best = result.moments[0]
    peak_time = float(result.saliency.times[int(np.argmax(curve))])
    assert result.method == "toy" and 0 <= best.start <= peak_time < best.end <= result.duration
    assert best.score == pytest.approx(float(curve.max()), rel=1e-5)
    assert main(["ground", str(video), QUERY, "-m", "toy", "-O", f"encoder={clip_dir}", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    printed = printed[0] if isinstance(printed, list) else printed
    assert printed["method"] == "toy"
    assert printed["pred_relevant_windows"][0][:2] == pytest.approx([best.start, best.end], abs=1e-3)


def test_the_plugin_runs_a_batch(plugin, videos, clip_dir, tmp_path):
    lines = [{"video": str(videos / "a.mp4"), "query": QUERY, "qid": 1},
             {"video": str(videos / "b.mp4"), "query": QUERY, "qid": 2},
             {"video": str(videos / "missing.mp4"), "query": QUERY, "qid": 3}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    code = main(["batch", str(source), "-o", str(out), "-m", "toy", "--encoder", str(clip_dir)])
    records = {r["qid"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert code != 0 and "error" in records[3]  # the missing video is an error record, not a crash
    for qid, name in ((1, "a.mp4"), (2, "b.mp4")):
        curve = expected_curve(videos / name, clip_dir)
        assert records[qid]["method"] == "toy"
        assert records[qid]["pred_relevant_windows"][0][2] == pytest.approx(float(curve.max()), abs=1e-4)  # records keep 4 decimals


def test_the_plugin_searches_a_library_it_indexed(plugin, videos, clip_dir, tmp_path, capsys):
    lib = tmp_path / "lib"
    assert main(["index", str(videos), "--library", str(lib), "-m", "toy", "--encoder", str(clip_dir)]) == 0
    capsys.readouterr()
    assert main(["search", QUERY, "--library", str(lib), "--json"]) == 0  # the library's method: toy
    results = json.loads(capsys.readouterr().out)
    assert results and all(r["method"] == "toy" for r in results)
    peaks = {name: float(expected_curve(videos / name, clip_dir).max()) for name in ("a.mp4", "b.mp4")}
    best = max(peaks, key=lambda name: peaks[name])
    assert Path(results[0]["video"]).name == best  # ranked by each video's best frame
    # each video's moment is what `ground` finds, up to the float16 rounding of the stored features
    for r in results:
        grounded = vtg.ground(r["video"], QUERY, method="toy", encoder=str(clip_dir)).moments[0]
        assert r["pred_relevant_windows"][0][:2] == pytest.approx([grounded.start, grounded.end], abs=0.51)
    assert main(["search", QUERY, "--library", str(lib), "-m", "numpro"]) == 2  # a usage error
    err = capsys.readouterr().err
    assert err.startswith("vtg: error: method 'numpro' cannot search a library") and "toy" in err
    assert "internal error" not in err


def test_the_plugin_serves_ground_and_search(plugin, videos, clip_dir, tmp_path):
    lib = tmp_path / "lib"
    with vtg.library.open_library(lib, create=True) as opened:
        opened.index([videos], method="toy", encoder=str(clip_dir), device="cpu")
    server = start_server([str(videos), "--library", str(lib), "-m", "toy", "-O", f"encoder={clip_dir}"],
                          tmp_path / "serve.log", cache=tmp_path / "cache")
    try:
        status, _, body = server.request("POST", "/ground", {"video": "a.mp4", "query": QUERY})
        assert status == 200, body
        answer = json.loads(body)
        curve = expected_curve(videos / "a.mp4", clip_dir)
        assert answer["method"] == "toy"
        assert answer["pred_relevant_windows"][0][2] == pytest.approx(float(curve.max()), abs=1e-4)  # records keep 4 decimals
        status, _, body = server.request("POST", "/search", {"query": QUERY, "top": 2})
        assert status == 200, body
        found = json.loads(body)["results"]
        assert found and all(r["method"] == "toy" for r in found)
    finally:
        server.stop()


def test_refine_takes_any_method_with_the_capability_as_its_fast_stage(plugin, clip_dir):
    from vtg.errors import UsageError
    from vtg.registry import load_method

    fast = load_method("refine", fast="toy", encoder=str(clip_dir), device="cpu").fast_stage(None)
    assert fast.name == "toy" and fast.config.encoder == str(clip_dir) and fast.config.device == "cpu"
    with pytest.raises(UsageError, match="localises on cached frame features"):
        load_method("refine", fast="numpro").fast_stage(None)


def test_a_library_that_does_not_record_its_method_asks_for_one(tmp_path):
    """Libraries written without `vtg index` (or before it recorded the method) name no default."""
    from vtg.errors import UsageError
    from vtg.library import open_library, search

    with open_library(tmp_path / "lib", create=True) as lib, lib.writer(encoder="synthetic", fingerprint="0") as w:
        w.add(tmp_path / "v.mp4", features=np.ones((4, 8), np.float16), times=np.arange(4.0), duration=4.0,
              encoder="synthetic", fps=1.0, key="k", size=1, mtime_ns=1)
    with pytest.raises(UsageError, match="does not record the method that indexed it"):
        search(tmp_path / "lib", "anything")
