"""The `vtg serve` page in a real headless Chromium: log in with the token, search the library,
click a result, and the player is at the moment's start; hostile names stay text.

Needs Debian's chromium + chromedriver and selenium (see tests/test_report_browser.py; .ci/run
installs them); skips with the reason when any is missing. The screenshot (1280x800) is kept in
``test-artifacts/serve_page.png``.
"""

from __future__ import annotations

import pytest

from conftest import scene_frame, write_video
from serve_helpers import start_server
from test_report_browser import ARTIFACTS, driver, wait_for  # noqa: F401  (driver is a fixture)

from vtg.cli.main import main
from vtg.encoders.testing import tiny_hf_clip

TOKEN = "browser-token-123456"
HOSTILE = '<img src=x onerror="window.pwned=1">.mp4'
FPS = 10.0


def scenes(order, seconds=4.0):
    colours = [((200, 30, 30), 1), ((30, 200, 30), 2), ((30, 30, 200), 0)]
    for i in order:
        img = scene_frame(colours[i][0], (320, 180), colours[i][1])
        yield from [img] * int(seconds * FPS)


@pytest.mark.slow
def test_search_click_plays_the_moment(driver, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    h264 = driver.execute_script("return document.createElement('video')"
                                 ".canPlayType('video/mp4; codecs=\"avc1.42E01E\"')")
    suffix, codec = (".mp4", "libx264") if h264 else (".webm", "libvpx-vp9")
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / f"kitchen{suffix}", scenes([0, 1, 2]), FPS, codec=codec)
    write_video(root / HOSTILE.replace(".mp4", suffix), scenes([2, 0, 1, 2]), FPS, codec=codec)
    model = tiny_hf_clip(tmp_path / "clip")
    library = tmp_path / "library"
    assert main(["index", str(root), "--library", str(library), "--encoder", str(model), "--device", "cpu",
                 "--no-progress"]) == 0
    server = start_server([str(root), "--library", str(library), "--encoder", str(model), "--device", "cpu",
                           "-O", "stride=6"], tmp_path / "server.log", token=TOKEN)
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        driver.get(f"http://127.0.0.1:{server.port}/?token={TOKEN}")
        assert driver.current_url == f"http://127.0.0.1:{server.port}/"  # the token left the address bar
        wait_for(driver, "return document.getElementById('status').textContent.indexOf('ready') >= 0")
        options = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#scope option")]
        assert options[0] == f"Library: {library.name}" and f"Video: {HOSTILE.replace('.mp4', suffix)}" in options

        box = driver.find_element(By.ID, "query")
        box.send_keys("a person <b>opens</b> the door", Keys.ENTER)
        wait_for(driver, "return document.querySelectorAll('button.result').length >= 2")
        buttons = driver.find_elements(By.CSS_SELECTOR, "button.result")
        target = max(buttons, key=lambda b: float(b.get_attribute("data-start")))
        start = float(target.get_attribute("data-start"))
        assert start > 0  # a seek that has to move the player
        target.click()
        seeked = float(wait_for(driver, "var v = document.getElementById('player');"
                                        "return v.readyState >= 1 && v.dataset.seekedAt ? v.dataset.seekedAt : null;"))
        assert abs(seeked - start) <= 1.0 / FPS + 1e-6
        now = driver.execute_script("return document.getElementById('player').currentTime")
        assert start - 1.0 / FPS <= now
        assert "active" in target.get_attribute("class")
        assert driver.find_elements(By.CSS_SELECTOR, "#curve svg polyline.line")
        assert driver.find_elements(By.CSS_SELECTOR, "#curve svg rect.band.chosen")

        # hostile names and queries are shown as text, never run
        assert driver.execute_script("return window.pwned") is None
        assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"], b').length") == 0
        assert "<b>opens</b>" in driver.find_element(By.ID, "now-title").text
        heads = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "li.video-head")]
        assert HOSTILE.replace(".mp4", suffix) in heads

        wait_for(driver, "return Array.from(document.querySelectorAll('button.result img'))"
                         ".every(function (i) { return i.complete && i.naturalWidth > 0; })")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "serve_page.png"
        assert driver.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        server.stop()
