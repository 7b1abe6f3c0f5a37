"""Self-contained HTML pages: video player, saliency curve (inline SVG), clickable moments.

Everything is inline (CSS, script, SVG); the only outside reference is the video itself, given
by a path relative to the page (so a folder of pages and videos can be moved or served as a
whole) or, with ``embed=True``, inlined as a base64 ``data:`` URI for small files. Every piece
of user text - queries, file names, method names - goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import os
from pathlib import Path
from urllib.parse import quote

from vtg.drawing import DEFAULT_MOMENTS, moment_colour
from vtg.fileio import is_file
from vtg.report.svg import saliency_svg
from vtg.timefmt import hms, span
from vtg.types import Grounding
from vtg.writers import overlap_note, score_notes

EMBED_LIMIT = 20 * 1024 * 1024  # bytes; larger videos are always linked
EMBED_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ogv")

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;max-width:900px;color:#222}
h1{font-size:1.25rem;overflow-wrap:anywhere}h2{font-size:1.05rem;margin:.2rem 0}
video{display:block;max-width:100%;max-height:40vh;margin:0 auto;background:#000}
.player{position:sticky;top:0;z-index:1;background:#fff;padding:.3rem 0;border-bottom:1px solid #ddd}
section.query{border-top:1px solid #ddd;margin-top:1rem;padding-top:.6rem}
.meta{color:#666;font-size:.85rem;margin:.2rem 0 .4rem}
svg.saliency{width:100%;height:auto;cursor:pointer;background:#fafafa}
svg .curve{fill:none;stroke:#1f4e79;stroke-width:1.6}svg .axis,svg .tick{stroke:#444;stroke-width:1}
svg .label{font-size:11px;fill:#444}svg .rank{font-size:8px;font-weight:bold;fill:#fff}svg .gt{fill:#000}svg .gt-edge{stroke:#000;stroke-width:1;stroke-dasharray:4 3}svg .playhead{stroke:#111;stroke-width:1.5}
ol.moments{padding-left:1.4rem}ol.moments li{margin:.25rem 0}
button.moment{font:inherit;cursor:pointer;border:1px solid #999;border-radius:4px;background:#fff;padding:.2rem .6rem}
button.moment:hover,button.moment.playing{background:#ffe7c2}
.score{color:#666;margin-left:.5rem;font-size:.85rem}.note{color:#666;font-size:.8rem}.missing{color:#b00}
body{padding:0 1rem}
@media (max-width:600px){body{margin:.8rem auto;padding:0 .6rem}
 svg .label{font-size:17px}svg .rank{font-size:14px}svg .yname{display:none}}
"""

#: The page's icon inline (a data: URI), so a served folder of pages asks for no /favicon.ico.
FAVICON_LINK = ('<link rel="icon" href="data:image/svg+xml,' + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
    'fill="#1f3b57"/><polyline points="4,24 10,22 14,9 19,8 22,21 28,23" fill="none" stroke="#fff" '
    'stroke-width="2.5"/></svg>') + '">')

SCRIPT = """
(function(){
  var video=document.getElementById('player');var stopAt=null;
  function seek(t,end){video.currentTime=t;stopAt=(end===undefined)?null:end;
    var p=video.play();if(p&&p.catch){p.catch(function(){});}}
  document.querySelectorAll('button.moment').forEach(function(b){
    b.addEventListener('click',function(){
      document.querySelectorAll('button.moment.playing').forEach(function(o){o.classList.remove('playing');});
      b.classList.add('playing');seek(parseFloat(b.dataset.start),parseFloat(b.dataset.end));});});
  document.querySelectorAll('svg.saliency').forEach(function(svg){
    svg.addEventListener('click',function(ev){
      var box=svg.getBoundingClientRect();var vb=svg.viewBox.baseVal;
      var x=(ev.clientX-box.left)*vb.width/box.width;var l=parseFloat(svg.dataset.left),r=parseFloat(svg.dataset.right);
      var t=(x-l)/(r-l)*parseFloat(svg.dataset.duration);seek(Math.min(Math.max(t,0),parseFloat(svg.dataset.duration)));});});
  video.addEventListener('timeupdate',function(){
    if(stopAt!==null&&video.currentTime>=stopAt){video.pause();stopAt=null;}
    document.querySelectorAll('svg.saliency').forEach(function(svg){
      var l=parseFloat(svg.dataset.left),r=parseFloat(svg.dataset.right),d=parseFloat(svg.dataset.duration);
      var x=l+(r-l)*Math.min(video.currentTime/d,1);var line=svg.querySelector('.playhead');
      line.setAttribute('x1',x);line.setAttribute('x2',x);});});
})();
"""


