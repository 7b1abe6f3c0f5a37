"""Second hardening pass (issue 17, "Smaller"): hostile files in a library or the feature cache,
a failing cache write, results that must not depend on torch's thread count, and Ray's helpers
after a SIGKILL of the driver.

Every case that could hang runs ``vtg`` in a subprocess with a timeout: a FIFO planted where vtg
expects its own file used to block ``open()`` forever. The assertions count lines, bytes and
processes; none measures time (the timeouts only bound a hang).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vtg.encoders.testing import random_open_clip, tiny_hf_clip
from vtg.library import open_library

from conftest import scene_frame, write_video

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BOUND = 120  # seconds a subprocess may take before it counts as hung (a cold torch import is ~10 s)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_hf_clip(tmp_path_factory.mktemp("attack2-clip"))


def scenes_video(path: Path, scenes, fps: float = 10.0, size=(96, 64)) -> Path:
    def frames():
        for color, seconds, pattern in scenes:
            img = scene_frame(color, size, pattern)
            for _ in range(int(round(seconds * fps))):
                yield img

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, frames(), fps)


def run_vtg(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``vtg ARGS`` in a fresh process, bounded: a hang is a test failure, not a stuck suite."""
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "vtg.cli.main", *args], capture_output=True, text=True,
                          timeout=BOUND, env=full, cwd=ROOT)


