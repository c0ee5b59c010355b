"""Backend discovery and selection: metadata-only discovery, the three errors, precedence."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import livn
import pytest
from livn import backends
from livn.errors import (
    BackendError,
    BackendImportError,
    BackendNotInstalledError,
    CapabilityError,
    DuplicateBackendError,
    UnknownBackendError,
)

SIMULATORS = ("brian2", "jax", "diffrax", "equinox", "neuron", "mpi4py")


def _fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write an installed-looking distribution (dist-info + modules) under ``root``."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[livn.backends]\n{lines}\n")
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))


GOOD_BACKEND = """
    import livn

    class Env(livn.Env):
        default_model = "lif"
        signals = ("spikes",)

        @classmethod
        def implementations(cls):
            return {"lif": None}

        def _init(self):
            pass

        def _run(self, duration, stimulus, dt):
            return {}
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on sys.path where tests install fake distributions."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LIVN_BACKEND", raising=False)
    for name in ("fake_backend", "broken_backend", "not_env_backend", "other_fake"):
        sys.modules.pop(name, None)
    return tmp_path


def test_import_livn_loads_no_simulator():
    code = (
        "import sys, livn, livn.backends\n"
        "livn.backends.available()\n"
        f"loaded = [m for m in {SIMULATORS!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_errors_subclass_builtins():
    assert issubclass(UnknownBackendError, (BackendError, ValueError))
    assert issubclass(BackendNotInstalledError, (BackendError, ImportError))
    assert issubclass(BackendImportError, (BackendError, ImportError))


def test_fake_backend_selected_by_name_env_var_and_class(site, monkeypatch):
    _fake_distribution(site, "livn-fake", {"fake": "fake_backend:Env"}, {"fake_backend": GOOD_BACKEND})
    assert "fake" in backends.available()
    assert backends.resolve("fake").backend_name == "fake"
    monkeypatch.setenv("LIVN_BACKEND", "fake")
    cls = backends.resolve()
    assert cls.backend_name == "fake"
    assert backends.resolve(cls) is cls


def test_a_backend_is_named_by_its_entry_point_in_errors(site):
    _fake_distribution(site, "livn-fake", {"fake": "fake_backend:Env"}, {"fake_backend": GOOD_BACKEND})
    with pytest.raises(CapabilityError, match="backend 'fake' does not run the model 'izhikevich'"):
        livn.make(4, backend="fake", model="izhikevich")
    env = livn.make(4, backend="fake")  # declares spikes only: made with the default recording
    assert env.recording == {"spikes": {"population": None}}
    with pytest.raises(CapabilityError, match="backend 'fake' cannot record 'voltage'"):
        env.record_voltage()


def test_explicit_argument_beats_environment(site, monkeypatch):
    _fake_distribution(site, "livn-fake", {"fake": "fake_backend:Env"}, {"fake_backend": GOOD_BACKEND})
    monkeypatch.setenv("LIVN_BACKEND", "no-such-backend")
    assert backends.resolve("fake").backend_name == "fake"


def test_environment_read_when_resolving_not_at_import(site, monkeypatch):
    _fake_distribution(site, "livn-fake", {"fake": "fake_backend:Env"}, {"fake_backend": GOOD_BACKEND})
    monkeypatch.setenv("LIVN_BACKEND", "nope")
    with pytest.raises(UnknownBackendError, match="LIVN_BACKEND"):
        backends.resolve()
    monkeypatch.setenv("LIVN_BACKEND", "fake")
    assert backends.resolve().backend_name == "fake"


def test_unknown_backend_lists_installed(site):
    _fake_distribution(site, "livn-fake", {"fake": "fake_backend:Env"}, {"fake_backend": GOOD_BACKEND})
    with pytest.raises(UnknownBackendError) as info:
        backends.resolve("warp-drive")
    message = str(info.value)
    assert "warp-drive" in message and "make(backend=...)" in message and "fake" in message


def test_first_party_not_installed_gives_pip_line(site, monkeypatch):
    installed = backends.available()
    missing = [name for name in backends.FIRST_PARTY if name not in installed]
    if not missing:
        pytest.skip("every first-party backend is installed in this environment")
    monkeypatch.setenv("LIVN_BACKEND", missing[0])
    with pytest.raises(BackendNotInstalledError, match=f"pip install \\S*livn-{missing[0]}"):
        livn.make("EI1")


def test_broken_backend_chains_the_cause(site):
    _fake_distribution(site, "livn-broken", {"broken": "broken_backend:Env"},
                       {"broken_backend": "raise RuntimeError('compiler exploded')\n"})
    with pytest.raises(BackendImportError, match="livn-broken 1.0") as info:
        backends.resolve("broken")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "compiler exploded" in str(info.value)


def test_entry_point_not_an_env_is_a_type_error(site):
    _fake_distribution(site, "livn-notenv", {"notenv": "not_env_backend:Env"},
                       {"not_env_backend": "class Env:\n    pass\n"})
    with pytest.raises(TypeError, match="livn.Env"):
        backends.resolve("notenv")


def test_two_distributions_claiming_one_name(site):
    _fake_distribution(site / "a", "livn-fake", {"fake": "fake_backend:Env"}, {"fake_backend": GOOD_BACKEND})
    _fake_distribution(site / "b", "livn-other", {"fake": "other_fake:Env"}, {"other_fake": GOOD_BACKEND})
    sys.path[:0] = [str(site / "a"), str(site / "b")]
    try:
        with pytest.raises(DuplicateBackendError, match="livn-fake.*livn-other|livn-other.*livn-fake"):
            backends.installed()
    finally:
        sys.path.remove(str(site / "a"))
        sys.path.remove(str(site / "b"))


def test_dotted_module_path_in_environment(site, monkeypatch):
    (site / "pathbackend").mkdir()
    (site / "pathbackend" / "__init__.py").write_text("")
    (site / "pathbackend" / "sub.py").write_text(textwrap.dedent(GOOD_BACKEND))
    monkeypatch.setenv("LIVN_BACKEND", "pathbackend.sub")
    cls = backends.resolve()
    assert cls.backend_name is None and cls.label() == "pathbackend.sub.Env"


def test_only_selected_backend_is_imported(site):
    _fake_distribution(site, "livn-fake", {"fake": "fake_backend:Env"}, {"fake_backend": GOOD_BACKEND})
    _fake_distribution(site / "x", "livn-broken", {"broken": "broken_backend:Env"},
                       {"broken_backend": "raise RuntimeError('must not be imported')\n"})
    sys.path.insert(0, str(site / "x"))
    try:
        assert backends.resolve("fake").backend_name == "fake"
        assert "broken_backend" not in sys.modules
    finally:
        sys.path.remove(str(site / "x"))
