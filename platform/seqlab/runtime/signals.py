"""Clean stops: Ctrl-C and SIGTERM stop a seqlab command, and every MLflow run it opened ends closed.

Ray Train installs its own SIGINT handler when ``TorchTrainer.fit()`` runs on the main thread (a Ctrl-C then
asks the training controller to abort) and leaves it installed after ``fit()`` returns; Ray Tune's
``Tuner.fit()`` does the same. A process that goes on afterwards, like the pipeline that then serves, would
print "Received SIGINT" on every Ctrl-C and keep running. Both libraries skip the handler when they are not
on the main thread, so :func:`keeping_signals` runs such a call on a helper thread: the main thread keeps
Python's own handling (``KeyboardInterrupt`` on Ctrl-C; ``SystemExit`` from the SIGTERM handler that
``ray.init`` installs), and the handlers seen before the call are put back after it in any case.

:func:`run_status` maps how a block ended to the MLflow run status: FINISHED, FAILED or KILLED.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGUSR1", None)) if s is not None)


def keeping_signals(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` without letting it replace this process's signal handlers.

    On the main thread the call runs on a helper thread while the main thread waits, so a Ctrl-C or SIGTERM
    is raised here at once (the helper is a daemon: it dies with the process, and with it the Ray driver
    that owns the training). Off the main thread no library can install handlers, so ``fn`` runs directly.

    Returns:
        What ``fn`` returned. Raises what it raised.
    """
    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    saved = {s: signal.getsignal(s) for s in _SIGNALS}
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001  (re-raised below in the calling thread, whatever it is)
            box["error"] = exc

    helper = threading.Thread(target=target, name=f"seqlab-{getattr(fn, '__name__', 'call')}", daemon=True)
    try:
        helper.start()
        while helper.is_alive():
            helper.join(0.2)  # short waits: a signal handler runs between them
    finally:
        for s, handler in saved.items():
            if handler is not None and signal.getsignal(s) is not handler:
                signal.signal(s, handler)
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def run_status(exc: BaseException | None) -> str:
    """The MLflow status for a run whose work ended with ``exc`` (None: it finished)."""
    if exc is None:
        return "FINISHED"
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):  # Ctrl-C; SIGTERM (ray.init's handler exits)
        return "KILLED"
    return "FAILED"
