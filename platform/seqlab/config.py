"""Typed configuration: the shared parts (train, tracking), the data and model parts, and loading.

Each task's top-level config model (``TaskConfig`` with its data and model parts) lives in its task module.

Precedence is defaults < YAML < dotted CLI overrides < Tune sample. Overrides merge into the plain dict
*before* validation, so a misspelt key fails like any other unknown key. Every problem of one config is
collected and raised once as a :class:`~seqlab.errors.ConfigError`.

    cfg = load_config("configs/<task>/tiny.yaml", ["train.lr=1e-3", "train.num_workers=2"])
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seqlab.errors import ConfigError

MAX_HIDDEN = 4096
MAX_HASH_BUCKETS = 2**24
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def is_plain_name(name: str) -> bool:
    """A run or sweep name that stays one folder under the storage path (``../x`` or ``/x`` would escape)."""
    return bool(_PLAIN_NAME.fullmatch(name)) and ".." not in name

TEXT_MODELS = ("flatten", "conv1d", "simple_rnn", "gru", "lstm", "ngram_bag")
SERIES_MODELS = ("dense", "gru", "lstm", "conv1d", "conv1d_gru")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------- reviews and text models


class ReviewsDataConfig(_Strict):
    """Where reviews come from and how they become integer sequences."""

    source: Literal["packaged", "aclimdb", "csv", "synthetic"] = "packaged"
    path: str | None = None  # aclImdb/ folder or CSV with text,label; None for packaged/synthetic
    max_words: int = Field(10_000, ge=2)  # top-N words kept in the index (0 = padding, 1 = OOV)
    maxlen: int = Field(200, ge=1)  # words kept per review (the last `maxlen`, like Keras' pad_sequences)
    train_samples: int | None = Field(None, ge=1)  # the chapter's small-data setting uses 200
    val_samples: int | None = Field(None, ge=1)  # ... and validates on 10,000
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # of the non-test reviews
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # held out, never seen by training or tuning
    glove_path: str | None = None  # glove.6B.<d>d.txt; None = the packaged 50-d vectors
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's seeder takes 0 .. 2^32-1 (-1 failed mid-prepare)

    @model_validator(mode="after")
    def _path_needed(self) -> ReviewsDataConfig:
        if self.source in ("aclimdb", "csv") and not self.path:
            raise ValueError(f"data.path is required when data.source is '{self.source}'")
        return self


class TextModelConfig(_Strict):
    """The chapter's text models; ``name`` picks one, the rest are its sizes."""

    name: Literal["flatten", "conv1d", "simple_rnn", "gru", "lstm", "ngram_bag"] = "conv1d"
    embedding: Literal["learned", "glove"] = "learned"
    embed_dim: int = Field(32, ge=1)  # must equal the GloVe dimension when embedding is 'glove'
    freeze_embedding: bool = False  # the chapter freezes pretrained vectors
    # Upper bounds catch a typo (an extra zero or two) before it asks for gigabytes: a GRU layer of 4096 units
    # already holds ~100M weights; 2^24 hashed n-gram rows of embed_dim 32 take 2 GiB plus Adam's 4 GiB.
    hidden: int = Field(32, ge=1, le=MAX_HIDDEN)  # recurrent units, or the dense layer after Flatten
    layers: int = Field(1, ge=1, le=4)
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    conv_filters: int = Field(32, ge=1)
    conv_kernel: int = Field(7, ge=1)
    pool: int = Field(5, ge=1)
    ngrams: int = Field(2, ge=1, le=3)  # ngram_bag: words plus hashed 2-grams (and 3-grams)
    hash_buckets: int = Field(2**18, ge=1, le=MAX_HASH_BUCKETS)  # ngram_bag: rows for hashed n-grams (hashing trick)
    binary_bag: bool = False  # ngram_bag: each word / n-gram counts once per review (a set, not a multiset)

    @model_validator(mode="after")
    def _freeze_needs_pretrained(self) -> TextModelConfig:
        if self.freeze_embedding and self.embedding != "glove":
            raise ValueError("model.freeze_embedding=true needs model.embedding='glove' (a learned embedding must train)")
        return self


# ------------------------------------------------------------------------------- series and series models


