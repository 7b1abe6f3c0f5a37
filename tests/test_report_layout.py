"""`vtg ground --html` / `vtg report` pages in headless Chromium, at desktop and phone widths: a
small video is not blown up past its own size, the curve has its score scale, the player stays in
view (sticky) while the second query's moments are clicked, the index page is styled, and no page
asks for /favicon.ico. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_report_browser import ARTIFACTS, driver, wait_for  # noqa: F401  (driver is a fixture)
from vtg.cli.main import main
from vtg.report import write_reports
from vtg.types import Grounding, Moment, Saliency


def viewport(drv, width: int, height: int) -> None:
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def rect(drv, script: str) -> dict:
    return drv.execute_script("var r = (" + script + ").getBoundingClientRect();"
                              "return {top: r.top, bottom: r.bottom, width: r.width, height: r.height,"
                              " left: r.left, right: r.right};")


def two_queries(video) -> list[Grounding]:
    t = np.arange(0, 12, 0.5)
    return [Grounding(q, str(video), 12.0, (Moment(4, 8, 0.9), Moment(8.5, 11, 0.5)),
                      Saliency(t, np.sin(t / 2 + k)), "tfvtg", qid=f"q{k}")
            for k, q in enumerate(["a person opens the door", "someone sits down"] * 3)]


@pytest.mark.slow
def test_report_pages_fit_and_keep_the_player_in_view(driver, make_video, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    video = make_video("small.mp4", size=(480, 270))
    if not driver.execute_script("return document.createElement('video')"
                                 ".canPlayType('video/mp4; codecs=\"avc1.42E01E\"')"):
        video = make_video("small.webm", size=(480, 270), codec="libvpx-vp9")
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(g.to_dict()) + "\n" for g in two_queries(video)))
    out = tmp_path / "reports"
    write_reports(preds, out)
    page = next(p for p in out.glob("*.html") if p.name != "index.html")
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height, tag in ((1280, 800, "desktop"), (390, 844, "phone")):
        viewport(driver, width, height)
        driver.get(page.as_uri())
        wait_for(driver, "return document.getElementById('player').readyState >= 1")
        player = rect(driver, "document.getElementById('player')")
        assert player["width"] <= 480 + 0.5 and player["right"] <= width                 # never upscaled
        first_curve = rect(driver, "document.querySelector('svg.saliency')")
        assert first_curve["bottom"] <= height                                            # curve above the fold
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "svg.saliency .ylabel")][:2]
        assert len(labels) == 2 and all(float(v) == float(v) for v in labels)              # a y scale
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width
        driver.save_screenshot(str(ARTIFACTS / f"report_{tag}_top.png"))
        buttons = driver.find_elements(By.CSS_SELECTOR, "button.moment")
        later = buttons[-1]                                                                # the last query's
        driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", later)
        later.click()
        wait_for(driver, "return !document.getElementById('player').paused"
                         " || document.getElementById('player').currentTime > 8")
        player = rect(driver, "document.getElementById('player')")
        assert player["top"] >= -0.5 and player["bottom"] <= height                     # still in view
        driver.save_screenshot(str(ARTIFACTS / f"report_{tag}_last_query.png"))
        assert driver.execute_script(
            "return document.querySelector('link[rel=icon]').href.indexOf('data:image/svg+xml') === 0")

    viewport(driver, 1280, 800)
    driver.get((out / "index.html").as_uri())
    assert driver.execute_script("return getComputedStyle(document.body).fontFamily").startswith("system-ui")
    assert driver.find_elements(By.CSS_SELECTOR, "table.videos a")
    assert driver.execute_script("return document.querySelector('link[rel=icon]') !== null")
    driver.save_screenshot(str(ARTIFACTS / "report_index.png"))


def test_html_says_where_it_wrote(make_video, tmp_path, capsys, monkeypatch):
    from vtg.encoders.testing import tiny_hf_clip

    video = make_video("v.mp4")
    clip = tiny_hf_clip(tmp_path / "clip")
    page = tmp_path / "page.html"
    assert main(["ground", str(video), "red", "--encoder", str(clip), "--device", "cpu", "--json",
                 "--html", str(page)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {page}" in captured.err and page.is_file()
    json.loads(captured.out)                                                               # stdout stays JSON
