"""Kill the helper processes of a Ray cluster vtg started when vtg itself dies (``kill -9``).

Why: Ray kills the processes the driver spawns (GCS, raylet, dashboard) with the driver through
``PR_SET_PDEATHSIG``, but the raylet's own helpers (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``, ~90 MB each) only notice the raylet is gone after polling, then try to
report the "unexpected" raylet death to the GCS, which is dead too, and wait out a hard-coded 60 s
timeout (``ray._private.utils.publish_error_to_driver``): measured 61-63 s after a SIGKILL of
``vtg batch --engine ray``. Ray has no option to skip that report.

So after starting a local cluster the driver starts this file as a tiny watchdog (standard
library only, ~10 MB, in its own session so a terminal's Ctrl-C does not reach it) and tells it
the process ids of the cluster's processes, with their start times. The watchdog reads its
standard input until end of file, which happens when the driver exits for any reason, SIGKILL
included (the kernel closes the pipe), then SIGKILLs every listed process that still has the
same start time (a recycled process id is never touched). Linux only (``/proc``); elsewhere the
helpers exit by themselves after the timeout above.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat`` (clock ticks since boot): with the pid, names one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces or ')'
    return fields[19] if len(fields) > 19 else None


def descendants(pid: int) -> list[int]:
    """Process ids of every descendant of ``pid``, from ``/proc`` (children files, then ppid)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Reaper:
    """The watchdog process; :meth:`close` ends it (it then kills whatever is left of the list)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def close(self) -> None:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def watch_cluster() -> Reaper | None:
    """Start the watchdog for the Ray processes below this one (a cluster ``ray.init`` just
    started); None where ``/proc`` is missing or nothing was found."""
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc"):
        return None
    listed = [(pid, start_time(pid)) for pid in descendants(os.getpid())]
    listed = [(pid, started) for pid, started in listed if started is not None]
    if not listed:
        return None
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            close_fds=True)
    assert proc.stdin is not None
    proc.stdin.write("".join(f"{pid} {started}\n" for pid, started in listed).encode())
    proc.stdin.flush()
    return Reaper(proc)


def _watch() -> None:
    """The watchdog's body: read the list, wait for end of file, kill what is still the same."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listed = []
    for line in sys.stdin.buffer:
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            listed.append((int(parts[0]), parts[1].decode()))
    for pid, started in listed:  # stdin ended: the driver is gone or done
        if start_time(pid) == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    _watch()
