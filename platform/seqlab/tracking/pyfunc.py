"""The MLflow model: a seqlab checkpoint wrapped as a pyfunc that predicts from raw input.

``mlflow.pyfunc.load_model(uri).predict(raw)`` answers with the task's batch predictor, the one a Serve
replica calls too, here with a batch of one request: ``raw`` is what the task's ``pyfunc_request`` reads
(texts; a DataFrame of weather rows). The preprocessing fitted at training time is inside the checkpoint, so
serving and offline prediction cannot drift from training.
This module is on the serving path: it imports tasks and models, never the trainer.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel  # where it is defined: mypy reads mlflow.pyfunc as a lazy loader
from torch import nn

from seqlab.checkpoint import load_state
from seqlab.tasks import get_task, validate_config


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
        self.predictor = self.task.predictor(self.module, self.preprocessing)

    def predict(self, model_input: Any, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One request from ``model_input`` through the batch predictor; its answer as rows.

        Raises:
            DataError: the input is invalid (naming the field). ModelOutputError: a non-finite answer.
        """
        request = self.task.pyfunc_request(model_input)
        (answer,) = self.predictor([request], self.task.Options.model_validate(options or {}))
        if isinstance(answer, Exception):
            raise answer
        return self.task.pyfunc_rows(answer)

    @classmethod
    def from_checkpoint(cls, path: str) -> LoadedModel:
        return cls(load_state(path))


class SeqlabPyfunc(PythonModel):
    """pyfunc wrapper; the artefact ``checkpoint`` is a seqlab ``state.pt``."""

    # The task's predictor validates the input. Without this MLflow inspects predict() for type hints when
    # the class is defined and warns, in every process that imports it (each Tune trial, each replica).
    _skip_type_hint_validation = True

    def load_context(self, context):  # type: ignore[no-untyped-def]  # MLflow reads hints as a schema
        self.loaded = LoadedModel.from_checkpoint(context.artifacts["checkpoint"])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """The task's raw input (see its ``pyfunc_request``) -> a DataFrame of its answer's rows.

        ``params`` may carry the task's options (its ``Options`` model, e.g. a decision threshold).
        """
        return pd.DataFrame(self.loaded.predict(model_input, dict(params or {})))
