"""Thread-pool limits: one BLAS thread for the electrode model's small products, one thread while simulating."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

__all__ = ["one_blas_thread", "one_thread"]


@functools.cache
def _controller() -> Any:
    # made once, on first use (it looks up the thread pools loaded by then); a limit through it costs ~10 us
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


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Every thread pool (BLAS and OpenMP) runs on one thread inside the block.

    For a process that simulates: the pool sizes are read when numpy loads, so environment
    variables cannot change them afterwards; this can.
    """
    with _controller().limit(limits=1):
        yield
