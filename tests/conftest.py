"""Shared fixtures: one session-scoped local Ray, MLflow in a SQLite file of the test's temp folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The third task (tests/tasks/seqlab_trend_task.py) is registered through seqlab's generic mechanism, set here
# before seqlab.tasks is imported and before the session's Ray starts: Ray Train workers and Serve replicas
# inherit this environment, so every process sees the same task registry.
_TASKS_DIR = str(ROOT / "tests" / "tasks")
sys.path.insert(0, _TASKS_DIR)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_TASKS_DIR, os.environ.get("PYTHONPATH")) if p)
os.environ["SEQLAB_TASK_MODULES"] = ",".join(
    m for m in (os.environ.get("SEQLAB_TASK_MODULES"), "seqlab_trend_task") if m
)

# Ray workers start fresh interpreters: keep them single-threaded and quiet on a 2-core machine.
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# Serve's ingress as users get it (HAProxy unless RAY_SERVE_ENABLE_HA_PROXY=0): set before the session's Ray.
from seqlab.runtime.cluster import apply_serve_env  # noqa: E402

apply_serve_env()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole session, sized for a 2-core, 24 GiB machine.

    4 logical CPUs let a 2-worker training and its driver fit; ``TRAIN_DRIVER`` slots hold Tune trial drivers.
    """
    import ray

    from seqlab.runtime.cluster import DRIVER_RESOURCE

    if not ray.is_initialized():
        ray.init(
            address="local",  # a fresh instance, never a `ray start` cluster found on the machine
            num_cpus=4,
            include_dashboard=False,
            object_store_memory=512 * 1024 * 1024,
            resources={DRIVER_RESOURCE: 4},
            log_to_driver=True,
        )
    yield
    ray.shutdown()


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite MLflow store in the test's temp folder, also exported for child processes."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
