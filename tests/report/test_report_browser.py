"""The report in a real headless Chromium: Debian's own binary, driven by Playwright for Python
(executable_path names it; Playwright never downloads a browser here). CI sets
SKLMATRIX_REQUIRE_BROWSER=1 (and installs Debian's `chromium`): there a missing browser fails
instead of skipping.
"""

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from harness.report import render as report
from harness.results import file as results_file

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("report_synthetic", REPO / "bench" / "report_synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

# --no-sandbox: root in a container or VM, where Chromium's own sandbox cannot start.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--mute-audio", "--hide-scrollbars"]
PAYLOAD = ("<script>window.__xss_script=1</script><img src=x onerror=\"window.__xss_img=1\">"
           "<svg onload=\"window.__xss_svg=1\"></svg>")


def find_chromium():
    """The browser binary, or None."""
    for name in (os.environ.get("SKLMATRIX_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """One page of a headless Chromium, with what the page logged or requested kept as problems."""

    def __init__(self, page):
        self.page = page
        self.events = []
        page.on("console", lambda m: m.type in ("error", "warning", "assert")
                and self.events.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.events.append(f"exception: {e}"))
        page.on("request", lambda r: None if r.url.endswith("/index.html") or r.url.startswith(("data:", "about:"))
                else self.events.append(f"request: {r.url}"))

    def goto(self, url):
        """Navigate and wait for the load event and for the script to say it is done (the grids
        after the first go in a task each)."""
        self.page.goto(url, wait_until="load")
        deadline = time.monotonic() + 30
        # Polled from here: wait_for_function would eval in the page, which its CSP forbids.
        while self.page.evaluate("document.getElementById('report-data') !== null && !document.body.dataset.ready"):
            assert time.monotonic() < deadline, "the page's script never said it was done"
            time.sleep(0.02)

    def js(self, expression):
        """Evaluate an expression in the page and return its value."""
        return self.page.evaluate(expression)

    def click(self, selector):
        """A real mouse click in the middle of the first element matching selector."""
        self.page.locator(selector).first.click()

    def screenshot(self, path):
        """Save a PNG of the whole page."""
        self.page.screenshot(path=str(path), full_page=True)

    def drain(self):
        """Problems seen so far: console errors, uncaught exceptions, requests other than the page."""
        out, self.events[:] = list(self.events), []
        return out


@pytest.fixture
def browser():
    """A fresh headless Chromium page; skipped without one unless SKLMATRIX_REQUIRE_BROWSER=1."""
    executable = find_chromium()
    if executable is None:
        if os.environ.get("SKLMATRIX_REQUIRE_BROWSER") == "1":
            pytest.fail("SKLMATRIX_REQUIRE_BROWSER=1 but no chromium: `apt-get install -y chromium`")
        pytest.skip("no chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        context = chromium.new_context(viewport={"width": 1500, "height": 1000})
        yield Browser(context.new_page())
        chromium.close()


@pytest.fixture
def page(tmp_path):
    """A rendered synthetic report with the payload in every text field."""
    run = tmp_path / "run"
    synthetic.write_tree(run, 3000, payload=PAYLOAD)
    return report.render(run).html


def visible_rows(b):
    return b.js("document.querySelectorAll('#d-rows tr').length")


def test_page_loads_filters_and_drills_down_without_running_the_payload(browser, page, tmp_path):
    browser.goto(page.as_uri())
    assert browser.js("document.body.dataset.ready") == "1"
    cells = "document.querySelectorAll('#grids td[data-g]').length"
    before = browser.js(cells)
    assert before > 0
    assert browser.js("document.querySelectorAll('#grids .grid').length") == len(synthetic.FORMATS)

    # a filter changes what is shown: drop one format, then keep only load errors
    browser.click("#f-formats label:first-child input")
    assert browser.js("document.querySelectorAll('#grids .grid').length") == len(synthetic.FORMATS) - 1
    assert browser.js(cells) < before
    browser.click("#f-reset")
    assert browser.js(cells) == before
    shown = browser.js("document.getElementById('shown').textContent")
    browser.js("document.getElementById('f-family').value = '0'; "
               "document.getElementById('f-family').dispatchEvent(new Event('change'))")
    assert browser.js("document.getElementById('shown').textContent") != shown
    assert browser.js("document.getElementById('selection').textContent").startswith("Family ")
    browser.click("#f-reset")

    # a click on a grid cell opens its rows; the payload row is among the first estimator's
    assert browser.js("document.getElementById('drawer').hidden") is True
    browser.click("#grids td[data-g]")
    assert browser.js("document.getElementById('drawer').hidden") is False
    assert visible_rows(browser) > 0
    assert "python -m harness load --matrix synthetic" in browser.js("document.getElementById('d-rows').textContent")

    # the payload (estimator name, error, warning, build log, known reason) is text, never markup
    # open every square; after each, no element the payload could create may exist
    seen = browser.js("""(() => {
        const seen = {estimator: 0, error: 0, warning: 0, injected: 0};
        for (const td of document.querySelectorAll('#grids td[data-g]')) {
            td.click();
            const text = document.getElementById('d-rows').textContent;
            if (text.includes('<script>window.__xss_script=1</script><img src=x')) seen.estimator++;
            if (text.includes('ValueError: <script>window.__xss_script')) seen.error++;
            if (text.includes('UserWarning<script>window.__xss_script')) seen.warning++;
            seen.injected += document.querySelectorAll('img, svg, iframe, object, embed, #d-rows script').length;
        }
        return seen; })()""")
    assert seen["estimator"] and seen["error"] == 1 and seen["warning"] == 1, seen
    assert seen["injected"] == 0
    assert "<script>window.__xss_script=1</script>" in browser.js("document.body.innerText")  # the build log
    assert browser.js("typeof window.__xss_script + typeof window.__xss_img + typeof window.__xss_svg") == \
        "undefined" * 3
    assert browser.js("document.querySelectorAll('script').length") == 2

    # the upgrade table and the estimator view answer their questions
    assert browser.js("document.querySelectorAll('#upgrade-table tbody tr').length") == len(synthetic.FORMATS)
    browser.click("#d-rows button.linkish")
    assert browser.js("document.getElementById('selection').textContent").startswith("Estimator ")

    browser.screenshot(tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 10_000
    time.sleep(0.2)
    assert browser.drain() == []


def test_show_more_caps_the_rows_of_a_big_cell(browser, tmp_path):
    run = tmp_path / "big"
    results = synthetic.make_results(3000)
    for cell in results["cells"]:  # one consumer's pair gets 450 rows: more than one page of the drawer
        cell["producer"], cell["consumer"], cell["format"] = (results["cells"][0]["producer"],
                                                              results["cells"][0]["consumer"], "pickle")
    (run).mkdir()
    results_file.write(run / results_file.NAME, results)
    html = report.render(run).html
    browser.goto(html.as_uri())
    browser.click("#grids td[data-g]")
    assert visible_rows(browser) == 100
    browser.click("#d-more")
    assert visible_rows(browser) == 200
    assert browser.drain() == []


def test_the_script_refuses_page_data_of_another_format(browser, page, tmp_path):
    """The page's script checks the data's format number (report/columns.PAGE_DATA_VERSION)
    before it reads a column: data of another format says so instead of drawing wrong grids."""
    from harness.report.columns import PAGE_DATA_VERSION

    text = page.read_text(encoding="utf-8")
    marker = '{"v":%d,' % PAGE_DATA_VERSION
    assert text.count(marker) == 1
    other = tmp_path / "other.html"
    other.write_text(text.replace(marker, '{"v":%d,' % (PAGE_DATA_VERSION + 1)), encoding="utf-8")
    browser.goto(other.as_uri())
    body = browser.js("document.body.textContent")
    assert f"format {PAGE_DATA_VERSION + 1}; its script reads format {PAGE_DATA_VERSION}." in body
    assert browser.js("document.querySelectorAll('#grids td[data-g]').length") == 0
    browser.goto(page.as_uri())
    assert browser.js("document.querySelectorAll('#grids td[data-g]').length") > 0
