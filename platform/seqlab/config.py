"""Configuration's ground: the parts every task shares, and loading a config tree.

It owns the strict base model, the shared ``train`` and ``tracking`` sections, the ``TaskConfig`` base that
every task's config extends, and the steps before validation: reading YAML and merging dotted overrides.
The parts that only some code reads live with that code (``data.reviews.ReviewsDataConfig``,
``models.series.SeriesModelConfig``, ...) and each task's top-level config model lives in its task module;
the task registry (``seqlab.tasks``) picks a tree's model by its ``task`` key and validates it
(``seqlab.tasks.load_config``). It imports nothing of seqlab but ``errors``.

Precedence is defaults < YAML < dotted CLI overrides < Tune sample. Overrides merge into the plain dict
*before* validation, so a misspelt key fails like any other unknown key. Every problem of one config is
collected and raised once as a :class:`~seqlab.errors.ConfigError`.

    tree, origin = read_tree("configs/<task>/tiny.yaml", ["train.lr=1e-3", "train.num_workers=2"])
"""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from seqlab.errors import ConfigError

# Upper bounds on sizes: a typo (an extra zero or two) fails here, before Ray starts, not as "can't allocate
# 256000000000 bytes" inside torch on a worker.
MAX_HIDDEN = 4096  # recurrent / dense units of any model (a typo with an extra zero asks for gigabytes)
MAX_EMBED_DIM = 4096  # GloVe's largest vectors have 300 dimensions
MAX_FILTERS = 4096  # Conv1D output channels
MAX_KERNEL = 1024  # Conv1D kernel and pooling widths
MAX_WEIGHTS_GIB = 4.0  # one weight matrix of a model (float32), before the optimizer's copies
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def is_plain_name(name: str) -> bool:
    """A run or sweep name that stays one folder under the storage path (``../x`` or ``/x`` would escape)."""
    return bool(_PLAIN_NAME.fullmatch(name)) and ".." not in name


class StrictModel(BaseModel):
    """Every config section: unknown keys are errors (never stripped), values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic turns true/false into 1/0 for an int or float field: `train.epochs=true` trained 1 epoch
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if _is_numeric(annotation) and not _admits_bool(annotation):
                raise ValueError(f"expected a number, not the YAML boolean {str(value).lower()}")
        return value


def _is_numeric(annotation: Any) -> bool:
    """Whether a field's type is int or float, or a union holding one."""
    if annotation in (int, float):
        return True
    return any(_is_numeric(arg) for arg in typing.get_args(annotation))


def _admits_bool(annotation: Any) -> bool:
    """Whether a field's type takes a bool as itself (bool, a union with bool, Any)."""
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(arg) for arg in typing.get_args(annotation))


# -------------------------------------------------------------------------------------------- shared parts


class TrainConfig(StrictModel):
    """How training runs: optimisation, workers, checkpoints, early stopping."""

    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    optimizer: Literal["adam", "rmsprop", "keras_rmsprop", "sgd"] = "adam"  # keras_rmsprop: seqlab.training.optim
    weight_decay: float = Field(0.0, ge=0.0, allow_inf_nan=False)  # .inf would pass ge=0 and zero every weight
    max_steps_per_epoch: int | None = Field(None, ge=1)  # caps an epoch (the book's steps_per_epoch)
    patience: int | None = Field(None, ge=1)  # early stopping on the validation metric; None = off
    num_workers: int = Field(1, ge=1, le=1024)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0.0, le=1024.0, allow_inf_nan=False)  # .inf: no node could fit it
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"  # SPREAD: across nodes
    torch_threads: int | None = Field(None, ge=1, le=1024)  # None: cpus_per_worker rounded
    max_failures: int = Field(2, ge=0, le=100)
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


class TrackingConfig(StrictModel):
    """Where MLflow writes. ``tracking_uri`` None means $MLFLOW_TRACKING_URI or sqlite:///mlflow.db."""

    tracking_uri: str | None = None
    experiment: str = "seqlab"
    log_model: bool = True
    registered_model: str | None = None  # None: seqlab-<task>


class TaskConfig(StrictModel):
    """What every task's config has: its name and the shared ``train`` and ``tracking`` sections. Each task
    module subclasses it with its own ``data`` and ``model`` sections (``seqlab.tasks``)."""

    task: str
    data: BaseModel
    model: BaseModel
    train: TrainConfig = TrainConfig()
    tracking: TrackingConfig = TrackingConfig()


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
        shown = "" if err["type"] in ("missing",) or isinstance(got, dict) else f", got {_short(repr(got), 200)}"
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


