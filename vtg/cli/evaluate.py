"""``vtg eval PREDICTIONS GROUND_TRUTH``: moment-retrieval and highlight metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from vtg.errors import DataError
from vtg.fileio import atomic_write_text


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    predictions: Path = typer.Argument(..., help="Predictions: Grounding JSONL (vtg batch / vtg ground -f jsonl) or QVHighlights predictions."),
    ground_truth: Path = typer.Argument(..., help="Ground truth: QVHighlights / Charades-STA / ActivityNet JSONL, per-video JSON (TFVTG, ActivityNet Captions val_1.json, 2D-TAN TaCoS), or Charades-STA's raw charades_sta_test.txt."),
    as_json: bool = typer.Option(False, "--json", help="Print every metric as one JSON object (official QVHighlights names and rounding)."),
    by_length: bool = typer.Option(False, "--by-length", help="Break moment retrieval down by ground-truth window length (QVHighlights buckets)."),
    raw: bool = typer.Option(False, "--raw", help="Do not round to 2 decimals (the official script rounds)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the JSON object to this file."),
    durations: Optional[Path] = typer.Option(None, "--durations", help="CSV with 'id' and 'length' columns (Charades_v1_test.csv): durations for ground truth that has none (raw Charades-STA)."),
) -> None:
    """Score PREDICTIONS against GROUND_TRUTH: R1/R5@IoU, mIoU, mAP, and highlight mAP / HIT@1."""
    from vtg.eval import evaluate, load_ground_truth, read_predictions
    from vtg.eval.summary import format_table
    from vtg.outputs import check_output

    if output is not None:  # before reading: `-o GT` must fail with GT untouched
        check_output(output, inputs=[predictions, ground_truth, *([durations] if durations else [])], what="-o")
    from vtg.eval.formats import read_durations_csv

    gt = load_ground_truth(ground_truth, read_durations_csv(durations) if durations is not None else None)
    preds = read_predictions(predictions)
    check_matches(preds, gt, predictions, ground_truth)
    metrics = evaluate(preds.records, gt, decimals=None if raw else 2)
    if preds.errors and not as_json:
        print(f"vtg: note: {len(preds.errors)} failed records in {predictions} count as misses",
              file=sys.stderr)
    if preds.duplicates:
        print(f"vtg: note: {preds.duplicates} predictions in {predictions} repeat an earlier qid; "
              "the last record of each qid counts", file=sys.stderr)
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    if output is not None:
        atomic_write_text(output, text)
    sys.stdout.write(text if as_json else format_table(metrics, by_length=by_length,
                                                       errors=len(preds.errors)))


def check_matches(preds, gt: list[dict], predictions: Path, ground_truth: Path) -> None:
    """Nothing matched is an error (the wrong pair of files scores 0 everywhere and would pass a
    script unnoticed); ground-truth queries without a prediction are a warning (they score 0).
    Failed batch records count as matched here: they have their own note."""
    from vtg.eval.evaluate import match_predictions

    matched = sum(p is not None for p in match_predictions([*preds.records, *preds.errors], gt))
    if gt and not matched:
        total = len(preds.records) + len(preds.errors)
        raise DataError(f"none of the {total} predictions in {predictions} matches a query of {ground_truth} "
                        "(by qid, or by video and query): is this the right pair of files?")
    if matched < len(gt):
        print(f"vtg: warning: {len(gt) - matched} of {len(gt)} queries in {ground_truth} have no prediction "
              f"in {predictions}; they score 0", file=sys.stderr)
