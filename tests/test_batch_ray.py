"""--engine ray on a local 2-CPU Ray cluster: same records as the local engine, same resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("ray.data")

from vtg.batch import run_batch  # noqa: E402

TESTS = Path(__file__).resolve().parent
RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """One local cluster for the module; workers get this folder on PYTHONPATH and a decode log."""
    import ray

    root = tmp_path_factory.mktemp("ray-env")
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "VTG_CACHE_DIR": str(root / "cache"), "VTG_TEST_DECODE_LOG": str(root / "decodes.log")}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
             runtime_env={"env_vars": env})
    yield root
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own DataContext deprecations
def test_ray_engine_matches_local_and_resumes(ray_cluster, tmp_path, make_video, monkeypatch):
    import batch_helpers
    from vtg.registry import RUNTIME_METHODS

    monkeypatch.setitem(RUNTIME_METHODS, "colour-test", "batch_helpers:ColourMethod")
    assert batch_helpers.ColourMethod.name == "colour-test"
    a = make_video("a.mp4", [(RED, 2, 0), (GREEN, 2, 0), (BLUE, 2, 0)], size=(64, 48))
    b = make_video("b.mp4", [(BLUE, 2, 0), (RED, 2, 0), (GREEN, 2, 0)], size=(64, 48))
    lines = [json.dumps({"video": str(v), "query": c, "qid": f"{v.stem}-{c}"})
             for v in (a, b) for c in ("red", "green", "blue")]
    lines += ["{bad", json.dumps({"video": str(tmp_path / "nope.mp4"), "query": "red", "qid": "nope"}),
              json.dumps({"video": str(a), "query": "red", "qid": "x", "method": "no-such"})]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")

    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run_batch(src, local, method="colour-test")
    summary = run_batch(src, remote, method="colour-test", engine="ray", workers=2)
    assert (summary.ok, summary.errors, summary.failed) == (6, 3, 3)
    by_qid = lambda p: {str(r["qid"]): r for r in map(json.loads, p.read_text().splitlines())}  # noqa: E731
    want, got = by_qid(local), by_qid(remote)
    assert want.keys() == got.keys() and len(got) == len(lines)
    for q in want:
        assert got[q]["status"] == want[q]["status"]
        assert got[q].get("pred_relevant_windows") == want[q].get("pred_relevant_windows")
        assert got[q].get("error") == want[q].get("error")
    decodes = (ray_cluster / "decodes.log").read_text().split()
    assert sorted(decodes) == ["a.mp4", "b.mp4"]  # each video decoded once, by one actor

    # resume: keep 4 records plus a torn line, rerun on Ray -> every line exactly once
    kept = remote.read_text().splitlines()[:4]
    remote.write_text("\n".join(kept) + "\n" + '{"qid": "a-bl')
    again = run_batch(src, remote, method="colour-test", engine="ray", workers=2)
    assert again.skipped == 4 and again.ran == len(lines) - 4
    assert by_qid(remote).keys() == want.keys() and len(remote.read_text().splitlines()) == len(lines)
