"""The served model: a registry version loaded through MLflow.

The replica loads exactly what ``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` loads offline (the
pyfunc carries the preprocessing), then reaches the :class:`~seqlab.tracking.pyfunc.LoadedModel` inside it,
whose task's batch predictor answers many requests in one forward pass. This module never imports the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.errors import TrackingError
from seqlab.tracking.pyfunc import LoadedModel


class ModelUnavailable(TrackingError):
    """No model is loaded (no champion, unknown version, store unreachable): answered with 503."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded registry version. Immutable: a reload builds a new one and swaps the reference."""

    loaded: LoadedModel
    name: str
    version: str
    run_id: str | None
    alias: str | None  # the alias it was resolved from; None when pinned

    @property
    def task(self) -> str:
        return str(self.loaded.task.name)


def resolve_version(uri: str, name: str, alias: str, version: str | None = None) -> tuple[str, str | None]:
    """The registry version (and its run id) that ``version`` or else ``alias`` points at now.

    Raises:
        ModelUnavailable: the model, version or alias does not exist, or the store cannot be read.
    """
    from seqlab.tracking import client

    c = client(uri)
    try:
        mv = c.get_model_version(name, version) if version else c.get_model_version_by_alias(name, alias)
    except Exception as exc:  # noqa: BLE001  # MLflow raises several kinds; all mean "not there"
        what = f"version {version}" if version else f"alias '{alias}'"
        raise ModelUnavailable(
            f"registered model '{name}' has no {what} in {uri} ({type(exc).__name__}: {str(exc)[:200]}); "
            f"promote a run with `seqlab promote --task <task> --run <run id>`"
        ) from None
    return str(mv.version), (str(mv.run_id) if mv.run_id else None)


def load_served_model(
    uri: str, name: str, alias: str, version: str | None = None, run_id: str | None = None,
    task: str | None = None,
) -> ServedModel:
    """Load ``models:/<name>/<version>`` with ``mlflow.pyfunc.load_model`` (resolving ``alias`` first if no
    version is given, so that the version reported is the one loaded even if the alias moves meanwhile).

    Args:
        task: if given, the task the model must have been trained for (the endpoint's task).

    Raises:
        ModelUnavailable: nothing to load, it does not load, or it is a model of another task.
    """
    import mlflow

    pinned = version
    if version is None:
        version, run_id = resolve_version(uri, name, alias)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        loaded = pyfunc.unwrap_python_model().loaded
    except Exception as exc:  # noqa: BLE001  # whatever breaks the load, the replica stays up and says why
        raise ModelUnavailable(
            f"cannot load models:/{name}/{version} from {uri}: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    if not isinstance(loaded, LoadedModel):
        raise ModelUnavailable(f"models:/{name}/{version} is not a seqlab model (no LoadedModel inside)")
    served = ServedModel(loaded, name, version, run_id, None if pinned else alias)
    if task is not None:
        check_task(served, task)
    return served


def check_task(served: ServedModel, task: str) -> None:
    """Raise ModelUnavailable if ``served`` was trained for another task than ``task``."""
    if served.task != task:
        raise ModelUnavailable(
            f"models:/{served.name}/{served.version} is a {served.task!r} model; this endpoint serves "
            f"{task!r}: point registered_model at a {task!r} model (default seqlab-{task})"
        )
