"""The Task interface: the one place that binds a data set, a model, a loss, metrics and a predictor.

Trainer, tuner, tracker and server know only this interface. A task is used in four places:

* on the driver, ``prepare(cfg)`` loads the data and fits the preprocessing on the training split only;
  ``describe(cfg)`` is what ``seqlab data describe`` prints; ``data_fingerprint(cfg)`` names the validation
  examples so that champions are compared on the same data only;
* in each Ray Train worker, ``build_model``, ``split(...).batch(idx)``, ``loss`` and ``metric_sums`` run
  the loop;
* at prediction time, ``predictor(module, preprocessing)`` is the one batch-native predictor: the MLflow
  pyfunc calls it with a batch of one request, a Serve replica with every request that waits (see
  :class:`BatchPredictor`);
* over HTTP, ``Request``/``Response`` are the endpoint's pydantic models (its OpenAPI contract) and
  ``Options`` what a running replica may reconfigure for the task (thresholds, per-request limits).
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from seqlab.errors import DataError, SeqlabError


class Split(Protocol):
    """One split of a prepared data set: a length and a vectorized batch gather.

    ``batch`` returns ``(x, y)``; ``x`` is one array or a tuple of arrays, the model's positional arguments
    (the trainer calls ``model(*x)``; e.g. bag ids and offsets).
    """

    def __len__(self) -> int: ...

    def batch(self, positions: np.ndarray) -> tuple[np.ndarray | tuple[np.ndarray, ...], np.ndarray]: ...


@dataclass
class ArraySplit:
    """Samples already in arrays (token ids for reviews)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x[positions], self.y[positions]


@dataclass
class Prepared:
    """What the driver hands to the workers: splits, the fitted preprocessing and facts to log.

    ``preprocessing`` is plain JSON-able data: it is saved in every checkpoint and with the MLflow model.
    ``info`` holds facts about the data (source, sizes, baselines) that are logged as params/metrics.
    """

    train: Split
    val: Split
    test: Split
    preprocessing: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    embedding_matrix: np.ndarray | None = None


class ModelOutputError(SeqlabError):
    """The model answered something that is not a finite number: never sent as a result (HTTP 503)."""


class NoOptions(BaseModel):
    """A task whose replicas have nothing task-specific to reconfigure."""

    model_config = ConfigDict(extra="forbid", frozen=True)


RequestT = TypeVar("RequestT", bound=BaseModel)
OptionsT = TypeVar("OptionsT", bound=BaseModel)


class BatchPredictor(ABC, Generic[RequestT, OptionsT]):
    """Many requests -> one forward pass -> one answer (or one error) per request.

    A task implements three steps, the seam the server calls and never looks inside:

    * ``encode(request, options)``: one request's model input; raises :class:`DataError` naming the field
      for a request that cannot be answered (it alone gets the error, its batch-mates are answered);
    * ``forward(encoded)``: every good request's input in ONE forward pass; one output per request;
    * ``decode(request, output, options)``: the answer fields of the task's ``Response`` (without
      ``model``/``version``, which the server adds); raises :class:`ModelOutputError` for a non-finite one.
    """

    def __init__(self, module: nn.Module, preprocessing: dict[str, Any]) -> None:
        self.module = module.eval()
        self.preprocessing = preprocessing

    @abstractmethod
    def encode(self, request: RequestT, options: OptionsT) -> Any: ...

    @abstractmethod
    def forward(self, encoded: list[Any]) -> list[Any]: ...

    @abstractmethod
    def decode(self, request: RequestT, output: Any, options: OptionsT) -> dict[str, Any]: ...

    @abstractmethod
    def info(self, options: OptionsT) -> dict[str, Any]:
        """What ``/info`` reports: ``{"window": {...}, "features": [...], "limits": {...}}``."""

    def __call__(self, requests: Sequence[RequestT], options: OptionsT) -> list[dict[str, Any] | SeqlabError]:
        """Answer ``requests`` in order; a bad request gets its error in its slot, never raised."""
        out: list[dict[str, Any] | SeqlabError] = []
        good: list[int] = []
        encoded: list[Any] = []
        for request in requests:
            try:
                encoded.append(self.encode(request, options))
                good.append(len(out))
                out.append(DataError("not answered"))  # replaced below
            except SeqlabError as exc:
                out.append(exc)
        if not encoded:
            return out
        with torch.inference_mode():
            outputs = self.forward(encoded)
        for slot, output in zip(good, outputs, strict=True):
            try:
                out[slot] = self.decode(requests[slot], output, options)
            except SeqlabError as exc:
                out[slot] = exc
        return out


def finite(value: float, where: str) -> float:
    """``value`` as a float, or :class:`ModelOutputError` naming ``where`` if it is NaN or infinite."""
    v = float(value)
    if not np.isfinite(v):
        raise ModelOutputError(
            f"{where}: the model's answer is {v} (not a finite number); the served model cannot answer "
            f"this request: check the model's training metrics or promote another version"
        )
    return v


