"""One BLAS thread for the small matrix products of the electrode model."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

__all__ = ["one_blas_thread"]


@functools.cache
def _controller() -> Any:
    # made once (it looks up the loaded thread pools); limiting through it costs ~10 us a call
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS runs on one thread inside the block.

    The MEA's products are small (``[T, 16] @ [16, n]``): OpenBLAS's thread hand-off costs more
    than it saves (measured on EI2's 500 ms protocols: 8 ms with two threads, 1.3 ms with one), and
    its idle threads spin afterwards, taking CPU time from the simulation. The results are the
    same bits either way.
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield
