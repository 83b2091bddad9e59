"""The report in a real headless Chromium, driven over the DevTools protocol through a pipe (no port, no deps).

Chromium's --remote-debugging-pipe reads commands from fd 3 and writes replies to fd 4, NUL-separated
JSON: the same channel Playwright uses, here in 80 lines of stdlib. CI sets SKLMATRIX_REQUIRE_BROWSER=1
(and installs Debian's `chromium`): there a missing browser fails instead of skipping.
"""

import base64
import fcntl
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import report

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("report_synthetic", REPO / "bench" / "report_synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe"]
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
    """One headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, executable, profile, width=1500, height=1000):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds():  # runs in the child: its fd 3 reads our commands, its fd 4 carries replies
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}",
                                      f"--window-size={width},{height}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=wire_fds, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._next, self._replies, self.events = 0, {}, queue.Queue()
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _read(self):
        buffer = b""
        while True:
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._replies[message["id"]] = message
                        self._cond.notify_all()
                else:
                    self.events.put(message)

    def call(self, method, session=None, timeout=30, **params):
        """Send a command and wait for its reply."""
        self._next += 1
        ident = self._next
        message = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                if not self._cond.wait(deadline - time.monotonic()) and time.monotonic() > deadline:
                    raise TimeoutError(f"{method}: no reply in {timeout} s")
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def send(self, method, **params):
        """A command to the page's session."""
        return self.call(method, session=self.session, **params)

    def drain(self):
        """Events received so far."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def goto(self, url, timeout=30):
        """Navigate and wait for the load event."""
        self.send("Page.navigate", url=url)
        deadline, seen = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(event)
            if event.get("method") == "Page.loadEventFired":
                for e in seen:
                    self.events.put(e)
                return
        raise TimeoutError(f"{url} did not load in {timeout} s")

    def js(self, expression):
        """Evaluate in the page and return the value."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector):
        """A real mouse click in the middle of the first element matching selector."""
        box = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path, full=True):
        """Save a PNG of the page (all of it when full)."""
        params = {"format": "png"}
        if full:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"],
                                                             "height": min(size["height"], 16000), "scale": 1})
        Path(path).write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))

    def close(self):
        """Quit the browser."""
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - already gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)


def problems(events):
    """Console errors, uncaught exceptions and any request that is not the page itself."""
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            out.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            out.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
            out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.endswith("/index.html") and not url.startswith(("data:", "about:")):
                out.append(f"request: {url}")
    return out


@pytest.fixture
def browser(tmp_path):
    """A fresh headless Chromium; skipped without one unless SKLMATRIX_REQUIRE_BROWSER=1."""
    executable = find_chromium()
    if executable is None:
        if os.environ.get("SKLMATRIX_REQUIRE_BROWSER") == "1":
            pytest.fail("SKLMATRIX_REQUIRE_BROWSER=1 but no chromium: `apt-get install -y chromium`")
        pytest.skip("no chromium (apt-get install -y chromium)")
    b = Browser(executable, tmp_path / "profile")
    yield b
    b.close()


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
    assert problems(browser.drain()) == []


def test_show_more_caps_the_rows_of_a_big_cell(browser, tmp_path):
    run = tmp_path / "big"
    results = synthetic.make_results(3000)
    for cell in results["cells"]:  # one consumer's pair gets 450 rows: more than one page of the drawer
        cell["producer"], cell["consumer"], cell["format"] = (results["cells"][0]["producer"],
                                                              results["cells"][0]["consumer"], "pickle")
    (run).mkdir()
    (run / "results.json").write_text(json.dumps(results))
    html = report.render(run).html
    browser.goto(html.as_uri())
    browser.click("#grids td[data-g]")
    assert visible_rows(browser) == 100
    browser.click("#d-more")
    assert visible_rows(browser) == 200
    assert problems(browser.drain()) == []
