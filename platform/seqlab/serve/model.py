"""The served model: a registry version loaded through MLflow, and the batched predict paths.

The replica loads exactly what ``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` loads offline (the
pyfunc carries the preprocessing), then reaches the :class:`~seqlab.tracking.pyfunc.LoadedModel` inside it to run
many requests in one call. This module never imports the trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import torch

from seqlab.errors import DataError, TrackingError
from seqlab.tracking.pyfunc import LoadedModel
from seqlab.tasks.forecast import rows_to_window


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
        return str(self.loaded.cfg.task)

    def window(self) -> dict[str, float | int]:
        p = self.loaded.preprocessing
        if self.task == "sentiment":
            return {"maxlen": int(p["maxlen"])}
        return {
            "lookback": int(p["lookback"]),
            "step": int(p["step"]),
            "delay": int(p["delay"]),
            "freq_s": float(p["freq_s"]),
        }

    def features(self) -> list[str]:
        p = self.loaded.preprocessing
        return ["text"] if self.task == "sentiment" else ["time", *p["features"]]


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
    uri: str, name: str, alias: str, version: str | None = None, run_id: str | None = None
) -> ServedModel:
    """Load ``models:/<name>/<version>`` with ``mlflow.pyfunc.load_model`` (resolving ``alias`` first if no
    version is given, so that the version reported is the one loaded even if the alias moves meanwhile).

    Raises:
        ModelUnavailable: nothing to load, or it does not load.
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
    return ServedModel(loaded, name, version, run_id, None if pinned else alias)


def predict_texts(
    served: ServedModel, batch: list[list[str]], threshold: float
) -> list[list[dict[str, Any]]]:
    """Many requests' texts in one forward pass; one answer list per request, in order."""
    flat = [text for texts in batch for text in texts]
    answers = served.loaded.predict(flat)
    for a in answers:
        a["label"] = "positive" if a["probability"] >= threshold else "negative"
    out, start = [], 0
    for texts in batch:
        out.append(answers[start : start + len(texts)])
        start += len(texts)
    return out


def predict_rows(served: ServedModel, batch: list[list[dict[str, Any]]]) -> list[dict[str, Any] | DataError]:
    """Many requests' weather rows -> one stacked forward pass; one answer (or its DataError) per request.

    The same steps as the task's predictor (``tasks/forecast.py``): rows -> window -> normalize -> model ->
    degrees, but for a stack of windows: a GRU over 32 windows costs about twice one window, not 32 times.
    A bad request gets its DataError back instead of failing its batch-mates. The parity test holds this
    equal to ``mlflow.pyfunc.load_model(...).predict``.
    """
    p = served.loaded.preprocessing
    features, lookback, step, delay = list(p["features"]), int(p["lookback"]), int(p["step"]), int(p["delay"])
    mean = np.asarray(p["normalizer"]["mean"], dtype=np.float32)
    std = np.asarray(p["normalizer"]["std"], dtype=np.float32)
    t = int(p["target_idx"])
    offsets = -np.arange(0, lookback, step)[::-1]
    freq = pd.Timedelta(seconds=float(p["freq_s"]))

    out: list[dict[str, Any] | DataError] = []
    windows, last_times, slots = [], [], []
    for rows in batch:
        try:
            times, values = rows_to_window(rows, features, lookback)
        except DataError as exc:
            out.append(exc)
            continue
        except (ValueError, TypeError, OverflowError) as exc:  # pandas on odd values: still the input's fault
            out.append(
                DataError(f"rows: cannot be read as weather rows: {type(exc).__name__}: {str(exc)[:200]}")
            )
            continue
        windows.append((values[len(values) - 1 + offsets] - mean) / std)
        last_times.append(times[-1])
        slots.append(len(out))
        out.append(DataError("unreachable"))  # replaced below
    if not windows:
        return out
    x = torch.from_numpy(np.stack(windows).astype(np.float32))
    with torch.inference_mode():
        y = served.loaded.module(x).reshape(-1).cpu().numpy().astype(np.float64)
    for slot, last, value in zip(slots, last_times, y, strict=True):
        prediction = float(value) * float(std[t]) + float(mean[t])
        if not math.isfinite(prediction):
            out[slot] = DataError("rows: values are out of range (the model's answer is not a finite number)")
            continue
        out[slot] = {
            "prediction": prediction,
            "unit": p["unit"],
            "target": p["target"],
            "last_time": last.isoformat(),
            "target_time": (last + delay * freq).isoformat(),
        }
    return out
