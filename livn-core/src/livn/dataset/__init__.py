"""Datasets of random stimulation protocols and the culture's responses.

Generate with ``livn dataset generate SYSTEM --samples N --duration MS --out DIR [--workers K]``
(or under ``mpiexec -n K``), check with ``livn dataset verify DIR``, read with :class:`Dataset`::

    data = livn.dataset.Dataset("DIR")
    for sample in data:                     # Sample objects in index order
        ...
    arrays = livn.dataset.ArrayDataset(data, bin_size=1.0)
    arrays[0]["response"]                   # [bins, C] float32 spike counts per electrode
    # torch.utils.data.DataLoader(arrays, batch_size=32) works as is (numpy arrays collate)

Every sample's protocol and culture seed derive from the dataset seed and the sample's index
(``numpy.random.SeedSequence(seed, spawn_key=(index,))``), so any subset regenerates identically.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from livn.dataset._generate import (
    DatasetError,
    SampleTiming,
    generate,
    mpi_world,
    regenerate,
    simulate_sample,
    verify,
)
from livn.dataset._protocol import ProtocolParams, sample_seeds
from livn.dataset._store import Sample, read_config, read_manifest, read_shard, shard_name

__all__ = [
    "ArrayDataset",
    "Dataset",
    "DatasetError",
    "ProtocolParams",
    "Sample",
    "SampleTiming",
    "generate",
    "mpi_world",
    "regenerate",
    "sample_seeds",
    "simulate_sample",
    "verify",
]


class Dataset:
    """A generated dataset on disk: ``len``, ``data[i] -> Sample``, iteration in index order.

    ``config`` is the reproduction metadata (system, backend and version, parameters, seed, protocol).
    Only shards listed in the manifest are read; an unfinished dataset raises on missing samples.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.config = read_config(self.directory)
        self.manifest = read_manifest(self.directory)

    def __len__(self) -> int:
        return int(self.config["samples"])

    @property
    def complete(self) -> bool:
        """Whether every shard is finished."""
        shards = -(-self.config["samples"] // self.config["shard_size"])
        return all(shard_name(k) in self.manifest["shards"] for k in range(shards))

    def _shard_path(self, index: int) -> Path:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range: the dataset has {len(self)} samples")
        name = shard_name(index // self.config["shard_size"])
        if name not in self.manifest["shards"]:
            raise DatasetError(f"sample {index} is in {name}, which is not finished; resume `livn dataset generate`")
        return self.directory / name

    def __getitem__(self, index: int) -> Sample:
        index = int(index)
        if index < 0:
            index += len(self)
        return next(read_shard(self._shard_path(index), [index]))

    def __iter__(self) -> Iterator[Sample]:
        size = self.config["shard_size"]
        for first in range(0, len(self), size):
            yield from read_shard(self._shard_path(first))

    def stimulus_inputs(self, sample: Sample) -> np.ndarray:
        """The sample's electrode currents ``[T, C]`` uA at the protocol's ``dt``, rebuilt from its pulses."""
        from livn.dataset._generate import stimulus_inputs

        return stimulus_inputs(self.config, sample)


class ArrayDataset:
    """Fixed-shape numpy views of a :class:`Dataset`, for numpy pipelines and ``torch`` DataLoaders.

    ``data[i]`` is a dict of arrays over ``bins = duration / bin_size`` time bins (``bin_size`` ms):
    ``stimulus`` ``[bins, C]`` float32, the amplitude (uA) of pulses starting in each bin per
    electrode; ``response`` ``[bins, C]`` float32 spike counts per electrode; ``cell_response``
    ``[bins, n]`` float32 spike counts per cell; ``lfp`` ``[C, T]`` float32 uV when recorded;
    ``index`` int64. Torch is not imported: ``DataLoader(ArrayDataset(...))`` collates the arrays.
    """

    def __init__(self, dataset: Dataset | str | Path, bin_size: float = 1.0) -> None:
        self.dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
        if not bin_size > 0:
            raise ValueError(f"bin_size must be > 0 ms, got {bin_size!r}")
        self.bin_size = float(bin_size)
        self.num_bins = int(np.ceil(self.dataset.config["duration"] / self.bin_size - 1e-9))

    def __len__(self) -> int:
        return len(self.dataset)

    def _bins(self, times: np.ndarray) -> np.ndarray:
        return np.minimum((np.asarray(times) / self.bin_size).astype(np.int64), self.num_bins - 1)

    def arrays(self, sample: Sample) -> dict[str, np.ndarray]:
        """The fixed-shape arrays of one sample."""
        channels = int(sample.channel_ids.size)
        n = int(self.dataset.config["num_neurons"])
        stimulus = np.zeros((self.num_bins, channels), dtype=np.float32)
        np.add.at(stimulus, (self._bins(sample.pulse_times), sample.pulse_channels), sample.pulse_amplitudes)
        response = np.zeros((self.num_bins, channels), dtype=np.float32)
        rows = np.repeat(np.arange(channels), np.diff(sample.channel_offsets))
        np.add.at(response, (self._bins(sample.channel_spike_times), rows), 1.0)
        cells = np.zeros((self.num_bins, n), dtype=np.float32)
        np.add.at(cells, (self._bins(sample.spike_times), sample.spike_ids), 1.0)
        out = {"index": np.int64(sample.index), "stimulus": stimulus, "response": response, "cell_response": cells}
        if sample.lfp is not None:
            out["lfp"] = sample.lfp.astype(np.float32)
        return out

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return self.arrays(self.dataset[index])

    def batches(self, batch_size: int, shuffle: bool = False, seed: int | None = None) -> Iterator[dict[str, Any]]:
        """Stacked batches ``{name: [B, ...]}``; the last one may be smaller."""
        order = np.arange(len(self))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        for start in range(0, len(order), batch_size):
            items = [self[int(i)] for i in order[start : start + batch_size]]
            yield {key: np.stack([item[key] for item in items]) for key in items[0]}