def validate_tree(tree: Any, origin: str, models: Mapping[str, type[BaseModel]]) -> Any:
    """Validate a plain dict into the model its ``task`` key names, reporting every error at once.

    Args:
        tree: the merged config tree.
        origin: where it came from (file + overrides), for the message.
        models: config model per task name (the task registry passes its own: ``seqlab.tasks``).

    Raises:
        ConfigError: not a mapping, an unknown task, or every bad key with its value and what is allowed.
    """
    if not isinstance(tree, dict):
        raise ConfigError(f"invalid config ({origin}): the top level must be a mapping, got {type(tree).__name__}")
    task = tree.get("task")
    if not isinstance(task, str) or task not in models:
        raise ConfigError(f"invalid config ({origin}): unknown task {task!r}; choose one of: {', '.join(sorted(models))}")
    try:
        return models[task].model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin, models[task])) from None


MAX_YAML_BYTES = 1 << 20  # a config, sweep, pipeline or serve file; seqlab's own are under 5 KiB
MAX_YAML_DEPTH = 32  # nesting of mappings and lists; seqlab's files use 4
MAX_YAML_NODES = 100_000  # values after aliases are expanded: an alias bomb of 605 bytes expands to billions


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader, refusing a key given twice in one mapping (the later one silently won)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} given twice (lines {seen[key]} and "
                        f"{key_node.start_mark.line + 1}); keep one", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _check_size(value: Any, where: str) -> None:
    """Refuse a tree nested deeper than MAX_YAML_DEPTH or holding more than MAX_YAML_NODES values (aliases
    counted every time they are used), before anything walks or prints it."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_YAML_NODES:
            raise ConfigError(f"{where}: more than {MAX_YAML_NODES:,} values (with aliases expanded); "
                              f"a config is far smaller: remove the repeated aliases")
        if isinstance(item, (dict, list)):
            if depth > MAX_YAML_DEPTH:
                raise ConfigError(f"{where}: nested deeper than {MAX_YAML_DEPTH} levels")
            children = list(item.values()) if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def load_yaml_file(path: str | Path, what: str) -> Any:
    """Read one YAML file the way every seqlab file is read: at most MAX_YAML_BYTES, UTF-8, safe types only,
    no key twice in a mapping, bounded depth and size.

    Args:
        path: the file.
        what: what it is, for messages ("config file", "serve config", ...).

    Raises:
        ConfigError: naming the file, and the line where the YAML parser knows it.
    """
    p = Path(path)
    try:
        with p.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what} {p} cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{what} {p} is larger than {MAX_YAML_BYTES // 1024} KiB; a config is a few KiB")
    try:
        tree = yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)  # a SafeLoader: plain data types only
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {p} is not UTF-8 text (byte {exc.start + 1}, counted from 1)") from None
    except RecursionError:
        raise ConfigError(f"{what} {p}: nested deeper than {MAX_YAML_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {p} is not valid YAML: {_short(str(exc))}") from None
    _check_size(tree, f"{what} {p}")
    return tree


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (see :func:`load_yaml_file`), with errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p} (give a path to a YAML file, e.g. configs/<task>/tiny.yaml)")
    tree = load_yaml_file(p, "config file")
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {p}: the top level must be a mapping, got {type(tree).__name__}")
    return tree


def read_tree(
    path: str | Path | None, overrides: list[str] | dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    """Read YAML and merge dotted overrides, before validation.

    Args:
        path: YAML file; None starts from an empty mapping (then an override must give ``task``).
        overrides: ``["train.lr=1e-3", ...]`` or ``{"train.lr": 1e-3}``.

    Returns:
        The merged tree and its origin (file + overrides) for error messages.

    Raises:
        ConfigError: a missing or unreadable file, or a malformed override.
    """
    tree = read_yaml(path) if path is not None else {}
    origin = str(path) if path is not None else ""
    if overrides:
        tree = apply_overrides(tree, overrides)
        origin += (" + " if origin else "") + "overrides " + (
            " ".join(overrides) if isinstance(overrides, list) else ", ".join(f"{k}={v}" for k, v in overrides.items())
        )
    return tree, origin


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
