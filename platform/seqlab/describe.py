"""``seqlab data describe``: what each task's data set is, before anything trains on it.

Each task says what matters about its data (``Task.describe``): origin, sizes, splits, and what a model must
beat. Without configs every task is described with its packaged defaults; with configs, only their tasks.

    seqlab data describe [--config <task config.yaml> ...] [--json]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqlab.tasks import load_config


def describe_all(configs: Sequence[str] = ()) -> dict[str, Any]:
    """Describe the data of every registered task, keyed by task name.

    Args:
        configs: config files, at most one per task: only their tasks are described, with their data.

    Raises:
        ConfigError: a config is invalid, or two configs are for the same task.
    """
    from seqlab.errors import ConfigError
    from seqlab.tasks import TASKS, get_task

    chosen: dict[str, Any] = {}
    for path in configs:
        cfg = load_config(path)
        if cfg.task in chosen:
            raise ConfigError(f"data describe: two configs for task {cfg.task!r}; give one per task ({path})")
        chosen[cfg.task] = cfg
    report: dict[str, Any] = {}
    for name in sorted(chosen or TASKS):
        cfg = chosen[name] if name in chosen else load_config(None, {"task": name})
        report[name] = get_task(name).describe(cfg)
    return report
