"""One Session (issue 18): frozen settings built once, held per thread/task, shipped to workers.

The central test runs two sessions with different settings at the same time in one process, on
two threads, and checks from what each thread observed (which backend decoded its video, which
limit error fired, what its cache entry recorded, which model manager loaded its encoder) that
neither saw the other's settings. No wall-clock: two barriers make the sessions overlap.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
import pickle
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vtg.engine import ModelManager, default_manager
from vtg.errors import UnknownNameError, UsageError
from vtg.session import Session, current_session
from vtg.settings import DECODERS, Settings, current_settings, using
from vtg.video import backends
from vtg.video.limits import VideoTooLargeError

ROOT = Path(__file__).resolve().parents[1]
BARRIER_GUARD_S = 300  # only a guard against a hang; nothing is timed


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    from vtg.encoders.testing import random_open_clip

    return str(random_open_clip(tmp_path_factory.mktemp("oc") / "tiny"))


@pytest.fixture
def online_environment(monkeypatch):
    """No offline variable, so a session's own ``offline`` is what decides (nothing is fetched)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VTG_DECODER", "VTG_MAX_FRAMES", "VTG_PRECISION"):
        monkeypatch.delenv(name, raising=False)


class RecordingBackend:
    """A backend module stand-in: records (backend name, video) of every probe and decode, then
    decodes with PyAV (frames of every backend are equal; this records the *choice*)."""

    def __init__(self, name: str, seen: list[tuple[str, str]]):
        from vtg.video import pyav_backend

        self.name, self.seen, self.real = name, seen, pyav_backend

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.real, attr)

    def probe(self, path):
        self.seen.append((self.name, Path(path).name))
        return self.real.probe(path)

    def decode(self, path, *args, **kwargs):
        self.seen.append((self.name, Path(path).name))
        return self.real.decode(path, *args, **kwargs)


def _recorded_hashes(cache: Path) -> list:
    """The ``sha256`` each cache entry's sidecar recorded (None: computed without --verify)."""
    return [json.loads(p.read_text()).get("sha256") for p in sorted((cache / "features").glob("*.json"))]


def test_two_sessions_on_two_threads_each_see_only_their_own(tmp_path, make_video, tiny_encoder, monkeypatch,
                                                              online_environment):
    from vtg.encoders.weights import offline_mode

    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(backends, "get_backend", lambda name: RecordingBackend(name, seen))
    videos = {"a": make_video("a.mp4"), "b": make_video("b.mp4", fps=5.0)}
    sessions = {
        "a": Session.from_environment(decoder="pyav", verify=True, offline=True, cache_dir=tmp_path / "cache-a",
                                      models=ModelManager()),
        "b": Session.from_environment(decoder="torchcodec", max_frames=6, cache_dir=tmp_path / "cache-b",
                                      models=ModelManager()),
    }
    shared_before = len(default_manager().loaded())
    both_active, both_done = threading.Barrier(2), threading.Barrier(2)
    observed: dict[str, dict[str, Any]] = {}
    failures: list[BaseException] = []

    def work(name: str) -> None:
        session, video = sessions[name], videos[name]
        out: dict[str, Any] = {}
        observed[name] = out
        try:
            with session.active():
                both_active.wait(BARRIER_GUARD_S)  # from here both sessions are current, one per thread
                out["offline"] = offline_mode()
                try:
                    session.features(video, tiny_encoder, 2.0, device="cpu")  # 24 frames
                except VideoTooLargeError as exc:
                    out["refused"] = str(exc)
                out["frames"] = len(session.features(video, tiny_encoder, 0.5, device="cpu"))  # 6 frames
                both_done.wait(BARRIER_GUARD_S)
        except BaseException as exc:  # handed to the main thread
            both_active.abort(), both_done.abort()
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    # which backend decoded: each video only by its own session's decoder
    assert {decoder for decoder, video in seen if video == "a.mp4"} == {"pyav"}
    assert {decoder for decoder, video in seen if video == "b.mp4"} == {"torchcodec"}
    # which limit fired: only b's (6 frames); a sampled its 24 frames under the default ceiling
    assert "refused" not in observed["a"]
    assert "over the limit of 6 per video" in observed["b"]["refused"]
    assert observed["a"]["frames"] == observed["b"]["frames"] == 6
    # --offline and --verify: a's only
    assert (observed["a"]["offline"], observed["b"]["offline"]) == (True, False)
    assert [len(h or "") for h in _recorded_hashes(tmp_path / "cache-a")] == [64, 64]  # both entries
    assert _recorded_hashes(tmp_path / "cache-b") == [None]  # the refused sampling wrote nothing
    # each session's manager loaded its own encoder; the process's shared one loaded nothing
    assert [kind for kind, _ in sessions["a"].models.loaded()] == ["encoder"]
    assert [kind for kind, _ in sessions["b"].models.loaded()] == ["encoder"]
    assert len(default_manager().loaded()) == shared_before
    # and this thread never saw either
    assert current_settings() == Settings.from_environment()


