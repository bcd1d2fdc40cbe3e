"""Other programs' lines: what Ray, Ray Serve, HAProxy, Tune and MLflow would print on seqlab's console.

A seqlab command prints seqlab's own lines (``[seqlab] ...``, also those its Ray workers print). Everything
else goes to one log file per command, opened when the first such line arrives; its path is printed once:

    [seqlab] other programs' log lines (Ray, Serve, MLflow): /tmp/seqlab-logs/serve-20261208-041544-21025.log

``seqlab <command> -v`` prints them inline instead, as the libraries themselves would. The folder is
``$SEQLAB_LOG_DIR`` (default ``<temp>/seqlab-logs``) and keeps the newest :data:`KEEP_LOGS` files.

Three roads bring those lines, and each is turned at the point it enters this process:
- Python logging in this process: a handler on the root logger writes to the file; the stream handlers that
  Ray and Ray Serve put on their own loggers when imported are swapped for it (:func:`adopt_library_loggers`,
  called again after Ray and Serve start), and MLflow is asked not to install its own
  (``MLFLOW_CONFIGURE_LOGGING=false``, so its records reach the root);
- what Ray's workers, actors, Serve replicas and HAProxy's manager print: Ray forwards it to the driver,
  which prints it through one handler of Ray's log dispatcher (``ray._private.ray_logging``, Ray 2.60); after
  ``ray.init`` :func:`route_worker_lines` puts a handler in its place that prints the lines holding
  ``[seqlab]`` as Ray would and writes the rest to the file;
- Tune's status tables: the sweep asks for none (``verbose=0``, on Tune's older console output, the one that
  honours it) unless ``-v`` (see seqlab.sweeps.driver).
Ray's C++ core writes to the process's stderr directly; those lines (rare) stay on the console.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

LOG_DIR_ENV = "SEQLAB_LOG_DIR"
KEEP_LOGS = 30  # log files kept in the folder; older ones go when a command opens a new one
SEQLAB_MARK = "[seqlab]"  # what makes a worker's line seqlab's own

# Other programs' lines that every seqlab command printed and nobody acted on: (logger, start of the message).
# Dropped also with -v. The token-auth notice repeats on each `ray.init`; MLflow warns on every promotion
# that a seqlab model is a LoggedModel (registered as such, as intended).
QUIET_MESSAGES = (
    ("ray._private.authentication.authentication_token_setup", "Token authentication is enabled"),
    ("mlflow.tracking._model_registry.fluent", "Run with id"),
)


class _DropMessages(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def quiet_libraries() -> None:
    """Keep other programs' noise off seqlab's console; call before Ray or MLflow is imported.

    MLflow's artifact progress bars go (a bar per download, also in every replica's log); Ray's colour codes
    go where the output is not a terminal (they littered logs and redirected output); the notices in
    :data:`QUIET_MESSAGES` are dropped. Environment settings only apply where the user set nothing, and
    reach the processes of a local Ray (they inherit this environment).
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not sys.stdout.isatty():
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    for logger, prefix in QUIET_MESSAGES:
        logging.getLogger(logger).addFilter(_DropMessages(prefix))


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """``-v``: other programs' log lines inline; without it they go to a log file."""
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print Ray's, Serve's and MLflow's log lines here instead of into a log file")


class ChatterLog:
    """The log file of one command, created when the first line arrives (a command that starts nothing
    leaves no file and prints no path)."""

    def __init__(self, command: str, folder: Path | None = None, say: TextIO | None = None) -> None:
        self.folder = folder or Path(os.environ.get(LOG_DIR_ENV) or Path(tempfile.gettempdir()) / "seqlab-logs")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.path = self.folder / f"{command}-{stamp}-{os.getpid()}.log"
        self._say = say
        self._file: TextIO | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._file is not None

    def write(self, text: str) -> None:
        with self._lock:
            if self._file is None:
                self._file = self._open()
            self._file.write(text if text.endswith("\n") else text + "\n")
            self._file.flush()

    def _open(self) -> TextIO:
        self.folder.mkdir(parents=True, exist_ok=True)
        old = sorted(self.folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
        for path in old[: max(0, len(old) - (KEEP_LOGS - 1))]:
            path.unlink(missing_ok=True)
        handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open for the life of the command)
        print(f"{SEQLAB_MARK} other programs' log lines (Ray, Serve, MLflow): {self.path}  (-v prints them here)",
              file=self._say or sys.stderr, flush=True)
        return handle

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()


