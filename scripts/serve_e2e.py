#!/usr/bin/env python3
"""The page of `dlc serve` in headless Chromium, driven through ChromeDriver's WebDriver API:
it fills both questions, clicks Compare and reads the probability shown, which must be the one
the JSON API gives for the same pair; then it clicks an example pair and checks the same.
Exits 1 on any failure.

    python3 scripts/serve_e2e.py --port PORT [--screenshot page.png]
"""

import argparse
import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The identifier WebDriver gives element references under.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
# How Chromium must start on this machine: no sandbox as root, no GPU, and no background
# connections (the network is closed, and they would be refused many at a time).
CHROMIUM_ARGUMENTS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1000,1100",
]


class Failure(Exception):
    pass


def http_json(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise Failure(f"{method} {url}: HTTP {error.code}: {error.read()[:500]!r}") from None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """One ChromeDriver, one headless Chromium session with a fresh profile."""

    def __init__(self, chromedriver, chromium):
        self.profile = tempfile.mkdtemp(prefix="dlc-e2e-chromium-")
        port = free_port()
        self.driver = subprocess.Popen([chromedriver, f"--port={port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        self.session = None
        deadline = time.monotonic() + 30
        while True:
            try:
                if http_json("GET", self.base + "/status", timeout=2)["value"]["ready"]:
                    break
            except (OSError, Failure, KeyError):
                pass
            if time.monotonic() > deadline:
                raise Failure("ChromeDriver did not start within 30 s")
            time.sleep(0.2)
        options = {"binary": chromium,
                   "args": CHROMIUM_ARGUMENTS + [f"--user-data-dir={self.profile}"]}
        answer = http_json("POST", self.base + "/session", {
            "capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}, timeout=60)
        self.session = f"{self.base}/session/{answer['value']['sessionId']}"

    def close(self):
        if self.session:
            try:
                http_json("DELETE", self.session, timeout=10)
            except (OSError, Failure):
                pass
        self.driver.terminate()
        self.driver.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def command(self, method, path, body=None):
        return http_json(method, self.session + path, body)["value"]

    def find(self, selector):
        return self.command("POST", "/element",
                            {"using": "css selector", "value": selector})[ELEMENT]

    def find_all(self, selector):
        found = self.command("POST", "/elements", {"using": "css selector", "value": selector})
        return [element[ELEMENT] for element in found]

    def type_into(self, selector, text):
        element = self.find(selector)
        self.command("POST", f"/element/{element}/clear", {})
        self.command("POST", f"/element/{element}/value", {"text": text})

    def click(self, element):
        self.command("POST", f"/element/{element}/click", {})

    def property(self, selector, name):
        return self.command("GET", f"/element/{self.find(selector)}/property/{name}")

    def attribute(self, selector, name):
        return self.command("GET", f"/element/{self.find(selector)}/attribute/{name}")

    def wait_for(self, condition, what, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.1)
        raise Failure(f"timed out waiting for {what}")


def api_probability(port, first, second):
    answer = http_json("POST", f"http://127.0.0.1:{port}/v1/predict",
                       {"pairs": [[first, second]]})
    return answer["probabilities"][0]


def shown_probability(browser, previous):
    """The probability the page shows once it differs from `previous` (a data attribute)."""
    def changed():
        value = browser.attribute("#result", "data-probability")
        return value if value not in (None, previous) else None
    return float(browser.wait_for(changed, "the page to show a probability"))


def check_shown(browser, port, first, second, previous):
    probability = shown_probability(browser, previous)
    expected = api_probability(port, first, second)
    if abs(probability - expected) > 1e-6:
        raise Failure(f"the page shows {probability}, the API says {expected}")
    text = browser.property("#probability", "textContent")
    if abs(float(text.rstrip(" %")) - 100 * expected) > 0.051:
        raise Failure(f"the page reads {text!r} for a probability of {expected}")
    verdict = browser.property("#verdict", "textContent")
    if ("same" in verdict) != (expected >= 0.5):
        raise Failure(f"the verdict {verdict!r} does not fit {expected}")
    print(f"e2e: the page shows {text} ({verdict}) for {first!r} / {second!r}")
    return str(probability)


def run(port, screenshot, chromedriver, chromium):
    browser = Browser(chromedriver, chromium)
    try:
        browser.command("POST", "/url", {"url": f"http://127.0.0.1:{port}/"})
        title = browser.command("GET", "/title")
        if "questions" not in title:
            raise Failure(f"unexpected page title {title!r}")

        # Typed questions, then the button.
        first, second = "How can I learn to cook?", "What is the best way to learn cooking?"
        browser.type_into("#question1", first)
        browser.type_into("#question2", second)
        browser.click(browser.find("#compare"))
        shown = check_shown(browser, port, first, second, None)

        # An example pair fills both fields and asks at once.
        examples = browser.find_all("#examples button")
        if len(examples) != 6:
            raise Failure(f"expected the six example pairs, found {len(examples)}")
        browser.click(examples[3])
        first = browser.property("#question1", "value")
        second = browser.property("#question2", "value")
        if not first.startswith("How can I increase my internet speed"):
            raise Failure(f"the example did not fill the first question: {first!r}")
        check_shown(browser, port, first, second, shown)

        # The footer describes the model, from GET /v1/model.
        footer = browser.wait_for(
            lambda: "parameters" in browser.property("#model", "textContent")
            and browser.property("#model", "textContent"), "the model's description")
        print(f"e2e: footer: {footer}")

        if screenshot:
            with open(screenshot, "wb") as image:
                image.write(base64.b64decode(browser.command("GET", "/screenshot")))
    finally:
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--screenshot", help="PNG of the page at the end")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args()
    try:
        run(options.port, options.screenshot, options.chromedriver, options.chromium)
    except Failure as failure:
        print(f"e2e: FAILED: {failure}", file=sys.stderr)
        return 1
    print("e2e: the page works in headless Chromium")
    return 0


if __name__ == "__main__":
    sys.exit(main())
