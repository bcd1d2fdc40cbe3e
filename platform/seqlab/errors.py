"""Errors that users see. Each names what is wrong, where, what was received and what is allowed.

They subclass ``ValueError`` so callers that already catch bad values keep working, and they
implement ``__reduce__`` so they survive the trip between Ray processes unchanged.
"""

from __future__ import annotations


class SeqlabError(ValueError):
    """Base class of every error seqlab raises on bad input."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (type(self), (self.message,))

    def __str__(self) -> str:
        return self.message


class ConfigError(SeqlabError):
    """A config file, key, override or sweep space is invalid."""


class DataError(SeqlabError):
    """A data file or input is missing, unreadable or malformed."""


class CheckpointError(SeqlabError):
    """A checkpoint is missing, corrupt or belongs to another task/model."""


class TrackingError(SeqlabError):
    """The MLflow store or registry cannot be used as asked."""


def seqlab_cause(exc: BaseException) -> SeqlabError | None:
    """The SeqlabError behind an error raised in another Ray process, through Ray's wrappers: a task's or
    actor's cause, a Train worker's failures, an error Tune stored. Ray Data wraps an error of a map step in a
    UserCodeException that keeps only its traceback text: there the last ``seqlab.errors.<Kind>: ...`` line
    is turned back into that kind."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, SeqlabError):
            return e
        marked = [line for line in str(e).splitlines() if line.startswith(f"{__name__}.")]
        kinds: dict[str, type[SeqlabError]] = {SeqlabError.__name__: SeqlabError}
        kinds.update((kind.__name__, kind) for kind in SeqlabError.__subclasses__())
        for line in reversed(marked):
            name, _, message = line.removeprefix(f"{__name__}.").partition(": ")
            if name in kinds and message:
                return kinds[name](message.strip())
        stack.extend([e.__cause__, e.__context__, getattr(e, "cause", None)])
        for attr in ("worker_failures", "error"):
            v = getattr(e, attr, None)
            if isinstance(v, dict):
                stack.extend(x for x in v.values() if isinstance(x, BaseException))
            elif isinstance(v, BaseException):
                stack.append(v)
    return None
