"""Before the work: print a query's plan, then fetch the models it needs.

``vtg ground`` and ``vtg index`` ask the method for its :class:`~vtg.planning.Plan`
(``Method.plan``: encoder, sampling, frame count, cached or not, models here or missing) before
anything heavy is imported, print it here, and then run the download step
(:func:`vtg.planning.fetch_models`): models used for the first time are downloaded with their size
and a progress bar, or, offline, a missing one is a one-line error within a second of the command
starting. Around that step the plan goes to stderr: :func:`print_downloads` the models about to be
downloaded, then :func:`print_work` frames to sample, model, device and estimated time, with a
``--fps`` suggestion when the estimate is long (see :mod:`vtg.cli.plan`). The work line comes after
the download so that offline, a missing model is one line and nothing else.
"""

from __future__ import annotations

import sys

from vtg.cli.plan import describe
from vtg.device import resolve_device
from vtg.encoders.weights import offline_mode
from vtg.planning import Plan


def print_downloads(plan: Plan, *, verbose: bool) -> None:
    """Before the download step: one line per model the plan is missing (with ``verbose``).
    Offline nothing is said: the step's one-line error is the whole answer."""
    if not verbose or offline_mode():
        return
    for m in plan.missing:
        if m.source != "local":  # a missing path is the download step's error, not a download
            print(f"vtg: plan: the {m.role} {m.name} is not on this machine; downloading it first",
                  file=sys.stderr, flush=True)


def work_lines(plan: Plan, device: str | None) -> tuple[list[str], bool]:
    """(lines to print, whether the estimate is long) for the frames to decode and encode; none
    when the method reads no cached features or they are cached already (no work)."""
    if not plan.encoder or plan.features_cached:
        return [], False
    return describe(plan.frames, plan.duration, plan.fps, plan.encoder, resolved_device(device))


def print_work(plan: Plan, device: str | None, *, verbose: bool) -> None:
    """After the download step: the work line on stderr (with ``verbose``, or always when the
    estimate is long)."""
    lines, long = work_lines(plan, device)
    if verbose or long:
        for line in lines:
            print(line, file=sys.stderr, flush=True)


def resolved_device(device: str | None) -> str:
    return resolve_device(device or "auto")
