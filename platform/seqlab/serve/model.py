"""The served model: a registry version, rebuilt from its checkpoint by the installed seqlab code.

A replica downloads only the version's checkpoint (``state.pt``), checks its sha256 against the tag that
``seqlab promote`` wrote (:mod:`seqlab.tracking.digest`), loads it with ``torch.load(weights_only=True)`` and
builds the module with the installed task code (:class:`~seqlab.tracking.pyfunc.LoadedModel`). The
models-from-code file stored next to the checkpoint is never imported here: a registry that someone else can
write cannot run code in a replica. Offline, ``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` loads the
same checkpoint into the same ``LoadedModel``. This module never imports the trainer.

Errors carry two texts: ``message`` (what a client may read: no tracking URI, no path, no raw MLflow text)
and ``detail`` (all of it, for the server log and for bodies when ``SEQLAB_SERVE_DEBUG_ERRORS=1``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import TrackingError
from seqlab.tracking.pyfunc import LoadedModel


class ModelUnavailable(TrackingError):
    """No model is loaded (no champion, unknown version, store unreachable, bad artefact): answered with 503.

    ``str(exc)`` is the client-safe ``message``; ``detail`` holds the tracking URI, paths and the raw
    exception text, which only the server log (and debug bodies) show.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:  # type: ignore[override]
        return (type(self), (self.message, self.detail))


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


def _raw(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def resolve_version(uri: str, name: str, alias: str, version: str | None = None) -> tuple[str, str | None]:
    """The registry version (and its run id) that ``version`` or else ``alias`` points at now.

    Raises:
        ModelUnavailable: the model, version or alias does not exist, or the store cannot be read.
    """
    from seqlab.tracking.runs import client

    c = client(uri)
    try:
        mv = c.get_model_version(name, version) if version else c.get_model_version_by_alias(name, alias)
    except Exception as exc:  # noqa: BLE001  # MLflow raises several kinds; all mean "not there"
        what = f"version {version}" if version else f"alias '{alias}'"
        raise ModelUnavailable(
            f"registered model '{name}' has no {what} in the tracking store, or the store cannot be read; "
            f"promote a run with `seqlab promote --task <task> --run <run id>`",
            f"store {uri}: {_raw(exc)}",
        ) from None
    return str(mv.version), (str(mv.run_id) if mv.run_id else None)


def load_verified_state(uri: str, name: str, version: str) -> dict[str, object]:
    """Download the checkpoint of ``models:/<name>/<version>``, check its sha256 tag, load it (weights only).

    Raises:
        ModelUnavailable: no digest tag, a digest that differs (the artefact changed after promotion), or a
            checkpoint that cannot be read.
    """
    from seqlab.checkpoint import load_state
    from seqlab.tracking.digest import CHECKPOINT_SHA256_TAG, download_checkpoint, sha256_file
    from seqlab.tracking.runs import client

    where = f"models:/{name}/{version}"
    try:
        expected = client(uri).get_model_version(name, version).tags.get(CHECKPOINT_SHA256_TAG)
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailable(f"cannot read {where} in the tracking store",
                               f"store {uri}: {_raw(exc)}") from None
    if not expected:
        raise ModelUnavailable(
            f"{where} has no '{CHECKPOINT_SHA256_TAG}' tag, so its checkpoint cannot be verified; "
            f"register it with `seqlab promote` (which records the digest)"
        )
    with tempfile.TemporaryDirectory(prefix="seqlab-serve-") as tmp:
        try:
            path = download_checkpoint(uri, name, version, Path(tmp))
        except Exception as exc:  # noqa: BLE001  # MLflow and seqlab errors alike: the replica stays up
            raise ModelUnavailable(f"cannot download the checkpoint of {where}",
                                   f"store {uri}: {_raw(exc)}") from None
        actual = sha256_file(path)
        if actual != expected:
            raise ModelUnavailable(
                f"the checkpoint of {where} has sha256 {actual[:16]}..., not the {expected[:16]}... "
                f"recorded at promotion: the artefact changed after it was registered; refusing to load it",
                f"store {uri}: expected {expected}, got {actual}",
            )
        try:
            return load_state(path)  # torch.load(weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelUnavailable(f"the checkpoint of {where} cannot be read as a seqlab checkpoint",
                                   _raw(exc)) from None


def load_served_model(
    uri: str, name: str, alias: str, version: str | None = None, run_id: str | None = None,
    task: str | None = None,
) -> ServedModel:
    """Load ``models:/<name>/<version>`` from its verified checkpoint (resolving ``alias`` first if no version
    is given, so that the version reported is the one loaded even if the alias moves meanwhile).

    Args:
        task: if given, the task the model must have been trained for (the endpoint's task).

    Raises:
        ModelUnavailable: nothing to load, a checkpoint that fails its digest or does not load, or a model
            of another task.
    """
    pinned = version
    if version is None:
        version, run_id = resolve_version(uri, name, alias)
    state = load_verified_state(uri, name, version)
    try:
        loaded = LoadedModel(state)  # the installed task code builds the module
    except Exception as exc:  # noqa: BLE001  # whatever breaks the build, the replica stays up and says why
        raise ModelUnavailable(f"models:/{name}/{version} does not build with the installed seqlab",
                               _raw(exc)) from None
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
