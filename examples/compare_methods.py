"""Run one query through several methods on the same video and print their top moments.

    python examples/compare_methods.py VIDEO "QUERY" --methods tfvtg univtg numpro \
        --encoder ViT-B-32/openai --model univtg=univtg-qvhl/ --model numpro=Qwen/Qwen2-VL-2B-Instruct

``--encoder`` goes to the methods that take one (tfvtg, univtg); ``--model METHOD=MODEL`` to one
method, a plain ``--model MODEL`` to every method that takes a model. Methods whose weights are
missing are reported with vtg's own message and skipped.
"""

import argparse

import vtg
from vtg.registry import method_class
from vtg.method import option_names


def method_options(method: str, encoder: str | None, models: list[str]) -> dict:
    """The options ``method`` accepts among --encoder and --model (others would be an error)."""
    takes = set(option_names(method_class(method).Config))
    options = {"encoder": encoder} if encoder and "encoder" in takes else {}
    for item in models:
        target, sep, model = item.partition("=")
        if not sep:
            target, model = method, item
        if target == method and "model" in takes:
            options["model"] = model
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("query")
    parser.add_argument("--methods", nargs="+", default=["tfvtg"])
    parser.add_argument("--encoder", default=None, help="e.g. ViT-B-32/openai (default: each method's own)")
    parser.add_argument("--model", action="append", default=[], metavar="[METHOD=]MODEL",
                        help="model folder or hub id, for one method (univtg=DIR) or for all that take one")
    args = parser.parse_args()

    for method in args.methods:
        try:
            options = method_options(method, args.encoder, args.model)
            result = vtg.ground(args.video, args.query, method=method, top_k=3, **options)
        except vtg.VtgError as exc:
            print(f"{method:<11} unavailable: {exc}")
            continue
        spans = ", ".join(f"{m.start:.1f}-{m.end:.1f}s ({m.score:.2f})" for m in result.moments) or "no moment found"
        print(f"{method:<11} {spans}")


if __name__ == "__main__":
    main()
