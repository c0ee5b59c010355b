"""The example backend passes livn's conformance suite through its entry point."""

from livn.errors import CapabilityError
from livn.testing import BackendConformance
from livn.testing.conformance import without_plasticity


class TestExampleBackend(BackendConformance):
    backend = "example"
    known_gaps = {
        "test_extracellular_stimulus_drives_cells_near_the_electrode": (
            CapabilityError,
            "the example backend takes current stimuli only",
        ),
        **without_plasticity("the example backend keeps one weight per synapse class and runs no plasticity rule"),
    }
