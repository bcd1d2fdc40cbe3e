"""What one replica holds: the served model, its limits, and the batched predict path.

A plain class, so it runs inside a Serve replica (``seqlab.serve.app.ModelServer`` subclasses it) and in a
test or benchmark process without Ray. Reloading swaps one reference: a batch that already started keeps
the model it started with, the next batch uses the new one.

What a client reads of a failure (``/readyz``, ``/info``, 503 bodies, ``model_status``) names the model and
what to do, but never the tracking URI (an absolute path, or a URL with credentials), a file path or raw
MLflow exception text; the server log keeps all of it. Set ``SEQLAB_SERVE_DEBUG_ERRORS=1`` in the replicas'
environment to put the full detail in the bodies too (a development store only).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import re
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from seqlab.errors import ConfigError
from seqlab.serve.model import ModelUnavailable, ServedModel, check_task, load_served_model, resolve_version
from seqlab.serve.schemas import InfoResponse, ReloadConfig, ServeArgs, task_options, validate_args
from seqlab.tasks import get_task
from seqlab.tracking.registry import model_name
from seqlab.tracking.runs import resolve_tracking_uri

logger = logging.getLogger("ray.serve")

DEBUG_ERRORS_ENV = "SEQLAB_SERVE_DEBUG_ERRORS"  # "1": error bodies carry URIs, paths and raw exception text
_CREDENTIALS = re.compile(r"(?<=://)[^/\s@]+@")  # user:secret@ in any URL
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])(?:file://)?/(?:[^\s'\"/]+/)+[^\s'\",;)]*")


def debug_errors() -> bool:
    """Whether ``$SEQLAB_SERVE_DEBUG_ERRORS`` asks for the full error detail in HTTP bodies."""
    return os.environ.get(DEBUG_ERRORS_ENV, "").strip().lower() in ("1", "true", "yes")


def scrub(text: str, uri: str) -> str:
    """``text`` without the tracking URI, URL credentials or absolute file paths (a safety net: the messages
    of :class:`ModelUnavailable` are written without them)."""
    for secret in sorted({uri, uri.removeprefix("sqlite:///"), uri.removeprefix("file://")} - {""}, key=len,
                         reverse=True):  # the whole URI before the path inside it
        text = text.replace(secret, "<tracking store>")
    return _ABSOLUTE_PATH.sub("<path>", _CREDENTIALS.sub("***@", text))

BatchFn = Callable[[list[Any]], Awaitable[list[tuple[ServedModel, Any]]]]
Waiter = asyncio.Future[list[tuple[ServedModel, Any]]]  # one serve.batch batch's answers


def _batcher(
    fn: BatchFn, settings: ReloadConfig, max_ongoing_requests: int
) -> Callable[[Any], Awaitable[tuple[ServedModel, Any]]]:
    """``@serve.batch`` inside a replica: concurrent requests share one forward pass.

    ``batch_wait_timeout_s=0`` takes what already waits and never sleeps: requests that arrive during a
    forward pass form the next batch, so batching costs a lone client nothing. Outside a replica
    (``serve.batch`` needs one), each call is a batch of one.
    """
    from ray import serve
    from ray.serve.exceptions import RayServeException

    try:
        serve.get_replica_context()
    except RayServeException:

        async def one(item: Any) -> tuple[ServedModel, Any]:
            return (await fn([item]))[0]

        return one
    # Every request on the replica may sit in a batch that waits for the next forward pass (_run_batch), so
    # as many batches as requests may be open. Serve logs once that max_batch_size * max_concurrent_batches
    # exceeds max_ongoing_requests: true, and intended.
    batch: Any = serve.batch(
        max_batch_size=settings.max_batch_size,
        batch_wait_timeout_s=settings.batch_wait_timeout_s,
        max_concurrent_batches=max_ongoing_requests,
    )
    return batch(fn)  # type: ignore[no-any-return]


class ModelService:
    """One task's model behind the HTTP API: load, reload, predict in batches, report status."""

    def __init__(self, args: ServeArgs | dict[str, Any]) -> None:
        self.args: ServeArgs = validate_args(ServeArgs, args, "serve args")
        self.task = self.args.task
        self.task_def = get_task(self.task)
        self.uri = resolve_tracking_uri(self.args.tracking_uri)
        self.name = model_name(self.task, self.args.registered_model)
        self.settings = self.args.reload_config()
        self.options: Any = task_options(self.task, self.settings.options)
        self.served: ServedModel | None = None
        self.reason: str = "the model is not loaded yet"
        self.last_error: str | None = None
        self.debug_errors = debug_errors()
        if self.args.torch_threads:
            import torch

            torch.set_num_threads(self.args.torch_threads)
        # one thread runs forward passes: batches never compete for the cores, the event loop stays free
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"seqlab-{self.task}")
        self._batched: Any = _batcher(self._run_batch, self.settings, self.args.max_ongoing_requests)
        self.batches, self.batched_requests = 0, 0  # how well concurrent requests share forward passes
        self._waiting: deque[tuple[ServedModel, list[Any], Waiter]] = deque()
        self._forward_loop: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------- loading

    def _target(self, s: ReloadConfig) -> tuple[str, str | None, str | None] | None:
        """(version, run id, alias) to serve, or None if that is what is served already.

        Resolving an alias is one registry query; only a different version is loaded.
        """
        version, run_id = resolve_version(self.uri, self.name, s.alias, s.model_version)
        if self.served is not None and self.served.version == version:
            return None
        return version, run_id, None if s.model_version else s.alias

    def _load(self, s: ReloadConfig) -> ServedModel | None:
        target = self._target(s)
        if target is None:
            return None
        version, run_id, alias = target
        served = load_served_model(self.uri, self.name, s.alias, version, run_id, task=self.task)
        return ServedModel(served.loaded, served.name, served.version, served.run_id, alias)

    def _use(self, served: ServedModel) -> None:
        replaced = self.served is not None
        self.served = served
        self.reason, self.last_error = "", None
        logger.info(f"seqlab: serving {served.name} v{served.version} (run {served.run_id})")
        # Full collections of the long-lived model objects cost ~70 ms pauses under load (DESIGN.md):
        # collect what the previous model left, then freeze the survivors out of the collector's reach.
        if replaced:
            gc.unfreeze()
        gc.collect()
        gc.freeze()

    def public_error(self, exc: Exception) -> str:
        """What a client may read of ``exc``: its message, scrubbed; everything when debugging."""
        detail = getattr(exc, "detail", None)
        if self.debug_errors:
            return f"{exc} ({detail})" if detail else str(exc)
        return scrub(str(exc), self.uri)

    def _failed(self, exc: Exception) -> None:
        self.last_error = self.public_error(exc)
        if self.served is None:
            self.reason = self.last_error
        state = f"still serving v{self.served.version}" if self.served else "not ready"
        detail = getattr(exc, "detail", None)
        more = f" ({detail})" if detail else ""
        logger.warning(f"seqlab: loading {self.name} failed; {state}: {exc}{more}")

    def load(self, settings: ReloadConfig | dict[str, Any] | None = None) -> None:
        """Blocking load (tests, benchmarks). Inside Serve, ``reconfigure`` does this without blocking."""
        try:
            served = self._load(self.configure(settings))
        except ModelUnavailable as exc:
            self._failed(exc)
            return
        if served is not None:
            self._use(served)
        self.last_error = None

    def use(self, served: ServedModel) -> None:
        """Serve an already loaded model (tests). Raises ModelUnavailable for a model of another task."""
        check_task(served, self.task)
        self._use(served)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve calls this after ``__init__`` and whenever ``user_config`` changes (``deploy --reload``).

        The alias (or pinned version) is resolved again; a different version loads in a worker thread while
        the old one keeps answering, then one reference is swapped. A failed load keeps the old model and is
        reported by ``/readyz`` and ``model_status``.
        """
        s = self.configure(user_config)
        try:
            served = await asyncio.to_thread(self._load, s)
        except ModelUnavailable as exc:
            self._failed(exc)
            return
        if served is not None:
            self._use(served)
        self.last_error = None

    def configure(self, settings: ReloadConfig | dict[str, Any] | None) -> ReloadConfig:
        """Apply thresholds, limits and batch parameters (no model change); return the settings in force."""
        s: ReloadConfig = (
            self.settings if settings is None else validate_args(ReloadConfig, settings, "user_config")
        )
        try:
            options = task_options(self.task, s.options)
        except ValueError as exc:
            raise ConfigError(f"invalid user_config: {exc}") from None
        self.settings, self.options = s, options
        if hasattr(self._batched, "set_max_batch_size"):
            self._batched.set_max_batch_size(s.max_batch_size)
            self._batched.set_batch_wait_timeout_s(s.batch_wait_timeout_s)
        return s

    # ---------------------------------------------------------------------------------------- predicting

    async def predict(self, item: Any) -> tuple[ServedModel, dict[str, Any]]:
        """One request (the task's ``Request``) -> (the model that answered, its answer's fields).

        Raises:
            ModelUnavailable: no model loaded (503).
            DataError: the request cannot be answered (422). ModelOutputError: a non-finite answer (503).
        """
        if self.served is None:
            raise ModelUnavailable(self.reason)
        served, out = await self._batched(item)
        if isinstance(out, Exception):
            raise out
        return served, out

    async def _run_batch(self, items: list[Any]) -> list[tuple[ServedModel, Any]]:
        """The ``@serve.batch`` function: hand what arrived together to the forward loop, await the answers.

        ``serve.batch`` closes a batch when it is collected, not when the model is free: with no wait, the
        requests that arrive while a forward pass runs would queue as many batches of one or two (measured:
        a mean of 1.7 requests per pass at 32 clients). So the batches it forms are pooled here and each
        forward pass takes everything that waits, up to ``max_batch_size``: the batch grows with the load
        and nobody waits for a batch to fill. Requests are answered by the model that was served when they
        arrived, even if a reload swaps it before their pass.
        """
        if self.served is None:
            raise ModelUnavailable(self.reason)
        waiter: Waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((self.served, items, waiter))
        if self._forward_loop is None or self._forward_loop.done():
            self._forward_loop = asyncio.create_task(self._forward_while_waiting())
        return await waiter

    async def _forward_while_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            served, n = self._waiting[0][0], 0
            taken: list[tuple[list[Any], Waiter]] = []
            while self._waiting and self._waiting[0][0] is served:
                if taken and n + len(self._waiting[0][1]) > self.settings.max_batch_size:
                    break
                _, items, waiter = self._waiting.popleft()
                taken.append((items, waiter))
                n += len(items)
            flat = [item for items, _ in taken for item in items]
            try:  # the task's batch predictor: one forward pass, one answer or error per request
                outs: list[Any] = await loop.run_in_executor(
                    self._executor, served.loaded.predictor, flat, self.options
                )
            except Exception as exc:  # noqa: BLE001  # every waiter of this pass gets it; the loop goes on
                for _, waiter in taken:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            self.batches += 1
            self.batched_requests += n
            start = 0
            for items, waiter in taken:
                if not waiter.done():
                    waiter.set_result([(served, out) for out in outs[start : start + len(items)]])
                start += len(items)

    # -------------------------------------------------------------------------------------------- status

    def model_status(self) -> dict[str, Any]:
        """Readiness as plain data (also called over a DeploymentHandle by the root ``/readyz``)."""
        s = self.served
        return {
            "ready": s is not None,
            "model": self.name,
            "version": s.version if s else None,
            "reason": None if s else self.reason,
            "last_error": self.last_error,
            "batches": self.batches,
            "batched_requests": self.batched_requests,
            "mean_batch_size": round(self.batched_requests / self.batches, 2) if self.batches else None,
        }

    def info(self) -> InfoResponse:
        s = self.served
        if s is None:
            raise ModelUnavailable(self.reason)
        reported = s.loaded.predictor.info(self.options)
        limits = {
            "max_body_bytes": self.settings.max_body_bytes,
            "max_batch_size": self.settings.max_batch_size,
            **reported["limits"],
        }
        return InfoResponse(
            task=self.task,
            model=s.name,
            version=s.version,
            run_id=s.run_id,
            alias=s.alias,
            window=reported["window"],
            features=reported["features"],
            limits=limits,
            metrics={
                k: float(v) for k, v in s.loaded.metrics.items()
                if (k.startswith("val_") or k == "epoch") and math.isfinite(float(v))  # JSON has no NaN
            },
            options=reported["options"],
        )
