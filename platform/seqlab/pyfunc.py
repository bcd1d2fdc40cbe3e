"""The MLflow model: a seqlab checkpoint wrapped as a pyfunc that predicts from raw input.

``mlflow.pyfunc.load_model(uri).predict(["a great film"])`` answers a sentiment model;
``.predict(frame_of_weather_rows)`` answers a forecast model. The preprocessing fitted at training time
is inside the checkpoint, so serving and offline prediction cannot drift from training.
This module is on the serving path: it imports tasks and models, never the trainer.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd
from torch import nn

from seqlab.checkpoint import load_state
from seqlab.config import validate_config
from seqlab.tasks import get_task


class LoadedModel:
    """A module rebuilt from a checkpoint, with its task's predictor and what it was trained on."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.cfg = validate_config(state["config"], "checkpoint")
        self.task = get_task(self.cfg.task)
        self.preprocessing: dict[str, Any] = state["preprocessing"]
        self.module: nn.Module = self.task.build_model(self.cfg, self.preprocessing)
        self.module.load_state_dict(state["best_model_state"])
        self.module.eval()
        self.metrics: dict[str, float] = dict(state.get("best_metrics", {}))
        self.predict = self.task.predictor(self.module, self.preprocessing)

    @classmethod
    def from_checkpoint(cls, path: str) -> LoadedModel:
        return cls(load_state(path))


class SeqlabPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper; the artefact ``checkpoint`` is a seqlab ``state.pt``."""

    # The task's predictor validates the input. Without this MLflow inspects predict() for type hints when
    # the class is defined and warns, in every process that imports it (each Tune trial, each replica).
    _skip_type_hint_validation = True

    def load_context(self, context):  # type: ignore[no-untyped-def]  # MLflow reads hints as a schema
        self.loaded = LoadedModel.from_checkpoint(context.artifacts["checkpoint"])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """Texts (list, Series or a DataFrame with ``text``) or a DataFrame of weather rows -> a DataFrame."""
        if isinstance(model_input, pd.DataFrame) and self.loaded.cfg.task == "sentiment" and "text" not in model_input:
            model_input = model_input.iloc[:, 0].tolist()  # a list of strings arrives as a one-column frame
        return pd.DataFrame(self.loaded.predict(model_input))
