"""Screenshot the MLflow UI's compare view of one sweep's trials with headless Chromium (for the README).

    python scripts/screenshot_mlflow_compare.py --store /path/to/folder/with/mlflow.db --out docs/mlflow_compare.png

Starts `mlflow ui` on 127.0.0.1 over that SQLite store, opens the compare page of the newest sweep's
finished trials in Debian's Chromium (`apt-get install chromium`), saves a PNG and stops the server.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import mlflow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True, help="folder holding mlflow.db")
    parser.add_argument("--out", default="docs/mlflow_compare.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    uri = f"sqlite:///{Path(args.store).resolve()}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    sweeps = client.search_runs(exps, filter_string="tags.`seqlab.kind` = 'sweep'", order_by=["start_time DESC"])
    if not sweeps:
        sys.exit(f"no sweep parent run in {uri}")
    parent = sweeps[0]
    trials = client.search_runs([parent.info.experiment_id],
                                filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    ids = [r.info.run_id for r in trials if r.info.status == "FINISHED"] or [r.info.run_id for r in trials]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        query = urllib.parse.urlencode({"runs": json.dumps(ids), "experiments": json.dumps([parent.info.experiment_id])})
        url = f"{base}/#/compare-runs?{query}"
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir=/tmp/chromium-shot-{port}", "--hide-scrollbars", "--window-size=1600,1500",
                        "--virtual-time-budget=15000", f"--screenshot={out}", url], check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"{out}: compare view of {len(ids)} trials of sweep {parent.data.tags.get('mlflow.runName')} ({url})")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
