"""A minimal third-party livn backend: pure-numpy LIF network (see env.py)."""

__all__: list[str] = []
