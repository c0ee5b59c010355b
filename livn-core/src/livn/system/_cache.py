"""A per-user cache of generated systems: atomic, checked, and safe under concurrent use.

An entry is a directory ``<cache>/systems/<key>/`` holding the system files and ``manifest.json``
(format version, a description of what was generated, and a SHA-256 of every file). It is built in a
temporary directory beside it and renamed into place, under an exclusive ``fcntl`` lock on
``<key>.lock`` so that when several processes or MPI ranks ask at once one builds and the others wait
and then read. An entry whose manifest or checksums do not match is moved aside and rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from livn._files import sha256_file
from livn.config import LIVN_CACHE_DIR as CACHE_DIR_ENV
from livn.config import cache_dir

__all__ = [
    "CACHE_DIR_ENV",
    "CACHE_FORMAT_VERSION",
    "MANIFEST_FILE",
    "cache_dir",
    "cached_build",
    "verify_entry",
]

#: Bumped when the cache layout changes; older entries are rebuilt.
CACHE_FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"

# Entries verified by this process: path -> manifest mtime_ns, so checksums are computed once.
_verified: dict[str, int] = {}


def _manifest(directory: Path, description: dict[str, Any]) -> dict[str, Any]:
    files = sorted(p.name for p in directory.iterdir() if p.is_file() and p.name != MANIFEST_FILE)
    return {
        "cache_format_version": CACHE_FORMAT_VERSION,
        "description": description,
        "files": {name: sha256_file(directory / name) for name in files},
    }


def verify_entry(entry: Path, description: dict[str, Any], full: bool = True) -> str | None:
    """None when ``entry`` is complete and matches ``description``; otherwise what is wrong."""
    manifest_path = entry / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no manifest"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict):
        return "malformed manifest"
    if manifest.get("cache_format_version") != CACHE_FORMAT_VERSION:
        return f"cache format {manifest.get('cache_format_version')!r}, expected {CACHE_FORMAT_VERSION}"
    if manifest.get("description") != description:
        return "built from a different definition or generator version"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "manifest lists no files"
    key = str(entry)
    try:
        stamp = manifest_path.stat().st_mtime_ns
    except OSError as exc:
        return f"manifest vanished ({exc})"
    if not full or _verified.get(key) == stamp:
        return None
    for name, expected in files.items():
        path = entry / name
        if not path.is_file():
            return f"missing {name}"
        if sha256_file(path) != expected:
            return f"checksum mismatch in {name}"
    _verified[key] = stamp
    return None


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``lock_path``; without lock support, go on unlocked.

    Unlocked, concurrent builders still cannot corrupt the entry (each builds in its own temporary
    directory and renames it into place); they only duplicate work.
    """
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:  # e.g. ENOLCK on some network file systems
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(root: Path, key: str) -> None:
    """Delete temporary directories a killed builder of ``key`` left behind (call under the lock)."""
    for prefix in (f".tmp-{key}-", f".trash-{key}-"):
        for path in root.glob(f"{prefix}*"):
            shutil.rmtree(path, ignore_errors=True)


def _discard(entry: Path) -> None:
    """Move a bad entry out of the way (atomically), then delete it."""
    if not entry.exists():
        return
    trash = Path(tempfile.mkdtemp(prefix=f".trash-{entry.name}-", dir=entry.parent))
    os.rename(entry, trash / entry.name)
    shutil.rmtree(trash, ignore_errors=True)


def cached_build(
    key: str,
    description: dict[str, Any],
    build: Callable[[Path], None],
    root: Path | None = None,
) -> Path:
    """The cache entry ``key``, built by ``build(directory)`` if missing or invalid; returns its path.

    ``description`` (JSON-serialisable) identifies what ``build`` makes; an entry made from another
    description is rebuilt.
    """
    root = (root or cache_dir()) / "systems"
    entry = root / key
    if entry.is_dir() and verify_entry(entry, description) is None:
        return entry
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot create the livn cache directory {root} ({exc}); set {CACHE_DIR_ENV} to a writable directory"
        ) from exc
    with _locked(root / f"{key}.lock"):
        # Another process may have finished while we waited.
        if entry.is_dir() and verify_entry(entry, description) is None:
            return entry
        _remove_leftovers(root, key)
        _verified.pop(str(entry), None)
        _discard(entry)
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
        try:
            build(staging)
            manifest = _manifest(staging, description)
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            for path in staging.iterdir():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
            os.chmod(staging, 0o755)
            try:
                os.rename(staging, entry)
            except OSError:
                # Only possible without working locks: someone else renamed a build into place first.
                if not (entry.is_dir() and verify_entry(entry, description) is None):
                    raise
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return entry
