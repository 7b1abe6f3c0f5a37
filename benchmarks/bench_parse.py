"""`vtg parse` cost against what a line declares and what an answer holds.

    python benchmarks/bench_parse.py            # medians of 3 runs each

1. One short answer on lines declaring 1e2 ... 1e308 s: time and output bytes (the output no
   longer grows with the declared duration: no saliency is written for an answer).
2. Answers of 2k ... 200k intervals, lenient and strict readings: time per interval and the
   ratio to the smallest size (about 1 when linear).
3. The official TimeChat pattern vs vtg's equivalent form on a run of digits (cubic vs linear).
"""

from __future__ import annotations

import json
import re
import statistics
import time


def median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def answer_of(n: int) -> str:
    return " ".join(f"{i}.0 - {i + 1}.5 seconds," for i in range(n))


def main() -> None:
    from vtg.methods.videollm.cli import grounding_of
    from vtg.methods.videollm.official import timechat_first

    print("declared duration -> time, output bytes (one 40-byte answer)")
    for duration in (1e2, 1e8, 1e12, 1e308):
        record = {"qid": 1, "vid": "v", "query": "q", "duration": duration, "answer": "happens in 2.0 - 12.0 seconds"}
        seconds = median_time(lambda: json.dumps(grounding_of(record, "timechat").to_dict()))
        size = len(json.dumps(grounding_of(record, "timechat").to_dict()))
        print(f"  {duration:8.0e} s   {seconds * 1e3:7.2f} ms   {size:5d} bytes")

    print("intervals in one answer -> time (lenient + strict + JSON), us per interval, ratio to 2k")
    base = None
    for n in (2_000, 8_000, 32_000, 200_000):
        record = {"qid": 1, "duration": 1e9, "answer": answer_of(n)}
        seconds = median_time(lambda: json.dumps(grounding_of(record, "timechat").to_dict()), repeats=1 if n > 50_000 else 3)
        per = seconds / n * 1e6
        base = base or per
        print(f"  {n:7d}   {seconds:6.2f} s   {per:6.2f} us   x{per / base:4.2f}")

    print("a run of digits: the official TimeChat pattern vs vtg's form")
    official = re.compile(r"(\d+\.*\d*)\s*-\s*(\d+\.*\d*)")
    for n in (250, 500, 1_000):
        digits = "1" * n
        theirs = median_time(lambda: official.findall(digits), repeats=1)
        ours = median_time(lambda: timechat_first(digits))
        print(f"  {n:6d} digits   official {theirs:7.3f} s   vtg {ours * 1e3:6.3f} ms")
    print(f"  200000 digits   vtg {median_time(lambda: timechat_first('1' * 200_000)) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
