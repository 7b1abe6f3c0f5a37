"""A readable table of the metrics returned by :func:`vtg.eval.evaluate` (rich, plain text)."""

from __future__ import annotations

import io
from typing import Any

from vtg.writers import terminal_width


def _cell(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}"


def _moment_table(m: dict, by_length: bool):
    from rich.table import Table

    table = Table(title="Moment retrieval (percent)")
    if by_length:
        cols = ["queries", "R1@0.5", "R1@0.7", "mAP@0.5", "mAP@0.75", "mAP"]
        table.add_column("length")
        for c in cols:
            table.add_column(c, justify="right")
        for bucket, label in (("full", "all"), ("short", "short (0-10 s]"),
                              ("middle", "middle (10-30 s]"), ("long", "long (30-150 s]")):
            keys = [f"MR-{bucket}-queries", f"MR-{bucket}-R1@0.5", f"MR-{bucket}-R1@0.7",
                    f"MR-{bucket}-mAP@0.5", f"MR-{bucket}-mAP@0.75", f"MR-{bucket}-mAP"]
            table.add_row(label, *(_cell(m.get(k)) for k in keys))
        return table
    return _row_table(table, m, RECALL_COLUMNS + MAP_COLUMNS)


RECALL_COLUMNS = ["R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"]
MAP_COLUMNS = ["MR-full-mAP@0.5", "MR-full-mAP@0.75", "MR-full-mAP"]


def _row_table(table, m: dict, cols: list[str]):
    for c in cols:
        table.add_column(c.replace("MR-full-", ""), justify="right")
    table.add_row(*(_cell(m.get(c)) for c in cols))
    return table


def _narrow_moment_tables(m: dict):
    """The one-row table split in two, for terminals too narrow for its ten columns (rich would
    otherwise cut the headers to ``R1@0…``)."""
    from rich.table import Table

    return [_row_table(Table(title="Moment retrieval (percent)"), m, RECALL_COLUMNS),
            _row_table(Table(), m, MAP_COLUMNS)]


def _highlight_table(m: dict):
    from rich.table import Table

    table = Table(title="Highlight detection (percent)")
    for c in ("min rater score", "mAP", "HIT@1"):
        table.add_column(c, justify="right")
    for level, score in (("Fair", 2), ("Good", 3), ("VeryGood", 4)):
        table.add_row(f"{level} (>= {score})", _cell(m.get(f"HL-min-{level}-mAP")),
                      _cell(m.get(f"HL-min-{level}-Hit1")))
    return table


def format_table(metrics: dict, *, by_length: bool = False, errors: int = 0) -> str:
    """Moment-retrieval table (or its per-length breakdown) plus highlight table when present."""
    from rich.console import Console

    buf = io.StringIO()

    console = Console(file=buf, width=terminal_width(110), force_terminal=False, color_system=None)
    line = f"{metrics.get('queries', 0)} queries"
    if metrics.get("missing"):
        line += f", {metrics['missing']} without a prediction (scored 0)"
    if errors:
        line += f", {errors} failed batch records skipped"
    console.print(line)
    if "HL-top5-mAP" in metrics or "HL-mAP" in metrics:  # TVSum / YouTube Highlights: no moments
        for key in ("HL-top5-mAP", "HL-mAP"):
            if key in metrics:
                console.print(f"{key}: {_cell(metrics[key])}")
        return buf.getvalue()
    table = _moment_table(metrics, by_length)
    fits = console.measure(table, options=console.options.update_width(1000)).maximum <= console.width
    for t in [table] if fits or by_length else _narrow_moment_tables(metrics):
        console.print(t)
    if "HL-min-Fair-mAP" in metrics:
        console.print(_highlight_table(metrics))
    return buf.getvalue()
