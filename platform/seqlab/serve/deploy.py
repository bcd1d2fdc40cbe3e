"""Start or update the Serve applications from Python or the command line.

    seqlab serve                                   # configs/serve.yaml if present, else every task
    seqlab serve --config configs/serve.yaml --port 8000 --block
    seqlab serve --reload                          # after `seqlab promote`: switch to the new champion
    ray job submit --working-dir . -- python jobs/deploy.py --reload

``--reload`` resolves each app's alias to a version here and sends that version in ``user_config``; the
running replicas load it in the background and swap it in, so no request fails and requests already in
flight are answered by the old version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from seqlab.config import load_yaml_file
from seqlab.errors import ConfigError, SeqlabError, TrackingError
from seqlab.serve.schemas import HEALTH_SERVER, HealthArgs, ServeArgs, validate_args
from seqlab.tracking.registry import model_name
from seqlab.tracking.runs import resolve_tracking_uri

DEFAULT_CONFIG = Path("configs/serve.yaml")
_BUILD_APP = "seqlab.serve.app:build_app"
_BUILD_HEALTH = "seqlab.serve.app:build_health"
HEALTH_APP = "health"


def _pin_champion(a: ServeArgs) -> ServeArgs:
    """``a`` with ``model_version`` set to what its alias points at now (unchanged if nothing does)."""
    from seqlab.serve.model import ModelUnavailable, resolve_version

    if a.model_version is not None:
        return a
    uri = resolve_tracking_uri(a.tracking_uri)
    try:
        version, _ = resolve_version(uri, model_name(a.task, a.registered_model), a.alias)
    except ModelUnavailable as exc:
        print(f"[seqlab] {a.app_name}: {exc}; the app will answer 503 until a champion exists", flush=True)
        return a
    return a.model_copy(update={"model_version": version})


def serve_config(
    apps: Sequence[ServeArgs], host: str = "127.0.0.1", port: int = 8000, request_timeout_s: float = 30.0
) -> dict[str, Any]:
    """The Serve config (the layout of configs/serve.yaml) that runs ``apps`` and the root health app.

    ``args`` hold only what replicas are built from; everything else sits in the ``deployments`` entry,
    which Serve applies to running replicas in place: a new ``user_config`` reaches ``reconfigure``.
    """
    applications: list[dict[str, Any]] = []
    for a in apps:
        args = {**a.init_args(), "tracking_uri": resolve_tracking_uri(a.tracking_uri)}
        applications.append(
            {
                "name": a.app_name,
                "route_prefix": a.prefix,
                "import_path": _BUILD_APP,
                "args": args,
                "deployments": [a.deployment_options()],
            }
        )
    applications.append(
        {
            "name": HEALTH_APP,
            "route_prefix": "/",
            "import_path": _BUILD_HEALTH,
            "args": {},
            "deployments": [
                {
                    "name": HEALTH_SERVER,
                    "user_config": HealthArgs(apps=[a.app_name for a in apps]).model_dump(),
                }
            ],
        }
    )
    return {
        # one ingress, on the head: HAProxy binds fixed stats/metrics ports, so two proxies on one machine (a
        # second Ray node started on the same host) would collide; clients reach the head (cluster.yaml) anyway
        "proxy_location": "HeadOnly",
        "http_options": {"host": host, "port": port, "request_timeout_s": request_timeout_s},
        "applications": applications,
    }


def _wait_running(names: list[str], wait_s: float) -> None:
    from ray import serve

    deadline = time.monotonic() + wait_s
    while True:
        apps = serve.status().applications
        states = {n: (str(apps[n].status) if n in apps else "NOT_STARTED") for n in names}
        failed = {n: apps[n].message for n, st in states.items() if st.endswith("DEPLOY_FAILED")}
        if failed:
            raise ConfigError("Serve could not deploy: " + "; ".join(f"{n}: {m}" for n, m in failed.items()))
        if all(st.endswith("RUNNING") for st in states.values()):
            return
        if time.monotonic() > deadline:
            raise TrackingError(f"Serve applications not running after {wait_s:.0f}s: {states}")
        time.sleep(0.5)


def _wait_routes(host: str, port: int, apps: dict[str, str], wait_s: float) -> None:
    """Block until the ingress at ``host:port`` routes exactly ``apps`` ({route prefix: app name}).

    Serve reports an application RUNNING (or deleted) before its ingress has caught up: behind HAProxy the
    route table is rewritten a moment later, and a removed app would still answer until then.
    """
    deadline = time.monotonic() + wait_s
    seen: Any = None
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/-/routes", timeout=5) as r:
                seen = json.loads(r.read())
            if seen == apps:
                return
        except (OSError, ValueError) as exc:  # not listening yet, or a plain-text "not ready" answer
            seen = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise TrackingError(
                f"Serve's ingress on {host}:{port} routes {seen} after {wait_s:.0f}s, not {apps}"
            )
        time.sleep(0.2)


def _wait_for_versions(apps: Sequence[ServeArgs], wait_s: float) -> None:
    """Block until every app reports a model (its pinned version, if any), or raise naming the app.

    The handles are called from a thread with its own event loop: with
    ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` a handle's router runs in the caller's loop, and a synchronous
    ``.result()`` outside any loop raises "No event loop running".
    """
    with ThreadPoolExecutor(1, thread_name_prefix="seqlab-wait") as pool:
        pool.submit(asyncio.run, _poll_versions(apps, wait_s)).result()


def _served_versions(apps: Sequence[ServeArgs], host: str, port: int) -> dict[str, str | None]:
    """The version each app answers with now on its ``/readyz`` (None: not routed, or no model loaded).

    Over HTTP, not handles: with ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` a handle stays bound to the event loop
    that first used it, and the wait for the new versions runs in another one.
    """
    out: dict[str, str | None] = {}
    for a in apps:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}{a.prefix}/readyz", timeout=5) as r:
                body = json.loads(r.read())
        except (OSError, ValueError):  # not routed yet, not listening, 503 (no model), not JSON
            body = {}
        out[a.app_name] = str(body["version"]) if body.get("ready") and body.get("version") else None
    return out


async def _poll_versions(apps: Sequence[ServeArgs], wait_s: float) -> None:
    from ray import serve

    deadline = time.monotonic() + wait_s
    for a in apps:
        handle = serve.get_app_handle(a.app_name)
        want = a.model_version
        while True:
            status = await asyncio.wait_for(handle.model_status.remote(), wait_s)
            if status["ready"] and (want is None or status["version"] == want):
                break
            if want is None and not status["ready"]:
                break  # no champion: the app runs and says why on /readyz
            if time.monotonic() > deadline:
                raise TrackingError(
                    f"{a.app_name}: serving version {status['version']} after {wait_s:.0f}s, "
                    f"not {want}: {status['last_error'] or 'no error reported'}"
                )
            await asyncio.sleep(0.2)


def deploy(
    args: ServeArgs | Sequence[ServeArgs],
    reload: bool = False,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    request_timeout_s: float = 30.0,
    wait_s: float = 120.0,
) -> dict[str, str]:
    """Start Serve if needed and make it run exactly these apps (plus the root health app).

    Like ``serve deploy``, the apps given are the whole set: others deployed earlier are removed. An app
    whose arguments did not change keeps its replicas; a changed ``user_config`` (threshold, limits,
    batch size, pinned version) is applied to them in place.

    Args:
        args: one :class:`ServeArgs` per application.
        reload: resolve each alias to its current version now and pin it in ``user_config``: running
            replicas load it in the background and swap it in, so no request fails.
        host, port: where Serve's HTTP proxy listens when this call starts it.
        request_timeout_s: the proxy answers 408 after this long instead of holding a client forever.
        wait_s: how long to wait for the apps to run (their pinned versions).

    Returns:
        ``{app: base URL, "<app>.docs": OpenAPI page, "healthz": ..., "readyz": ...}``.

    Raises:
        ConfigError: bad args or an app that failed to deploy. TrackingError: not running in time.
    """
    apps = [args] if isinstance(args, ServeArgs) else [validate_args(ServeArgs, a, "deploy") for a in args]
    names = [a.app_name for a in apps]
    if len(set(names)) != len(names) or HEALTH_APP in names:
        raise ConfigError(f"application names must be unique and not '{HEALTH_APP}', got {names}")
    from seqlab.runtime.chatter import adopt_library_loggers
    from seqlab.runtime.cluster import apply_serve_env, init_ray

    apply_serve_env()  # before ray.serve reads its settings (at import) in this process
    from ray.serve._private.api import serve_start
    from ray.serve.schema import ServeDeploySchema

    adopt_library_loggers()  # ray.serve put a console handler on its logger when imported (unless -v)

    if reload:
        apps = [_pin_champion(a) for a in apps]
    config = ServeDeploySchema.model_validate(serve_config(apps, host, port, request_timeout_s))
    init_ray()
    # What `serve run <config.yaml>` does. `serve.run(app)` would restart every replica on each call: Ray
    # 2.60 gives imperatively deployed code a new random version each time and lets no one pin it.
    # the proxy logs every request too unless told otherwise (applies when this call starts Serve)
    access_log = {"enable_access_log": any(a.access_log for a in apps)}
    client = serve_start(proxy_location=config.proxy_location, http_options=config.http_options.model_dump(),
                         global_logging_config=access_log)
    # where the ingress listens: this call's options only apply if it started Serve
    http = client.http_config
    local = http.host if http.host not in ("0.0.0.0", "::", "", None) else "127.0.0.1"
    before = _served_versions(apps, local, http.port) if reload else {}
    client.deploy_apps(config, _blocking=False)
    _wait_running([*names, HEALTH_APP], wait_s)
    _wait_routes(local, http.port, {**{a.prefix: a.app_name for a in apps}, "/": HEALTH_APP}, wait_s)
    _wait_for_versions(apps, wait_s)
    for a in apps if reload else []:
        was, now = before.get(a.app_name), a.model_version
        change = ("no model before" if was is None else f"still v{was}" if was == now else f"v{was} replaced")
        if now is not None:
            print(f"[seqlab] {a.app_name}: serving {a.alias} v{now} ({change})", flush=True)

    base = f"http://{host}:{port}"
    urls = {"healthz": f"{base}/healthz", "readyz": f"{base}/readyz"}
    for a in apps:
        urls[a.app_name] = f"{base}{a.prefix}"
        urls[f"{a.app_name}.docs"] = f"{base}{a.prefix}/docs"
    return urls


# ------------------------------------------------------------------ a local server, found from another terminal


def _record_path(port: int) -> Path:
    """Where a process serving on a Ray it started itself says how to reach that Ray (one file per port)."""
    return Path(tempfile.gettempdir()) / f"seqlab-serve-{port}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def join_local_server(port: int) -> str | None:
    """Join the Ray of a local seqlab server on ``port`` (one started by ``seqlab serve`` or the pipeline in
    another terminal), so this process updates its apps instead of starting a Ray and a proxy of its own.

    Does nothing where ``RAY_ADDRESS`` is set (a cluster) or no live server recorded itself. Returns a line
    for the console, or None.
    """
    if os.environ.get("RAY_ADDRESS"):
        return None
    record = _record_path(port)
    try:
        found = json.loads(record.read_text())
        pid, address = int(found["pid"]), str(found["gcs_address"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not _alive(pid):
        return None
    # Ray 2.60 turns token authentication on; a client finds the token in ~/.ray/auth_token with this set.
    # Ray reads it once, when `ray` is imported: set later, the join fails authentication after 20 retries.
    if "ray" in sys.modules and os.environ.get("RAY_AUTH_MODE", "") != "token":
        raise ConfigError(
            f"found the seqlab server of process {pid} on port {port}, but this process imported Ray before it "
            f"could set RAY_AUTH_MODE=token; export RAY_AUTH_MODE=token and RAY_ADDRESS={address}, then retry"
        )
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ["RAY_ADDRESS"] = address
    return f"found the seqlab server of process {pid} on port {port}; updating its apps through its Ray ({address})"


def check_port_free(host: str, port: int) -> None:
    """Refuse, in one line, to start a local Serve whose port another process holds.

    Raises:
        ConfigError: naming the port and the ways out.
    """
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host if host not in ("0.0.0.0", "::", "") else "127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"{host}:{port} is in use by another process, which is not a seqlab server this command can "
                f"reach (no live {_record_path(port)}; a `seqlab serve` still starting writes it when it prints "
                f"'serving until Ctrl-C'): stop it, serve on another port (--port), or join its Ray cluster with "
                f"RAY_ADDRESS=<its address>"
            ) from None


def reach_local_server(host: str, port: int) -> None:
    """Before serving on ``port``: join the local seqlab server that holds it (another terminal's), or, when
    this process would start a Ray and a proxy of its own, refuse a port something else holds.

    Raises:
        ConfigError: the port is taken by a process that is not a reachable seqlab server.
    """
    joined = join_local_server(port)  # before `import ray`: see join_local_server
    import ray

    if joined is not None:
        print(f"[seqlab] {joined}", flush=True)
    elif not os.environ.get("RAY_ADDRESS") and not ray.is_initialized():
        check_port_free(host, port)


def serve_until_stopped(port: int) -> None:
    """Block until Ctrl-C while the apps run on the Ray this process started; record how to reach it, so
    ``seqlab serve --reload`` in another terminal updates these apps (the record goes when this stops)."""
    import ray

    record = _record_path(port)
    tmp = record.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "port": port,
                               "gcs_address": ray.get_runtime_context().gcs_address}))
    tmp.replace(record)
    print("[seqlab] serving until Ctrl-C: this process holds the local Ray, so the apps stop with it; "
          "`seqlab serve --reload` from another terminal switches them to new champions", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        try:
            if json.loads(record.read_text()).get("pid") == os.getpid():
                record.unlink()
        except (OSError, ValueError):
            pass


def load_serve_file(path: str | Path) -> tuple[dict[str, Any], list[ServeArgs]]:
    """A Serve config YAML -> (http_options, one ServeArgs per ``build_app`` application)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"serve config not found: {p} (e.g. configs/serve.yaml)")
    tree = load_yaml_file(p, "serve config") or {}
    if not isinstance(tree, dict) or not isinstance(tree.get("applications", []), list):
        raise ConfigError(f"serve config {p}: expected a mapping with an 'applications' list")
    apps = []
    for i, entry in enumerate(tree.get("applications", [])):
        where = f"{p}: applications[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping, got {entry!r}")
        if entry.get("import_path") == _BUILD_HEALTH:
            continue  # deploy() adds the health app over every model app
        if entry.get("import_path") != _BUILD_APP:
            raise ConfigError(
                f"{where}.import_path must be {_BUILD_APP} or {_BUILD_HEALTH}, "
                f"got {entry.get('import_path')!r}"
            )
        merged = {
            **(entry.get("args") or {}),
            "name": entry.get("name"),
            "route_prefix": entry.get("route_prefix"),
        }
        apps.append(validate_args(ServeArgs, merged, where))
    http = tree.get("http_options") or {}
    if not isinstance(http, dict):
        raise ConfigError(f"serve config {p}: http_options must be a mapping")
    return http, apps


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to a CLI's subparsers (``seqlab serve``, ``jobs/deploy.py``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve the registry's champions over HTTP with Ray Serve (one app per task)"
    )
    p.add_argument(
        "--config",
        default=None,
        help=f"Serve config YAML (default: {DEFAULT_CONFIG} if present, else one app per task)",
    )
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking/registry URI for every app")
    p.add_argument("--alias", default=None, help="registry alias to serve (default: champion)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default: the config's, else 8000)")
    p.add_argument(
        "--reload",
        action="store_true",
        help="switch running apps to the version their alias points at now, without downtime",
    )
    p.add_argument("--block", action="store_true",
                   help="keep serving until Ctrl-C also on a cluster (on a Ray this command starts, it always does)")
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    """``seqlab serve``: deploy, print the endpoints, optionally block. Returns the exit code."""
    path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    if path is not None:
        http, apps = load_serve_file(path)
    else:
        from seqlab.tasks import TASKS

        http, apps = {}, [ServeArgs(task=t) for t in sorted(TASKS)]
    update = {
        k: v for k, v in {"tracking_uri": args.tracking_uri, "alias": args.alias}.items() if v is not None
    }
    apps = [validate_args(ServeArgs, {**a.model_dump(), **update}, "--tracking-uri/--alias") for a in apps]
    port = args.port or int(http.get("port", 8000))
    host = str(http.get("host", "127.0.0.1"))
    reach_local_server(host, port)
    urls = deploy(apps, reload=args.reload, host=host, port=port,
                  request_timeout_s=float(http.get("request_timeout_s", 30.0)))
    for key, url in urls.items():
        print(f"[seqlab] {key:<16} {url}", flush=True)
    from seqlab.runtime.cluster import started_local_ray

    if started_local_ray():  # the apps live as long as this process: serve until Ctrl-C, --block or not
        serve_until_stopped(port)  # Ctrl-C: the caller stops Ray and exits 130 (seqlab.cli.main)
    elif args.block:
        print("[seqlab] serving; Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            from ray import serve

            serve.shutdown()  # on a cluster the apps would outlive us
            raise
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry for ``jobs/deploy.py``: the ``seqlab serve`` flags, exit 2 on bad input."""
    import sys

    from seqlab.runtime.chatter import add_verbose_flag, route_chatter

    parser = argparse.ArgumentParser(prog="jobs/deploy.py")
    sub = parser.add_subparsers(dest="command", required=True)
    add_verbose_flag(add_serve_parser(sub))
    ns = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    route_chatter("serve", ns.verbose)
    try:
        return cmd_serve(ns)
    except SeqlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
