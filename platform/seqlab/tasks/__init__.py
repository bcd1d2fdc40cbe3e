"""The tasks seqlab knows: ``TASKS`` maps a task's name to its :class:`Task` class, and a config tree is
validated into the config model of the task it names (``load_config``, ``validate_config``).

This wing owns everything task-shaped: ``base.py`` (the :class:`Task` interface every runner calls),
``sentiment.py`` and ``forecast.py`` (each with its config model, data preparation, models, metrics, request
and response models and batch predictor). It may import ``config``, ``errors``, ``data`` and ``models``;
runners above it (tracking, serve, training, sweeps) know tasks only through this registry.

The packaged tasks are ``seqlab.tasks.sentiment`` and ``seqlab.tasks.forecast``. More tasks need no change
to seqlab: name the modules that define them in the environment variable ``SEQLAB_TASK_MODULES``
(comma-separated import paths, e.g. ``SEQLAB_TASK_MODULES=mylab.topics``). Importing ``seqlab.tasks``
imports each of them and registers every :class:`Task` subclass with a ``name`` that it defines.

Ray Train workers, Tune trials and Serve replicas are other processes: each imports ``seqlab.tasks`` and so
sees the same registry, provided the variable is set where Ray starts (before a local ``ray.init``, whose
worker processes inherit this process's environment, or before ``ray start``) or passed to a job in its
runtime environment (``ray job submit --runtime-env-json '{"env_vars": {"SEQLAB_TASK_MODULES": ...}}'``),
and the modules are importable there (installed, on ``PYTHONPATH``, or in the job's ``working_dir``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from seqlab.config import read_tree, validate_tree
from seqlab.errors import ConfigError
from seqlab.tasks.base import Task
from seqlab.tasks.forecast import ForecastTask
from seqlab.tasks.sentiment import SentimentTask

TASK_MODULES_ENV = "SEQLAB_TASK_MODULES"

TASKS: dict[str, type[Task]] = {"forecast": ForecastTask, "sentiment": SentimentTask}


def _register_modules(spec: str) -> None:
    """Import every module named in ``spec`` and add the Task subclasses it defines to ``TASKS``."""
    for module_name in (m.strip() for m in spec.split(",")):
        if not module_name:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"{TASK_MODULES_ENV}: cannot import task module {module_name!r} ({exc}); set it to "
                f"importable module paths, comma-separated"
            ) from None
        found = [v for v in vars(module).values()
                 if isinstance(v, type) and issubclass(v, Task) and v.__module__ == module.__name__
                 and isinstance(getattr(v, "name", None), str)]
        if not found:
            raise ConfigError(f"{TASK_MODULES_ENV}: module {module_name!r} defines no Task subclass with a name")
        for cls in found:
            if cls.name in TASKS and TASKS[cls.name] is not cls:
                raise ConfigError(f"{TASK_MODULES_ENV}: task name {cls.name!r} of {module_name} is taken by "
                                  f"{TASKS[cls.name].__module__}")
            TASKS[cls.name] = cls


_register_modules(os.environ.get(TASK_MODULES_ENV, ""))


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}")
    return TASKS[name]()


def validate_config(tree: dict[str, Any], origin: str = "config") -> Any:
    """Validate a plain dict into the config model of the task its ``task`` key names (every error at once).

    Raises:
        ConfigError: not a mapping, an unknown task (listing the known ones), or every bad key.
    """
    return validate_tree(tree, origin, {name: task.config for name, task in TASKS.items()})


def load_config(path: str | Path | None, overrides: list[str] | dict[str, Any] | None = None) -> Any:
    """Load YAML, merge dotted overrides, validate once into the task's config model.

        cfg = load_config("configs/<task>/tiny.yaml", ["train.lr=1e-3", "train.num_workers=2"])

    Args:
        path: YAML file; None starts from an empty mapping (then an override must give ``task``).
        overrides: ``["train.lr=1e-3", ...]`` or ``{"train.lr": 1e-3}``.

    Returns:
        The validated config (the ``config`` model of the task the tree names).

    Raises:
        ConfigError: naming every bad key, the value received and what is allowed.
    """
    tree, origin = read_tree(path, overrides)
    return validate_config(tree, origin)
