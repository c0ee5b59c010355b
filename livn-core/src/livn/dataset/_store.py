"""On-disk layout of a dataset: ``dataset.json`` (config), HDF5 shards, ``manifest.json`` (checksums).

A shard ``shard-NNNNN.h5`` holds ``count`` consecutive samples under ``/samples/<index>``. It is
written to a temporary name in the same directory, flushed, fsynced and renamed into place, so a
shard file is either absent or complete. The manifest lists finished shards with their SHA-256 and
is itself replaced atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from livn._files import fsync_directory, write_json_atomic

__all__ = [
    "CONFIG_FILE",
    "MANIFEST_FILE",
    "Sample",
    "read_config",
    "read_manifest",
    "read_shard",
    "shard_name",
    "write_json_atomic",
    "write_shard",
]

CONFIG_FILE = "dataset.json"
MANIFEST_FILE = "manifest.json"
FORMAT = "livn.dataset"
FORMAT_VERSION = 1
_SHARD_FORMAT = "livn.dataset.shard"


def shard_name(shard: int) -> str:
    """File name of shard number ``shard``."""
    return f"shard-{shard:05d}.h5"


def read_config(directory: Path) -> dict[str, Any]:
    """The dataset's ``dataset.json``; a clear error when the directory holds no dataset."""
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{directory}: not a livn dataset (no {CONFIG_FILE}); create one with `livn dataset generate`") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: not a livn dataset config (format is {config.get('format')!r})")
    return config


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest (``{"shards": {name: {"sha256", "first", "count", "bytes"}}}``); empty if absent."""
    path = Path(directory) / MANIFEST_FILE
    if not path.exists():
        return {"format": FORMAT, "shards": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


@attrs.frozen(eq=False)
class Sample:
    """One sample: a random biphasic protocol and the culture's response to it.

    ``pulse_times`` (ms), ``pulse_channels`` (electrode rows), ``pulse_amplitudes`` (uA) describe
    the stimulus; ``spike_ids``/``spike_times`` (ms) the response; ``channel_offsets`` ``[C + 1]``
    with ``channel_spike_ids``/``channel_spike_times`` the spikes each electrode recorded (rows of
    electrode ``c`` are ``offsets[c]:offsets[c+1]``); ``lfp`` ``[C, T]`` uV sampled every ``lfp_dt``
    ms, or None. ``seed`` is the culture's seed; ``index`` the sample's place in the dataset.
    """

    index: int
    seed: int
    duration: float
    pulse_times: np.ndarray
    pulse_channels: np.ndarray
    pulse_amplitudes: np.ndarray
    spike_ids: np.ndarray
    spike_times: np.ndarray
    channel_ids: np.ndarray
    channel_offsets: np.ndarray
    channel_spike_ids: np.ndarray
    channel_spike_times: np.ndarray
    lfp: np.ndarray | None = None
    lfp_dt: float | None = None

    _ARRAYS = (
        "pulse_times", "pulse_channels", "pulse_amplitudes", "spike_ids", "spike_times",
        "channel_ids", "channel_offsets", "channel_spike_ids", "channel_spike_times",
    )

    def channel_spikes(self) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """``({channel id: gids}, {channel id: times ms})`` like ``env.channel_recording``."""
        ids, times = {}, {}
        for row, channel in enumerate(self.channel_ids):
            lo, hi = self.channel_offsets[row], self.channel_offsets[row + 1]
            ids[int(channel)] = self.channel_spike_ids[lo:hi]
            times[int(channel)] = self.channel_spike_times[lo:hi]
        return ids, times

    def identical(self, other: Sample) -> bool:
        """True when every field and array is bit-identical."""
        if (self.index, self.seed, self.duration, self.lfp_dt) != (other.index, other.seed, other.duration, other.lfp_dt):
            return False
        for name in self._ARRAYS:
            a, b = getattr(self, name), getattr(other, name)
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                return False
        if (self.lfp is None) != (other.lfp is None):
            return False
        return self.lfp is None or (self.lfp.shape == other.lfp.shape and self.lfp.tobytes() == other.lfp.tobytes())

    def to_run(self):
        """The response as a :class:`livn.run.Run` (spikes only)."""
        from livn.run import Events, Run

        return Run(spikes=Events(self.spike_ids, self.spike_times), duration=self.duration)


def write_shard(directory: Path, shard: int, samples: list[Sample], metadata: dict[str, Any]) -> Path:
    """Write ``samples`` as shard ``shard`` atomically; returns the final path."""
    import h5py

    final = Path(directory) / shard_name(shard)
    tmp = final.with_name(f"{final.name}.tmp.{os.getpid()}")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = _SHARD_FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["shard"] = shard
        f.attrs["first"] = samples[0].index
        f.attrs["count"] = len(samples)
        f.attrs["metadata"] = json.dumps(metadata, sort_keys=True)
        group = f.create_group("samples")
        for sample in samples:
            g = group.create_group(f"{sample.index:08d}")
            g.attrs["index"] = sample.index
            g.attrs["seed"] = sample.seed
            g.attrs["duration"] = sample.duration
            for name in Sample._ARRAYS:
                g.create_dataset(name, data=getattr(sample, name))
            if sample.lfp is not None:
                g.create_dataset("lfp", data=sample.lfp)
                g.attrs["lfp_dt"] = sample.lfp_dt
        f.attrs["complete"] = True
        f.flush()
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    fsync_directory(final.parent)
    return final


def _read_sample(g: Any) -> Sample:
    arrays = {name: g[name][()] for name in Sample._ARRAYS}
    lfp = g["lfp"][()] if "lfp" in g else None
    return Sample(
        index=int(g.attrs["index"]),
        seed=int(g.attrs["seed"]),
        duration=float(g.attrs["duration"]),
        lfp=lfp,
        lfp_dt=float(g.attrs["lfp_dt"]) if lfp is not None else None,
        **arrays,
    )


def read_shard(path: Path, indices: list[int] | None = None) -> Iterator[Sample]:
    """The samples of one shard in index order (or only ``indices``)."""
    import h5py

    with h5py.File(path, "r") as f:
        check_shard_file(f, path)
        group = f["samples"]
        names = sorted(group) if indices is None else [f"{i:08d}" for i in indices]
        for name in names:
            if name not in group:
                raise KeyError(f"{path}: has no sample {int(name)}")
            yield _read_sample(group[name])


def check_shard_file(f: Any, path: Path) -> None:
    """Raise ValueError unless ``f`` is a complete shard."""
    if f.attrs.get("format") != _SHARD_FORMAT or not f.attrs.get("complete", False):
        raise ValueError(f"{path}: not a complete livn dataset shard")


def shard_info(path: Path) -> dict[str, int]:
    """``{"first", "count"}`` of a complete shard file; ValueError if it is not one."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        check_shard_file(f, path)
        first, count = int(f.attrs["first"]), int(f.attrs["count"])
        names = sorted(f["samples"])
        if names != [f"{i:08d}" for i in range(first, first + count)]:
            raise ValueError(f"{path}: holds samples {names[:3]}... instead of {first}..{first + count - 1}")
        return {"first": first, "count": count}
