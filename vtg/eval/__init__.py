"""Evaluation of grounding results: moment retrieval (R@k, mIoU, mAP) and highlight detection.

``evaluate(load_predictions(p), load_ground_truth(g))`` gives the official QVHighlights metric
names and values plus the R1/R5@IoU and mIoU that Charades-STA and ActivityNet papers report.
See docs/evaluation.md.
"""

from vtg.eval.evaluate import evaluate, match_predictions
from vtg.eval.loaders import PredictionFile, load_ground_truth, load_predictions, read_predictions

__all__ = ["evaluate", "match_predictions", "load_ground_truth", "load_predictions",
           "read_predictions", "PredictionFile"]
