"""Ray Serve applications: one per task over the registry's champion, plus a root health app.

    serve run configs/serve.yaml                       # the YAML names build_app / build_health
    seqlab serve --config configs/serve.yaml [--reload]

``build_app(args)`` validates ``args`` as :class:`ServeArgs` and returns the application of ``args.task``:
a FastAPI ingress deployment whose replicas load ``models:/<registered model>@<alias>`` through MLflow.
What may change without new replicas (alias, pinned version, threshold, batch size, limits) travels as
``user_config`` to ``reconfigure``. This module never imports training code.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from seqlab.serve.http import make_api, make_health_api
from seqlab.serve.schemas import HEALTH_SERVER, HealthArgs, ServeArgs, validate_args
from seqlab.serve.service import ModelService
from seqlab.tracking.runs import resolve_tracking_uri


@serve.deployment
@serve.ingress()
class ModelServer(ModelService):
    """A replica: the task's FastAPI app over a :class:`ModelService` (routes in ``seqlab.serve.http``)."""

    def __serve_build_asgi_app__(self) -> FastAPI:
        return make_api(self)


@serve.deployment(
    name=HEALTH_SERVER, num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=32
)
@serve.ingress()
class HealthServer:
    """Root ``/healthz`` and ``/readyz``: asks each model app's replica for ``model_status()``."""

    def __init__(self) -> None:
        self.args = HealthArgs()
        self._handles: dict[str, Any] = {}

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.args = validate_args(HealthArgs, user_config, "health user_config")

    async def _status(self, app: str) -> dict[str, Any]:
        try:
            if app not in self._handles:
                self._handles[app] = await asyncio.to_thread(serve.get_app_handle, app)
            status: dict[str, Any] = await asyncio.wait_for(
                self._handles[app].model_status.remote(), self.args.timeout_s
            )
            return status
        except Exception as exc:  # noqa: BLE001  # not deployed, deleted, or too busy to answer in time
            self._handles.pop(app, None)
            return {
                "ready": False,
                "reason": f"application '{app}' did not answer: {type(exc).__name__}: "
                f"{str(exc)[:200] or 'timed out'}",
            }

    async def statuses(self) -> dict[str, dict[str, Any]]:
        results = await asyncio.gather(*(self._status(app) for app in self.args.apps))
        return dict(zip(self.args.apps, results, strict=True))

    def __serve_build_asgi_app__(self) -> FastAPI:
        return make_health_api(self.statuses)


def build_app(args: dict[str, Any] | ServeArgs) -> Application:
    """The Serve application of one task (``import_path: seqlab.serve.app:build_app`` in serve.yaml).

    Raises:
        ConfigError: ``args`` has an unknown key or a bad value (all of them, at once).
    """
    a: ServeArgs = validate_args(ServeArgs, args, "serve app args")
    # resolved where the app is built, so replicas (other working folders) read the same store
    a = a.model_copy(update={"tracking_uri": resolve_tracking_uri(a.tracking_uri)})
    deployment: Any = ModelServer  # @serve.deployment made the class a Deployment
    return deployment.options(**a.deployment_options()).bind(a.init_args())  # type: ignore[no-any-return]


def build_health(args: dict[str, Any] | HealthArgs | None = None) -> Application:
    """The root application answering ``/healthz`` and ``/readyz`` for the model apps in ``args.apps``."""
    h: HealthArgs = validate_args(HealthArgs, args, "health app args")
    deployment: Any = HealthServer
    return deployment.options(user_config=h.model_dump()).bind()  # type: ignore[no-any-return]