def test_settings_come_from_the_environment_with_flags_first(monkeypatch, tmp_path):
    monkeypatch.setenv("VTG_MAX_FRAMES", "100")
    monkeypatch.setenv("VTG_DECODER", "torchcodec")
    monkeypatch.setenv("VTG_YES", "1")
    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VTG_LLM_TIMEOUT", "7")
    monkeypatch.setenv("VTG_MAX_FRAME_BYTES", "1000")
    monkeypatch.setenv("VTG_ASK_ABOVE_BYTES", "0")
    env = Settings.from_environment()
    assert (env.max_held_bytes, env.ask_above_bytes, env.max_file_gb) == (1000, 0, 50.0)
    assert (env.max_frames, env.decoder, env.assume_yes, env.cache_dir, env.offline, env.llm_timeout) == \
        (100, "torchcodec", True, tmp_path / "c", True, 7.0)
    assert (env.origin("max_frames"), env.origin("offline"), env.origin("verify")) == \
        ("VTG_MAX_FRAMES", "HF_HUB_OFFLINE", None)
    flags = Settings.from_environment(max_frames=7.0, decoder="pyav", precision="bf16", verify=True)
    assert (flags.max_frames, flags.decoder, flags.precision, flags.verify, flags.max_pixels) == \
        (7, "pyav", "bf16", True, 36_000_000)
    assert flags.origin("max_frames") == "--frame-limit" and flags.origin("assume_yes") == "VTG_YES"
    assert Settings.from_environment(max_frames=None) == env  # None: the flag was not given
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.max_frames = 5  # type: ignore[misc]
    built = Session.from_environment()
    monkeypatch.setenv("VTG_MAX_FRAMES", "200")
    assert built.settings.max_frames == 100  # built once: a later change of the environment is not seen
    with using(built.settings):
        assert current_settings().max_frames == 100
    assert current_settings().max_frames == 200  # no session active: the environment now


def test_bad_flags_and_variables_are_one_clear_error(monkeypatch):
    with pytest.raises(UnknownNameError, match="known: decord, nvdec, pyav, torchcodec"):
        Settings.from_environment(decoder="cuda")
    with pytest.raises(UsageError, match=r"--frame-limit"):
        Settings.from_environment(max_frames=0)
    with pytest.raises(UsageError, match=r"unknown device 'tpu'"):
        Settings().replace(device="tpu")
    with pytest.raises(TypeError, match="unknown setting 'frame_limit'"):
        Settings.from_environment(frame_limit=5)
    monkeypatch.setenv("VTG_MAX_PIXELS", "nan")
    with pytest.raises(UsageError, match="--max-download-gb"):  # the flag is checked first
        Settings.from_environment(max_download_gb=float("inf"))
    with pytest.raises(UsageError, match="VTG_MAX_PIXELS"):
        Settings.from_environment()
    assert set(DECODERS) == set(backends.BACKENDS)  # one list for the flag, the variable and the registry


def test_the_cli_run_is_one_session_that_ends_with_the_run(three_scene_video, tiny_encoder, capsys, tmp_path,
                                                             monkeypatch):
    from vtg.cli.main import main

    args = ["index", str(three_scene_video), "--encoder", tiny_encoder, "--device", "cpu", "--json", "--fps", "1"]
    assert main(["--frame-limit", "5", *args]) == 1
    assert "over the limit of 5 per video" in capsys.readouterr().err
    before = current_settings()
    assert main([*args, "--verify"]) == 0  # the ceiling of the run before did not carry over
    assert json.loads(capsys.readouterr().out)["frames"] == 12
    assert current_settings() == before  # nor does this run's --verify
    assert current_session().settings == before and current_session().models is default_manager()


