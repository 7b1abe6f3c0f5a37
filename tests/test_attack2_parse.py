"""`vtg parse` under hostile answer files (issue 17): work and output follow the answer's size.

Every case counts what was written (bytes, saliency entries, moments) or what was done (Python
function calls, peak allocation), never wall time. A declared duration is a number: it must not
become an array length or a loop bound; windows stay inside the video; malformed lines are one
``vtg: error:`` line each, never an internal error.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import tracemalloc

import pytest

from vtg.cli.main import main
from vtg.methods.videollm.answers import parse_answer
from vtg.methods.videollm.cli import grounding_of

ONE_MB = 1 << 20


def run_parse(tmp_path, capsys, records, fmt="timechat", *extra):
    """Write ``records`` (dicts or raw lines), run ``vtg parse``; (code, stdout bytes, stderr)."""
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    code = main(["parse", str(answers), "-a", fmt, *extra])
    out, err = capsys.readouterr()
    assert "internal error" not in err and "Traceback" not in err
    return code, out.encode(), err


def record(duration, answer="The event happens in 2.0 - 12.0 seconds.", **more):
    return {"qid": 1, "vid": "v", "query": "door", "duration": duration, "answer": answer, **more}


@pytest.mark.parametrize("duration", [1e8, 1e12, 1e308, 10 ** 300])
def test_huge_declared_duration_writes_no_saliency_per_clip(tmp_path, capsys, duration):
    code, out, _ = run_parse(tmp_path, capsys, [record(duration)])
    assert code == 0 and len(out) < ONE_MB
    rec = json.loads(out)
    assert rec["pred_saliency_scores"] == [] and rec["saliency_scores"] == []
    assert rec["pred_relevant_windows"] == [[2.0, 12.0, 1.0]]


@pytest.mark.parametrize("duration", [float("inf"), float("nan"), -5, 0, "1e8", True, 10 ** 400, [1e8]])
def test_bad_durations_are_one_error_line(tmp_path, capsys, duration):
    # json.dumps writes inf/nan as Infinity/NaN, which Python's json reads back; 10**400 is an
    # integer no float holds.
    code, out, err = run_parse(tmp_path, capsys, [record(duration)])
    assert code == 1 and out == b""
    assert err.count("vtg: error:") == 1 and "duration" in err and len(err.splitlines()) == 1


def test_a_number_literal_of_4300_digits_is_that_line_s_error(tmp_path, capsys):
    line = '{"qid": 1, "answer": "1 - 2", "duration": ' + "9" * 5000 + "}"
    code, out, err = run_parse(tmp_path, capsys, [line, record(30.0)])
    assert code == 1 and "line 1" in err and err.count("vtg: error:") == 1
    assert [json.loads(x)["qid"] for x in out.splitlines()] == [1]


def call_count(fn) -> int:
    """Python function calls made by ``fn()`` (deterministic, unlike time)."""
    profile = cProfile.Profile()
    profile.runcall(fn)
    return sum(stat[1] for stat in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def many_intervals(n: int) -> str:
    return " ".join(f"{i}.0 - {i + 1}.5 seconds," for i in range(n))


@pytest.mark.parametrize("fmt", ["timechat", "numpro", "vtgllm"])
def test_work_grows_linearly_with_the_number_of_intervals(fmt):
    small, large = 2_000, 16_000
    counts = [call_count(lambda n=n: grounding_of(record(1e9, many_intervals(n)), fmt)) for n in (small, large)]
    assert counts[1] <= 8.5 * counts[0]  # 8x the intervals, at most ~8x the calls

    def peak(n):
        tracemalloc.start()
        grounding_of(record(1e9, many_intervals(n)), fmt)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak
    assert peak(large) <= 10 * peak(small)


def test_two_hundred_thousand_intervals_in_one_pass(tmp_path, capsys):
    answer = many_intervals(200_000)  # ~5.6 MB of answer
    code, out, _ = run_parse(tmp_path, capsys, [record(1e9, answer)])
    rec = json.loads(out)
    assert code == 0 and len(rec["pred_relevant_windows"]) == 200_000
    assert len(out) < 3 * len(answer)  # output bounded by the answer's size
    assert rec["pred_saliency_scores"] == []


def test_windows_are_clamped_to_the_declared_duration(tmp_path, capsys):
    records = [record(10.0, "From 1 to 1999999", qid=1, timestamps=list(range(2_000_000))),
               record(10.0, "From 1 to 1999999", qid=2),
               record(10.0, "The event happens in 4.0 - 9999999.0 seconds.", qid=3)]
    code, out, _ = run_parse(tmp_path, capsys, records[:2], "numpro")
    assert code == 0
    assert [json.loads(x)["pred_relevant_windows"][0][:2] for x in out.splitlines()] == [[1.0, 10.0]] * 2
    code, out, _ = run_parse(tmp_path, capsys, records[2:], "timechat")
    assert json.loads(out)["pred_relevant_windows"][0][:2] == [4.0, 10.0]


def test_numpro_without_timestamps_never_builds_a_list_as_long_as_the_video():
    tracemalloc.start()
    moments = parse_answer("numpro", "From Frame 3 to Frame 7", 1e300)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(m.start, m.end) for m in moments] == [(3.0, 8.0)]
    assert peak < ONE_MB
    assert [(m.start, m.end) for m in parse_answer("numpro", "From Frame 3 to Frame 99", 10.5)] == [(3.0, 10.5)]


def test_numpro_huge_frame_numbers_clamp_to_the_last_frame():
    huge = "From Frame 5 to Frame " + "9" * 300  # a frame number no float holds
    assert [(m.start, m.end) for m in parse_answer("numpro", huge, 20.0)] == [(5.0, 20.0)]
    assert [(m.start, m.end) for m in parse_answer("numpro", huge, 20.0, [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])] \
        == [(10.0, 20.0)]


def test_malformed_lines_are_one_error_line_each_and_good_lines_survive(tmp_path, capsys):
    lines = ["not json", "[" * 200_000, '{"answer": 5}', '{"answer": "1 - 2", "timestamps": [1, "2"]}',
             '{"answer": "1 - 2", "timestamps": [1, 1e999]}', '"just a string"',
             '{"answer": "1 - 2", "query": {"nested": [[[[]]]]}}', record(30.0)]
    code, out, err = run_parse(tmp_path, capsys, lines)
    assert code == 1 and err.count("vtg: error:") == 7
    assert [json.loads(x)["qid"] for x in out.splitlines()] == [1]


def test_huge_numbers_as_strings_read_as_nothing_or_clamped():
    # Written in the answer: a 400-digit "second" is inf as a float; clamped, it is the video's end.
    both = parse_answer("timechat", "9" * 400 + " - " + "9" * 401 + " seconds", 50.0)
    assert [(m.start, m.end) for m in both] == [(50.0, 50.0)]
    one = parse_answer("timechat", "3 - " + "9" * 400 + " seconds", 50.0)
    assert [(m.start, m.end) for m in one] == [(3.0, 50.0)]
    assert parse_answer("timechat", "9" * 400 + " - " + "9" * 401) == []  # no duration: nothing finite
    assert parse_answer("timechat", "9" * 400 + " - " + "9" * 401, 50.0, strict=True) == []  # float inf


def test_strict_reading_of_huge_durations_is_bounded(tmp_path, capsys):
    code, out, _ = run_parse(tmp_path, capsys, [record(1e308, "from 04 to 12")], "vtimellm", "--strict")
    rec = json.loads(out)
    assert code == 0 and len(out) < ONE_MB
    assert rec["pred_relevant_windows"][0][:2] == [4e306, 1.2e307]


@pytest.mark.parametrize("fmt", ["timechat", "vtgllm", "vtimellm", "numpro"])
def test_strict_readers_take_hostile_text_in_one_pass(fmt):
    """The official TimeChat pattern backtracks cubically on a digit run (1,000 digits: ~11 s);
    vtg's equivalent form reads 200,000 in one pass. Each of these finds no interval."""
    for text in ("1" * 200_000, "1." * 100_000 + "x", "1" + " " * 200_000 + "x", "from " * 40_000,
                 "<TIME_ONE> " * 20_000, "1" + "." * 200_000):
        assert parse_answer(fmt, text, 100.0, strict=True) == []


def test_a_line_missing_what_its_format_needs_is_that_line_s_error(tmp_path, capsys):
    lines = [{"qid": 1, "answer": "from 04 to 12"}, {"qid": 2, "answer": "from 04 to 12", "duration": 10}]
    code, out, err = run_parse(tmp_path, capsys, lines, "vtimellm")
    assert code == 1 and err.count("vtg: error:") == 1 and "line 1" in err and "duration" in err
    assert [json.loads(x)["qid"] for x in out.splitlines()] == [2]