class ColumnRule(_Strict):
    """Valid values of one series column; anything else becomes missing and is filled like a gap.

    A value below ``min``, above ``max``, equal to a sentinel or not finite is invalid. Fields left out keep
    the column's default (see ``seqlab.data.cleaning.DEFAULT_BOUNDS``); ``null`` removes a default bound.
    """

    min: float | None = None
    max: float | None = None
    sentinels: list[float] | None = None  # None: the defaults -9999 and -999 (logger codes for "no value")

    @model_validator(mode="after")
    def _ordered(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class SeriesDataConfig(_Strict):
    """Where the series comes from, how it is cleaned and how windows are cut from it (lengths in rows)."""

    source: Literal["packaged", "jena", "csv", "synthetic"] = "packaged"
    path: str | None = None  # jena_climate_2009_2016.csv or any CSV with a time column
    time_column: str | None = None  # None: 'Date Time' for jena, 'time' for csv
    station: Literal["EWR", "JFK", "LGA"] = "EWR"  # packaged NYC weather only
    target: str | None = None  # None: 'T (degC)' for jena, 'temp' otherwise
    features: list[str] | None = None  # None: every numeric column
    lookback: int = Field(240, ge=1)  # rows of history per sample (10 days of hourly rows)
    step: int = Field(1, ge=1)  # keep one row in `step` inside the lookback
    delay: int = Field(24, ge=1)  # predict the target this many rows after the last one
    train_fraction: float = Field(0.5, gt=0.0, lt=1.0)  # chronological: first part trains
    val_fraction: float = Field(0.25, gt=0.0, lt=1.0)  # next part validates, the rest tests
    resample: str | None = None  # e.g. '1h' to average an irregular CSV onto a grid; None: rows must be on one
    clean: dict[str, ColumnRule] = Field(default_factory=dict)  # per column, over the weather defaults
    max_gap_rows: int = Field(12, ge=0)  # longer runs of missing values split the series (no window crosses)
    bounds_margin: float = Field(1.0, ge=0.0)  # prediction accepts the train range +- margin x range
    # extra sin/cos input columns of each row's time: [day] (hour of day), [day, year] (also day of year)
    calendar: list[Literal["day", "year"]] = Field(default_factory=list)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's seeder takes 0 .. 2^32-1 (-1 failed mid-run)

    @model_validator(mode="after")
    def _check(self) -> SeriesDataConfig:
        errors = []
        if self.source in ("jena", "csv") and not self.path:
            errors.append(f"data.path is required when data.source is '{self.source}'")
        if self.delay < self.step:
            errors.append(f"data.delay ({self.delay}) must be >= data.step ({self.step}): the target lies "
                          "delay rows after the window's last row")
        if self.step > self.lookback:
            errors.append(f"data.step ({self.step}) must be <= data.lookback ({self.lookback})")
        if self.train_fraction + self.val_fraction >= 1.0:
            errors.append(
                f"data.train_fraction + data.val_fraction must be < 1 (a test part must remain), got "
                f"{self.train_fraction} + {self.val_fraction}"
            )
        if errors:
            raise ValueError("; ".join(errors))
        return self


class SeriesModelConfig(_Strict):
    """The chapter's series models (dense, recurrent, convolutional); ``name`` picks one."""

    name: Literal["dense", "gru", "lstm", "conv1d", "conv1d_gru"] = "gru"
    hidden: int = Field(32, ge=1, le=MAX_HIDDEN)  # bounded like the text models' hidden
    layers: int = Field(1, ge=1, le=4)  # stacked recurrent layers
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # on the inputs of each recurrent layer
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # on the hidden-to-hidden weights
    conv_filters: int = Field(32, ge=1)
    conv_kernel: int = Field(5, ge=1)
    pool: int = Field(3, ge=1)
    residual: bool = False  # predict the change from the window's last target value, not the value


# -------------------------------------------------------------------------------------------- shared parts


class TrainConfig(_Strict):
    """How training runs: optimisation, workers, checkpoints, early stopping."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    optimizer: Literal["adam", "rmsprop", "keras_rmsprop", "sgd"] = "adam"  # keras_rmsprop: seqlab.optim
    weight_decay: float = Field(0.0, ge=0.0, allow_inf_nan=False)  # .inf would pass ge=0 and zero every weight
    max_steps_per_epoch: int | None = Field(None, ge=1)  # caps an epoch (the book's steps_per_epoch)
    patience: int | None = Field(None, ge=1)  # early stopping on the validation metric; None = off
    num_workers: int = Field(1, ge=1)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0.0, le=1024.0, allow_inf_nan=False)  # .inf: no node could fit it
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"  # SPREAD: across nodes
    torch_threads: int | None = Field(None, ge=1)  # None: cpus_per_worker rounded
    max_failures: int = Field(2, ge=0)
    storage_path: str | None = None  # absolute path or URI; None = ~/ray_results
    # same name + same storage resumes a stopped run; a folder name under storage_path, never a path
    run_name: str | None = None
    force_new: bool = False  # start afresh even if run_name has checkpoints (the old folder is kept, renamed)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's and torch's seeders take 0 .. 2^32-1 (-1 fails mid-run)

    @field_validator("run_name")
    @classmethod
    def _plain_name(cls, name: str | None) -> str | None:
        if name is not None and not is_plain_name(name):
            raise ValueError("must be a plain folder name (letters, digits, '-', '_', '.'; starting with a letter "
                             "or digit; no '..'; at most 128 characters), not a path")
        return name


class TrackingConfig(_Strict):
    """Where MLflow writes. ``tracking_uri`` None means $MLFLOW_TRACKING_URI or sqlite:///mlflow.db."""

    tracking_uri: str | None = None
    experiment: str = "seqlab"
    log_model: bool = True
    registered_model: str | None = None  # None: seqlab-<task>


class TaskConfig(_Strict):
    """What every task's config has: its name and the shared ``train`` and ``tracking`` sections. Each task
    module subclasses it with its own ``data`` and ``model`` sections (``seqlab.tasks``)."""

    task: str
    data: BaseModel
    model: BaseModel
    train: TrainConfig = TrainConfig()
    tracking: TrackingConfig = TrackingConfig()


def _config_models() -> dict[str, type[BaseModel]]:
    """Each registered task's config model (``seqlab.tasks.TASKS``; imported here lazily: tasks import
    this module for their config models)."""
    from seqlab.tasks import TASKS

    return {name: task.config for name, task in TASKS.items()}


# ------------------------------------------------------------------------------------------------ loading


def parse_value(text: str) -> Any:
    """Parse an override's value as YAML (so 1e-3, true, null and [a, b] mean what they say)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set ``tree['a']['b'] = value`` for ``key='a.b'``, creating sections as needed."""
    parts = key.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{key}': '{'.'.join(parts[: i + 1])}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(tree: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``tree`` with dotted overrides (``["train.lr=1e-3"]`` or ``{"train.lr": 1e-3}``)."""
    out = copy.deepcopy(tree)
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override '{item}' must look like key.path=value, e.g. train.lr=1e-3")
            key, _, text = item.partition("=")
            items.append((key.strip(), parse_value(text.strip())))
    for key, value in items:
        if not key:
            raise ConfigError("an override has an empty key; use key.path=value")
        set_dotted(out, key, value)
    return out


def _format_errors(exc: ValidationError, origin: str, root: type[BaseModel]) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(config)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            section = _section_model(root, loc[:-1])
            allowed = ", ".join(sorted(section.model_fields)) if section else "see the config schema"
            msg = f"unknown key; allowed here: {allowed}"
        got = err.get("input")
        shown = "" if err["type"] in ("missing",) or isinstance(got, dict) else f", got {got!r}"
        lines.append(f"  {key}: {msg}{shown}")
    return f"invalid config ({origin}):\n" + "\n".join(lines)


def _section_model(root: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model


def validate_config(tree: dict[str, Any], origin: str = "config") -> Any:
    """Validate a plain dict into its task's typed config, reporting every error at once."""
    if not isinstance(tree, dict):
        raise ConfigError(f"invalid config ({origin}): the top level must be a mapping, got {type(tree).__name__}")
    models = _config_models()
    task = tree.get("task")
    if task not in models:
        raise ConfigError(f"invalid config ({origin}): unknown task {task!r}; choose one of: {', '.join(sorted(models))}")
    try:
        return models[task].model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin, models[task])) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p} (give a path to a YAML file, e.g. configs/<task>/tiny.yaml)")
    try:
        tree = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {p}: the top level must be a mapping, got {type(tree).__name__}")
    return tree


def load_config(
    path: str | Path | None, overrides: list[str] | dict[str, Any] | None = None
) -> Any:
    """Load YAML, merge dotted overrides, validate once.

    Args:
        path: YAML file; None starts from an empty mapping (then an override must give ``task``).
        overrides: ``["train.lr=1e-3", ...]`` or ``{"train.lr": 1e-3}``.

    Returns:
        The validated config.

    Raises:
        ConfigError: naming every bad key, the value received and what is allowed.
    """
    tree = read_yaml(path) if path is not None else {}
    origin = str(path) if path is not None else ""
    if overrides:
        tree = apply_overrides(tree, overrides)
        origin += (" + " if origin else "") + "overrides " + (
            " ".join(overrides) if isinstance(overrides, list) else ", ".join(f"{k}={v}" for k, v in overrides.items())
        )
    return validate_config(tree, origin)


def config_to_dict(cfg: BaseModel) -> dict[str, Any]:
    """The resolved config as plain data (what is logged and what travels to Ray workers)."""
    return cfg.model_dump(mode="json")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'train': {'lr': 1}} -> {'train.lr': 1}`` (MLflow params, sweep keys)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