class _ToChatterLog(logging.Handler):
    def __init__(self, log: ChatterLog) -> None:
        super().__init__(logging.INFO)
        self.log = log
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s -- %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.write(self.format(record))
        except Exception:  # noqa: BLE001 (a log line must never end the command; logging reports it)
            self.handleError(record)


_ROUTE: list[_ToChatterLog] = []  # the handler of this process's routing, once route_chatter ran


def chatter_log() -> ChatterLog | None:
    """The log file other programs' lines go to, or None where they print inline (``-v``, or no command)."""
    return _ROUTE[0].log if _ROUTE else None


def route_chatter(command: str, verbose: bool) -> None:
    """Send other programs' lines of this process to a log file (see the module docstring); ``verbose``
    leaves them on the console. Call first, before Ray or MLflow is imported; a second call (another
    command in the same process) starts a new file."""
    quiet_libraries()
    root = logging.getLogger()
    for old in _ROUTE:
        root.removeHandler(old)
        old.log.close()
    _ROUTE.clear()
    if verbose:
        return
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    # Tune's newer console output prints its experiment header whatever `verbose` says; the older one is
    # silent at verbose=0, which the sweep asks for without -v
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    handler = _ToChatterLog(ChatterLog(command))
    _ROUTE.append(handler)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    adopt_library_loggers()


def adopt_library_loggers() -> None:
    """Swap the console handlers that libraries put on their own loggers for the log file's handler.

    Ray adds one to ``ray`` when imported, Ray Serve one to ``ray.serve``; both stop propagation, so the
    root's handler never sees their records. seqlab's own loggers are left alone. Does nothing with ``-v``.
    """
    if not _ROUTE:
        return
    ours = _ROUTE[0]
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or name.split(".")[0] == "seqlab":
            continue
        consoles = [h for h in logger.handlers
                    if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
        for handler in consoles:
            logger.removeHandler(handler)
        if consoles and ours not in logger.handlers:
            logger.addHandler(ours)


def split_worker_lines(data: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """One batch of forwarded worker output -> (the batch with only seqlab's lines, or None if it has none;
    the other lines, each prefixed as Ray prints it: ``(ActorName pid=123) text``)."""
    lines = [str(line) for line in data.get("lines", [])]
    mine = [line for line in lines if SEQLAB_MARK in line]
    who = data.get("actor_name") or data.get("task_name") or ""
    prefix = f"({who} pid={data.get('pid')}) ".replace("( ", "(")
    others = [prefix + line for line in lines if SEQLAB_MARK not in line]
    return ({**data, "lines": mine} if mine else None), others


def route_worker_lines() -> bool:
    """After ``ray.init``: print only seqlab's lines of what Ray forwards from workers; the rest goes to the
    log file. Returns whether it did (not with ``-v``, nor where Ray forwards nothing to this driver)."""
    log = chatter_log()
    if log is None:
        return False
    from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

    printers = [h for name, h in dispatcher.handlers if name == "ray_print_logs"]
    if not printers:  # log_to_driver=False, or Ray changed this seam: nothing is printed, nothing to route
        return False
    ray_print: Callable[[dict[str, Any]], None] = printers[0]

    def print_seqlab_lines(data: dict[str, Any]) -> None:
        if data.get("pid") in ("autoscaler", "raylet"):  # Ray's own warnings (a task that cannot be
            ray_print(data)  # scheduled, workers killed for memory): rare, and the user must see them
            return
        mine, others = split_worker_lines(data)
        if others:
            log.write("\n".join(others))
        if mine is not None:
            ray_print(mine)

    dispatcher.remove_handler("ray_print_logs")
    dispatcher.add_handler("ray_print_logs", print_seqlab_lines)
    adopt_library_loggers()
    return True
