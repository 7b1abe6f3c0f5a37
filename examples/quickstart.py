"""Ground one sentence in one video with the Python API and print what was found.

    python examples/quickstart.py VIDEO "QUERY" [--method tfvtg] [--encoder ViT-B-32/openai] [--offline]

The default encoder is the README's (CLIP ViT-B/32), downloaded on first use (~600 MB, once);
``--encoder blip2`` is TFVTG's own BLIP-2 (~4 GB), ``--offline`` never downloads.
"""

import argparse

import numpy as np

import vtg
from vtg.encoders.weights import offline
from vtg.registry import method_class
from vtg.method import option_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("query")
    parser.add_argument("--method", default="tfvtg")
    parser.add_argument("--encoder", default="ViT-B-32/openai",
                        help="frame/text encoder (default: the README's ViT-B-32/openai; blip2 = TFVTG's BLIP-2)")
    parser.add_argument("--model", default=None, help="model folder or hub id (univtg, numpro, timemarker, vtgllm)")
    parser.add_argument("--offline", action="store_true", help="never download; missing weights are an error")
    args = parser.parse_args()

    takes = set(option_names(method_class(args.method).Config))
    options = {k: v for k, v in {"encoder": args.encoder, "model": args.model}.items() if v and k in takes}
    try:
        with offline(args.offline):
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
