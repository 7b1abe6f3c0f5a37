"""Time the LLM-answer parsers on the adversarial answers of tests/test_hostile_inputs.py.

    python benchmarks/bench_adversarial.py            # median ms per answer, and ratio to a normal answer

The tests only check that work grows linearly (CPU-time growth ratios); this prints the absolute
times, measured in alternating rounds against a baseline (an ordinary, well-formed answer) in the
same run, so a busy machine shifts both alike.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_hostile_inputs import ADVERSARIAL  # noqa: E402

BASELINE = '{"relationship": "sequentially", "sub_events": [{"descriptions": ["a person opens the door"]}]}'


def parsers():
    from vtg.llm.parse import AnswerError, parse_answer
    from vtg.methods import numpro, timemarker

    def decomposition(text):
        try:
            parse_answer(text, "a person opens the door", "bench")
        except AnswerError:
            pass

    def video_llm(text):
        numpro.parse_answer(text, [0.0, 1.0, 2.0], 3.0)
        timemarker.parse_answer(text, 10.0)

    return {"decomposition": decomposition, "video-llm": video_llm}


def median_ms(fn, text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return (time.perf_counter() - start) * 1000


def main(rounds: int = 7) -> None:
    for pname, fn in parsers().items():
        print(f"{pname}: median ms over {rounds} alternating rounds (ratio to the baseline answer)")
        for name, text in ADVERSARIAL.items():
            base, hostile = [], []
            for _ in range(rounds):
                base.append(median_ms(fn, BASELINE))
                hostile.append(median_ms(fn, text))
            b, h = statistics.median(base), statistics.median(hostile)
            print(f"  {name:16s} {h:9.3f} ms   x{h / max(b, 1e-6):8.1f}   ({len(text)} chars)")


if __name__ == "__main__":
    main()
