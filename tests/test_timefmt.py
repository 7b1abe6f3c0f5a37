"""Clock times round to the shown digits first, then split into hours, minutes, seconds."""

from __future__ import annotations

import math

import pytest

from vtg.plot import seconds_label
from vtg.timefmt import clock, clock_parts, hms, span, srt_time
from vtg.writers import hms as writers_hms


@pytest.mark.parametrize("seconds,text", [
    # 9.95 is 9.9499... in binary: it prints as 9.9, as printf does
    (0.0, "0:00.0"), (0.04, "0:00.0"), (0.05, "0:00.1"), (9.96, "0:10.0"), (9.95, "0:09.9"),
    (59.94, "0:59.9"),
    (59.96, "1:00.0"), (60.0, "1:00.0"), (119.96, "2:00.0"), (599.99, "10:00.0"),
    (3599.94, "59:59.9"), (3599.96, "1:00:00.0"), (3600.0, "1:00:00.0"), (3659.96, "1:01:00.0"),
    (7199.96, "2:00:00.0"), (-3.0, "0:00.0"), (math.nan, "0:00.0"), (math.inf, "0:00.0"),
])
def test_hms_boundaries(seconds, text):
    assert hms(seconds) == text
    assert writers_hms(seconds) == text  # tables use the same formatter


@pytest.mark.parametrize("seconds,text", [(59.5, "1:00"), (3599.5, "1:00:00"), (754.4, "12:34"), (0.4, "0:00")])
def test_whole_second_clock_for_axes(seconds, text):
    assert clock(seconds, 0) == text
    assert seconds_label(seconds, clock=True) == text


def test_srt_and_parts():
    assert srt_time(3723.5) == "01:02:03,500"
    assert srt_time(59.9996) == "00:01:00,000"
    assert clock_parts(3599.96, 1) == (1, 0, 0, 0)
    assert clock_parts(61.25, 2) == (0, 1, 1, 25)


def test_span_follows_the_axis_units():
    assert span(8, 12.04, 30) == "8.0-12.0 s"
    assert span(59.6, 119.5, 150) == "1:00-2:00"
