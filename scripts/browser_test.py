#!/usr/bin/env python3
"""Browser tests of the dashboard in headless Chromium, driven through chromedriver's WebDriver
HTTP API with the standard library only (no selenium, no venv: a handful of JSON requests is
all these tests need).

Runs `backlog demo --serve` on a fresh SQLite file (it leaves completed and discarded jobs on
four queues), then, as a person would: opens the overview, filters jobs, opens a discarded job,
retries it and sees its state change, pauses a queue. Saves screenshots of the main pages under
docs/screenshots/ when BACKLOG_SCREENSHOTS=1.

Usage: scripts/browser_test.py PATH_TO_BACKLOG_BINARY
"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, "docs", "screenshots")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=120):
    """Waits until a started process listens (startup, not a test condition)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on {port} within {timeout} s")


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--window-size=1280,860", "--disable-dev-shm-usage"],
            },
        }}}
        self.session = self.call("POST", "/session", caps)["sessionId"]
        # Element look-ups wait up to 10 s for the element to appear (WebDriver implicit wait).
        self.cmd("POST", "/timeouts", {"implicit": 10000, "pageLoad": 30000})

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.read().decode()[:500]}") from None

    def cmd(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self.cmd("POST", "/url", {"url": url})

    def find(self, css):
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})

    def find_xpath(self, xpath):
        return self.cmd("POST", "/element", {"using": "xpath", "value": xpath})

    def find_all(self, css):
        return self.cmd("POST", "/elements", {"using": "css selector", "value": css})

    @staticmethod
    def eid(element):
        return next(iter(element.values()))

    def text(self, element):
        return self.cmd("GET", f"/element/{self.eid(element)}/text")

    def click(self, element):
        self.cmd("POST", f"/element/{self.eid(element)}/click", {})

    def type(self, element, text):
        self.cmd("POST", f"/element/{self.eid(element)}/clear", {})
        self.cmd("POST", f"/element/{self.eid(element)}/value", {"text": text})

    def accept_alert(self):
        self.cmd("POST", "/alert/accept", {})

    def url(self):
        return self.cmd("GET", "/url")

    def title(self):
        return self.cmd("GET", "/title")

    def screenshot(self, name):
        if os.environ.get("BACKLOG_SCREENSHOTS") != "1":
            return
        os.makedirs(SHOTS, exist_ok=True)
        with open(os.path.join(SHOTS, name), "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        try:
            self.cmd("DELETE", "")
        except Exception:
            pass


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="backlog-browser-")
    http_port, driver_port = free_port(), free_port()
    server = subprocess.Popen(
        [binary, "demo", "--jobs", "400", "--database", f"sqlite://{tmp}/demo.sqlite3",
         "--serve", "--http", f"127.0.0.1:{http_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = subprocess.Popen(
        [os.environ.get("CHROMEDRIVER", "chromedriver"), f"--port={driver_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    passed = failed = 0
    wd = None
    try:
        wait_for_port(http_port, server, "backlog demo --serve")
        wait_for_port(driver_port, driver, "chromedriver")
        wd = WebDriver(driver_port)
        site = f"http://127.0.0.1:{http_port}"
        # Live refresh would reload pages under the test: pause it as a user would.
        wd.open(site + "/")
        wd.click(wd.find("#refresh-pause"))

        def check(name, fn):
            nonlocal passed, failed
            try:
                fn()
                passed += 1
                print(f"ok   {name}")
            except Exception as e:  # report and go on to the next case
                failed += 1
                print(f"FAIL {name}: {e}")

        def overview():
            wd.open(site + "/")
            assert "Overview" in wd.title(), wd.title()
            completed = wd.text(wd.find('[data-count="completed"]'))
            assert int(completed) > 0, completed
            assert wd.find("canvas#chart")
            assert wd.text(wd.find("#refresh-pause")) == "Resume"
            wd.screenshot("overview.png")

        def filter_jobs():
            wd.open(site + "/jobs")
            wd.type(wd.find('input[name="queue"]'), "emails")
            wd.click(wd.find("#apply-filter"))
            wd.find_xpath("//input[@name='queue' and @value='emails']")
            assert "queue=emails" in wd.url(), wd.url()
            rows = wd.find_all("tr.job td:nth-child(4)")
            assert rows, "no rows"
            queues = {wd.text(r) for r in rows}
            assert queues == {"emails"}, queues
            wd.screenshot("jobs.png")

        def retry_discarded():
            wd.open(site + "/jobs?state=discarded")
            link = wd.find("tr.job td:nth-child(2) a")
            job_id = wd.text(link)
            wd.click(link)
            state = wd.find("#job-state")
            assert wd.text(state) == "discarded", wd.text(state)
            assert wd.find("table.attempts td pre.error-text")
            wd.screenshot("job.png")
            wd.click(wd.find_xpath("//div[@class='actions']/button[text()='Retry']"))
            wd.accept_alert()
            # The page reloads after the API call; wait for the new state to be shown.
            wd.find_xpath("//span[@id='job-state' and text()='available']")
            assert wd.url().endswith(f"/jobs/{job_id}"), wd.url()

        def pause_queue():
            wd.open(site + "/queues")
            wd.click(wd.find_xpath("//tr[@data-queue='emails']//button[text()='Pause']"))
            wd.find_xpath("//tr[@data-queue='emails']//span[text()='paused']")
            wd.find_xpath("//tr[@data-queue='emails']//button[text()='Resume']")
            wd.screenshot("queues.png")

        check("open the overview", overview)
        check("filter jobs by queue", filter_jobs)
        check("open a discarded job and retry it", retry_discarded)
        check("pause a queue", pause_queue)
    finally:
        if wd:
            wd.quit()
        for p in (server, driver):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    print(f"browser: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
