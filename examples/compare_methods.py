"""Run one query through several methods on the same video and print their top moments.

    python examples/compare_methods.py VIDEO "QUERY" --methods tfvtg univtg numpro

Methods whose weights are missing are reported with vtg's own message and skipped.
"""

import argparse

import vtg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("query")
    parser.add_argument("--methods", nargs="+", default=["tfvtg"])
    args = parser.parse_args()

    for method in args.methods:
        try:
            result = vtg.ground(args.video, args.query, method=method, top_k=3)
        except vtg.VtgError as exc:
            print(f"{method:<11} unavailable: {exc}")
            continue
        spans = ", ".join(f"{m.start:.1f}-{m.end:.1f}s ({m.score:.2f})" for m in result.moments) or "no moment found"
        print(f"{method:<11} {spans}")


if __name__ == "__main__":
    main()
