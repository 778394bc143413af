"""The engine's exceptions. The API maps them to HTTP problems in one table."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class InvalidParameter(EngineError, ValueError):
    """A processing parameter is out of its domain. ``field`` names it for the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NoObservations(EngineError):
    """No item matched the order: nothing to mosaic."""


class Cancelled(EngineError):
    """The caller asked the computation to stop."""
