"""The FastAPI apps: one per task over a :class:`~seqlab.serve.service.ModelService`, and the root health app.

Built per replica (``__serve_build_asgi_app__``) or directly in a test (``TestClient(make_api(service))``).
Every bad input is a 4xx JSON body that names the field and what is allowed; 500 means a bug here.
The request and response models are the task's (``Task.Request``/``Task.Response``); the OpenAPI schema of
``POST /predict`` is the loaded model's when the task states more for it (``Task.request_schema``).

    POST /predict   GET /info   GET /healthz   GET /readyz   GET /docs     (under /<app name>)
"""

# No `from __future__ import annotations`: FastAPI reads the task's request model from the annotation of a
# function defined inside make_api, which must be a class, not a name to resolve later.

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seqlab.errors import DataError
from seqlab.serve.model import ModelUnavailable
from seqlab.serve.schemas import ErrorResponse, InfoResponse, ReadyResponse
from seqlab.serve.service import ModelService
from seqlab.tasks.base import ModelOutputError

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "a Content-Length that is not a number, or a body that "
          "cannot be read as text"},
    413: {"model": ErrorResponse, "description": "body or items over the limits in /info"},
    422: {"model": ErrorResponse, "description": "malformed JSON, or a field that is missing, of the wrong "
          "type or value, or not allowed; `detail` names it"},
    503: {"model": ErrorResponse, "description": "no model loaded, a model of another task, or a model "
          "whose answer is not a finite number; `detail` says why"},
}


class BodyLimit:
    """Refuse a body over ``limit()`` bytes with 413 before anything parses it (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.limit()
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _reply(send, 400, f"Content-Length must be a number of bytes, got {declared!r}")
            if int(declared) > limit:
                return await _reply(send, 413, f"body is {int(declared)} bytes; at most {limit} are accepted")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            size += len(message.get("body", b""))
            if size > limit:
                return await _reply(send, 413, f"body is over {limit} bytes; at most {limit} are accepted")
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, detail: str) -> None:
    await JSONResponse({"detail": detail}, status_code=status)({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _where(loc: tuple[Any, ...]) -> str:
    """('body', 'texts', 2) -> 'texts[2]'."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _base_api(service: ModelService, title: str) -> FastAPI:
    api = FastAPI(
        title=title,
        version="1",
        description=f"Registered model `{service.name}`; "
        f"see GET /info for the version, window, features and limits.",
    )
    api.add_middleware(BodyLimit, limit=lambda: service.settings.max_body_bytes)

    @api.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # the offending input is not echoed back: it may be megabytes
        errors = []
        for e in exc.errors():
            field, msg = _where(tuple(e["loc"])), e["msg"].removeprefix("Value error, ")
            if e["type"] == "json_invalid":  # pydantic's message says where (line and column)
                field, msg = "body", f"malformed JSON: {e.get('ctx', {}).get('error', msg)}"
            errors.append({"loc": list(e["loc"]), "field": field, "msg": msg, "type": e["type"]})
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        message = "; ".join(f"{e['field']}: {e['msg']}" for e in errors[:10]) + more
        return JSONResponse({"detail": jsonable_encoder(errors[:50]), "message": message}, status_code=422)

    @api.exception_handler(DataError)
    async def _bad_data(_: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @api.exception_handler(ModelUnavailable)
    async def _unavailable(_: Request, exc: ModelUnavailable) -> JSONResponse:
        # the reason, never the tracking URI or raw MLflow text (SEQLAB_SERVE_DEBUG_ERRORS=1 shows them)
        return JSONResponse(
            {"detail": service.public_error(exc)}, status_code=503, headers={"Retry-After": "10"}
        )

    @api.exception_handler(ModelOutputError)
    async def _bad_output(_: Request, exc: ModelOutputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @api.get("/healthz", summary="Liveness: the replica answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get(
        "/readyz",
        response_model=ReadyResponse,
        responses={503: {"model": ReadyResponse, "description": "no model loaded; `reason` says why"}},
        summary="Readiness: a model is loaded (503 with the reason otherwise)",
    )
    async def readyz() -> JSONResponse:
        s = service.model_status()
        body = ReadyResponse(ready=s["ready"], model=s["model"], version=s["version"], reason=s["reason"])
        return JSONResponse(body.model_dump(), status_code=200 if s["ready"] else 503)

    @api.get(
        "/info",
        response_model=InfoResponse,
        responses={503: _ERRORS[503]},
        summary="The served model: version, run, window, features, validation metrics, limits",
    )
    async def info() -> InfoResponse:
        return service.info()

    return api


def make_api(service: ModelService) -> FastAPI:
    """The task's FastAPI app over ``service``: the shared routes and ``POST /predict``."""
    task = service.task_def
    api = _base_api(service, f"seqlab {task.name}")
    Body = task.Request  # a class
    request_body = {"required": True, "content": {"application/json": {"schema": _ref(Body.__name__)}}}

    @api.post("/predict", response_model=task.Response, responses=_ERRORS, summary=task.summary,
              openapi_extra={"requestBody": request_body})
    async def predict(request: Request) -> Any:
        # pydantic parses and validates the JSON in one pass: 0.24 ms for 240 weather rows, where FastAPI's
        # json.loads and then validation took 0.68 ms, a quarter of a replica's CPU under load for a 240-row body
        raw = await request.body()
        try:
            raw.decode("utf-8")  # microseconds; JSON text is UTF-8 (RFC 8259)
        except UnicodeDecodeError as exc:
            return JSONResponse({"detail": f"body is not UTF-8 text (byte {exc.start}); send JSON encoded as "
                                           "UTF-8"}, status_code=400)
        try:
            body = Body.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        too_large = task.too_large(body, service.options)
        if too_large:
            return JSONResponse({"detail": too_large}, status_code=413)
        served, answer = await service.predict(body)
        out = task.Response(model=served.name, version=served.version, **answer)
        return Response(out.model_dump_json(), media_type="application/json")

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, with the request schema of the model served now where the task states one."""
        served = service.served
        key = None if served is None else served.version
        if api.openapi_schema is None or api.state.schema_of != key:
            api.openapi_schema = None
            schema = FastAPI.openapi(api)
            _add_model(schema, Body)  # the body is read by the endpoint, so FastAPI does not list its model
            stated = None if served is None else task.request_schema(served.loaded.preprocessing)
            if stated is not None:
                body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
                body["schema"] = stated
            api.openapi_schema, api.state.schema_of = schema, key
        return api.openapi_schema

    api.state.schema_of = None
    api.openapi = openapi  # type: ignore[method-assign]
    return api


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _add_model(schema: dict[str, Any], model: Any) -> None:
    """Put ``model``'s JSON schema (and the models it uses) under the OpenAPI schema's components."""
    stated = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(stated.pop("$defs", {}))
    components[model.__name__] = stated


def make_health_api(statuses: Callable[[], Awaitable[dict[str, dict[str, Any]]]]) -> FastAPI:
    """Root ``/healthz`` (this process answers) and ``/readyz`` (every model app has a model loaded)."""
    api = FastAPI(title="seqlab health", version="1")

    @api.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="Every model application is ready (503 naming the ones that are not)")
    async def readyz() -> JSONResponse:
        apps = await statuses()
        waiting = {name: s for name, s in apps.items() if not s.get("ready")}
        body = {
            "ready": not waiting and bool(apps),
            "apps": apps,
            "reason": "; ".join(f"{n}: {s.get('reason')}" for n, s in waiting.items())
            or (None if apps else "no model applications are configured"),
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    return api
