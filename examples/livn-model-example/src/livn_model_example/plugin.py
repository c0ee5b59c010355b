"""The plugin livn loads through this distribution's ``livn`` entry point.

It registers the AdEx spec with livn-core and its implementation on each backend it supports; an
implementation is imported only when that backend asks (importing this module stays cheap).
"""

from __future__ import annotations

from livn import hookimpl

from livn_model_example.spec import ADEX

__all__ = ["livn_model_implementations", "livn_models"]


@hookimpl
def livn_models():
    """AdEx."""
    return [ADEX]


@hookimpl
def livn_model_implementations(backend):
    """AdEx on brian2 and on diffrax."""
    if backend == "brian2":
        from livn_model_example.brian2 import ADEX_BRIAN2

        return {ADEX.name: ADEX_BRIAN2}
    if backend == "diffrax":
        from livn_model_example.diffrax import ADEX_DIFFRAX

        return {ADEX.name: ADEX_DIFFRAX}
    return {}
