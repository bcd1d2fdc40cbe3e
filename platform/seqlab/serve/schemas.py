"""The serving arguments: ``ServeArgs`` (one application), the reloadable part of them, and the replies every
app shares (``/info``, ``/readyz``, errors).

What a client sends to ``POST /predict`` and gets back is the task's (``Task.Request``/``Task.Response``);
what a replica may reconfigure for a task is ``Task.Options``, given here as ``options``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seqlab.errors import ConfigError

HEALTH_SERVER = "HealthServer"


def server_name(task: str) -> str:
    """The Serve deployment of ``task``'s app, e.g. ``ReviewsServer`` for a task called ``reviews``."""
    return "".join(part.capitalize() for part in task.replace("-", "_").split("_")) + "Server"

# ------------------------------------------------------------------------------------------- arguments


class ReloadConfig(BaseModel):
    """What ``reconfigure(user_config)`` may change on a running replica, without restarting it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str = "champion"  # the registry alias to follow
    model_version: str | None = None  # a pinned registry version; wins over the alias
    max_batch_size: int = Field(default=32, ge=1)  # requests per forward pass
    # 0: a batch is what already waits; a fixed wait costs a lone client (DESIGN.md)
    batch_wait_timeout_s: float = Field(default=0.0, ge=0.0, le=1.0)
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)  # larger bodies get 413 before they are parsed
    options: dict[str, Any] = Field(default_factory=dict)  # the task's Options (threshold, per-request limits)


class ServeArgs(ReloadConfig):
    """The arguments of one Serve application (one task): ``build_app(args)`` and ``serve.yaml`` ``args``.

    Fields inherited from :class:`ReloadConfig` travel as the deployment's ``user_config`` (changed in
    place by ``reconfigure``); the others need new replicas.
    """

    task: str  # a registered task (seqlab.tasks.TASKS)
    name: str | None = None  # Serve application name; None: the task name
    route_prefix: str | None = None  # None: "/<name>"
    tracking_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db
    registered_model: str | None = None  # None: seqlab-<task>
    num_replicas: int | Literal["auto"] | None = None  # None: 1, or autoscaling if configured
    autoscaling_config: dict[str, Any] | None = None  # Serve's autoscaling_config (min/max_replicas, ...)
    max_ongoing_requests: int = Field(default=64, ge=1)  # Serve's default 5 collapses throughput (DESIGN.md)
    max_queued_requests: int = Field(default=-1, ge=-1)  # -1: unbounded; else 503 once this many wait
    num_cpus: float = Field(default=1.0, ge=0.0)  # per replica
    torch_threads: int | None = Field(default=None, ge=1)  # None: what Ray sets for the replica (its CPUs)
    access_log: bool = False  # one log line per request in every replica costs throughput; errors still log

    @field_validator("num_replicas")
    @classmethod
    def _positive(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, int) and v < 1:
            raise ValueError(f"must be >= 1 or 'auto', got {v}")
        return v

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        from seqlab.tasks import TASKS

        if v not in TASKS:
            raise ValueError(f"unknown task {v!r}; choose one of: {', '.join(sorted(TASKS))}")
        return v

    @model_validator(mode="after")
    def _check(self) -> ServeArgs:
        task_options(self.task, self.options)  # a typo in options fails here, not in a replica
        if self.autoscaling_config is not None and isinstance(self.num_replicas, int):
            raise ValueError("give num_replicas or autoscaling_config, not both (or num_replicas: auto)")
        if self.max_ongoing_requests < self.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests ({self.max_ongoing_requests}) must be >= max_batch_size "
                f"({self.max_batch_size}), or batches can never fill"
            )
        if self.route_prefix is not None and not self.route_prefix.startswith("/"):
            raise ValueError(f"route_prefix must start with '/', got {self.route_prefix!r}")
        return self

    @property
    def app_name(self) -> str:
        return self.name or self.task

    @property
    def prefix(self) -> str:
        return self.route_prefix or f"/{self.app_name}"

    def reload_config(self) -> ReloadConfig:
        return ReloadConfig.model_validate({k: getattr(self, k) for k in ReloadConfig.model_fields})

    def init_args(self) -> dict[str, Any]:
        """What the replica's ``__init__`` reads; a change here means new replicas."""
        return {
            "task": self.task,
            "tracking_uri": self.tracking_uri,
            "registered_model": self.registered_model,
            "torch_threads": self.torch_threads,
            "max_ongoing_requests": self.max_ongoing_requests,  # sizes the batch queue
        }

    def deployment_options(self) -> dict[str, Any]:
        """Serve deployment options (also a config file's ``deployments`` entry); ``user_config`` included."""
        options: dict[str, Any] = {
            "name": server_name(self.task),
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "ray_actor_options": {"num_cpus": self.num_cpus},
            "user_config": self.reload_config().model_dump(),
            "logging_config": {"enable_access_log": self.access_log},
        }
        if self.autoscaling_config is not None or self.num_replicas == "auto":
            options["num_replicas"] = "auto"
            if self.autoscaling_config is not None:
                options["autoscaling_config"] = self.autoscaling_config
        else:
            options["num_replicas"] = self.num_replicas or 1
        return options


def _all_tasks() -> list[str]:
    from seqlab.tasks import TASKS

    return sorted(TASKS)


class HealthArgs(BaseModel):
    """The root application: ``/healthz`` and ``/readyz`` over the model applications named in ``apps``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    apps: list[str] = Field(default_factory=_all_tasks)  # application names (default: one per task)
    timeout_s: float = Field(default=2.0, gt=0.0)  # per app status call


def validate_args(model: type[BaseModel], args: Any, origin: str) -> Any:
    """``model.model_validate(args)`` with errors as one ConfigError naming each key and what is allowed."""
    if isinstance(args, model):
        return args
    try:
        return model.model_validate(args if args is not None else {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(args)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key; allowed: {', '.join(sorted(model.model_fields))}"
            lines.append(
                f"  {key}: {msg}" + ("" if err["type"] == "missing" else f", got {err.get('input')!r}")
            )
        raise ConfigError(f"invalid serve args ({origin}):\n" + "\n".join(lines)) from None


def task_options(task: str, options: dict[str, Any] | BaseModel) -> BaseModel:
    """``options`` validated as ``task``'s ``Options`` (raises ValueError naming each bad key)."""
    from seqlab.tasks import TASKS

    model = TASKS[task].Options
    if isinstance(options, model):
        return options
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        allowed = ", ".join(sorted(model.model_fields)) or "none"
        bad = "; ".join(f"options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{bad} (options of task {task!r}: {allowed})") from None


# ------------------------------------------------------------------------------------------------ replies


class ReadyResponse(BaseModel):
    ready: bool
    model: str
    version: str | None = None
    reason: str | None = None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: ``detail`` says what is wrong, where, and what is allowed."""

    detail: str | list[dict[str, Any]] = Field(description="the reason, or one entry per invalid field")
    message: str | None = Field(default=None, description="the invalid fields in one line (422)")


class InfoResponse(BaseModel):
    task: str
    model: str
    version: str
    run_id: str | None
    alias: str | None = Field(description="the alias followed; None when a version is pinned")
    window: dict[str, float | int] = Field(description="what the model reads of a request")
    features: list[str] = Field(description="the fields a request item needs")
    metrics: dict[str, float] = Field(description="best validation metrics at training time")
    limits: dict[str, int]
    options: dict[str, Any] = Field(description="the task's settings in force (e.g. a threshold)")
