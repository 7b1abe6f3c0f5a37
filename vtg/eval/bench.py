"""``vtg bench``'s logic: which benchmark an annotation file is, which metrics it reports, which
preset a method has for it, and the comparison with the published figures (:mod:`.published`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtg.eval import formats
from vtg.eval.published import Published, published_for

#: The metrics each benchmark's papers report, in their order (vtg eval's names).
BENCHMARK_METRICS = {
    "qvhighlights": ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "MR-full-mAP@0.5", "MR-full-mAP@0.75",
                     "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1"),
    "charades": ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"),
    "activitynet": ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"),
    "tacos": ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"),
    "tvsum": ("HL-top5-mAP",),
    "youtube_highlight": ("HL-mAP",),
}
GENERIC_METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")
_NAMES = (("charades", "charades"), ("activitynet", "activitynet"), ("anet", "activitynet"), ("tacos", "tacos"),
          ("tvsum", "tvsum"), ("youtube", "youtube_highlight"), ("qvhighlight", "qvhighlights"),
          ("highlight_", "qvhighlights"))


def detect_benchmark(path: Path, records: list[dict]) -> str | None:
    """The benchmark of an annotation file: from clip saliency (QVHighlights), the file's form
    (Charades-STA's text), its name, else its video ids (ActivityNet's ``v_``, TaCoS' ``sNN-dNN``)."""
    if any("saliency_scores" in r for r in records):
        return "qvhighlights"
    if path.is_file() and formats.shipped_kind(path, strict=False) == "charades-sta":
        return "charades"
    name = path.name.lower()
    for needle, benchmark in _NAMES:
        if needle in name:
            return benchmark
    if path.stem.lower() in ("val_1", "val_2"):
        return "activitynet"
    vids = [str(r.get("vid", "")) for r in records]
    if vids and all(v.startswith("v_") for v in vids):
        return "activitynet"
    if vids and all(len(v) > 3 and v[0] == "s" and "-d" in v for v in vids):
        return "tacos"
    return None


def detect_split(path: Path) -> str | None:
    """From the file name; ActivityNet Captions' ``val_1`` / ``val_2`` are the val / test splits
    grounding papers use."""
    name = path.name.lower()
    if "val_2" in name:
        return "test"
    for split in ("val", "test", "train"):
        if split in name:
            return split
    return None


def preset_options(method_cls: type, benchmark: str | None) -> dict[str, Any]:
    """The method's own preset for the benchmark: methods that have dataset presets name the
    benchmarks in ``benchmark_presets`` (TFVTG: charades, activitynet, qvhighlights) and take the
    ``preset`` option of that name."""
    if benchmark is not None and benchmark in getattr(method_cls, "benchmark_presets", ()):
        return {"preset": benchmark}
    return {}


@dataclass(frozen=True)
class Row:
    metric: str
    ours: float | None
    published: float | None

    @property
    def difference(self) -> float | None:
        if self.ours is None or self.published is None:
            return None
        return round(self.ours - self.published, 2)


def comparison(metrics: dict[str, Any], benchmark: str | None, reference: Published | None) -> list[Row]:
    names = BENCHMARK_METRICS.get(benchmark or "", GENERIC_METRICS)
    return [Row(name, _finite(metrics.get(name)), reference.metrics.get(name) if reference else None)
            for name in names]


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def format_comparison(method: str, benchmark: str | None, split: str | None, metrics: dict[str, Any],
                      reference: Published | None, others: list[Published] | None = None) -> str:
    """The table ``vtg bench`` prints: ours, published, difference, then where the figures come from."""
    rows = comparison(metrics, benchmark, reference)
    title = f"{method} on {benchmark or 'an unrecognised benchmark'}" + (f" ({split})" if split else "")
    lines = [f"vtg bench: {title}: {metrics.get('queries')} queries, {metrics.get('missing')} without a prediction",
             f"{'metric':<22}{'ours':>8}{'published':>11}{'diff':>8}"]
    for row in rows:
        lines.append(f"{row.metric:<22}{_cell(row.ours):>8}{_cell(row.published):>11}{_cell(row.difference, True):>8}")
    if reference is not None:
        lines.append(f"published: {reference.source}" + (f" [{reference.variant}]" if reference.variant else ""))
        if reference.notes:
            lines.append(f"  ({reference.notes})")
        if reference.queries is not None and metrics.get("queries") != reference.queries:
            lines.append(f"  note: the published figures are over {reference.queries} queries, this file has "
                         f"{metrics.get('queries')}: not the same set")
        for other in others or []:
            lines.append(f"also published for {other.variant or other.source}: "
                         + ", ".join(f"{k} {v:.2f}" for k, v in other.metrics.items()) + " (--published N)")
    else:
        lines.append(f"published: no published figure in vtg for {method} on {benchmark or 'this file'}"
                     + (f" ({split})" if split else "") + " (see vtg/eval/published.py)")
    return "\n".join(lines) + "\n"


def _cell(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


__all__ = ["detect_benchmark", "detect_split", "preset_options", "comparison", "format_comparison", "published_for"]
