"""``vtg bench ANNOTATIONS --videos DIR -m METHOD``: reproduce a paper's table on a benchmark you have.

Runs the method (with its preset for the benchmark, if it has one) over every query through
``vtg batch`` (so an interrupted run resumes), scores it with ``vtg eval`` and prints the result
beside the authors' published figures (:mod:`vtg.eval.published`) with the difference."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from vtg.cli.options import parse_key_values
from vtg.errors import UsageError
from vtg.registry import method_class


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)


def bench_command(
    annotations: Path = typer.Argument(..., help="Benchmark annotations as shipped: Charades-STA .txt, ActivityNet Captions val_1.json, TaCoS JSON, QVHighlights / Charades-STA / ActivityNet JSONL."),
    videos: Path = typer.Option(..., "--videos", help="Folder holding the benchmark's videos (named by their ids)."),
    method: str = typer.Option(..., "--method", "-m", help="Method to run."),
    model: Optional[str] = typer.Option(None, "--model", help="Weights for methods that need them (a converted checkpoint folder)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Predictions JSONL (default: ANNOTATIONS-stem.METHOD.jsonl here); rerunning resumes it."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-O", help="Any method option as key=value (repeatable)."),
    benchmark: Optional[str] = typer.Option(None, "--benchmark", help="charades, activitynet, tacos or qvhighlights (default: recognised from the file)."),
    durations: Optional[Path] = typer.Option(None, "--durations", help="CSV with 'id' and 'length' columns for annotations without durations (Charades_v1_test.csv)."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics, published figures and differences as JSON."),
    published: int = typer.Option(1, "--published", min=1, help="Which published figures to compare with when several released checkpoints have some (1 = the first listed)."),
) -> None:
    """Run METHOD on a benchmark, score it, and print it beside the published figures."""
    from vtg.batch import run_batch
    from vtg.eval import evaluate, load_ground_truth, read_predictions
    from vtg.eval.bench import BENCHMARK_METRICS, comparison, detect_benchmark, detect_split, format_comparison, preset_options
    from vtg.eval.formats import read_durations_csv
    from vtg.eval.published import published_for

    cls = method_class(method)
    gt = load_ground_truth(annotations, read_durations_csv(durations) if durations is not None else None)
    if benchmark is not None and benchmark not in BENCHMARK_METRICS:
        raise UsageError(f"--benchmark must be one of {', '.join(BENCHMARK_METRICS)}, got {benchmark!r}")
    name = benchmark or detect_benchmark(annotations, gt)
    options = preset_options(cls, name)
    options.update(parse_key_values(option))
    if model is not None:
        options["model"] = model
    out = output or Path(f"{annotations.stem}.{cls.name}.jsonl")
    summary = run_batch(annotations, out, method=cls.name, options=options, video_dir=videos,
                        progress=sys.stderr.isatty())
    print(f"vtg bench: {summary.text()} -> {out}", file=sys.stderr)
    if summary.failed:
        print(f"vtg: note: {summary.failed} queries failed (error records in {out}); they count as misses",
              file=sys.stderr)
    metrics = evaluate(read_predictions(out).records, gt)
    split = detect_split(annotations)
    found = published_for(cls.name, name, split)
    reference = found[published - 1] if len(found) >= published else None
    others = [e for e in found if e is not reference]
    if as_json:
        rows = comparison(metrics, name, reference)
        doc = {"method": cls.name, "benchmark": name, "split": split, "options": {k: str(v) for k, v in options.items()},
               "predictions": str(out), "metrics": metrics,
               "comparison": [{"metric": r.metric, "ours": r.ours, "published": r.published,
                               "difference": r.difference} for r in rows],
               "published_source": reference.source if reference else None,
               "published_variant": reference.variant if reference else None}
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        return
    sys.stdout.write(format_comparison(cls.name, name, split, metrics, reference, others))
