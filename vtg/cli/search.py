"""``vtg search QUERY --library NAME`` and the library side of ``vtg index DIR... --library NAME``.

Both are thin: they call :mod:`vtg.library` and print. Search results are ordinary groundings (one
per video with a hit), so they go through the same writers as ``vtg ground`` and ``vtg export``
reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vtg import jsonl, planning
from vtg.cli.options import emit, format_flag, method_flag, method_options, parse_key_values, pick_format, ranged
from vtg.errors import UsageError, VtgError
from vtg.options import MAX_TOP
from vtg.registry import load_method


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)
    app.command("ann-index")(ann_index_command)


def search_command(
    query: Optional[str] = typer.Argument(None, help="What to find, e.g. \"person opens the door\"."),
    library: str = typer.Option(..., "--library", "-L", help="Library name (or folder) built by `vtg index DIR... --library`."),
    top: int = ranged(20, "--top", "-n", high=10000, help="How many moments to list, across all videos."),
    image: Optional[Path] = typer.Option(None, "--image", help="Query by an example image instead of text."),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="Method placing the boundaries (one that localises on frame features; default: the one that indexed the library)."),
    per_video: int = ranged(3, "--per-video", high=MAX_TOP, help="At most this many moments of one video in the list."),
    candidates: Optional[int] = ranged(None, "--candidates", high=100_000, help="Videos localised after the scan (default: twice the videos the list can span, at least 10)."),
    approximate: Optional[bool] = typer.Option(None, "--approximate/--exact", help="Candidate videos from the library's approximate index (faiss), or from an exact scan of every frame. Default: the index for libraries of 2 M frames or more that have one (recall@20 0.99 at 10,000 h, docs/library.md), else the scan."),
    llm: Optional[str] = method_flag("llm"),
    llm_url: Optional[str] = method_flag("llm_url"),
    device: Optional[str] = method_flag("device"),
    option: Optional[List[str]] = method_flag("option"),
    as_json: bool = method_flag("as_json"),
    fmt: Optional[str] = format_flag(),
    output: Optional[Path] = method_flag("output"),
) -> None:
    """Rank the moments of every video in a library for QUERY (or --image)."""
    from vtg.library import open_library, search

    options = method_options(llm=llm, llm_url=llm_url, device=device)
    options.update(parse_key_values(option))
    fmt = pick_format(fmt, as_json, output)
    with open_library(library) as lib:
        method = method or legacy_method(lib)
        results = search(lib, query, image=image, top=top, method=method, candidates=candidates, per_video=per_video,
                         approximate=approximate, **options)
    if not results:
        typer.echo(f"vtg search: no moment found in library {library!r}", err=True)
    emit(results, fmt, output)


#: The method every library was searched with before libraries recorded the method that indexed
#: them (it was then the only one that could search): libraries built by older versions of vtg.
LEGACY_LIBRARY_METHOD = "tfvtg"


def legacy_method(lib) -> str | None:
    """None when the open library ``lib`` records its indexing method (search uses it) or holds no
    video yet (no encoder recorded: nothing to search); for a library built before methods were
    recorded, :data:`LEGACY_LIBRARY_METHOD`, said on stderr, so such a library keeps searching as it
    did instead of asking for ``--method``."""
    from vtg.library.manifest import METHOD_SETTING

    if lib.manifest.setting(METHOD_SETTING) or lib.encoder is None:
        return None
    typer.echo(f"vtg search: library {lib.name!r} does not record the method that indexed it (built by an older "
               f"vtg); searching with {LEGACY_LIBRARY_METHOD}, as then (choose another with --method)", err=True)
    return LEGACY_LIBRARY_METHOD


def ann_index_command(
    library: str = typer.Option(..., "--library", "-L", help="Library name (or folder) built by `vtg index DIR... --library`."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-train the index from scratch (when the library changed a lot since it was trained)."),
    remove: bool = typer.Option(False, "--remove", help="Delete the approximate index (searches scan every frame)."),
) -> None:
    """Build, update, re-train (--rebuild) or --remove a library's approximate index (faiss); `vtg index`
    keeps it up to date on its own once the library is big enough."""
    from vtg.library import ann, open_library

    with open_library(library) as lib, lib.exclusive():
        if remove:
            typer.echo(f"library {library}: approximate index {'removed' if ann.remove(lib.folder) else 'absent'}")
            return
        if ann.load_faiss() is None:
            raise UsageError("the approximate index needs faiss: pip install 'vtg[ann]'")
        done = ann.update(lib, rebuild=rebuild, min_frames=0)
    why = f" ({done.reason})" if done.reason else ""
    typer.echo(f"library {library}: approximate index {done.action}{why}: +{done.added} -{done.removed} frames, "
               f"{done.entries} in the index")


def index_library_command(folders: List[Path], library: str, *, method: str, encoder: str | None, fps: float | None,
                          max_frames: int | None, device: str, refresh: bool, as_json: bool, progress: bool) -> None:
    """``vtg index DIR... --library NAME``: one line per video as its fate is decided, then a summary.
    The encoder is made local first (downloaded on first use, or a one-line error offline)."""
    from vtg.library import library_folder, open_library
    from vtg.library.walk import resolve_roots

    resolve_roots([*folders])  # usage errors (missing folder, bad library name) before any download
    library_folder(library)
    spec = encoder or load_method(method).feature_settings(None).get("encoder")
    if spec:
        planning.fetch_model(planning.encoder_need(spec))  # the download step, before any work

    def report(path: Path, status: str, detail: str) -> None:
        if as_json:  # ASCII escapes: what a terminal would not show, keeping the exact name
            typer.echo(jsonl.dumps({"video": str(path), "status": status, "detail": detail}, ascii_only=True), nl=False)
        else:
            typer.echo(printable(f"{path}: {status}{': ' + detail if detail else ''}"),
                       err=status in ("error", "skipped"))

    with open_library(library, create=True) as lib:
        summary = lib.index(folders, encoder=encoder, fps=fps, method=method, max_frames=max_frames, device=device,
                            refresh=refresh, progress=progress, report=report)
        total = sum(1 for row in lib.videos() if row.status == "ok")
        folder = lib.folder
    line = summary.to_dict() | {"videos": total, "folder": str(folder)}
    if summary.ann and not as_json:
        typer.echo(f"library {library}: {summary.ann}", err=True)
    if as_json:
        typer.echo(jsonl.dumps(line, ascii_only=True), nl=False)
    else:
        typer.echo(f"library {library}: {summary.indexed} indexed, {summary.touched} touched, {summary.unchanged} "
                   f"unchanged, {summary.dropped} dropped, {summary.errors} errors, {summary.skipped} skipped; "
                   f"{total} videos searchable ({summary.seconds:.1f} s) -> {folder}")
    if summary.errors:
        raise VtgError(f"{summary.errors} videos could not be indexed (recorded in the library with the reason)")


def printable(text: str) -> str:
    """``text`` on one line: control characters and undecodable bytes (lone surrogates from file
    names) escaped, everything else as is."""
    return "".join(c if c.isprintable() else f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                   else c.encode("unicode_escape").decode("ascii") for c in text)

