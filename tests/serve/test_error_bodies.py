"""What a client reads when no model can be served: the reason, never the tracking URI (an absolute path, or a
URL with credentials) nor raw MLflow exception text; the server log keeps all of it, and
``SEQLAB_SERVE_DEBUG_ERRORS=1`` puts it back in the bodies. Real HTTP on 127.0.0.1 (uvicorn, no Ray) over a
real SQLite store in a temp folder and an MLflow URL with credentials that nothing answers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_http import serving
from seqlab.serve.http import make_api, make_health_api
from seqlab.serve.service import DEBUG_ERRORS_ENV, ModelService
from serve_helpers import free_port

SECRET = "s3cr3t-pw"


def _bodies(base: str) -> list[tuple[int, str]]:
    with httpx.Client(base_url=base, timeout=30.0) as http:
        return [
            (r.status_code, r.text)
            for r in (
                http.get("/readyz"), http.get("/info"), http.post("/predict", json={"texts": ["a film"]})
            )
        ]


def _services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: logging.Handler | None = None
) -> tuple[list[ModelService], list[str]]:
    """Two services that cannot load: an empty SQLite store under tmp_path, and a credentialed URL."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # one try against the closed port, not minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    store = tmp_path / "private-store"
    store.mkdir()
    uris = [f"sqlite:///{store}/mlflow.db", f"http://seqlab-user:{SECRET}@127.0.0.1:{free_port()}"]
    services = [ModelService({"task": "sentiment", "tracking_uri": uri}) for uri in uris]
    logger = logging.getLogger("ray.serve")  # Ray sets its handlers when a service is built: add ours after
    if log is not None:
        logger.addHandler(log)
    try:
        for svc in services:
            svc.load()
    finally:
        if log is not None:
            logger.removeHandler(log)
    return services, [str(store), SECRET, "seqlab-user", "mlflow.db", "127.0.0.1"]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_error_bodies_carry_no_uri_path_or_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEBUG_ERRORS_ENV, raising=False)
    log = _Lines()  # Ray's serve logger does not propagate to the root logger
    services, secrets = _services(tmp_path, monkeypatch, log)
    for svc in services:
        with serving(make_api(svc)) as base:
            bodies = _bodies(base)
        assert [status for status, _ in bodies] == [503, 503, 503], bodies
        for _, body in bodies:
            assert "seqlab-sentiment" in body and "seqlab promote" in body  # still says what and how to fix
            leaked = [s for s in secrets if s in body]
            assert not leaked, (leaked, body)
            assert "Exception" not in body and "Error:" not in body  # no raw MLflow exception text
        status = svc.model_status()
        assert not any(s in str(status) for s in secrets), status

    async def statuses() -> dict[str, dict[str, Any]]:
        return {f"app{i}": svc.model_status() for i, svc in enumerate(services)}

    with serving(make_health_api(statuses)) as base:
        root = httpx.get(f"{base}/readyz", timeout=30.0)
    assert root.status_code == 503 and not any(s in root.text for s in secrets), root.text
    logged = "\n".join(log.lines)  # the operator still gets the whole story
    assert str(tmp_path / "private-store") in logged and SECRET in logged


def test_the_debug_flag_puts_the_detail_in_the_bodies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEBUG_ERRORS_ENV, "1")
    services, _ = _services(tmp_path, monkeypatch)
    with serving(make_api(services[0])) as base:
        bodies = _bodies(base)
    assert all(str(tmp_path / "private-store") in body for _, body in bodies), bodies


@pytest.mark.parametrize(
    "text, kept, gone",
    [
        ("store sqlite:////srv/ml/mlflow.db is down", "<tracking store>", "/srv/ml"),
        ("GET http://u:pw@10.0.0.5:5000/api failed", "***@10.0.0.5", "u:pw"),
        ("cannot read file:///home/u/run/state.pt", "<path>", "/home/u"),
        ("models:/seqlab-sentiment/3 is a 'forecast' model", "models:/seqlab-sentiment/3", "<path>"),
    ],
)
def test_scrub_removes_uris_credentials_and_paths(text: str, kept: str, gone: str) -> None:
    from seqlab.serve.service import scrub

    out = scrub(text, "sqlite:////srv/ml/mlflow.db")
    assert kept in out and gone not in out, out


def test_model_unavailable_keeps_its_detail_across_processes() -> None:
    import pickle

    from seqlab.serve.model import ModelUnavailable

    exc = pickle.loads(pickle.dumps(ModelUnavailable("no champion", "store sqlite:////srv/mlflow.db")))
    assert (str(exc), exc.detail) == ("no champion", "store sqlite:////srv/mlflow.db")
