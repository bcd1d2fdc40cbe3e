"""The tasks seqlab knows. A new task is a new module here and one line in ``TASKS``."""

from __future__ import annotations

from seqlab.errors import ConfigError
from seqlab.tasks.base import Prepared, Task
from seqlab.tasks.forecast import ForecastTask
from seqlab.tasks.sentiment import SentimentTask

TASKS: dict[str, type[Task]] = {"forecast": ForecastTask, "sentiment": SentimentTask}


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}")
    return TASKS[name]()


__all__ = ["TASKS", "Prepared", "Task", "get_task"]
