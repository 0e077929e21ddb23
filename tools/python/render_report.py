"""Renders a transfix HTML report in headless Chromium through chromedriver (WebDriver over HTTP: only
the Python standard library) and checks what a user would see: the page loads without console errors
or exceptions, fetches nothing, has the expected elements, answers hover and click on the chart; a
full-page screenshot is saved. Port of tools/node/render_report.js: same command line, checks, output
line, JSON and exit codes.

  render_report.py REPORT.html --screenshot OUT.png [--json OUT.json] [--expect ID]...
      [--expect-selector CSS]... [--expect-js EXPR]... [--interact] [--chromium PATH] [--chromedriver PATH]

Prints one line (what passed, or which checks failed) and writes every check and console message to
--json; exit 0 when every check passed, 1 when one failed, 2 when the browser could not be driven.
"""
import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

USAGE = "usage: render_report.py REPORT.html --screenshot OUT.png [--expect ID]..."
WIDTH = 1360            # the window's width, and the screenshot's
MAX_SHOT_HEIGHT = 12000  # a longer page is cut: Chromium's captures get unwieldy beyond this
HTTP_TIMEOUT = 300       # s; Node's fetch (undici) gives up on a silent server after 300 s too
UNDEFINED = object()     # a check without detail: the key is left out of the JSON, as JavaScript does

# Flags that take a value: flag -> (key in the arguments, whether it may repeat).
VALUE_FLAGS = {
    "--screenshot": ("screenshot", False), "--json": ("json", False),
    "--chromium": ("chromium", False), "--chromedriver": ("chromedriver", False),
    "--expect": ("expect", True), "--expect-selector": ("selectors", True), "--expect-js": ("scripts", True),
}


class Failure(Exception):
    """The browser could not be driven, or bad usage: exit code 2."""


def parse_args(argv):
    a = {"expect": [], "selectors": [], "scripts": [], "interact": False, "chromium": "/usr/bin/chromium",
         "chromedriver": "/usr/bin/chromedriver", "report": None, "screenshot": None, "json": None}
    i = 0
    while i < len(argv):
        k = argv[i]
        if k in VALUE_FLAGS:
            if i + 1 >= len(argv):  # a flag without its value is a usage error, not a check of "undefined"
                raise Failure(USAGE)
            key, repeats = VALUE_FLAGS[k]
            i += 1
            if repeats:
                a[key].append(argv[i])
            else:
                a[key] = argv[i]
        elif k == "--interact":
            a["interact"] = True
        elif a["report"] is None:
            a["report"] = k
        else:
            raise Failure("unexpected argument " + k)
        i += 1
    if not a["report"] or not a["screenshot"]:
        raise Failure(USAGE)
    return a


def free_port():
    """A port nobody listens on, for chromedriver (it may be taken again before chromedriver binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few W3C WebDriver (and chromedriver extension) commands the checks need."""

    # No proxy: an http_proxy in the environment must not capture requests to 127.0.0.1
    # (Node's fetch ignores those variables).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, url, body=UNDEFINED, timeout=HTTP_TIMEOUT):
        """One command; its `value`. WebDriver errors (HTTP status or value.error) raise Failure."""
        data = None if body is UNDEFINED else json.dumps(body).encode()
        request = urllib.request.Request(self.base + url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=timeout) as res:
                ok, payload = True, json.loads(res.read())
        except urllib.error.HTTPError as e:  # error statuses carry the WebDriver error as JSON
            ok, payload = False, json.loads(e.read() or b"{}")
        value = payload.get("value") if isinstance(payload, dict) else None
        if not ok or (isinstance(value, dict) and value.get("error")):
            raise Failure(f"{method} {url}: {json.dumps(value, separators=(',', ':'), ensure_ascii=False)[:400]}")
        return value

    def wait_ready(self, seconds):
        """Polls /status until chromedriver answers ready (it takes a moment to listen)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                if self.call("GET", "/status", timeout=2)["ready"]:
                    return
            except Exception:  # not up yet: connection refused, or not ready
                pass
            time.sleep(0.1)
        raise Failure("chromedriver did not start")

    def s(self, url):
        return f"/session/{self.session}{url}"

    def run(self, script, *args):
        return self.call("POST", self.s("/execute/sync"), {"script": script, "args": list(args)})

    def logs(self):
        return self.call("POST", self.s("/se/log"), {"type": "browser"})

    def cdp(self, cmd, params):
        return self.call("POST", self.s("/goog/cdp/execute"), {"cmd": cmd, "params": params})


class Result:
    """What the run found: the JSON written to --json, built in the Node tool's key order."""

    def __init__(self, report):
        self.data = {"report": report, "checks": [], "console": [], "ok": True}

    def check(self, name, ok, detail=UNDEFINED):
        entry = {"name": name, "ok": bool(ok)}
        if detail is not UNDEFINED:
            entry["detail"] = detail
        self.data["checks"].append(entry)
        if not ok:
            self.data["ok"] = False


