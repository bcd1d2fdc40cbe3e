"""The HTTP contract without Ray: FastAPI TestClient over a ModelService holding an untrained tiny model.

Every bad payload must be a 4xx JSON body naming the field (never a 500), and the service must keep
answering afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from seqlab.errors import ConfigError
from seqlab.tracking.pyfunc import LoadedModel
from seqlab.serve.http import make_api, make_health_api
from seqlab.serve.model import ServedModel
from seqlab.serve.schemas import ServeArgs
from seqlab.serve.service import ModelService
from seqlab.tasks.forecast import ForecastOptions, ForecastRequest
from seqlab.tasks.sentiment import SentimentOptions, SentimentRequest
from serve_helpers import ROOT, make_state, weather_rows

JSON = {"content-type": "application/json"}


def _service(task: str, tmp_path: Path, **args: Any) -> ModelService:
    return ModelService({"task": task, "tracking_uri": f"sqlite:///{tmp_path}/none.db", **args})


@pytest.fixture(scope="module")
def loaded() -> dict[str, LoadedModel]:
    return {task: LoadedModel(make_state(task)) for task in ("sentiment", "forecast")}


@pytest.fixture
def sentiment(loaded: dict[str, LoadedModel], tmp_path: Path) -> Iterator[tuple[TestClient, ModelService]]:
    svc = _service("sentiment", tmp_path)
    svc.use(ServedModel(loaded["sentiment"], "seqlab-sentiment", "3", "run-a", "champion"))
    with TestClient(make_api(svc)) as client:  # one event loop for the whole test
        yield client, svc


@pytest.fixture
def forecast(loaded: dict[str, LoadedModel], tmp_path: Path) -> Iterator[tuple[TestClient, ModelService]]:
    svc = _service("forecast", tmp_path)
    svc.use(ServedModel(loaded["forecast"], "seqlab-forecast", "7", "run-b", "champion"))
    with TestClient(make_api(svc)) as client:
        yield client, svc


def test_sentiment_predicts_and_reports_truncation(
    sentiment: tuple[TestClient, ModelService], loaded: dict[str, LoadedModel]
) -> None:
    client, _ = sentiment
    long_text = " ".join(["wonderful"] * 40)  # maxlen is 16 words in the tiny config
    r = client.post("/predict", json={"texts": ["A great film.", long_text]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["version"], body["maxlen"]) == ("seqlab-sentiment", "3", 16)
    first, second = body["predictions"]
    assert 0.0 <= first["probability"] <= 1.0 and first["label"] in ("positive", "negative")
    assert (first["truncated"], second["truncated"], second["tokens"]) == (False, True, 40)
    offline = loaded["sentiment"].predict(["A great film.", long_text])
    assert [p["probability"] for p in body["predictions"]] == pytest.approx(
        [o["probability"] for o in offline]
    )


def test_sentiment_info_ready_health_and_docs(sentiment: tuple[TestClient, ModelService]) -> None:
    client, _ = sentiment
    info = client.get("/info").json()
    assert info["window"] == {"maxlen": 16} and info["features"] == ["text"] and info["run_id"] == "run-a"
    assert info["metrics"]["val_accuracy"] == 0.5 and info["limits"]["max_texts"] == 64
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/info", "/healthz", "/readyz"} <= set(paths)


@pytest.mark.parametrize(
    "body, field",
    [
        (b'{"texts": ["a", ', "body"),  # malformed JSON
        (b'{"texts": [1, 2]}', "texts[0]"),  # wrong item type
        (b'{"texts": "a review"}', "texts"),  # not a list
        (b"{}", "texts"),  # missing field
        (b'{"text": ["a"]}', "text"),  # unknown field (typo)
        (b'{"texts": []}', "texts"),  # empty list
        (b'{"texts": ["fine", "   \\n "]}', "texts[1]"),  # whitespace-only text
        (b'{"texts": [""]}', "texts[0]"),  # empty text
        (b'{"texts": ["fine", "!!!"]}', "texts[1]"),  # punctuation only: no word
        (b'{"texts": ["\\u0000"]}', "texts[0]"),  # a control character only
        (b'{"texts": ["ok", "ok", "\\u200b\\u200b"]}', "texts[2]"),  # zero-width spaces only
        (b"[1, 2]", "body"),  # not an object
    ],
)
def test_sentiment_bad_payloads_are_422_naming_the_field(
    sentiment: tuple[TestClient, ModelService], body: bytes, field: str
) -> None:
    client, _ = sentiment
    r = client.post("/predict", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["detail"]}, r.json()
    assert client.post("/predict", json={"texts": ["still answers"]}).status_code == 200


def test_sentiment_limits_are_413(sentiment: tuple[TestClient, ModelService]) -> None:
    client, svc = sentiment
    r = client.post("/predict", json={"texts": ["a"] * 65})
    assert r.status_code == 413 and "at most 64" in r.json()["detail"]
    r = client.post("/predict", json={"texts": ["word " * 300_000]})  # 1.5 MB declared
    assert r.status_code == 413 and "1048576" in r.json()["detail"]
    chunks = (b"x" * 100_000 for _ in range(20))  # streamed without Content-Length
    r = client.post("/predict", content=chunks, headers=JSON)
    assert r.status_code == 413
    svc.configure({"options": {"max_texts": 2, "threshold": 0.01}})  # reconfigure, besides the model
    assert client.post("/predict", json={"texts": ["a", "b", "c"]}).status_code == 413
    labels = {p["label"] for p in client.post("/predict", json={"texts": ["a", "b"]}).json()["predictions"]}
    assert labels == {"positive"}


def test_forecast_predicts_from_rows_in_any_order(
    forecast: tuple[TestClient, ModelService], loaded: dict[str, LoadedModel]
) -> None:
    client, _ = forecast
    rows = weather_rows(30)
    r = client.post("/predict", json={"rows": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    offline = loaded["forecast"].predict(rows)[0]
    assert body["prediction"] == pytest.approx(offline["prediction"])
    assert (body["unit"], body["target"], body["delay"], body["version"]) == ("degF", "temp", 6, "7")
    assert (
        body["last_time"] == "2013-01-02T05:00:00+00:00"
        and body["target_time"] == "2013-01-02T11:00:00+00:00"
    )
    info = client.get("/info").json()
    assert info["window"] == {"lookback": 24, "step": 2, "delay": 6, "freq_s": 3600.0}
    assert info["features"] == ["time", "temp", "dewp", "humid", "pressure", "wind_speed"]


def _rows_with(
    change: dict[str, Any] | None = None, drop: str | None = None, n: int = 30
) -> list[dict[str, Any]]:
    rows = weather_rows(n)
    for i, row in enumerate(rows):
        if drop:
            row.pop(drop)
        if change:
            row.update({k: (v(i) if callable(v) else v) for k, v in change.items()})
    return rows


@pytest.mark.parametrize(
    "rows, expected",
    [
        (_rows_with(n=5), "need at least 24"),
        (_rows_with(drop="humid"), "rows[0].humid: missing"),
        (_rows_with({"humid": None}), "rows[0].humid"),
        (_rows_with({"humid": "muggy"}), "rows[0].humid"),
        (_rows_with({"humid": True}), "humid"),
        (_rows_with({"humid": {"value": 3}}), "humid"),
        (_rows_with({"time": "2020-01-01T00:00:00"}), "duplicate time"),
        (_rows_with({"time": "not a time"}), "rows[0].time"),
        ([1, 2, 3], "rows[0]"),
        ([], "rows"),
    ],
)
def test_forecast_bad_rows_are_422_naming_the_field(
    forecast: tuple[TestClient, ModelService], rows: list[Any], expected: str
) -> None:
    client, _ = forecast
    r = client.post("/predict", json={"rows": rows})
    assert r.status_code == 422, r.text
    assert expected in json.dumps(r.json()), r.json()
    assert client.post("/predict", json={"rows": weather_rows(30)}).status_code == 200


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_forecast_non_finite_json_numbers_are_422(
    forecast: tuple[TestClient, ModelService], literal: str
) -> None:
    client, _ = forecast
    body = json.dumps({"rows": weather_rows(30)}).replace('"humid": ', f'"humid": {literal}, "ignored": ', 1)
    r = client.post("/predict", content=body, headers=JSON)
    assert r.status_code == 422 and "finite" in r.json()["detail"], r.text


def test_forecast_too_many_rows_is_413(forecast: tuple[TestClient, ModelService]) -> None:
    client, svc = forecast
    svc.configure({"options": {"max_rows": 25}})
    r = client.post("/predict", json={"rows": weather_rows(30)})
    assert r.status_code == 413 and "at most 25" in r.json()["detail"]


def test_one_bad_request_never_fails_its_batch_mates(loaded: dict[str, LoadedModel]) -> None:
    from seqlab.errors import DataError

    predictor = loaded["forecast"].predictor
    good, other = weather_rows(30, seed=1), weather_rows(40, seed=2)
    out = predictor([ForecastRequest(rows=r) for r in (good, weather_rows(5), other)], ForecastOptions())
    assert isinstance(out[1], DataError) and "need at least 24" in str(out[1])
    for rows, answer in ((good, out[0]), (other, out[2])):
        alone = loaded["forecast"].predict(rows)[0]  # the pyfunc path: a batch of one
        assert isinstance(answer, dict) and answer["prediction"] == pytest.approx(alone["prediction"], abs=1e-5)
        assert answer["target_time"] == alone["target_time"]
    requests = [SentimentRequest(texts=["a good film"]), SentimentRequest(texts=["bad", "dull plot", "fun"])]
    split = loaded["sentiment"].predictor(requests, SentimentOptions())
    assert [len(a["predictions"]) for a in split if isinstance(a, dict)] == [1, 3]
    alone = loaded["sentiment"].predict(["dull plot"])[0]["probability"]
    assert split[1]["predictions"][1]["probability"] == pytest.approx(alone, abs=1e-6)  # type: ignore[index]


def test_concurrent_requests_share_forward_passes(loaded: dict[str, LoadedModel], tmp_path: Path) -> None:
    import asyncio

    svc = _service("forecast", tmp_path)
    svc.use(ServedModel(loaded["forecast"], "seqlab-forecast", "1", None, "champion"))
    windows = [weather_rows(30, seed=i) for i in range(16)] + [weather_rows(3)]

    async def burst() -> list[Any]:
        return await asyncio.gather(
            *(svc.predict(ForecastRequest(rows=rows)) for rows in windows), return_exceptions=True
        )

    answers = asyncio.run(burst())
    assert svc.batches <= 2  # 17 requests, at most two forward passes
    assert isinstance(answers[-1], Exception) and "need at least 24" in str(answers[-1])  # only it fails
    for rows, (served, answer) in zip(windows[:3], answers[:3], strict=True):
        assert served.version == "1"
        assert answer["prediction"] == pytest.approx(
            loaded["forecast"].predict(rows)[0]["prediction"], abs=1e-6
        )


def test_a_swap_leaves_admitted_requests_to_the_old_model(
    loaded: dict[str, LoadedModel], tmp_path: Path
) -> None:
    import asyncio

    svc = _service("sentiment", tmp_path)
    svc.use(ServedModel(loaded["sentiment"], "seqlab-sentiment", "1", None, "champion"))

    async def reload_under_load() -> list[str]:
        before = [asyncio.create_task(svc.predict(SentimentRequest(texts=["a film"]))) for _ in range(4)]
        await asyncio.sleep(0)  # admitted and queued, not yet computed
        svc.use(
            ServedModel(
                LoadedModel(make_state("sentiment", seed=1)), "seqlab-sentiment", "2", None, "champion"
            )
        )
        after = [asyncio.create_task(svc.predict(SentimentRequest(texts=["a film"]))) for _ in range(4)]
        return [served.version for served, _ in await asyncio.gather(*before, *after)]

    assert asyncio.run(reload_under_load()) == ["1"] * 4 + ["2"] * 4


def test_no_model_answers_503_with_the_reason(tmp_path: Path) -> None:
    svc = _service("sentiment", tmp_path, registered_model="seqlab-nothing")
    svc.load()  # the store is empty: no champion
    with TestClient(make_api(svc)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "seqlab-nothing" in ready.json()["reason"]
        assert "champion" in ready.json()["reason"]
        r = client.post("/predict", json={"texts": ["a film"]})
        assert r.status_code == 503 and "seqlab-nothing" in r.json()["detail"]
        assert client.get("/info").status_code == 503
        assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_root_readyz_names_the_apps_that_are_not_ready() -> None:
    statuses = {
        "sentiment": {"ready": True, "version": "1"},
        "forecast": {"ready": False, "reason": "no champion"},
    }

    async def check() -> dict[str, dict[str, Any]]:
        return statuses

    with TestClient(make_health_api(check)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["reason"] == "forecast: no champion"
        statuses["forecast"] = {"ready": True}
        assert client.get("/readyz").status_code == 200


def test_serve_args_reject_typos_and_conflicts() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        _validate({"task": "sentiment", "max_batch": 8})
    with pytest.raises(ConfigError, match="not both"):
        _validate({"task": "forecast", "num_replicas": 2, "autoscaling_config": {"max_replicas": 2}})
    with pytest.raises(ConfigError, match="max_ongoing_requests"):
        _validate({"task": "forecast", "max_ongoing_requests": 4, "max_batch_size": 8})
    with pytest.raises(ConfigError, match="unknown task 'topics'; choose one of: forecast, sentiment, trend"):
        _validate({"task": "topics"})
    with pytest.raises(ConfigError, match="options.treshold"):
        _validate({"task": "sentiment", "options": {"treshold": 0.3}})


def _validate(args: dict[str, Any]) -> ServeArgs:
    from seqlab.serve.schemas import validate_args

    return validate_args(ServeArgs, args, "test")  # type: ignore[no-any-return]


def test_serve_yaml_is_a_valid_serve_config_and_builds() -> None:
    from ray.serve.schema import ServeDeploySchema
    from seqlab.serve.app import build_app, build_health
    from seqlab.serve.deploy import load_serve_file

    tree = yaml.safe_load((ROOT / "configs" / "serve.yaml").read_text())
    config = ServeDeploySchema.model_validate(tree)
    assert config.http_options.host == "127.0.0.1"
    for app in tree["applications"]:
        builder = build_app if app["import_path"].endswith(":build_app") else build_health
        assert builder(app["args"]) is not None
    http, apps = load_serve_file(ROOT / "configs" / "serve.yaml")
    assert [a.prefix for a in apps] == ["/sentiment", "/forecast"] and http["port"] == 8000
    assert all(a.max_ongoing_requests == 64 and a.batch_wait_timeout_s == 0.0 for a in apps)


def test_serve_path_never_imports_training_code() -> None:
    code = (
        "import sys, seqlab.serve.app, seqlab.serve.deploy; "
        "bad = [m for m in sys.modules if m.startswith(('seqlab.training', 'seqlab.sweeps'))]; "
        "print(bad); sys.exit(bool(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("task", ["sentiment", "forecast"])
def test_openapi_states_the_request_body_with_no_model_loaded(task: str, tmp_path: Path) -> None:
    """The endpoint reads its body itself (one-pass JSON validation): the schema must still state it."""
    with TestClient(make_api(_service(task, tmp_path))) as client:
        schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    stated = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    field = "texts" if task == "sentiment" else "rows"
    assert field in stated["required"] and stated["properties"][field]["type"] == "array"
