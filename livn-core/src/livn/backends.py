"""Backend discovery and selection through the ``livn.backends`` entry-point group.

Discovery reads installed metadata only; a backend's code is imported when it is selected.
"""

from __future__ import annotations

import importlib
from typing import Any

import attrs
import importlib_metadata

from livn import config
from livn.env import Env
from livn.errors import (
    BackendImportError,
    BackendNotInstalledError,
    DuplicateBackendError,
    UnknownBackendError,
)
from livn.first_party import FIRST_PARTY, backends_supporting, install_hint

__all__ = [
    "ENTRY_POINT_GROUP",
    "FIRST_PARTY",
    "BackendInfo",
    "available",
    "backends_supporting",
    "describe",
    "installed",
    "load",
    "resolve",
]

ENTRY_POINT_GROUP = "livn.backends"
DEFAULT_BACKEND = "brian2"

@attrs.frozen
class BackendInfo:
    """One installed backend as its metadata describes it (nothing imported)."""

    name: str
    target: str
    distribution: str
    version: str
    entry_point: Any = attrs.field(eq=False, repr=False)


def installed() -> dict[str, BackendInfo]:
    """Installed backends by name, from entry-point metadata alone.

    Raises DuplicateBackendError when two distributions register one name.
    """
    found: dict[str, BackendInfo] = {}
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        info = BackendInfo(
            name=ep.name,
            target=ep.value,
            distribution=dist.name if dist is not None else "<unknown>",
            version=dist.version if dist is not None else "<unknown>",
            entry_point=ep,
        )
        previous = found.get(ep.name)
        if previous is not None and previous.distribution != info.distribution:
            raise DuplicateBackendError(
                f"backend {ep.name!r} is registered by two distributions: "
                f"{previous.distribution} {previous.version} ({previous.target}) and "
                f"{info.distribution} {info.version} ({info.target}); uninstall one of them"
            )
        found[ep.name] = info
    return found


def available() -> list[str]:
    """Names of the installed backends, sorted (reads metadata, imports nothing)."""
    return sorted(installed())


def _check_env_class(obj: Any, where: str) -> type[Env]:
    if not isinstance(obj, type) or not issubclass(obj, Env):
        raise TypeError(f"{where} must be a subclass of livn.Env, got {obj!r}")
    return obj


def load(name: str, *, source: str = "make(backend=...)") -> type[Env]:
    """Import and return the Env class of the installed backend ``name``.

    ``source`` says where the request came from and appears in error messages.
    """
    backends = installed()
    info = backends.get(name)
    if info is None:
        installed_list = ", ".join(sorted(backends)) or "none"
        if name in FIRST_PARTY:
            raise BackendNotInstalledError(
                f"backend {name!r} (requested by {source}) is not installed; "
                f"install it with: {install_hint(name)}  (installed backends: {installed_list})"
            )
        raise UnknownBackendError(
            f"unknown backend {name!r} (requested by {source}); installed backends: {installed_list}; "
            f"first-party backends: {', '.join(sorted(FIRST_PARTY))}"
        )
    try:
        obj = info.entry_point.load()
    except Exception as exc:
        raise BackendImportError(
            f"backend {name!r} (requested by {source}) is installed from {info.distribution} "
            f"{info.version} but failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    cls = _check_env_class(obj, f"entry point {name!r} = {info.target!r} of {info.distribution}")
    if cls.backend_name is None:
        cls.backend_name = name  # errors and the model registry know it by its registered name
    return cls


def _load_module_path(path: str, source: str) -> type[Env]:
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise BackendImportError(
            f"backend module {path!r} (requested by {source}) failed to import: {exc}"
        ) from exc
    if not hasattr(module, "Env"):
        raise TypeError(f"backend module {path!r} (requested by {source}) does not export 'Env'")
    return _check_env_class(module.Env, f"{path}.Env")


def resolve(backend: str | type[Env] | None = None) -> type[Env]:
    """The Env class to use: ``backend`` if given, else ``LIVN_BACKEND``, else brian2, else the only one.

    An explicit choice never falls back to another backend.
    """
    if isinstance(backend, type):
        return _check_env_class(backend, "make(backend=...)")
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"backend= takes a backend name or an Env subclass, got {backend!r}")
    source = "make(backend=...)"
    name = backend
    if name is None:
        name = config.requested_backend()
        source = f"the environment variable {config.LIVN_BACKEND}"
    if name is not None:
        if name not in installed() and "." in name:
            return _load_module_path(name, source)
        return load(name, source=source)
    names = available()
    if DEFAULT_BACKEND in names:
        return load(DEFAULT_BACKEND, source="the default backend")
    if len(names) == 1:
        return load(names[0], source="the only installed backend")
    if not names:
        raise BackendNotInstalledError(
            "no livn backend is installed; install the default one with: "
            f"{install_hint(DEFAULT_BACKEND)}  (or livn-diffrax, livn-neuron)"
        )
    raise UnknownBackendError(
        f"several backends are installed ({', '.join(names)}) and none is chosen; "
        f"set {config.LIVN_BACKEND} or pass make(backend=...)"
    )


def describe(missing: bool = False) -> list[dict[str, Any]]:
    """One row per installed backend: name, distribution, version, whether it imports, capabilities.

    Every row has ``installed``. With ``missing=True``, the first-party backends that are not
    installed follow, each with ``installed=False`` and ``install``, the command that installs it.
    """
    rows = []
    found = installed()
    for name, info in sorted(found.items()):
        row: dict[str, Any] = {
            "name": name,
            "distribution": info.distribution,
            "version": info.version,
            "installed": True,
        }
        try:
            cls = load(name, source="livn backends")
        except Exception as exc:  # shown to the user, not raised: this is a report
            row["imports"] = False
            row["error"] = f"{type(exc).__name__}: {exc}"
        else:
            row["imports"] = True
            row.update(cls.capabilities())
        rows.append(row)
    if missing:
        for name, (distribution, _) in sorted(FIRST_PARTY.items()):
            if name not in found:
                rows.append({
                    "name": name,
                    "distribution": distribution,
                    "version": None,
                    "installed": False,
                    "imports": False,
                    "install": install_hint(name),
                })
    return rows
