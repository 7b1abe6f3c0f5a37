"""Benchmark a cold `vtg ground` on an indexed video against `python -c "import torch"`.

"Index once, query many" is only as good as the price of a query on an indexed video in a fresh
process. This script builds a CLIP ViT-B/32 (open_clip's architecture) with random weights, saves
it to a local directory and indexes the bundled Charades clip with it, through the paths users take
(``-e DIR``, ``vtg index``). Then it alternates, in one run, three commands in fresh processes:

* ``python -c "import torch"`` (the baseline: the least any torch-based answer costs),
* ``python -c "import torch, open_clip"`` (what loading the encoder used to import first),
* ``vtg ground VIDEO QUERY -e DIR --json`` (cached features: loads only the text tower),

and prints each one's median over ``--rounds`` rounds and the ratio of the cached query to
``import torch`` (goal: at most 2x).

``--family hf-clip`` does the same for a transformers-format CLIP of ViT-B/32's size (random
weights, CLIP's real BPE tokenizer built from open_clip's merge list): the cached query with
vtg's own text tower (:mod:`vtg.encoders.hf_text`, no transformers import) and, in the same
rounds, with that tower switched off (``hf_text.ENABLED = False``: the text model loads through
transformers, as before issue 22). Then, in this process, the warm latency of ``vtg.ground``:
the first call (loads the text tower), the same sentence again (text embedding cached), and new
sentences (one text-tower forward each), medians over ``--warm`` calls; and the full model's load
with open_clip's random initialisers run or skipped (the saving of building without random
initialisation). The weights are random (no network), which changes nothing in these timings.

    python benchmarks/bench_cold_query.py                 # the figures in the README
    python benchmarks/bench_cold_query.py --rounds 3 --workdir /tmp/bench-cold   # reuse the index
    python benchmarks/bench_cold_query.py --family hf-clip --warm 0 --workdir /tmp/bench-cold-hf
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VIDEO = HERE.parent.parent / "shared" / "data" / "videos" / "charades_example.mp4"
QUERY = "a person opens the door"
NEW_QUERIES = ["a person closes the door", "a man walks", "a woman sits down", "a person picks up a phone",
               "someone stands up", "a person runs", "the man sits at the table", "a woman opens a window",
               "a person holds a cup", "someone turns on the light", "a man reads a book", "a person laughs"]


def prepare(workdir: Path, video: Path, family: str = "open_clip") -> Path:
    """The ViT-B/32 directory with random weights, and the video indexed into workdir/cache."""
    model = workdir / ("vit-b-32-random" if family == "open_clip" else "hf-clip-vit-b-32-random")
    if family == "hf-clip":
        if not (model / "model.safetensors").is_file():
            from vtg.encoders.testing import random_hf_clip

            random_hf_clip(model)
    elif not (model / "open_clip_model.safetensors").is_file():
        import open_clip

        from vtg.encoders.testing import random_open_clip

        random_open_clip(model, open_clip.get_model_config("ViT-B-32"))
    subprocess.run(vtg_command("index", str(video), "-e", str(model), "--no-progress"), check=True,
                   env=bench_env(workdir), stdout=subprocess.DEVNULL)
    return model


def vtg_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vtg.cli.main", *args]


def bench_env(workdir: Path) -> dict:
    return dict(os.environ, VTG_CACHE_DIR=str(workdir / "cache"), HF_HUB_OFFLINE="1")


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child). On a shared machine the wall time
    also counts waiting for a core; the CPU time is the work itself."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


#: ``vtg ground`` with vtg's own HF text tower switched off: the text model loads through transformers.
TRANSFORMERS_TEXT = ("import sys; import vtg.encoders.hf_text as t; t.ENABLED = False; "
                     "from vtg.cli.main import main; sys.exit(main(sys.argv[1:]))")


def cold_rounds(model: Path, video: Path, workdir: Path, rounds: int,
                family: str = "open_clip") -> dict[str, list[tuple[float, float]]]:
    env = bench_env(workdir)
    ground = ("ground", str(video), QUERY, "-e", str(model), "--json")
    commands = {"import torch": [sys.executable, "-c", "import torch"]}
    if family == "open_clip":
        commands["import torch, open_clip"] = [sys.executable, "-c", "import torch, open_clip"]
    else:
        commands["import torch, transformers CLIP"] = [
            sys.executable, "-c", "import torch; from transformers import CLIPTextModelWithProjection"]
        commands["vtg ground (transformers)"] = [sys.executable, "-c", TRANSFORMERS_TEXT, *ground]
    commands["vtg ground (cached)"] = vtg_command(*ground)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for r in range(rounds):
        for name, command in commands.items():
            times[name].append(timed(command, env))
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {t[-1][0]:.2f} s (cpu {t[-1][1]:.2f} s)"
                                                      for n, t in times.items()), flush=True)
    return times


def warm_latency(model: Path, video: Path, workdir: Path, calls: int) -> dict[str, float]:
    """First call, repeated sentence and new sentences of ``vtg.ground`` inside one process."""
    os.environ["VTG_CACHE_DIR"] = str(workdir / "cache")
    import vtg
    from vtg.registry import load_method

    method = load_method("tfvtg", encoder=str(model), device="cpu")
    start = time.perf_counter()
    first = vtg.ground(video, QUERY, method=method)
    out = {"first call": time.perf_counter() - start}
    assert first.meta["features_cached"], "the video should be indexed"
    repeated, fresh = [], []
    for i in range(calls):
        start = time.perf_counter()
        vtg.ground(video, QUERY, method=method)
        repeated.append(time.perf_counter() - start)
        start = time.perf_counter()
        vtg.ground(video, NEW_QUERIES[i % len(NEW_QUERIES)] + f" {i}", method=method)
        fresh.append(time.perf_counter() - start)
    out["same sentence"] = statistics.median(repeated)
    out["new sentence"] = statistics.median(fresh)
    return out


def init_saving(model: Path, rounds: int) -> dict[str, float]:
    """Full ViT-B/32 load through open_clip with its random initialisers run (as before) or skipped
    (vtg's default), alternating; the weights loaded are the same."""
    import contextlib

    import vtg.encoders.open_clip_encoder as oc
    from vtg.encoders import clear_loaded, load_encoder

    skipping = oc.skipped_weight_init
    times: dict[str, list[float]] = {"initialisers run": [], "initialisers skipped": []}
    try:
        for _ in range(rounds):
            for name, context in (("initialisers run", contextlib.nullcontext), ("initialisers skipped", skipping)):
                oc.skipped_weight_init = context
                clear_loaded()
                start = time.perf_counter()
                load_encoder(str(model), device="cpu")
                times[name].append(time.perf_counter() - start)
    finally:
        oc.skipped_weight_init = skipping
        clear_loaded()
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds of the three commands (>= 5).")
    parser.add_argument("--warm", type=int, default=10, help="Warm in-process calls per kind.")
    parser.add_argument("--init-rounds", type=int, default=3, help="Rounds of the full-load initialiser comparison.")
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the model and index here (reused).")
    parser.add_argument("--family", choices=("open_clip", "hf-clip"), default="open_clip",
                        help="The encoder's format: open_clip, or transformers' CLIPModel (hf-clip).")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vtg-bench-cold-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"preparing {args.family} ViT-B/32 (random weights) and indexing {args.video.name} in {workdir} ...",
          flush=True)
    model = prepare(workdir, args.video, args.family)
    times = cold_rounds(model, args.video, workdir, args.rounds, args.family)
    print(f"\nmedians of {args.rounds} alternating rounds (fresh processes):   wall      cpu")
    med = {}
    for name, t in times.items():
        med[name] = (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
        print(f"  {name:<26} {med[name][0]:6.2f} s  {med[name][1]:6.2f} s")
    base = med["import torch"]
    for name in (n for n in med if n != "import torch"):
        print(f"  {name} / import torch: {med[name][0] / base[0]:.2f}x wall, {med[name][1] / base[1]:.2f}x cpu"
              + (" (goal <= 2x)" if name == "vtg ground (cached)" else ""))
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.warm > 0:
        warm = warm_latency(model, args.video, workdir, args.warm)
        print(f"\nwarm vtg.ground in one process (medians of {args.warm}):")
        for name, value in warm.items():
            print(f"  {name:<26} {value * 1000:8.1f} ms")
    if args.family != "open_clip" or args.init_rounds <= 0:
        return
    saving = init_saving(model, args.init_rounds)
    print(f"\nfull ViT-B/32 load (open_clip), medians of {args.init_rounds} alternating rounds:")
    for name, value in saving.items():
        print(f"  {name:<26} {value:6.2f} s")


if __name__ == "__main__":
    main()
