"""Every conformance check can fail: each one fails on a backend with one defect and passes on the reference.

The broken backends (``livn_reference.broken``) are the reference backend (``livn_reference.env``)
with one defect each; ``test_every_check_has_a_breaker`` keeps the list complete, so a check added
to :class:`livn.testing.BackendConformance` without a backend that proves it can fail turns it red.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from livn.testing import BackendConformance
from livn_reference.broken import BREAKERS, Breaker
from livn_reference.env import Env as ReferenceEnv

CHECKS = sorted(name for name in dir(BackendConformance) if name.startswith("test_"))


def _suite(backend: type) -> BackendConformance:
    return type("Suite", (BackendConformance,), {"backend": backend})()


def _calls(breaker: type[Breaker]) -> list[dict[str, Any]]:
    """The breaker's calls of its check, each with ``model`` (default: the backend's) where the check takes it."""
    takes_model = "model" in inspect.signature(getattr(BackendConformance, breaker.check)).parameters
    calls = []
    for call in breaker.call:
        call = dict(call)
        if takes_model:
            call.setdefault("model", breaker.default_model)
        calls.append(call)
    return calls


def test_every_check_has_a_breaker():
    covered = {breaker.check for breaker in BREAKERS}
    unknown = sorted(covered - set(CHECKS))
    assert not unknown, f"broken backends name checks the suite does not have: {unknown}"
    missing = sorted(set(CHECKS) - covered)
    assert not missing, f"conformance checks no broken backend shows failing: {missing}"


def test_parametrized_checks_are_called_with_every_value():
    for breaker in BREAKERS:
        marks = getattr(getattr(BackendConformance, breaker.check), "pytestmark", [])
        for mark in marks:
            if mark.name == "parametrize":
                names = [n.strip() for n in mark.args[0].split(",")] if isinstance(mark.args[0], str) else mark.args[0]
                values = [v if len(names) > 1 else (v,) for v in mark.args[1]]
                wanted = [dict(zip(names, v)) for v in values]
                called = [{k: c[k] for k in names} for c in breaker.call]
                assert _same(called, wanted), f"{breaker.__name__} calls {breaker.check} with {called}, not {wanted}"


def _same(a: list[dict], b: list[dict]) -> bool:
    key = lambda d: repr(sorted(d.items()))  # noqa: E731 - NaN != NaN, its repr is stable
    return sorted(map(key, a)) == sorted(map(key, b))


@pytest.mark.parametrize("breaker", BREAKERS, ids=[b.__name__ for b in BREAKERS])
def test_breaker_fails_its_check_and_the_reference_passes_it(breaker):
    broken, reference = _suite(breaker), _suite(ReferenceEnv)
    for call in _calls(breaker):
        with pytest.raises(breaker.raises):
            getattr(broken, breaker.check)(**call)
        getattr(reference, breaker.check)(**call)


def test_the_reference_runs_more_than_one_model():
    # so the per-model checks have models to tell apart (IgnoresModel asks for the other one)
    assert len(ReferenceEnv.implementations()) >= 2
    asked = {call["model"] for breaker in BREAKERS for call in breaker.call if "model" in call}
    assert asked - {ReferenceEnv.default_model}
