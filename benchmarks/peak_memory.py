"""The peak memory figure every benchmark reports: this process's own high-water mark."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb() -> float:
    """This process's own peak resident memory (``VmHWM`` of ``/proc/self/status``), MiB; NaN off Linux.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the parent's peak into a child at exec,
    so every child of a large parent would report the parent's figure.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")
