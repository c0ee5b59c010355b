"""Backend discovery and selection through the ``livn.backends`` entry-point group.

Discovery reads installed metadata only; a backend's code is imported when it is selected.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import attrs
import importlib_metadata

from livn import config
from livn.errors import (
    BackendImportError,
    BackendNotInstalledError,
    DuplicateBackendError,
    UnknownBackendError,
)

if TYPE_CHECKING:
    from livn.env import Env

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

#: First-party backends: name -> (distribution, models it runs). Used for install hints and for
#: naming alternatives in capability errors without importing anything.
FIRST_PARTY: dict[str, tuple[str, tuple[str, ...]]] = {
    "brian2": ("livn-brian2", ("izhikevich", "lif")),
    "diffrax": ("livn-diffrax", ("rcsd", "lif", "izhikevich")),
    "neuron": ("livn-neuron", ("rcsd",)),
}


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


def backends_supporting(model: str) -> list[str]:
    """First-party backends that run ``model`` (by name), whether installed or not."""
    return sorted(name for name, (_, models) in FIRST_PARTY.items() if model in models)


def _install_hint(name: str) -> str:
    dist = FIRST_PARTY[name][0]
    return f"pip install {dist}"


def _check_env_class(obj: Any, where: str) -> type[Env]:
    from livn.env import Env

    # issubclass() on a Protocol with data members raises on 3.11+, so read the MRO instead.
    if not isinstance(obj, type) or Env not in obj.__mro__:
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
                f"install it with: {_install_hint(name)}  (installed backends: {installed_list})"
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
    return _check_env_class(obj, f"entry point {name!r} = {info.target!r} of {info.distribution}")


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
            f"{_install_hint(DEFAULT_BACKEND)}  (or livn-diffrax, livn-neuron)"
        )
    raise UnknownBackendError(
        f"several backends are installed ({', '.join(names)}) and none is chosen; "
        f"set {config.LIVN_BACKEND} or pass make(backend=...)"
    )


def describe() -> list[dict[str, Any]]:
    """One row per installed backend: name, distribution, version, whether it imports, capabilities."""
    rows = []
    for name, info in sorted(installed().items()):
        row: dict[str, Any] = {
            "name": name,
            "distribution": info.distribution,
            "version": info.version,
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
    return rows