def capabilities(a, profile):
    """Headless Chromium with its own throw-away profile, and every console message kept."""
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
            f"--window-size={WIDTH},1000", "--hide-scrollbars"]
    return {"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": a["chromium"], "args": args},
        "goog:loggingPrefs": {"browser": "ALL"},
    }}}


def load_page(wd, a, r):
    """Opens the report and waits (up to 10 s) for the page's own script to mark it rendered."""
    t0 = time.monotonic()
    wd.call("POST", wd.s("/url"), {"url": pathlib.Path(os.path.abspath(a["report"])).as_uri()})
    rendered = False
    for _ in range(100):
        rendered = wd.run("return document.body && document.body.dataset.rendered === 'true';")
        if rendered:
            break
        time.sleep(0.1)
    r.data["render_ms"] = round((time.monotonic() - t0) * 1000)
    r.check("page rendered (body[data-rendered])", rendered)


def expectations(wd, a, r):
    """The caller's --expect, --expect-selector and --expect-js checks."""
    for id_ in a["expect"]:
        r.check(f"#{id_} present", wd.run("return !!document.getElementById(arguments[0]);", id_))
    for sel in a["selectors"]:
        n = wd.run("return document.querySelectorAll(arguments[0]).length;", sel)
        r.check(f"{sel} present", n > 0, f"{n} found")
    for expr in a["scripts"]:
        r.check(expr, wd.run(f"return !!({expr});"))


def page_facts(wd, r):
    """The page must fetch nothing (data: URIs are not fetched, so no resource entries); its size."""
    resources = wd.run("return performance.getEntriesByType('resource').map((e) => e.name);")
    r.check("no network resources loaded", len(resources) == 0, resources[:5])
    r.data["page"] = wd.run("""return { title: document.title, height: document.documentElement.scrollHeight,
      width: document.documentElement.scrollWidth, elements: document.getElementsByTagName('*').length };""")


def console_check(wd, r):
    """Every console message is kept; errors and warnings (exceptions included) fail the page."""
    entries = wd.logs()
    r.data["console"] = [f"{e['level']} {e['message']}" for e in entries]
    errors = [e for e in entries if e["level"] in ("SEVERE", "WARNING")]
    r.check("no console errors or warnings", len(errors) == 0, [e["message"] for e in errors][:5])


