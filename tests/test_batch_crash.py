"""The crash-safety claim, for real: SIGKILL a running `vtg batch` subprocess, rerun, exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
COLOURS = ("red", "green", "blue")


def batch_process(src: Path, out: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "batch_helpers", "batch", str(src), "-o", str(out), "-m", "colour-test",
           "-O", "sleep=0.08", "--no-progress"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_after(proc: subprocess.Popen, out: Path, records: int, timeout: float = 60) -> None:
    """SIGKILL ``proc`` as soon as ``out`` holds ``records`` complete lines."""
    deadline = time.monotonic() + timeout
    while count_lines(out) < records and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_every_line_exactly_once(tmp_path, make_video):
    videos = [make_video(f"v{i}.mp4", [(c, 1.5, 0) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200))[i:] +
                                       ((200, 30, 30), (30, 200, 30), (30, 30, 200))[:i]], size=(48, 32))
              for i in range(3)]
    lines = [json.dumps({"video": str(v), "query": f"{c} {k}"}) for v in videos for c in COLOURS for k in range(3)]
    lines[4] = "{truncated json"
    lines[11] = json.dumps({"video": str(tmp_path / "gone.mp4"), "query": "red"})
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}

    for records in (0, 5, 9, 14):  # 0: killed before (or while) writing its first line
        proc = batch_process(src, out, env)
        kill_after(proc, out, records)
        assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
        assert count_lines(out) < len(lines)
        if records == 9:  # as if the kill had landed inside a write: a torn last line
            with open(out, "ab") as fh:
                fh.write(b'{"qid": "line99-torn", "status": "o')

    final = batch_process(src, out, env)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 1, err.decode()  # two lines fail on purpose
    data = out.read_bytes()
    assert data.endswith(b"\n")
    records = [json.loads(l) for l in data.decode().splitlines()]  # no torn line anywhere
    qids = [r["qid"] for r in records]
    assert len(qids) == len(set(qids)) == len(lines)
    assert sorted(r["line"] for r in records) == list(range(1, len(lines) + 1))
    failed = {r["line"] for r in records if r["status"] == "error"}
    assert failed == {5, 12}
