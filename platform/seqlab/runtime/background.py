"""One call run on a helper thread while the caller does something else, its result or error taken later."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class InBackground(Generic[T]):
    """Runs ``fn()`` on a daemon thread at once; :meth:`result` waits for it and returns its value or raises
    its exception in the caller's thread (so a ``DataError`` reads as if the caller had made the call).

    Used where the other work is mostly waiting on other processes (a local Ray's start), so the two overlap
    even under the GIL.
    """

    def __init__(self, fn: Callable[[], T], name: str = "seqlab-background") -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], T]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread by result())
            self._error = exc

    def result(self) -> T:
        """Wait for the call to end; return its value or raise its exception."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

