"""Benchmark what resuming `vtg batch` costs: recognising and validating an existing output.

Before appending to an existing ``-o``, vtg proves the file is its own journal: every line parsed
and checked (marker, qid, status, settings, and results through the shared record validator,
vtg.predictions). This measures ``Journal.open`` on a synthetic journal of N result records
(60-s videos, 120 saliency samples each, 5 moments: the size of a TFVTG record) against the
baseline of parsing the same lines with ``json.loads`` alone, in alternating rounds; it prints
the medians and their ratio.

    python benchmarks/bench_journal.py                 # 20,000 records, 5 rounds
    python benchmarks/bench_journal.py --records 2000 --rounds 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def write_journal(path: Path, n: int) -> None:
    import numpy as np

    from vtg.types import Grounding, Moment, Saliency

    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        for i in range(n):
            g = Grounding("a person opens the door", f"v{i % 100}.mp4", 60.0,
                          tuple(Moment(s, s + 4.0, float(rng.random())) for s in range(0, 50, 10)),
                          Saliency(np.arange(0, 60, 0.5), rng.random(120)), "tfvtg", {"fps": 2}, i)
            record = {"vtg_batch": 1, **g.to_dict(), "status": "ok", "line": i + 1,
                      "settings": {"method": "tfvtg", "options": {}, "top_k": None}}
            fh.write(json.dumps(record) + "\n")


def parse_only(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb") as fh:
        for line in fh:
            json.loads(line)
    return time.perf_counter() - start


def journal_open(path: Path) -> float:
    from vtg.batch.journal import Journal

    start = time.perf_counter()
    Journal(path, fsync=False).open(prepare=False).close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.jsonl"
        write_journal(path, args.records)
        size = path.stat().st_size / 1e6
        base, ours = [], []
        for _ in range(args.rounds):  # alternating, so a load change hits both alike
            base.append(parse_only(path))
            ours.append(journal_open(path))
        b, o = statistics.median(base), statistics.median(ours)
        print(f"{args.records} records, {size:.1f} MB, {args.rounds} rounds")
        print(f"json.loads per line (baseline): median {b:.2f} s")
        print(f"Journal.open (recognise + validate): median {o:.2f} s  ({o / b:.1f}x the baseline, "
              f"{args.records / o:,.0f} records/s)")


if __name__ == "__main__":
    main()
