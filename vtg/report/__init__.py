"""HTML reports: one self-contained page per video with its queries, curves and moments.

``write_report`` serves ``vtg ground --html``; ``write_reports`` serves ``vtg report``, grouping
a predictions file by video. See docs/reports.md.
"""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from pathlib import Path

from vtg.batch.inputs import find_result_video
from vtg.drawing import DEFAULT_MOMENTS
from vtg.fileio import atomic_write_text
from vtg.outputs import check_output, check_output_dir
from vtg.report.data import ground_truth_index, read_groundings, windows_for
from vtg.report.page import FAVICON_LINK, STYLE, render_page, video_source
from vtg.types import Grounding



def write_report(results: list[Grounding], video: str | Path, page: str | Path, *,
                 ground_truth: list | None = None, embed: bool = False, note: str | None = None,
                 top_k: int | None = DEFAULT_MOMENTS, inputs: list | None = None) -> Path:
    """Write one page for ``video`` showing ``results`` (all for that video); returns the path.
    Each curve shows its ``top_k`` best moments (None: all); the lists below show all. The page
    is never the video or any of ``inputs`` (:func:`vtg.outputs.check_output`)."""
    page = check_output(page, inputs=[video, *(inputs or [])], what="report page")
    page.parent.mkdir(parents=True, exist_ok=True)
    src = video_source(Path(video), page, embed=embed)
    text = render_page(results, src, title=Path(video).name, ground_truth=ground_truth, note=note, top_k=top_k)
    atomic_write_text(page, text)
    return page


def find_video(result: Grounding, video_dir: Path | None) -> Path | None:
    """The video file of ``result``: a file named after it in ``video_dir``, else its recorded path."""
    return find_result_video(result.video, result.vid, video_dir)


def page_name(vid: str, taken: set[str]) -> str:
    """A safe, unique file name for a video's page."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", vid).strip("._")[:200] or "video"  # names stay under 255 bytes
    name, n = f"{base}.html", 1
    while name in taken or name == "index.html":
        n += 1
        name = f"{base}_{n}.html"
    taken.add(name)
    return name


def write_reports(predictions: str | Path, out_dir: str | Path, *, video_dir: str | Path | None = None,
                  ground_truth: str | Path | None = None, embed: bool = False,
                  top_k: int | None = DEFAULT_MOMENTS) -> dict:
    """One page per video of a predictions file plus ``index.html``.

    Returns ``{"pages": [paths], "missing_videos": [vids whose file was not found]}``; a page is
    still written for a missing video (with a note) so its moments stay readable.
    """
    inputs = [predictions, ground_truth]
    out_dir = check_output_dir(out_dir, inputs=inputs, what="--out-dir")
    check_output(out_dir / "index.html", inputs=inputs, what="report index")
    vdir = Path(video_dir) if video_dir is not None else None
    gt_index = ground_truth_index(ground_truth) if ground_truth is not None else {}
    groups: "OrderedDict[str, list[Grounding]]" = OrderedDict()
    for r in read_groundings(predictions):
        groups.setdefault(r.video if Path(r.video).suffix else r.vid, []).append(r)
    pages, missing, links = [], [], []
    taken: set[str] = set()
    for key, results in groups.items():
        video = find_video(results[0], vdir)
        note = None
        if video is None:
            missing.append(results[0].vid)
            video = (vdir or Path(".")) / Path(key).name
            note = f"video file {Path(key).name} was not found; the player stays empty"
        page = out_dir / page_name(results[0].vid, taken)
        gts = [windows_for(gt_index, r) for r in results]
        pages.append(write_report(results, video, page, ground_truth=gts, embed=embed, note=note, top_k=top_k,
                                  inputs=inputs))
        links.append((page.name, Path(key).name, len(results)))
    atomic_write_text(check_output(out_dir / "index.html", inputs=inputs, what="report index"), index_page(links))
    return {"pages": pages, "missing_videos": missing}


INDEX_STYLE = """
table.videos{border-collapse:collapse;width:100%}
table.videos th,table.videos td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e3e3}
table.videos th{font-size:.8rem;color:#666;font-weight:600}
table.videos .n{text-align:right;font-variant-numeric:tabular-nums;color:#444}
table.videos a{color:#1f4e79;text-decoration:none;font-weight:600;overflow-wrap:anywhere}
table.videos a:hover{text-decoration:underline}table.videos tr:hover td{background:#fff7ea}
"""


def index_page(links: list[tuple[str, str, int]]) -> str:
    """The folder's front page: a table of the videos with their number of queries, in the
    pages' own style (fonts, colours, icon)."""
    esc = html.escape
    rows = "".join(f'<tr><td><a href="{esc(href)}">{esc(name)}</a></td><td class="n">{n}</td></tr>'
                   for href, name, n in links)
    queries = sum(n for _, _, n in links)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>vtg reports</title>"
            f"{FAVICON_LINK}<style>{STYLE}{INDEX_STYLE}</style></head><body><h1>vtg reports</h1>"
            f"<p class=\"meta\">{len(links)} video{'s' * (len(links) != 1)} · {queries} quer"
            f"{'y' if queries == 1 else 'ies'} · click a video for its player, curves and moments</p>"
            f"<table class=\"videos\"><thead><tr><th>video</th><th class=\"n\">queries</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></body></html>\n")


__all__ = ["write_report", "write_reports", "find_video", "render_page", "video_source"]
