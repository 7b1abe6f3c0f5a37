"""Ground one sentence in one video with the Python API and print what was found.

    python examples/quickstart.py VIDEO "QUERY" [--method tfvtg] [--encoder ViT-B-32/openai]
"""

import argparse

import numpy as np

import vtg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("query")
    parser.add_argument("--method", default="tfvtg")
    parser.add_argument("--encoder", default=None, help="e.g. ViT-B-32/openai (TFVTG's default is BLIP-2)")
    args = parser.parse_args()

    options = {"encoder": args.encoder} if args.encoder else {}
    try:
        result = vtg.ground(args.video, args.query, method=args.method, top_k=5, progress=True, **options)
    except vtg.VtgError as exc:  # missing weights, unreadable video...: vtg's one-line message
        raise SystemExit(f"error: {exc}") from None

    print(f"{result.query!r} in {result.vid} ({result.duration:.1f} s) with {result.method}:")
    for rank, m in enumerate(result.moments, 1):
        print(f"  #{rank}: {m.start:6.1f} s - {m.end:6.1f} s   score {m.score:.3f}")
    if len(result.saliency):
        peak = int(np.argmax(result.saliency.scores))
        print(f"  saliency peaks at {result.saliency.times[peak]:.1f} s")


if __name__ == "__main__":
    main()
