"""The first-party backends, known without importing or installing them: distribution and models.

Used for install hints and for naming the backends that run a model in capability errors.

livn's distributions are not on PyPI (the name ``livn`` there belongs to an unrelated project), so
an install hint says what works from where the user stands: when livn-core itself was installed
from a directory (a source checkout; PEP 610 ``direct_url.json`` with ``dir_info``) and the backend's
directory sits beside it, the path form ``pip install /path/to/checkout/livn-neuron``; when it was
installed from a git URL, the same URL with the backend's subdirectory; otherwise the name, with a
note on where the distributions come from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

__all__ = ["CORE_DISTRIBUTION", "FIRST_PARTY", "backends_supporting", "install_hint", "source_checkout"]

CORE_DISTRIBUTION = "livn-core"

_GLIF = tuple(f"glif{level}" for level in range(1, 6))

#: name -> (distribution, models it runs).
FIRST_PARTY: dict[str, tuple[str, tuple[str, ...]]] = {
    "brian2": ("livn-brian2", ("izhikevich", "lif", *_GLIF)),
    "diffrax": ("livn-diffrax", ("rcsd", "lif", "izhikevich", *_GLIF)),
    "neuron": ("livn-neuron", ("rcsd",)),
}

#: Said after the name form, where no source checkout is known.
NOT_ON_PYPI = (
    "if your package index has it; livn's distributions are not on PyPI, where the name livn is an "
    "unrelated project: from a livn source checkout run pip install ./{distribution} at its root"
)


def backends_supporting(model: str) -> list[str]:
    """First-party backends that run ``model`` (by name), whether installed or not."""
    return sorted(name for name, (_, models) in FIRST_PARTY.items() if model in models)


def _direct_url(distribution: str) -> dict[str, Any] | None:
    """The PEP 610 ``direct_url.json`` of an installed distribution, or None (not installed, absent, unreadable)."""
    import importlib_metadata

    try:
        text = importlib_metadata.distribution(distribution).read_text("direct_url.json")
    except importlib_metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def source_checkout() -> Path | None:
    """The root of the source checkout livn-core was installed from, or None.

    Read from livn-core's ``direct_url.json``: a local directory install (editable or not) of
    ``<root>/livn-core`` gives ``<root>``, if that directory still exists.
    """
    data = _direct_url(CORE_DISTRIBUTION)
    if data is None or "dir_info" not in data:
        return None
    url = urlparse(str(data.get("url", "")))
    if url.scheme != "file":
        return None
    core = Path(url2pathname(unquote(url.path)))
    return core.parent if core.is_dir() else None


def _vcs_hint(data: dict[str, Any], distribution: str) -> str | None:
    vcs = data.get("vcs_info")
    if not isinstance(vcs, dict) or not data.get("url") or not vcs.get("vcs"):
        return None
    revision = vcs.get("commit_id") or vcs.get("requested_revision")
    at = f"@{revision}" if revision else ""
    return f'pip install "{vcs["vcs"]}+{data["url"]}{at}#subdirectory={distribution}"'


def install_hint(name: str) -> str:
    """The command that installs the first-party backend ``name``, from where livn-core came from."""
    distribution = FIRST_PARTY[name][0]
    root = source_checkout()
    if root is not None and (root / distribution / "pyproject.toml").is_file():
        return f"pip install {root / distribution}"
    data = _direct_url(CORE_DISTRIBUTION)
    if data is not None:
        hint = _vcs_hint(data, distribution)
        if hint is not None:
            return hint
    return f"pip install {distribution}  ({NOT_ON_PYPI.format(distribution=distribution)})"
