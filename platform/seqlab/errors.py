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
