"""The synthetic-video fixture itself produces decodable files of the expected length."""

import av


def test_three_scene_video_decodes(three_scene_video):
    with av.open(str(three_scene_video)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == 120
