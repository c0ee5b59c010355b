"""The pluggy hooks: documented, exercised, and used by livn-core for its own built-ins."""

from __future__ import annotations

import inspect

import attrs
import pluggy
import pytest
from livn import hookimpl, hookspecs, plugins
from livn.models import IZHIKEVICH, ModelSpec
from livn.optogenetics import CHR2, GTACR2
from livn.plasticity import STDP, Rule, TsodyksMarkram


def _hookspec_functions():
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "livn_spec")
    }


class _EveryHook:
    """A plugin implementing every hook, so a new hookspec without a test here fails."""

    def __init__(self) -> None:
        self.calls: set[str] = set()

    @hookimpl
    def livn_models(self):
        self.calls.add("livn_models")
        return [ModelSpec(name="test-model", description="test", sites=("soma",),
                          parameters={}, cell_parameters=lambda kind, n, rng: {})]

    @hookimpl
    def livn_systems(self):
        self.calls.add("livn_systems")

        class _Definition:
            name, description, version = "TEST1", "a test system", "1"

            def generate(self, directory):
                raise NotImplementedError

        return [_Definition()]

    @hookimpl
    def livn_model_implementations(self, backend):
        self.calls.add("livn_model_implementations")
        return {"test-model": f"test-model on {backend}"} if backend == "toy" else {}

    @hookimpl
    def livn_plasticity_rules(self):
        self.calls.add("livn_plasticity_rules")
        return [_ToyRule]

    @hookimpl
    def livn_plasticity_implementations(self, backend):
        self.calls.add("livn_plasticity_implementations")
        return {"toy-rule": f"toy-rule on {backend}"} if backend == "toy" else {}

    @hookimpl
    def livn_opsins(self):
        self.calls.add("livn_opsins")
        return [attrs.evolve(CHR2, name="toy-opsin")]

    @hookimpl
    def livn_opsin_implementations(self, backend):
        self.calls.add("livn_opsin_implementations")
        return {"toy-opsin": f"toy-opsin on {backend}"} if backend == "toy" else {}


@attrs.frozen
class _ToyRule(Rule):
    name = "toy-rule"


def test_every_hookspec_is_documented_and_typed():
    specs = _hookspec_functions()
    assert specs, "no hookspecs found"
    for name, fn in specs.items():
        doc = inspect.getdoc(fn) or ""
        assert doc.strip(), f"hookspec {name} has no docstring"
        params = [p for p in inspect.signature(fn).parameters]
        for param in params:
            assert f":param {param}:" in doc, f"hookspec {name} does not document {param}"
        assert ":return:" in doc, f"hookspec {name} does not document its return value"
        assert "return" in fn.__annotations__, f"hookspec {name} has no return annotation"


def test_every_hookspec_is_exercised(monkeypatch):
    plugin = _EveryHook()
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    monkeypatch.setattr(plugins, "get_plugin_manager", lambda: pm)
    assert "test-model" in plugins.models()
    assert "TEST1" in plugins.predefined_systems()
    assert plugins.model_implementations("toy") == {"test-model": "test-model on toy"}
    assert plugins.model_implementations("other") == {}
    assert plugins.plasticity_rules() == {"toy-rule": _ToyRule}
    assert plugins.plasticity_implementations("toy") == {"toy-rule": "toy-rule on toy"}
    assert plugins.plasticity_implementations("other") == {}
    assert list(plugins.opsins()) == ["toy-opsin"]
    assert plugins.opsin_implementations("toy") == {"toy-opsin": "toy-opsin on toy"}
    assert plugins.opsin_implementations("other") == {}
    assert plugin.calls == set(_hookspec_functions()), "a hookspec is not exercised by this test"


def test_core_registers_its_builtins_through_the_hooks():
    plugins.reset()
    registry = plugins.models()
    assert {"izhikevich", "lif", "rcsd"} <= set(registry)
    assert registry["izhikevich"] is IZHIKEVICH
    assert {"EI1", "EI2", "EI3", "EI4"} <= set(plugins.predefined_systems())
    assert plugins.plasticity_rules() == {"stdp": STDP, "tsodyks-markram": TsodyksMarkram}
    assert plugins.opsins() == {"chr2": CHR2, "gtacr2": GTACR2}


def test_plugin_manager_is_lazy_and_disable_blocks(monkeypatch):
    plugins.reset()
    monkeypatch.setenv("LIVN_DISABLE_PLUGINS", "livn-core")
    try:
        assert plugins.models() == {}
    finally:
        plugins.reset()
    monkeypatch.delenv("LIVN_DISABLE_PLUGINS")
    assert "rcsd" in plugins.models()


def test_duplicate_model_names_are_an_error(monkeypatch):
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    class _Twice:
        @hookimpl
        def livn_models(self):
            return [ModelSpec(name="izhikevich", description="copy", sites=("soma",), parameters={},
                              cell_parameters=lambda kind, n, rng: {})]

    from livn import builtins

    pm.register(builtins)
    pm.register(_Twice())
    monkeypatch.setattr(plugins, "get_plugin_manager", lambda: pm)
    with pytest.raises(ValueError, match="izhikevich"):
        plugins.models()


def test_a_backend_finds_its_models_through_the_registry(monkeypatch):
    import livn
    from livn.errors import CapabilityError

    plugin = _EveryHook()
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    monkeypatch.setattr(plugins, "get_plugin_manager", lambda: pm)

    class Toy(livn.Env):
        backend_name = "toy"
        signals = ("spikes",)
        default_model = "test-model"

        def _init(self):
            pass

        def _run(self, duration, stimulus, dt):
            return {}

    env = Toy(3)
    assert env.implementation == "test-model on toy"
    assert Toy.capabilities()["models"] == ("test-model",)
    Toy.backend_name = "other"
    with pytest.raises(CapabilityError, match="'other' does not run the model 'test-model' \\(it runs no model\\)"):
        Toy(3)


def test_two_implementations_of_one_model_on_one_backend_are_an_error(monkeypatch):
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for version in (1, 2):

        class _Impl:
            @hookimpl
            def livn_model_implementations(self, backend, version=version):
                return {"lif": f"lif v{version}"}

        pm.register(_Impl())
    monkeypatch.setattr(plugins, "get_plugin_manager", lambda: pm)
    with pytest.raises(ValueError, match="two plugins register an implementation of the model 'lif' for the backend 'toy'"):
        plugins.model_implementations("toy")
