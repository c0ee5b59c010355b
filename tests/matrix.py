"""What the cross-backend tests know about each backend: the selected one and its declared gaps."""

from __future__ import annotations

import os

from livn.errors import CapabilityError
from livn.testing.conformance import without_plasticity

__all__ = ["KNOWN_GAPS", "selected_backend"]

#: Declared gaps per backend: {backend: {test name: (exception, reason)}}, run as strict expected
#: failures (a gap that closes turns its test red). A name is a check (every model) or one model's
#: run of it, "test_x[model]". Each backend's own conformance class declares the same gaps.
KNOWN_GAPS: dict[str, dict[str, tuple[type[BaseException], str]]] = {
    "neuron": {
        "test_envs_run_side_by_side": (
            RuntimeError,
            "NEURON holds one network per process: making a second neuron env releases the first, "
            "which then refuses to run",
        ),
    },
    "example": {
        "test_extracellular_stimulus_drives_cells_near_the_electrode": (
            CapabilityError,
            "the example backend takes current stimuli only",
        ),
        **without_plasticity("the example backend keeps one weight per synapse class and runs no plasticity rule"),
    },
}


def selected_backend() -> str | None:
    """The backend under test: LIVN_BACKEND, or None for livn's default resolution."""
    return os.environ.get("LIVN_BACKEND") or None
