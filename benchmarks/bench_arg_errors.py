"""How fast a bad argument is refused, against the time of ``python -c "import torch"``.

    python benchmarks/bench_arg_errors.py [--rounds 7] [--video PATH]

Each case is a fresh ``vtg`` process (the console script's interpreter, ``python -m vtg.cli.main``)
given one bad argument: ``--fps -1``, ``--fps 0``, ``--device cuda`` (on a machine without a GPU
driver; on one with a driver it is not a bad argument and is skipped) and ``-O nms_iou=inf``.
Each must exit non-zero with one ``vtg: error:`` line; the script prints the median wall time of
each, the median of ``python -c "import torch"``, and the ratio (issue 21 asks for at most 0.6).
Rounds alternate the cases and the baseline, so a busy machine shifts both alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent.parent / "shared" / "data" / "videos" / "charades_example.mp4"


def cases(video: str) -> dict[str, list[str]]:
    from vtg.options import gpu_driver_present

    found = {
        "--fps -1": ["ground", video, "a person", "--fps", "-1"],
        "--fps 0": ["ground", video, "a person", "--fps", "0"],
        "-O nms_iou=inf": ["ground", video, "a person", "-O", "nms_iou=inf"],
    }
    if not gpu_driver_present():
        found["--device cuda (no GPU)"] = ["ground", video, "a person", "--device", "cuda"]
    return found


def timed(argv: list[str], *, expect_error: bool) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    took = time.perf_counter() - start
    if expect_error:
        errors = [line for line in done.stderr.splitlines() if line.startswith("vtg: error:")]
        if done.returncode == 0 or len(errors) != 1 or "Traceback" in done.stderr:
            raise SystemExit(f"{argv}: expected one vtg: error line, got rc {done.returncode}:\n{done.stderr}")
    elif done.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{done.stderr}")
    return took


def tiny_video(folder: Path) -> str:
    """A 1-s synthetic video (only opened by name: the checks come before any decoding)."""
    import av
    import numpy as np

    path = folder / "tiny.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--video", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or (str(SAMPLE) if SAMPLE.is_file() else tiny_video(Path(tmp)))
        vtg = [sys.executable, "-m", "vtg.cli.main"]
        baseline = [sys.executable, "-c", "import torch"]
        timings: dict[str, list[float]] = {name: [] for name in cases(video)}
        torch_times: list[float] = []
        timed(baseline, expect_error=False)  # warm the page cache for both
        for argv in cases(video).values():
            timed(vtg + argv, expect_error=True)
        for _ in range(args.rounds):
            torch_times.append(timed(baseline, expect_error=False))
            for name, argv in cases(video).items():
                timings[name].append(timed(vtg + argv, expect_error=True))
    torch_median = statistics.median(torch_times)
    print(f"python -c 'import torch': median {torch_median:.3f} s over {args.rounds} rounds")
    for name, times in timings.items():
        median = statistics.median(times)
        verdict = "ok" if median <= 0.6 * torch_median else "OVER 0.6x"
        print(f"vtg ground ... {name:<24} median {median:.3f} s  = {median / torch_median:.2f}x import torch  {verdict}")


if __name__ == "__main__":
    main()
