"""The checkpoint inside a logged model, and its sha256: what promotion records and a Serve replica checks.

A seqlab MLflow model is a directory: ``MLmodel`` (YAML), the models-from-code file and the checkpoint
(``artifacts/state.pt``). Promotion tags the registered version with the sha256 of that checkpoint
(:data:`CHECKPOINT_SHA256_TAG`); a replica downloads only the checkpoint, checks the digest, and builds the
model from the installed seqlab code, so no Python code stored in the registry ever runs in a replica.
Importing this module does not import torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import yaml

from seqlab.errors import TrackingError

CHECKPOINT_SHA256_TAG = "seqlab.checkpoint_sha256"  # on the registered model version
CHECKPOINT_ARTIFACT = "checkpoint"  # the key of the checkpoint in the pyfunc's ``artifacts``


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_path_in_model(mlmodel: dict[str, object], model_uri: str) -> str:
    """The checkpoint's path inside the model directory as ``MLmodel`` lists it (``artifacts/state.pt``).

    Raises:
        TrackingError: no checkpoint listed, or a path that leaves the model directory.
    """
    try:
        flavor = mlmodel["flavors"]["python_function"]  # type: ignore[index]
        path = str(flavor["artifacts"][CHECKPOINT_ARTIFACT]["path"])
    except (KeyError, TypeError):
        raise TrackingError(
            f"{model_uri} is not a seqlab model: its MLmodel lists no '{CHECKPOINT_ARTIFACT}' artifact"
        ) from None
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise TrackingError(
            f"{model_uri}: the checkpoint path {path!r} in MLmodel leaves the model directory"
        )
    return path


def download_checkpoint(uri: str, name: str, version: str, dst: Path) -> Path:
    """Download only ``MLmodel`` and the checkpoint of registered ``name`` version ``version`` into ``dst``.

    The artefact location comes from the registry of ``uri`` itself (not from MLflow's process-wide
    registry URI, which a Serve replica never sets).

    Raises:
        TrackingError: the model has no seqlab checkpoint. MLflow's errors when the store cannot be read.
    """
    from seqlab.tracking.runs import client

    root = str(client(uri).get_model_version_download_uri(name, version)).rstrip("/")
    return _download_model_checkpoint(uri, root, f"models:/{name}/{version}", dst)


def download_run_checkpoint(uri: str, run_id: str, dst: Path) -> Path:
    """Download only ``MLmodel`` and the checkpoint of the model logged by run ``run_id`` into ``dst``.

    Raises:
        TrackingError: the model has no seqlab checkpoint. MLflow's errors when the store cannot be read.
    """
    return _download_model_checkpoint(uri, f"runs:/{run_id}/model", f"runs:/{run_id}/model", dst)


def _download_model_checkpoint(uri: str, root: str, where: str, dst: Path) -> Path:
    import mlflow.artifacts

    mlmodel_file = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{root}/MLmodel", dst_path=str(dst / "meta"), tracking_uri=uri
    )
    mlmodel = yaml.safe_load(Path(mlmodel_file).read_text())  # data only: nothing in it is imported
    rel = checkpoint_path_in_model(mlmodel if isinstance(mlmodel, dict) else {}, where)
    return Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"{root}/{rel}", dst_path=str(dst / "checkpoint"), tracking_uri=uri
    ))


def checkpoint_sha256(uri: str, name: str, version: str) -> str:
    """The sha256 of the checkpoint inside registered ``name`` version ``version``, as stored now."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="seqlab-digest-") as tmp:
        return sha256_file(download_checkpoint(uri, name, version, Path(tmp)))