def video_source(video: Path, page: Path, *, embed: bool = False) -> str:
    """The ``src`` for ``video`` as seen from ``page``: relative URL, file URI, or data URI."""
    video = Path(video)
    guess = mimetypes.guess_type(video.name)[0] or ""
    mime = guess if guess.startswith("video/") else "video/mp4"
    # Only videos are inlined: a predictions file naming "/home/me/.ssh/id_rsa" as its video must
    # not copy that file into a page that may be shared.
    is_video = guess.startswith("video/") or video.suffix.lower() in EMBED_SUFFIXES
    if embed and is_video and is_file(video) and video.stat().st_size <= EMBED_LIMIT:
        return f"data:{mime};base64," + base64.b64encode(video.read_bytes()).decode("ascii")
    try:
        rel = os.path.relpath(video.resolve(), Path(page).resolve().parent)
    except ValueError:  # another drive (Windows): only an absolute URI can reach it
        return video.resolve().as_uri()
    return quote(Path(rel).as_posix())


def moment_list(result: Grounding, drawn: int | None = DEFAULT_MOMENTS) -> str:
    """An ordered list of buttons; each seeks the player to its moment and plays it. The moments
    drawn on the curve (the first ``drawn``; None: all) wear their lane's colour, the rest grey."""
    if not result.moments:
        return '<p class="missing">no moment found</p>'
    items = []
    for rank, m in enumerate(result.moments, 1):
        colour = moment_colour(rank) if drawn is None or rank <= drawn else "#ccc"
        items.append(f'<li><button type="button" class="moment" data-rank="{rank}" '
                     f'style="border-left:6px solid {colour}" '
                     f'data-start="{m.start:.3f}" data-end="{m.end:.3f}">#{rank} {hms(m.start)} - '
                     f'{hms(m.end)}</button><span class="score">{m.end - m.start:.1f} s, '
                     f'score {m.score:.3f}</span></li>')
    return '<ol class="moments">' + "".join(items) + "</ol>"


def score_note(results: list[Grounding]) -> str:
    """What the scores in the moment lists mean, once per method on the page."""
    notes = score_notes(results)
    return "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)


def query_section(result: Grounding, index: int, ground_truth=(), *, top_k: int | None = DEFAULT_MOMENTS) -> str:
    esc = html.escape
    gt_text = ", ".join(span(s, e, result.duration) for s, e in ground_truth)
    meta = f"method {esc(result.method)}"
    if result.qid is not None:
        meta += f" · qid {esc(str(result.qid))}"
    if gt_text:
        meta += f" · ground truth {esc(gt_text)}"
    curve = saliency_svg(result, ground_truth, top_k=top_k, svg_id=f"curve{index}")

    overlap = overlap_note(result)  # near-duplicate moments, said as the table says it
    note = f'<p class="note">{esc(overlap)}</p>' if overlap else ""
    return (f'<section class="query" id="q{index}"><h2>{esc(result.query or "(image query)")}</h2>'
            f'<p class="meta">{meta}</p>{curve}{moment_list(result, top_k)}{note}</section>')


def render_page(results: list[Grounding], video_src: str, *, title: str,
                ground_truth: list | None = None, note: str | None = None,
                top_k: int | None = DEFAULT_MOMENTS) -> str:
    """The whole page for one video and its queries (``ground_truth[i]`` windows per result)."""
    esc = html.escape
    gts = ground_truth or [()] * len(results)
    duration = max((r.duration for r in results), default=0.0)
    sections = "".join(query_section(r, i, gts[i], top_k=top_k) for i, r in enumerate(results))
    note_html = f'<p class="missing">{esc(note)}</p>' if note else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{esc(title)} - vtg</title>{FAVICON_LINK}<style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class=\"meta\">{len(results)} quer"
            f"{'y' if len(results) == 1 else 'ies'} · {hms(duration)}</p>{note_html}"
            f"<div class=\"player\"><video id=\"player\" controls preload=\"auto\" playsinline "
            f"src=\"{esc(video_src)}\"></video></div>"
            f"{sections}{score_note(results)}<script>{SCRIPT}</script></body></html>\n")
