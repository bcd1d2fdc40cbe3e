"""A champion switch under load: 16 clients post over real HTTP to a Ray Serve app for the whole reload
(``deploy(reload=True)`` after ``seqlab promote``); every response is recorded (status, body, version), none
fails, both versions answer, and no client gets the old version after it got the new one. A client that
gets an exception or a body that is not JSON records it instead of dying."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mlflow
import pytest
from seqlab.serve.deploy import deploy
from seqlab.serve.schemas import ServeArgs
from seqlab.tracking.registry import promote
from serve_helpers import free_port, log_state_model, make_state

CLIENTS = 16


@dataclass
class Answer:
    status: int | None  # None: the request raised
    body: str
    version: str | None


@dataclass
class Client:
    answers: list[Answer] = field(default_factory=list)

    def run(self, base: str, stop: threading.Event) -> None:
        with httpx.Client(base_url=base, timeout=30.0) as http:
            while not stop.is_set():
                try:
                    r = http.post("/sentiment/predict", json={"texts": ["a steady stream of reviews"]})
                except Exception as exc:  # noqa: BLE001  # recorded, and the client goes on
                    self.answers.append(Answer(None, repr(exc), None))
                    continue
                try:
                    version = json.loads(r.text).get("version")
                except (ValueError, AttributeError):
                    version = None
                self.answers.append(Answer(r.status_code, r.text[:300], version))

    def versions(self) -> list[str | None]:
        return [a.version for a in self.answers]


def _register(uri: str, folder: Path, seed: int) -> str:
    run_id = log_state_model(uri, folder, make_state("sentiment", seed=seed), {"best_val_accuracy": 0.5})
    p = promote(uri, "sentiment", run_id, force=True)
    assert p.promoted and p.version is not None, p.reason
    return p.version


@pytest.fixture
def app(
    ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, ServeArgs]]:
    """The sentiment app alone, serving v1 of a fresh store."""
    from ray import serve

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    assert _register(uri, tmp_path / "v1", seed=0) == "1"
    args = ServeArgs(task="sentiment", tracking_uri=uri, num_cpus=0.5)
    port = free_port()
    deploy([args], port=port)
    try:
        yield f"http://127.0.0.1:{port}", args
    finally:
        serve.shutdown()  # the session's Ray stays up


def test_champion_switch_under_16_clients(app: tuple[str, ServeArgs], tmp_path: Path) -> None:
    base, args = app
    new = _register(str(args.tracking_uri), tmp_path / "v2", seed=1)
    clients = [Client() for _ in range(CLIENTS)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=c.run, args=(base, stop), name=f"client-{i}") for i, c in enumerate(clients)
    ]
    for t in threads:
        t.start()
    try:
        _wait(lambda: all(c.answers for c in clients), 30.0)  # all 16 under way before the reload
        deploy([args], reload=True, port=int(base.rsplit(":", 1)[1]))
        _wait(lambda: all(new in c.versions() for c in clients), 30.0)  # every client saw the switch
        time.sleep(0.5)  # and some load after it
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60.0)
    assert not any(t.is_alive() for t in threads)
    answers = [a for c in clients for a in c.answers]
    failed = [a for a in answers if a.status != 200]
    assert not failed, (len(failed), len(answers), failed[:5])
    assert {a.version for a in answers} == {"1", new}
    for i, c in enumerate(clients):
        versions = c.versions()
        switch = versions.index(new)
        assert set(versions[:switch]) <= {"1"} and set(versions[switch:]) == {new}, f"client {i}: {versions}"
    old_n, new_n = sum(a.version == "1" for a in answers), sum(a.version == new for a in answers)
    print(f"{len(answers)} answers from {CLIENTS} clients, 0 failed; {old_n} by v1, {new_n} by v{new}")


def _wait(done: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not done after {timeout_s:.0f}s"
        time.sleep(0.05)
