"""Before the work: print a query's plan, then fetch the models it needs.

``vtg ground`` and ``vtg index`` ask the method for its :class:`~vtg.planning.Plan`
(``Method.plan``: encoder, sampling, frame count, cached or not, models here or missing) before
anything heavy is imported, print it here, and then run the download step
(:func:`vtg.planning.fetch_models`): models used for the first time are downloaded with their size
and a progress bar, or, offline, a missing one is a one-line error within a second of the command
starting. :func:`print_plan` puts the plan on stderr — models to download, frames to sample, model,
device, estimated time — and suggests ``--fps`` when the estimate is long (see :mod:`vtg.cli.plan`).
"""

from __future__ import annotations

import sys

from vtg.planning import Plan


def plan_lines(plan: Plan, device: str | None) -> tuple[list[str], bool]:
    """(lines to print, whether the estimate is long): the models to download, then the frame
    and time line when features must be computed (nothing to say when they are cached)."""
    from vtg.cli.plan import describe

    lines = [f"vtg: plan: {m.role} {m.name} is not on this machine; {fetch_verb()}" for m in plan.missing
             if m.source != "local"]
    if not plan.encoder or plan.features_cached:
        return lines, False
    more, long = describe(plan.frames, plan.duration, plan.fps, plan.encoder, resolved_device(device))
    return lines + more, long


def print_plan(plan: Plan, device: str | None, *, verbose: bool) -> None:
    """The plan on stderr (with ``verbose``, or always when the estimate is long)."""
    lines, long = plan_lines(plan, device)
    if verbose or long:
        for line in lines:
            print(line, file=sys.stderr, flush=True)


def fetch_verb() -> str:
    from vtg.encoders.weights import offline_mode

    return "offline: it cannot be downloaded" if offline_mode() else "downloading it first"


def resolved_device(device: str | None) -> str:
    from vtg.device import resolve_device

    return resolve_device(device or "auto")
