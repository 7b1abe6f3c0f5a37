"""The `vtg serve` page at phone width (390 px) in a real headless Chromium: nothing scrolls
sideways, the header wraps with the Search button and the status on screen, the library choice is
readable, the curve's labels are legible, and after a click the player and curve are in view.

Screenshots (desktop 1280x800 and phone 390x844) are kept in ``test-artifacts/`` to look at.
Skips, as tests/test_serve_browser.py, when chromium, chromedriver or selenium is missing.
"""

from __future__ import annotations

import pytest

from conftest import write_video
from serve_helpers import start_server
from test_report_browser import ARTIFACTS, driver, wait_for  # noqa: F401  (driver is a fixture)
from test_serve_browser import FPS, scenes

from vtg.cli.main import main
from vtg.encoders.testing import tiny_hf_clip

TOKEN = "phone-token-1234567890"
LONG_NAME = "charades_clips"


def box(drv, selector: str) -> dict:
    return drv.execute_script("var r = document.querySelector(arguments[0]).getBoundingClientRect();"
                              "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,"
                              " width: r.width, height: r.height};", selector)


def too_wide(drv, width: int) -> list[str]:
    """Elements reaching past either edge of a ``width``-px viewport (the assertion's message)."""
    return drv.execute_script(
        "var w = arguments[0], out = [];"
        "document.querySelectorAll('body *').forEach(function (e) {"
        " var r = e.getBoundingClientRect(); if (r.width && (r.right > w + 0.5 || r.left < -0.5))"
        " out.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(r.left) + '-' + Math.round(r.right)); });"
        "return out;", width)


def viewport(drv, width: int, height: int) -> None:
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "kitchen_camera_recording_2024_05_01.mp4", scenes([0, 1, 2]), FPS)
    write_video(root / "hall.mp4", scenes([2, 0, 1, 2]), FPS)
    model = tiny_hf_clip(tmp_path / "clip")
    library = tmp_path / LONG_NAME
    assert main(["index", str(root), "--library", str(library), "--encoder", str(model), "--device", "cpu",
                 "--no-progress"]) == 0
    server = start_server([str(root), "--library", str(library), "--encoder", str(model), "--device", "cpu",
                           "-O", "stride=6"], tmp_path / "server.log", token=TOKEN)
    try:
        yield server
    finally:
        server.stop()


def search_and_click(drv, port: int):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    drv.get(f"http://127.0.0.1:{port}/?token={TOKEN}")
    wait_for(drv, "return document.getElementById('status').textContent.indexOf('ready') >= 0")
    drv.find_element(By.ID, "query").send_keys("a person opens the door", Keys.ENTER)
    wait_for(drv, "return document.querySelectorAll('button.result').length >= 2")
    wait_for(drv, "return Array.from(document.querySelectorAll('button.result img'))"
                  ".every(function (i) { return i.complete && i.naturalWidth > 0; })")
    return drv.find_elements(By.CSS_SELECTOR, "button.result")


@pytest.mark.slow
def test_phone_width_fits_and_desktop_keeps_two_columns(driver, served):  # noqa: F811
    server = served
    ARTIFACTS.mkdir(exist_ok=True)
    viewport(driver, 1280, 800)
    buttons = search_and_click(driver, server.port)
    buttons[0].click()
    wait_for(driver, "return document.querySelector('#curve svg') !== null")
    results, viewer = box(driver, "#results"), box(driver, "#viewer")
    assert results["right"] <= viewer["left"] and abs(results["top"] - viewer["top"]) < 2  # two columns
    assert driver.save_screenshot(str(ARTIFACTS / "serve_desktop.png"))

    viewport(driver, 390, 844)
    buttons = search_and_click(driver, server.port)
    assert driver.save_screenshot(str(ARTIFACTS / "serve_phone_results.png"))
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert width == 390
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width, too_wide(driver, width)
    for selector in ("#go", "#status", "#scope", "#query"):                                 # all on screen
        b = box(driver, selector)
        assert 0 <= b["left"] and b["right"] <= width and b["width"] > 0, selector
    assert box(driver, "#query")["width"] >= 200                                            # room to type
    scope = driver.execute_script(  # the chosen option's text width in the select's own font
        "var s = document.getElementById('scope'), c = document.createElement('canvas').getContext('2d');"
        "var st = getComputedStyle(s); c.font = st.fontWeight + ' ' + st.fontSize + ' ' + st.fontFamily;"
        "var text = s.options[s.selectedIndex].text;"
        "return {text: text, need: c.measureText(text).width, have: s.clientWidth - 28};")
    assert LONG_NAME in scope["text"] and scope["need"] <= scope["have"]                  # not cut to "Library: c"

    buttons[-1].click()
    wait_for(driver, "return document.querySelector('#curve svg') !== null")
    wait_for(driver, "return document.getElementById('player').readyState >= 1")
    assert driver.save_screenshot(str(ARTIFACTS / "serve_phone_playing.png"))
    where = driver.execute_script("var r = document.getElementById('curve').getBoundingClientRect();"
                                  "return [r.top, r.bottom, window.innerHeight, window.scrollY,"
                                  " document.documentElement.scrollHeight];")
    assert where[0] >= 0 and where[1] <= where[2], where                                   # in view after a click
    player = box(driver, "#player")
    assert player["top"] >= 0 and player["width"] <= width
    label = driver.execute_script("var t = document.querySelector('#curve .label');"
                                  "return t.getBoundingClientRect().height;")
    assert label >= 9                                                                       # legible, not ~5 px
    title = driver.execute_script("var h = document.getElementById('now-title');"
                                  "return getComputedStyle(h).wordBreak;")
    assert title != "break-all"                                                             # words stay whole
    assert driver.execute_script("return document.querySelectorAll('#now-title wbr').length") > 0  # breaks at _
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width, too_wide(driver, width)
    status = driver.execute_script("var x = new XMLHttpRequest(); x.open('GET', '/favicon.ico', false);"
                                   "x.send(); return [x.status, x.getResponseHeader('content-type')];")
    assert status[0] == 200 and "image" in status[1]
