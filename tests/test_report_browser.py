"""The HTML report in a real headless browser: click the second moment, the player seeks there.

Needs Debian's chromium + chromedriver (``apt-get install chromium chromium-driver``; .ci/run
installs them) and selenium; skips with the reason when any is missing. The screenshot is kept
in ``test-artifacts/`` (gitignored) at the repository root.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from vtg.report import write_report
from vtg.types import Grounding, Moment, Saliency

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SECOND_START = 8.5


def find_browser() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    return browser, driver


@pytest.fixture
def driver():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = find_browser()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--autoplay-policy=no-user-gesture-required",
                "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio", "--window-size=1000,900"):
        opts.add_argument(arg)
    try:
        drv = webdriver.Chrome(options=opts, service=Service(chromedriver))
    except Exception as exc:  # a browser that cannot start here is an environment problem
        pytest.skip(f"headless chromium did not start: {exc}")
    yield drv
    drv.quit()


def wait_for(drv, script: str, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = drv.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


@pytest.mark.slow
def test_click_second_moment_seeks_the_player(driver, make_video, tmp_path):
    from selenium.webdriver.common.by import By

    video = make_video("scenes.mp4")  # H.264 yuv420p, 12 s
    if not driver.execute_script("return document.createElement('video')"
                                 ".canPlayType('video/mp4; codecs=\"avc1.42E01E\"')"):
        video = make_video("scenes.webm", codec="libvpx-vp9")  # browsers without H.264
    t = np.arange(0, 12, 0.5)
    result = Grounding('person <opens> the "door"', str(video), 12.0,
                       (Moment(4, 8, 0.9), Moment(SECOND_START, 11, 0.5), Moment(0, 2, 0.1)),
                       Saliency(t, np.sin(t / 2)), "tfvtg")
    page = write_report([result], video, tmp_path / "report" / "index.html")
    driver.get(page.as_uri())
    wait_for(driver, "return document.getElementById('player').readyState >= 1")
    assert driver.find_element(By.TAG_NAME, "h2").text == 'person <opens> the "door"'

    buttons = driver.find_elements(By.CSS_SELECTOR, "button.moment")
    assert len(buttons) == 3
    buttons[1].click()
    now = wait_for(driver, "var v = document.getElementById('player');"
                           f"return (!v.seeking && v.currentTime >= {SECOND_START - 0.05}) ? v.currentTime : 0;")
    assert SECOND_START - 0.05 <= now <= 11.2  # it plays the moment and stops at its end
    assert "playing" in buttons[1].get_attribute("class")
    playhead_x = float(driver.find_element(By.CSS_SELECTOR, "svg .playhead").get_attribute("x1"))
    assert playhead_x > 44 + 0.6 * (800 - 54)  # the curve's cursor moved to about 8.5 / 12

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report_click_second_moment.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
