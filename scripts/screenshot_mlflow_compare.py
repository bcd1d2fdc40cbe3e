"""Screenshot the MLflow UI's compare view of one sweep's trials with headless Chromium (for the README).

    python scripts/screenshot_mlflow_compare.py --store /path/to/folder/with/mlflow.db --out docs/mlflow_compare.png
    python scripts/screenshot_mlflow_compare.py --store ... --sweep width-maxlen-1 --metric val_accuracy

Starts `mlflow ui` on 127.0.0.1 over that SQLite store and Debian's ChromeDriver (`apt-get install chromium
chromium-driver`) on 127.0.0.1, opens the compare page of the sweep's finished trials (the newest sweep, or
--sweep), and drives the page as a person would: in the parallel-coordinates plot it selects the sweep's swept
keys as parameters and the validation metric as the only (so the last, coloring) axis, since MLflow colors
the lines by the plot's last axis and otherwise picks three differing params and the first shared metric.
Then it saves a PNG and stops both servers. WebDriver is plain HTTP/JSON, so nothing beyond the standard
library drives the browser.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import mlflow

from seqlab.tracking.sweep_trials import swept_keys

WAIT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"{url} did not answer within {timeout_s:.0f} s")
            time.sleep(0.5)


class WebDriver:
    """The few W3C WebDriver commands the screenshot needs, over ChromeDriver's local HTTP port."""

    def __init__(self, base: str, chromium: str, width: int, height: int) -> None:
        self.base = base
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--hide-scrollbars", f"--window-size={width},{height}"]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.loads(resp.read())["value"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"WebDriver {method} {path}: {exc.read().decode()[:500]}") from None

    def cmd(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def find(self, xpath: str, timeout_s: float = WAIT_S) -> str:
        """The first element matching ``xpath``, waiting for it to appear; returns its WebDriver id."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.cmd("POST", "/elements", {"using": "xpath", "value": xpath})
            if found:
                return str(next(iter(found[0].values())))
            if time.monotonic() > deadline:
                raise RuntimeError(f"no element {xpath} after {timeout_s:.0f} s")
            time.sleep(0.3)

    def click(self, xpath: str) -> None:
        self.cmd("POST", f"/element/{self.find(xpath)}/click")

    def type(self, xpath: str, text: str) -> None:
        self.cmd("POST", f"/element/{self.find(xpath)}/value", {"text": text})

    def try_click(self, xpath: str, timeout_s: float) -> bool:
        """Click ``xpath`` if it appears within ``timeout_s``; False if it does not (an optional UI element)."""
        try:
            self.find(xpath, timeout_s)
        except RuntimeError:
            return False
        self.click(xpath)
        return True

    def quit(self) -> None:
        self._call("DELETE", f"/session/{self.session}")


def _pick(driver: WebDriver, label: str, key: str) -> None:
    """Select ``key`` in the plot controls' multi-select under ``label`` (Parameters: / Metrics:)."""
    box = f"//div[normalize-space(.)='{label}']/following-sibling::*[1]"
    driver.click(box)
    driver.type(f"{box}//input", key)
    driver.click(f"//div[contains(@class,'select-item-option') and @title='{key}']")
    driver.cmd("POST", "/actions", {"actions": [{"type": "key", "id": "k", "actions": [
        {"type": "keyDown", "value": "\ue00c"}, {"type": "keyUp", "value": "\ue00c"}]}]})  # Escape: close the list


def shoot(url: str, out: Path, params: list[str], metric: str, chromium: str, chromedriver: str) -> None:
    """Open ``url`` (a compare page), select ``params`` and ``metric`` in its parallel-coordinates plot, save a PNG."""
    port = _free_port()
    server = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{port}/status")
        driver = WebDriver(f"http://127.0.0.1:{port}", chromium, 1600, 1000)
        try:
            driver.cmd("POST", "/url", {"url": url})
            driver.find("//*[contains(@class,'pcp-plot')]")
            # MLflow 3 opens its Assistant side panel by default: close it, so the plot gets the width.
            panel = "//*[normalize-space(text())='MLflow Assistant']/ancestor::div[.//button[@aria-label='Close']][1]"
            driver.try_click(f"{panel}//button[@aria-label='Close']", timeout_s=3)
            driver.click("//button[@data-testid='clear-button']")
            for key in params:
                _pick(driver, "Parameters:", key)
            _pick(driver, "Metrics:", metric)
            driver.find(f"//*[contains(@class,'pcp-plot')]//*[contains(@class,'axis-title') and text()='{metric}']")
            driver.click("//h2[starts-with(normalize-space(.),'Comparing')]")  # blur the select: no caret in the shot
            time.sleep(2)  # let the plot finish its transition
            out.write_bytes(base64.b64decode(driver.cmd("GET", "/screenshot")))
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True, help="folder holding mlflow.db")
    parser.add_argument("--out", default="docs/mlflow_compare.png")
    parser.add_argument("--sweep", default=None, help="the sweep's name (tag seqlab.sweep); default: the newest")
    parser.add_argument("--metric", default="val_accuracy", help="the metric that colors the plot")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    uri = f"sqlite:///{Path(args.store).resolve()}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    flt = "tags.`seqlab.kind` = 'sweep'" + (f" and tags.`seqlab.sweep` = '{args.sweep}'" if args.sweep else "")
    sweeps = client.search_runs(exps, filter_string=flt, order_by=["start_time DESC"])
    if not sweeps:
        sys.exit(f"no sweep parent run{' named ' + repr(args.sweep) if args.sweep else ''} in {uri}")
    parent = sweeps[0]
    trials = client.search_runs([parent.info.experiment_id],
                                filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", max_results=1000)
    ids = [r.info.run_id for r in trials if r.info.status == "FINISHED"] or [r.info.run_id for r in trials]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/health", timeout_s=120)
        query = {"runs": json.dumps(ids), "experiments": json.dumps([parent.info.experiment_id])}
        url = f"{base}/#/compare-runs?{urllib.parse.urlencode(query)}"
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        shoot(url, out, sorted(swept_keys(parent)), args.metric, args.chromium, args.chromedriver)
        print(f"{out}: compare view of {len(ids)} trials of sweep {parent.data.tags.get('mlflow.runName')}, "
              f"colored by {args.metric} ({url})")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
