"""Start-up of vtg's cold paths: ``import vtg``, ``vtg --help``, ``vtg methods`` (issue 18).

Imports of vtg's own modules sit at module top (tools/hoist_imports.py) except at the heavy and
start-up boundaries; these three commands are what that must not slow down. Each runs in a fresh
process, the commands alternate round by round, and the median per command is printed with the
number of vtg modules it loads (from ``sys.modules``). ``--tree DIR`` times another checkout (e.g.
the commit before hoisting, from ``git worktree add``) in the same rounds, for a ratio.

    python benchmarks/bench_cold_paths.py --rounds 9
    python benchmarks/bench_cold_paths.py --rounds 9 --tree /tmp/vtg-before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "import vtg": ["-c", "import vtg"],
    "vtg --help": ["-m", "vtg", "--help"],
    "vtg methods": ["-m", "vtg", "methods"],
}
COUNT = ("import contextlib, io, sys, runpy; sys.argv = ['vtg', *{argv!r}]\n"
         "with contextlib.redirect_stdout(io.StringIO()):\n"
         "    try: runpy.run_module('vtg', run_name='__main__')\n"
         "    except SystemExit: pass\n"
         "print(sum(1 for m in sys.modules if m == 'vtg' or m.startswith('vtg.')))")


def timed(tree: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # that checkout's vtg before the installed one
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def modules_loaded(tree: Path, args: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import vtg; import sys; print(sum(1 for m in sys.modules if m.startswith('vtg')))" \
        if args[0] == "-c" else COUNT.format(argv=args[2:])
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True, capture_output=True, text=True)
    return int(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--tree", type=Path, action="append", default=[],
                    help="another checkout to time in the same rounds (repeatable)")
    args = ap.parse_args(argv)
    trees = [Path(__file__).resolve().parent.parent, *[t.resolve() for t in args.tree]]
    times: dict[tuple[Path, str], list[float]] = {(t, c): [] for t in trees for c in COMMANDS}
    for _ in range(args.rounds):
        for name, cmd in COMMANDS.items():
            for tree in trees:
                times[(tree, name)].append(timed(tree, cmd))
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds; medians")
    for name, cmd in COMMANDS.items():
        base = statistics.median(times[(trees[0], name)])
        for tree in trees:
            median = statistics.median(times[(tree, name)])
            ratio = "" if tree == trees[0] else f"  ({median / base:.2f}x this tree)"
            print(f"{name:12s} {median * 1000:7.0f} ms  {modules_loaded(tree, cmd):4d} vtg modules  {tree}{ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