def screenshot(wd, a, r):
    """The full page (beyond the viewport, cut at MAX_SHOT_HEIGHT) through the DevTools protocol."""
    height = min(r.data["page"]["height"], MAX_SHOT_HEIGHT)
    shot = wd.cdp("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
    })
    with open(a["screenshot"], "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    r.data["screenshot"] = {"path": a["screenshot"], "bytes": os.path.getsize(a["screenshot"]), "height": height}
    r.check("screenshot written", r.data["screenshot"]["bytes"] > 1000)


def pointer(wd, actions):
    """Real pointer events through the WebDriver actions API (not synthetic JavaScript events)."""
    wd.call("POST", wd.s("/actions"), {
        "actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}],
    })


def interact(wd, r):
    """Hover the chart (a tooltip naming tensors of both models must appear), click it (the pair's
    details must show), page the pairs table. Pages without a chart are left alone."""
    if not wd.run("const s = document.querySelector('#chart svg'); return s ? true : false;"):
        return
    el = wd.call("POST", wd.s("/element"), {"using": "css selector", "value": "#chart svg"})
    pointer(wd, [{"type": "pointerMove", "duration": 0, "origin": el, "x": 0, "y": 0}])
    tip = wd.run("const t = document.querySelector('#chart .tooltip'); return t ? [t.style.display, t.textContent] : null;")
    r.check("chart hover shows a tooltip with tensor names of both models",
            tip and tip[0] == "block" and "target:" in tip[1] and "source:" in tip[1], tip and tip[1][:200])
    pointer(wd, [{"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}])
    detail = wd.run("const d = document.getElementById('pair-detail'); return d ? d.textContent.slice(0, 200) : null;")
    selected = wd.run("return document.querySelectorAll('#pairs-table tr.selected').length;")
    r.check("chart click shows the pair and selects its table row", detail and selected == 1, detail)
    pager = wd.run("""const t = document.getElementById('pairs-table'); const b = t && t.querySelectorAll('.pager button')[1];
    if (!b || b.disabled) return 'single page'; b.click(); return t.querySelector('.pager span').textContent;""")
    r.check("pairs table pages", isinstance(pager, str), pager)


def start_session(wd, a, profile):
    """A browser session; its name and version go into the result."""
    wd.wait_ready(15)
    session = wd.call("POST", "/session", capabilities(a, profile))
    wd.session = session["sessionId"]
    return f"{session['capabilities']['browserName']} {session['capabilities']['browserVersion']}"


def drive(wd, a, r, profile):
    """Every check, in the Node tool's order."""
    r.data["browser"] = start_session(wd, a, profile)
    load_page(wd, a, r)
    expectations(wd, a, r)
    page_facts(wd, r)
    if a["interact"]:
        interact(wd, r)
    console_check(wd, r)
    screenshot(wd, a, r)


def run(a):
    """Starts chromedriver, runs the checks, and always cleans up the session, driver and profile."""
    r = Result(a["report"])
    profile = tempfile.mkdtemp(prefix="transfix-chromium-")
    port = free_port()
    wd = WebDriver(port)
    try:
        driver = subprocess.Popen([a["chromedriver"], f"--port={port}"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as e:
        shutil.rmtree(profile, ignore_errors=True)
        raise Failure(f"{a['chromedriver']}: {e.strerror or e}") from e
    try:
        drive(wd, a, r, profile)
    finally:
        stop(wd, driver, profile)
    return r


def stop(wd, driver, profile):
    """Ends the session (which closes Chromium), then chromedriver; a failure here changes nothing."""
    if wd.session:
        try:
            wd.call("DELETE", wd.s(""), timeout=30)
        except Exception:
            pass
    driver.terminate()
    try:
        driver.wait(10)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.wait()
    shutil.rmtree(profile, ignore_errors=True)


def summary(r):
    """The one line printed: what passed, or the failed checks as JSON."""
    d = r.data
    if d["ok"]:
        p = d["page"]
        return (f"ok: {len(d['checks'])} checks, rendered in {d['render_ms']} ms, {p['elements']} elements, "
                f"page {p['height']} px, {d['browser']}")
    failed = [c for c in d["checks"] if not c["ok"]]
    return "FAIL: " + json.dumps(failed, separators=(",", ":"), ensure_ascii=False)


def main(argv):
    try:
        a = parse_args(argv)
        r = run(a)
        if a["json"]:
            with open(a["json"], "w", encoding="utf-8") as f:
                f.write(json.dumps(r.data, indent=1, ensure_ascii=False) + "\n")
    except Exception as e:  # usage, chromedriver/Chromium failures, unwritable outputs: exit 2
        print(f"ERROR: {' '.join(str(e).split())}")
        return 2
    print(summary(r))
    return 0 if r.data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