def test_ray_workers_receive_the_whole_settings_offline_included(tmp_path, monkeypatch):
    """The Ray path with a stand-in for Ray that pickles what crosses to an actor: the actor's
    session gets every setting of the driver's (offline, verify, limits, decoder), and the work
    inside the actor reads them."""
    from vtg.batch import ray_engine, records
    from vtg.batch.runner import run_batch

    shipped: list[tuple] = []
    inside: list[Settings] = []

    class Ref:
        def __init__(self, value):
            self.value = value

    class FakeRay:
        def cluster_resources(self) -> dict:
            return {}

        def remote(self, **_resources):
            def wrap(cls):
                def start(*args):
                    shipped.append(args)
                    actor = cls(*pickle.loads(pickle.dumps(args)))  # another process: only pickles arrive
                    return SimpleNamespace(run_task=SimpleNamespace(remote=lambda task: Ref(actor.run_task(task))))
                return SimpleNamespace(remote=start)
            return wrap

        def wait(self, refs, num_returns):
            return refs[:num_returns], refs[num_returns:]

        def get(self, ref):
            return ref.value

    def prepare(method, video):
        inside.append(current_settings())
        return UsageError("stand-in: nothing is decoded")

    monkeypatch.setattr(ray_engine, "import_ray", FakeRay)
    monkeypatch.setattr(ray_engine, "connect", lambda address, num_cpus=None: False)
    monkeypatch.setattr(records, "instantiate", lambda spec, options: object())
    monkeypatch.setattr(records, "prepare_video", prepare)
    for name in ("v1.mp4", "v2.mp4"):
        (tmp_path / name).write_bytes(b"not decoded")
    lines = [{"qid": i, "video": str(tmp_path / f"v{i}.mp4"), "query": "a person"} for i in (1, 2)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    session = Session.from_environment(offline=True, verify=True, max_frames=77, decoder="torchcodec",
                                       cache_dir=tmp_path / "driver-cache")
    summary = run_batch(tmp_path / "in.jsonl", tmp_path / "out.jsonl", engine="ray", session=session)
    assert summary.failed == 2  # the stand-in failed both videos, once each, inside the actors
    assert [args[1] for args in shipped] == [session.settings]
    # a worker runs with every setting of the driver's but the cache folder, a path on its own machine
    worker = session.settings.replace(cache_dir=Settings.from_environment().cache_dir)
    assert worker != session.settings and inside == [worker, worker]
    assert inside[0].offline and inside[0].verify and inside[0].max_frames == 77 and inside[0].decoder == "torchcodec"
    assert current_settings() != session.settings  # the driver's thread is back to its own


def test_work_handed_to_server_threads_keeps_the_requests_session():
    from vtg.serve.admission import in_thread

    settings = Settings.from_environment(max_frames=42, decoder="nvdec")

    async def request() -> Settings:
        with using(settings):
            return await in_thread(current_settings)

    assert asyncio.run(request()) == settings


def test_session_ground_is_vtg_ground_with_its_settings(three_scene_video, tiny_encoder, tmp_path):
    import vtg

    session = Session.from_environment(max_frames=3, cache_dir=tmp_path / "s")
    with pytest.raises(VideoTooLargeError, match="over the limit of 3"):
        session.ground(three_scene_video, "a red scene", encoder=tiny_encoder, fps=1.0, device="cpu")
    wide = session.replace(max_frames=50)
    assert wide.models is session.models and wide.settings.max_frames == 50
    result = wide.ground(three_scene_video, "a red scene", encoder=tiny_encoder, fps=1.0, device="cpu")
    assert result == vtg.ground(three_scene_video, "a red scene", encoder=tiny_encoder, fps=1.0, device="cpu")
    assert len(list((tmp_path / "s" / "features").glob("*.npy"))) >= 1  # the session's cache, not the default


#: Module-level names that once held run settings, and their setters; none may come back.
REMOVED = {"_VERIFY", "_chosen", "_override", "_forced_offline", "_answers", "set_verify", "set_decoder",
           "set_precision", "set_limits", "set_max_model_gb", "set_max_download_gb", "assume_yes",
           "process_settings", "apply_settings"}
#: ``global`` statements allowed: caches of facts about the installed packages, the same for every session.
ALLOWED_GLOBALS = {("vtg/encoders/open_clip_import.py", "_light_loaded"), ("vtg/encoders/open_clip_table.py", "_TABLE"),
                   ("vtg/encoders/open_clip_table.py", "_ARCHS")}


def _modules() -> list[Path]:
    found = []
    for folder in ("vtg", "methods", "overlays"):
        found += sorted((ROOT / folder).rglob("*.py"))
    return [p for p in found if "vtg/methods" not in str(p) and "vtg/overlays" not in str(p)]  # links, seen once


def test_no_module_keeps_a_module_level_mutable_run_setting():
    problems = []
    for path in _modules():
        rel = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            problems += [f"{rel}: {name}" for name in names & REMOVED]
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                problems += [f"{rel}: global {name}" for name in node.names if (rel, name) not in ALLOWED_GLOBALS]
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "modules" and rel.startswith("vtg/cli/"):
                problems.append(f"{rel}: sys.modules[...] (reaching into a module's state)")
    assert not problems, problems
    assert len(_modules()) > 100  # the scan saw the whole tree
