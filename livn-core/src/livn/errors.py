"""The exceptions livn raises about backends and capabilities."""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendImportError",
    "BackendNotInstalledError",
    "CapabilityError",
    "DuplicateBackendError",
    "UnknownBackendError",
]


class BackendError(Exception):
    """Base of every error about choosing or loading a backend."""


class UnknownBackendError(BackendError, ValueError):
    """The requested backend name is neither installed nor a known first-party backend."""


class BackendNotInstalledError(BackendError, ImportError):
    """A known first-party backend was requested but its distribution is not installed."""


class BackendImportError(BackendError, ImportError):
    """The backend's distribution is installed but importing it failed (the cause is chained)."""


class DuplicateBackendError(BackendError, RuntimeError):
    """Two installed distributions register the same backend name."""


class CapabilityError(BackendError, NotImplementedError):
    """The selected backend cannot do what was asked; the message names backends that can."""