def one_error_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The run failed with exactly one ``vtg: error:`` line naming ``words``, and no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("vtg: error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def built_library(tmp_path_factory, clip_dir):
    """A two-video library, built once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("attack2-footage")
    scenes_video(root / "a.mp4", [((200, 30, 30), 2.0, 1), ((30, 200, 30), 2.0, 2)])
    scenes_video(root / "b.mp4", [((30, 30, 200), 3.0, 0)])
    lib = tmp_path_factory.mktemp("attack2-lib") / "lib"
    with open_library(lib, create=True) as library:
        library.index([root], encoder=str(clip_dir), device="cpu", method="tfvtg")
    return lib


@pytest.fixture
def library(built_library, tmp_path):
    import shutil

    copy = tmp_path / "lib"
    shutil.copytree(built_library, copy, symlinks=True)
    return copy


def shard_file(lib: Path, suffix: str) -> Path:
    found = [p for p in (lib / "shards").iterdir() if p.name.endswith(suffix) and
             (suffix == ".times.npy" or not p.name.endswith(".times.npy"))]
    assert len(found) == 1, found
    return found[0]


def search(lib: Path) -> subprocess.CompletedProcess:
    return run_vtg("search", "green", "--library", str(lib), "--device", "cpu")


def replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


# --- hostile library files ------------------------------------------------------------------

def test_search_runs_on_the_untouched_copy(library):
    """The baseline the cases below break: the same search succeeds on an intact library."""
    proc = search(library)
    assert proc.returncode == 0, proc.stderr
    assert "'green' in library" in proc.stdout and "a.mp4" in proc.stdout  # one table, the video named on each row


@pytest.mark.parametrize("suffix", [".npy", ".times.npy"], ids=["features", "times"])
def test_a_fifo_as_shard_is_one_line_not_a_hang(library, suffix):
    fifo = shard_file(library, suffix)
    replace_with_fifo(fifo)
    one_error_line(search(library), str(fifo), "not a regular file but a FIFO")


def test_a_shard_symlinked_to_dev_zero_is_refused(library):
    shard = shard_file(library, ".npy")
    shard.unlink()
    shard.symlink_to("/dev/zero")
    one_error_line(search(library), str(shard), "not a regular file but a character device")


def test_a_truncated_shard_is_one_line_naming_the_missing_bytes(library):
    shard = shard_file(library, ".npy")
    data = shard.read_bytes()
    shard.write_bytes(data[:len(data) // 2])
    one_error_line(search(library), str(shard), "truncated")


def test_a_shard_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    """The size a file declares is checked against the file before anything is mapped or read."""
    from vtg.fileio import load_array

    path = tmp_path / "huge.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 4), np.float64))
    header["shape"] = (10 ** 12,)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    with pytest.raises(ValueError, match="truncated"):
        load_array(path, np.float64, mmap=False)


@pytest.mark.parametrize("suffix", ["", "-wal"], ids=["manifest", "wal"])
def test_a_fifo_as_manifest_or_its_wal_is_one_line_not_a_hang(library, suffix):
    target = Path(f"{library / 'manifest.sqlite'}{suffix}")
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    one_error_line(search(library), str(target), "not a regular file but a FIFO")


def test_a_fifo_as_the_library_lock_is_one_line(library, clip_dir):
    fifo = library / "lock"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    proc = run_vtg("index", str(library.parent), "--library", str(library), "-e", str(clip_dir), "--device", "cpu")
    one_error_line(proc, str(fifo), "not a regular file")


# --- hostile feature-cache files ------------------------------------------------------------

@pytest.fixture
def cached_video(tmp_path, clip_dir):
    """A video whose features are in a fresh cache folder; returns (video, cache dir, entry key)."""
    video = scenes_video(tmp_path / "v.mp4", [((200, 30, 30), 1.5, 1), ((30, 200, 30), 1.5, 2)])
    cache = tmp_path / "cache"
    proc = run_vtg("ground", str(video), "green", "-e", f"hf-clip:{clip_dir}", "--device", "cpu", "--json",
                   env={"VTG_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    sidecars = list((cache / "features").glob("*.json"))
    assert len(sidecars) == 1
    return video, cache, sidecars[0].stem, json.loads(proc.stdout)


@pytest.mark.parametrize("name", ["{key}.npy", "{key}.times.npy", "{key}.json"],
                         ids=["features", "times", "sidecar"])
def test_a_fifo_in_the_feature_cache_is_skipped_with_one_warning(cached_video, clip_dir, name):
    """The entry is recomputed (same answer), with one warning line naming the FIFO."""
    video, cache, key, first = cached_video
    fifo = cache / "features" / name.format(key=key)
    replace_with_fifo(fifo)
    proc = run_vtg("ground", str(video), "green", "-e", f"hf-clip:{clip_dir}", "--device", "cpu", "--json",
                   env={"VTG_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert json.loads(proc.stdout)["pred_relevant_windows"] == first["pred_relevant_windows"]
    warned = [line for line in proc.stderr.splitlines() if "FIFO" in line]
    assert len(warned) == 1 and str(fifo) in warned[0], proc.stderr
    if name.endswith(".json"):  # no sidecar could be written: no arrays without one are left
        assert sorted(p.name for p in (cache / "features").iterdir()) == [fifo.name]


def test_vtg_models_lists_the_cache_past_a_fifo_sidecar(cached_video):
    _, cache, key, _ = cached_video
    os.mkfifo(cache / "features" / f"{'f' * 64}.json")
    proc = run_vtg("models", env={"VTG_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "FIFO" in line]) == 1, proc.stderr


# --- a failing cache write leaves nothing behind --------------------------------------------

FSIZE_RUN = """
import resource, sys
from vtg.features import video_features
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), resource.RLIM_INFINITY))
feats = video_features(sys.argv[1], sys.argv[2], 10.0, device="cpu", refresh=sys.argv[4] == "refresh")
print(len(feats), feats.features.shape[1], feats.cached)
"""


def cache_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def fsize_run(video: Path, spec: str, cache: Path, limit: int, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", FSIZE_RUN, str(video), spec, str(limit), mode],
                          capture_output=True, text=True, timeout=BOUND, env={**os.environ, "VTG_CACHE_DIR": str(cache)})


@pytest.mark.parametrize("limit", [100, 600], ids=["header", "features"])
def test_ulimit_f_leaves_no_partial_cache_entry(tmp_path, clip_dir, limit):
    """``ulimit -f`` cuts the write at the header or mid-features (30 frames x 16 dims of float16
    are 1,088 bytes with the header): the features
    still come back, with one warning, and the cache folder holds no file of the entry (the old
    writer left ``.times.npy``, as a failed times write does in the injected case below)."""
    video = scenes_video(tmp_path / "v.mp4", [((200, 30, 30), 3.0, 1)])
    cache = tmp_path / "cache"
    proc = fsize_run(video, f"hf-clip:{clip_dir}", cache, limit, "new")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["30", "16", "False"]
    assert "could not save features" in proc.stderr and "Traceback" not in proc.stderr
    assert [name for name in cache_files(cache / "features") if not name.startswith("tmp")] == []


def test_a_failed_refresh_keeps_the_previous_entry_intact(tmp_path, clip_dir):
    video = scenes_video(tmp_path / "v.mp4", [((30, 200, 30), 3.0, 2)])
    cache = tmp_path / "cache"
    first = fsize_run(video, f"hf-clip:{clip_dir}", cache, 1 << 30, "new")
    assert first.returncode == 0 and first.stdout.split() == ["30", "16", "False"], first.stderr
    before = cache_files(cache / "features")
    assert len(before) == 3  # features, times, sidecar
    proc = fsize_run(video, f"hf-clip:{clip_dir}", cache, 600, "refresh")
    assert proc.returncode == 0 and proc.stdout.split() == ["30", "16", "False"], proc.stderr
    assert cache_files(cache / "features") == before
    again = fsize_run(video, f"hf-clip:{clip_dir}", cache, 1 << 30, "new")
    assert again.stdout.split() == ["30", "16", "True"]  # still a valid entry


def test_an_oserror_while_committing_removes_both_temporary_files(tmp_path, monkeypatch):
    """Injected: the disk fills up while the times are written (after the features are done)."""
    from vtg import feature_store

    folder = tmp_path / "features"
    folder.mkdir()
    writer = feature_store.EntryWriter(folder, "a" * 64)
    writer.add(np.arange(4.0), np.ones((4, 8), np.float32))
    real = feature_store._write_all
    calls = []

    def failing(fh, data):
        calls.append(len(data))
        if len(calls) == 2:  # 1: the features' header, 2: the times file
            raise OSError(28, "No space left on device")
        real(fh, data)

    monkeypatch.setattr(feature_store, "_write_all", failing)
    with pytest.raises(OSError):
        writer.commit((8,))
    assert np.array_equal(writer.written(), np.ones((4, 8), np.float16))  # still readable for the caller
    writer.abort()
    assert sorted(os.listdir(folder)) == []


# --- results do not depend on the thread count ----------------------------------------------

ENCODE_RUN = """
import sys, numpy as np
from vtg.encoders import load_encoder
enc = load_encoder(sys.argv[1], device="cpu")
frames = np.random.default_rng(0).integers(0, 256, (7, 64, 48, 3), dtype=np.uint8)
feats = enc.encode_images(frames)
texts = enc.encode_texts(["a red scene", "green stripes and more"])
sys.stdout.write(feats.tobytes().hex() + " " + texts.tobytes().hex())
"""


@pytest.mark.parametrize("family", ["open_clip", "hf-clip"])
def test_encoder_features_are_bit_identical_with_1_or_3_threads(tmp_path, family):
    """A partial batch of 7 frames went through a small matmul whose float32 sums torch split
    between threads (different in the 7th digit with 1, 2 or 3 threads before the fix)."""
    spec = str(random_open_clip(tmp_path / "oc")) if family == "open_clip" else f"hf-clip:{tiny_hf_clip(tmp_path / 'hf')}"
    outs = []
    for threads in ("1", "3"):
        proc = subprocess.run([sys.executable, "-c", ENCODE_RUN, spec], capture_output=True, text=True, timeout=BOUND,
                              env={**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]


@pytest.mark.slow
def test_the_same_batch_gives_identical_records_with_default_threads_and_one(tmp_path):
    """The issue's criterion: ``vtg batch`` with torch's default threads, with 3 and with
    ``OMP_NUM_THREADS=1`` (what Ray's workers get) writes the same bytes, and so does the Ray
    engine (when installed). Full-size ViT-B/32 (random
    weights) on videos of noise whose 23-27 sampled frames end in partial batches: without the
    fixed thread count 18 float16 feature values and the records differed (3 threads against 1)."""
    import open_clip

    spec = str(random_open_clip(tmp_path / "vitb32", open_clip.get_model_config("ViT-B-32")))
    rng = np.random.default_rng(0)
    lines = []
    for name, count in (("n1.mp4", 23), ("n2.mp4", 27), ("n3.mp4", 26), ("n4.mp4", 25)):
        video = write_video(tmp_path / name, [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(count)])
        lines += [json.dumps({"video": str(video), "query": q, "qid": f"{name}-{q}"})
                  for q in ("red", "green stripes", "noise", "a dog")]
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(lines) + "\n")
    outputs = []
    runs = ["default", "3", "1"]
    try:
        import ray.data  # noqa: F401

        runs.append("ray")  # the engines differed through their thread counts
    except ImportError:
        pass
    for run in runs:
        env = {"VTG_CACHE_DIR": str(tmp_path / f"cache-{run}")}
        if run in ("3", "1"):
            env.update(OMP_NUM_THREADS=run, MKL_NUM_THREADS=run)
        out = tmp_path / f"threads-{run}.jsonl"
        engine = ["--engine", "ray", "--workers", "1"] if run == "ray" else []
        proc = run_vtg("batch", str(queries), "-o", str(out), "-e", spec, "--fps", "10", "--device", "cpu",
                       "--no-progress", *engine, env=env)
        assert proc.returncode == 0, proc.stderr
        outputs.append(out.read_bytes())
    assert len(outputs[0].splitlines()) == 16
    assert outputs[0] == outputs[1] == outputs[2]  # the local engine: byte for byte
    if len(outputs) == 4:  # Ray writes records as tasks finish: record for record
        assert sorted(outputs[3].splitlines()) == sorted(outputs[0].splitlines())


# --- Ray's helpers die with a SIGKILLed driver ----------------------------------------------

def alive(pid: int, started: str) -> bool:
    """The process ``pid`` with this start time still runs (zombies, which hold no memory, do not count)."""
    from vtg.batch.ray_reaper import start_time

    if start_time(pid) != started:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkilled_ray_batch_leaves_no_ray_helpers(tmp_path, make_video):
    pytest.importorskip("ray.data")
    from vtg.batch.ray_reaper import descendants, start_time

    videos = [make_video(f"v{i}.mp4", [((200, 30, 30), 2, 0)], size=(64, 48)) for i in range(4)]
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"video": str(v), "query": "red", "qid": v.stem}) + "\n" for v in videos))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "VTG_CACHE_DIR": str(tmp_path / "cache")}
    driver = subprocess.Popen([sys.executable, "-m", "batch_helpers", "batch", str(queries), "-o",
                               str(tmp_path / "out.jsonl"), "-m", "colour-test", "-O", "sleep=30", "--engine", "ray",
                               "--no-progress"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        helpers: dict[int, str] = {}
        for _ in range(BOUND * 2):  # until the agents and an actor are up
            names = {pid: _cmdline(pid) for pid in descendants(driver.pid)}
            if any("DashboardAgent" in n for n in names.values()) and any("GroundActor" in n for n in names.values()):
                helpers = {pid: s for pid in names if (s := start_time(pid)) is not None}
                break
            assert driver.poll() is None, "the batch ended before Ray started"
            time.sleep(0.5)
        assert helpers, "Ray's helpers never appeared"
        time.sleep(1)  # the driver has handed its reaper the list (right after ray.init)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        survivors = helpers
        for _ in range(40):  # ~20 s of polls; Ray's own exit path takes 60 s
            survivors = {pid: s for pid, s in survivors.items() if alive(pid, s)}
            if not survivors:
                break
            time.sleep(0.5)
        assert survivors == {}, {pid: _cmdline(pid) for pid in survivors}
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
