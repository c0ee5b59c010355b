"""A third-party livn model: the adaptive exponential integrate-and-fire neuron (AdEx), on brian2 and diffrax."""

from livn_model_example.spec import ADEX

__all__ = ["ADEX"]
