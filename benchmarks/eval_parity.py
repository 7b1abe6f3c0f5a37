"""`vtg eval` against the official QVHighlights evaluation script, on perturbed predictions.

    python benchmarks/eval_parity.py PATH/TO/standalone_eval/eval.py
    python benchmarks/eval_parity.py PATH/TO/standalone_eval/eval.py --gt GT.jsonl --seeds 7 8 9 10
    python benchmarks/eval_parity.py PATH/TO/standalone_eval/eval.py --python /other/env/bin/python

The official script is moment_detr's ``standalone_eval/eval.py`` (Lei et al., QVHighlights,
NeurIPS 2021) with the ``utils.py`` beside it; it needs numpy and scikit-learn, which vtg does not
(``--python`` runs it with another interpreter). It is not shipped with vtg: give its path.

For every seed, predictions are made from the ground truth by ``perturb()`` of
``tests/test_eval_shared.py`` (true windows shifted by Gaussian noise and partly rounded, 0-12
random extra windows, random scores, saliency = mean rater score + noise with ties and wrong
lengths); the official script runs on them as ``python -m standalone_eval.eval``, vtg's
``evaluate()`` runs in this process, and every metric of the official nested output (length
buckets x mAP / R1 x thresholds, highlight mAP / HIT@1) is compared with vtg's value of the same
name. Prints one line per seed and exits 1 when any difference exceeds ``--tolerance`` or a
metric is missing on either side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_eval_shared import perturb  # noqa: E402
from vtg.eval import evaluate, load_ground_truth  # noqa: E402

DEFAULT_GT = ROOT.parent / "shared" / "data" / "qvhighlights" / "highlight_val_release.jsonl"


def official_metrics(eval_py: Path, python: str, preds: Path, gt: Path, out: Path) -> dict[str, float]:
    """Run the official script; its nested result flattened to vtg's metric names."""
    package = eval_py.resolve().parent  # standalone_eval/, imported as a package by the script
    paths = [str(package.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([python, "-m", f"{package.name}.{eval_py.stem}", "--submission_path", str(preds),
                           "--gt_path", str(gt), "--save_path", str(out), "--not_verbose"],
                          cwd=package.parent, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"the official script failed:\n{done.stderr[-3000:]}")
    nested = json.loads(out.read_text())
    flat: dict[str, float] = {}
    for bucket in ("full", "short", "middle", "long"):
        for metric, name in (("MR-mAP", "mAP"), ("MR-R1", "R1")):
            for thr, value in nested.get(bucket, {}).get(metric, {}).items():
                key = f"MR-{bucket}-{name}" if thr == "average" else f"MR-{bucket}-{name}@{float(thr):g}"
                flat[key] = value
    for group, values in nested.items():
        if group.startswith("HL-"):
            for metric, value in values.items():
                flat[f"{group}-{metric.split('-', 1)[1]}"] = value
    for key, value in nested.get("brief", {}).items():
        flat.setdefault(key, value)
    return flat


def normalised(metrics: dict) -> dict[str, float]:
    """vtg's metrics keyed like the flattened official ones (thresholds printed with %g)."""
    return {re.sub(r"@([\d.]+)$", lambda m: f"@{float(m.group(1)):g}", k): v for k, v in metrics.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_py", type=Path, help="the official standalone_eval/eval.py")
    parser.add_argument("--gt", type=Path, default=DEFAULT_GT, help=f"QVHighlights ground truth (default {DEFAULT_GT})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--limit", type=int, default=None, help="only the first N queries")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the official script")
    parser.add_argument("--tolerance", type=float, default=0.0)
    args = parser.parse_args()
    if not args.eval_py.is_file():
        sys.exit(f"{args.eval_py}: no such file (give the path of the official standalone_eval/eval.py)")
    gt = load_ground_truth(args.gt)[:args.limit]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        gt_path = Path(tmp) / "gt.jsonl"
        gt_path.write_text("".join(json.dumps(g) + "\n" for g in gt))
        for seed in args.seeds:
            preds = perturb(gt, seed)
            pred_path = Path(tmp) / f"preds_{seed}.jsonl"
            pred_path.write_text("".join(json.dumps(p) + "\n" for p in preds))
            theirs = official_metrics(args.eval_py, args.python, pred_path, gt_path, Path(tmp) / f"out_{seed}.json")
            ours = normalised(evaluate(preds, gt))
            missing = sorted(k for k in theirs if ours.get(k) is None)
            diffs = [abs(float(ours[k]) - float(v)) for k, v in theirs.items() if ours.get(k) is not None]
            diff = max(diffs, default=0.0)
            worst = max(worst, diff, float("inf") if missing else 0.0)
            print(f"{args.gt.name} seed {seed}: {len(theirs)} metrics, max abs diff {diff:g}"
                  + (f", missing in vtg: {missing}" if missing else ""))
    print(f"max abs difference over all seeds: {worst:g}")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