def validate_request(model: type[RequestT], raw: Any, origin: str) -> RequestT:
    """``model.model_validate(raw)``, with pydantic's errors as one DataError naming each field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:10]:
            where = ""
            for part in err["loc"]:
                where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
            lines.append(f"{where or origin}: {err['msg'].removeprefix('Value error, ')}")
        raise DataError(f"invalid {origin}: " + "; ".join(lines)) from None


def content_hash(path: str | None) -> str | None:
    """SHA-256 of a data file's bytes (a folder: of every file's relative path and bytes); None for None.

    The fingerprint must change when the data changes, and must not when only its location does.
    """
    if path is None:
        return None
    p = Path(path).expanduser()
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise DataError(f"data.path {path!r}: no data file there to fingerprint")
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class Task(ABC):
    """A learning problem seqlab can train, tune, track and serve."""

    name: ClassVar[str]
    #: the validation metric that selects checkpoints, early-stops, ranks trials and picks champions
    metric: ClassVar[str]
    #: whether a larger (max) or smaller (min) ``metric`` is better, everywhere seqlab compares runs
    mode: ClassVar[Literal["min", "max"]]
    #: the task's config model (``task: Literal[<name>]`` plus data, model, train, tracking)
    config: ClassVar[type[BaseModel]]
    #: data config keys that decide which examples validate a model (besides the data file's content) ...
    fingerprint_keys: ClassVar[tuple[str, ...]]
    #: ... and those that do not (a test requires every data key to be in one of the two)
    fingerprint_ignored: ClassVar[tuple[str, ...]] = ()
    #: the HTTP request body of ``POST /predict`` and its answer (with ``model`` and ``version``)
    Request: ClassVar[type[BaseModel]]
    Response: ClassVar[type[BaseModel]]
    #: what a running replica may reconfigure for this task (thresholds, per-request limits)
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: one line for the OpenAPI page of ``POST /predict``
    summary: ClassVar[str] = "Predict"

    @abstractmethod
    def prepare(self, cfg: Any) -> Prepared:
        """Load the configured data, fit preprocessing on the training split, return all splits."""

    @abstractmethod
    def describe(self, cfg: Any) -> dict[str, Any]:
        """What ``seqlab data describe`` prints for the configured data (origin, sizes, splits, ...)."""

    @abstractmethod
    def build_model(self, cfg: Any, preprocessing: dict[str, Any], embedding_matrix: np.ndarray | None = None) -> nn.Module:
        """The configured ``nn.Module`` for data shaped by ``preprocessing``."""

    @abstractmethod
    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch."""

    @abstractmethod
    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Per-batch *sums* (not means) so that shards and batches add up exactly; see ``finish_metrics``."""

    @abstractmethod
    def finish_metrics(self, sums: dict[str, float], count: int, preprocessing: dict[str, Any]) -> dict[str, float]:
        """Turn summed statistics over ``count`` samples into the reported metrics."""

    @abstractmethod
    def predictor(self, module: nn.Module, preprocessing: dict[str, Any]) -> BatchPredictor[Any, Any]:
        """The batch predictor of a loaded model, built once per model so per-call work stays small."""

    @abstractmethod
    def pyfunc_request(self, model_input: Any) -> BaseModel:
        """The MLflow pyfunc's input (a list, Series or DataFrame) as one ``Request`` (raises DataError)."""

    @abstractmethod
    def pyfunc_rows(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        """One answer as the rows of the DataFrame the MLflow pyfunc returns."""

    def score_models(self, cfg: Any, models: Sequence[tuple[nn.Module, dict[str, Any]]]) -> tuple[list[float], int]:
        """Each model's ``metric`` on the validation examples of ``cfg``, each model reading them through its
        own preprocessing: how a champion validated on other data is compared with a candidate on the
        candidate's data (``cfg`` is the candidate's config, ``models[0]`` the candidate).

        Returns:
            One value per model, in the unit ``metric`` has for ``models[0]`` (so its value is the one its
            training logged for these examples), and how many examples were scored.

        Raises:
            DataError: a model cannot read these examples (another input, target or horizon; a window the
                data cannot fill), naming why. A task that does not implement it raises this too.
        """
        raise DataError(f"task {self.name!r} cannot score a model on another model's validation data")

    def request_schema(self, preprocessing: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON Schema of a request to the model of ``preprocessing`` when it states more than
        ``Request``'s own (e.g. the features and minimum rows of that model); None: ``Request``'s."""
        return None

    def too_large(self, request: Any, options: Any) -> str | None:
        """Why ``request`` exceeds a per-request limit of ``options`` (answered 413), or None."""
        return None

    def prepare_key(self, cfg: Any) -> dict[str, Any]:
        """The config parts that decide ``prepare(cfg)``'s output (trials sharing them share the data)."""
        tree = cfg.model_dump(mode="json")
        return {"task": tree["task"], "data": tree["data"]}

    def data_fingerprint(self, cfg: Any) -> str:
        """A short hash of the validation data: the data file's content and ``fingerprint_keys``.

        Two models are compared (champion vs candidate) only if their fingerprints are equal.
        """
        data = cfg.data.model_dump(mode="json")
        missing = [k for k in self.fingerprint_keys if k not in data]
        assert not missing, f"{self.name}.fingerprint_keys names unknown data keys {missing}"
        blob = {"task": self.name, "content": self.data_content(cfg),
                **{k: data[k] for k in self.fingerprint_keys if k != "path"}}
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]

    def data_content(self, cfg: Any) -> str | None:
        """What stands for the data's content in the fingerprint: the sha256 of ``data.path``'s bytes."""
        return content_hash(cfg.data.model_dump(mode="json").get("path"))

    def is_better(self, a: float, b: float | None) -> bool:
        """Whether metric value ``a`` beats ``b`` (None: nothing to beat).

        A non-finite value (NaN, +-inf: a diverged model) ranks worst: it never beats anything, not even
        nothing, and any finite value beats it, so a NaN champion or best epoch never blocks a real one.
        """
        if not math.isfinite(a):
            return False
        if b is None or not math.isfinite(b):
            return True
        return a > b if self.mode == "max" else a < b

    def best(self, values: Sequence[float]) -> float:
        """The best finite value of ``values`` by ``mode`` (NaN when none is finite: NaN/inf rank worst)."""
        finite = [float(v) for v in values if math.isfinite(v)]
        if not finite:
            return math.nan
        return max(finite) if self.mode == "max" else min(finite)
