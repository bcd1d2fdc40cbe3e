"""Connecting to Ray: a running cluster when there is one, else an embedded local instance.

``ray job submit`` sets ``RAY_ADDRESS`` for the job's driver, so the same entry point joins the cluster there
and starts a local Ray on a laptop. The local instance gets a ``TRAIN_DRIVER`` resource: Tune trials hold one
of those instead of a CPU, so on a 2-core machine the trial drivers never starve their own training workers.
"""

from __future__ import annotations

import os
from typing import Any

DRIVER_RESOURCE = "TRAIN_DRIVER"


def init_ray(num_cpus: int | None = None, dashboard: bool = False, object_store_mb: int = 1024,
             driver_slots: int = 8) -> dict[str, Any]:
    """Start or join Ray once; return the cluster's resources."""
    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        else:
            ray.init(
                address="local",  # never attach to some other `ray start` cluster of this machine by accident
                num_cpus=num_cpus,
                resources={DRIVER_RESOURCE: driver_slots},
                include_dashboard=dashboard,
                dashboard_host="127.0.0.1",
                object_store_memory=object_store_mb * 1024 * 1024,
                log_to_driver=True,
            )
    return dict(ray.cluster_resources())
