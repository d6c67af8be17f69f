"""The HTML report opened in real headless Chromium (Debian's chromium + chromium-driver)."""

import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Debian's chromium and chromium-driver are needed (./run.sh test installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


@pytest.mark.parametrize("width,height,name", [(1366, 900, "desktop"), (390, 844, "phone")])
def test_report_opens_cleanly_at_desktop_and_phone_width(browser, demo_run, width, height, name):
    browser.set_window_size(width, height)
    url = (demo_run / "results/report/index.html").as_uri()
    browser.get(url)
    images = browser.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth])"
    )
    from workflow_scripts.figure_names import report_figures

    # every figure of the one list, and the claims' forest plot and data-size curve, decoded
    assert len(images) == len(report_figures(["A", "B"])) + 2
    assert all(done and w > 0 for _, done, w in images), images
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    # failed requests of the report itself (Chromium's own pages, like the new-tab page it opens
    # first, make requests that fail on an offline machine: they are not the report's)
    events = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    ours = {
        e["params"]["requestId"]
        for e in events
        if e["method"] == "Network.requestWillBeSent" and e["params"].get("documentURL") == url
    }
    assert ours  # at least the page itself: the filter really sees the report's requests
    failed = [e["params"] for e in events if e["method"] == "Network.loadingFailed"]
    assert [f for f in failed if f["requestId"] in ours] == []
    # self-contained: nothing fetched beyond the page itself (images are data: URIs)
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert [u for u in fetched if not u.startswith("data:")] == []
    # readable on a phone: the page never scrolls sideways (the wide table scrolls in its own box)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height_px = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(width, min(height_px, 8000))
    assert browser.save_screenshot(str(ARTIFACTS / f"report_{name}.png"))


def test_table_in_the_rendered_page_equals_metrics_json(browser, demo_run):
    from selenium.webdriver.common.by import By

    browser.get((demo_run / "results/report/index.html").as_uri())
    for model in "AB":
        for split in ("val", "test"):
            m = json.loads((demo_run / f"results/eval/{model}/study/seed_7/{split}/metrics.json").read_text())
            for metric, key in (
                (f"{split}_gender_accuracy", "gender_accuracy"),
                (f"{split}_age_mae", "age_mae"),
            ):
                cell = browser.find_element(
                    By.CSS_SELECTOR, f'td[data-model="{model}"][data-metric="{metric}"]'
                )
                assert float(cell.get_attribute("data-value")) == pytest.approx(m[key])
                shown = f"{100 * m[key]:.1f}%" if "accuracy" in key else f"{m[key]:.2f}"
                scale = 100 if "accuracy" in key else 1
                lo, hi = (scale * v for v in m["ci"][key])
                # the value, and under it its bootstrap interval as metrics.json has it
                assert cell.text.splitlines() == [shown, f"[{lo:.1f}, {hi:.1f}]"]
    banner = browser.find_element(By.CSS_SELECTOR, ".banner").text
    assert "Synthetic demo" in banner
