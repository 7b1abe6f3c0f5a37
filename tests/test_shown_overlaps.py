"""Near-duplicate moments after TFVTG's start shift: a note says why, ``-O final_nms`` removes them.

The reference suppresses overlapping windows before moving each start back to where the rise
began (docs/tfvtg.md, step 5), so two kept moments can overlap more than ``nms_iou`` once shown.
"""

from __future__ import annotations

import numpy as np
import pytest

from vtg.errors import UsageError
from vtg.registry import load_method
from vtg.methods.tfvtg.method import suppress_shown
from vtg.types import Grounding, Moment, Saliency
from vtg.writers import overlap_note, render

SHOWN = (Moment(18.2, 29.0, 1.0), Moment(40.0, 44.0, 0.9), Moment(18.2, 25.4, 0.8), Moment(50.0, 52.0, 0.5))


def result(meta: dict) -> Grounding:
    return Grounding("q", "v.mp4", 60.0, SHOWN, Saliency(np.arange(3.0), np.zeros(3)), "tfvtg", meta)


def test_table_notes_overlaps_beyond_the_suppression_iou():
    text = render([result({"nms_before_shift": 0.3})], "table")
    assert "note: moments 1 and 3 overlap (IoU 0.67 > nms_iou 0.3)" in " ".join(text.split())
    assert "-O final_nms=0.3" in text
    assert overlap_note(result({})) == ""                                # other methods: nothing to say
    apart = Grounding("q", "v.mp4", 60.0, SHOWN[:2], Saliency(np.arange(3.0), np.zeros(3)), "tfvtg",
                      {"nms_before_shift": 0.3})
    assert overlap_note(apart) == ""


def test_final_nms_suppresses_the_shown_moments_and_is_an_option():
    kept = suppress_shown(list(SHOWN), 0.3)
    assert kept == [SHOWN[0], SHOWN[1], SHOWN[3]]
    assert suppress_shown(list(SHOWN), 0.7) == list(SHOWN)               # 0.67 is below 0.7
    for bad in (0.0, 1.5, -1):
        with pytest.raises(UsageError, match="final_nms"):
            suppress_shown(list(SHOWN), bad)
    method = load_method("tfvtg", final_nms="0.3")                        # -O final_nms=0.3 from the CLI
    assert method.config.final_nms == 0.3
    assert "final_nms" in method.Config.line_options


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(tmp_path_factory.mktemp("overlap-clip"))


def test_ground_marks_its_order_and_final_nms_leaves_no_overlap(three_scene_video, clip_dir):
    import vtg

    opts = dict(encoder=str(clip_dir), device="cpu", stride=3, top_k=10)
    plain = vtg.ground(three_scene_video, "a green scene", **opts)
    assert plain.meta["nms_before_shift"] == 0.3                         # what the writer's note reads
    final = vtg.ground(three_scene_video, "a green scene", final_nms=0.3, **opts)
    assert "nms_before_shift" not in final.meta and final.moments
    ms = final.moments
    assert all(a.iou(b) <= 0.3 for i, a in enumerate(ms) for b in ms[i + 1:])
    assert set(ms) <= set(plain.moments)                                  # a subset, order kept


def test_report_page_carries_the_same_note():
    from vtg.report.page import render_page

    page = render_page([result({"nms_before_shift": 0.3})], "v.mp4", title="v.mp4")
    assert '<p class="note">note: moments 1 and 3 overlap (IoU 0.67 &gt; nms_iou 0.3)' in page
    assert "overlap (IoU" not in render_page([result({})], "v.mp4", title="v.mp4")
