"""Datasets: generate, kill midway, resume, verify, regenerate bit-identically, read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import livn.dataset as ds
import numpy as np
import pytest
from livn.dataset._store import MANIFEST_FILE, shard_info
from livn.testing.mpi import require_mpiexec

TESTS = Path(__file__).parent
BACKEND = "livn_fake.env"  # tests/livn_fake/env.py, importable through PYTHONPATH
SAMPLES, SHARD, DURATION = 20, 2, 500.0


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _generate_args(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "livn.cli",
        "dataset",
        "generate",
        "EI2",
        "--samples",
        str(SAMPLES),
        "--duration",
        str(DURATION),
        "--out",
        str(out),
        "--backend",
        BACKEND,
        "--shard-size",
        str(SHARD),
        "--seed",
        "11",
        "--quiet",
        *extra,
    ]


def _finished(out: Path) -> int:
    try:
        return len(json.loads((out / MANIFEST_FILE).read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same dataset generated without interruption, in-process."""
    out = tmp_path_factory.mktemp("reference")
    ds.generate("EI2", SAMPLES, DURATION, out, backend=BACKEND, seed=11, shard_size=SHARD, progress=False, comm=None)
    return out


def test_killed_midway_resumes_verifies_and_regenerates(tmp_path, reference):
    out = tmp_path / "data"
    process = subprocess.Popen(
        _generate_args(out), env=_cli_env(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while _finished(out) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # polling for progress, not timing anything
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    done = _finished(out)
    total = SAMPLES // SHARD
    assert 2 <= done < total, f"the kill should land midway, found {done} of {total} shards finished"
    # never a half-written shard: every shard file on disk is complete
    for path in out.glob("shard-*.h5"):
        shard_info(path)
    problems = ds.verify(out)
    assert problems and all("not finished" in p for p in problems)
    assert (
        subprocess.run(
            [sys.executable, "-m", "livn.cli", "dataset", "verify", str(out)], env=_cli_env(), capture_output=True
        ).returncode
        == 1
    )

    # resume with the same arguments
    resumed = subprocess.run(_generate_args(out), env=_cli_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert not list(out.glob("*.tmp.*"))
    assert ds.verify(out) == []
    result = subprocess.run(
        [sys.executable, "-m", "livn.cli", "dataset", "verify", str(out), "--regenerate", "7"],
        env=_cli_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bit-identically" in result.stdout

    # the resumed dataset equals an uninterrupted one, sample for sample
    resumed_data, reference_data = ds.Dataset(out), ds.Dataset(reference)
    assert len(resumed_data) == SAMPLES
    assert all(a.identical(b) for a, b in zip(resumed_data, reference_data, strict=True))
    assert ds.regenerate(out, 13).identical(resumed_data[13])


def test_resume_refuses_different_parameters(reference, tmp_path):
    with pytest.raises(ds.DatasetError, match="different parameters.*duration"):
        ds.generate(
            "EI2",
            SAMPLES,
            DURATION + 1,
            reference,
            backend=BACKEND,
            seed=11,
            shard_size=SHARD,
            progress=False,
            comm=None,
        )


def test_workers_and_shard_size_do_not_change_samples(reference, tmp_path):
    out = tmp_path / "pool"
    # spawned workers import the backend by its dotted path, so they need the tests directory on sys.path
    env = _cli_env()
    args = _generate_args(out)
    args[args.index("--samples") + 1] = "6"
    args[args.index("--shard-size") + 1] = "3"
    result = subprocess.run([*args, "--workers", "2"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    pooled, reference_data = ds.Dataset(out), ds.Dataset(reference)
    for index in range(6):
        a, b = pooled[index], reference_data[index]
        assert np.array_equal(a.spike_ids, b.spike_ids) and np.array_equal(a.spike_times, b.spike_times)
        assert np.array_equal(a.pulse_times, b.pulse_times)


def test_verify_detects_a_changed_shard(reference, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    shard = copy / "shard-00003.h5"
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF
    shard.write_bytes(bytes(data))
    problems = ds.verify(copy)
    assert any("shard-00003.h5" in p and "checksum" in p for p in problems)
    (copy / "shard-00001.h5").unlink()
    assert any("shard-00001.h5" in p and "missing" in p for p in ds.verify(copy))


def test_samples_hold_stimulus_response_and_metadata(reference):
    data = ds.Dataset(reference)
    assert data.complete
    config = data.config
    assert config["system"] == "EI2" and config["backend"] == BACKEND and config["backend_name"] == "fake"
    assert config["backend_version"] == "0.0.1" and config["seed"] == 11
    assert set(config["params"]) == {"weights", "noise"}
    sample = data[3]
    protocol_seed, culture_seed = ds.sample_seeds(11, 3)
    assert sample.seed == culture_seed
    assert np.all(np.diff(sample.pulse_times) >= 0) and sample.pulse_times.max() < DURATION
    assert np.all((sample.pulse_amplitudes >= 10.0) & (sample.pulse_amplitudes <= 60.0))
    inputs = data.stimulus_inputs(sample)
    assert inputs.shape == (int(DURATION / 0.05), config["num_channels"])
    np.testing.assert_allclose(inputs.sum(axis=0), 0.0, atol=1e-9)  # charge balanced per electrode
    assert set(np.flatnonzero(np.abs(inputs).sum(axis=0))) == set(sample.pulse_channels.tolist())
    # per-electrode spikes are the channel recording of the spikes
    ids, times = sample.channel_spikes()
    assert sum(v.size for v in ids.values()) == sample.channel_offsets[-1]
    for channel in ids:
        assert set(ids[channel]) <= set(sample.spike_ids.tolist())
    # samples differ from each other, and seeds depend on the index only
    assert not np.array_equal(data[4].pulse_times, sample.pulse_times)
    assert ds.sample_seeds(11, 3)[1] == culture_seed != ds.sample_seeds(11, 4)[1]


def test_array_loader(reference):
    arrays = ds.ArrayDataset(reference, bin_size=10.0)
    assert len(arrays) == SAMPLES
    item = arrays[2]
    sample = arrays.dataset[2]
    bins = int(DURATION / 10.0)
    assert item["stimulus"].shape == (bins, 16) and item["stimulus"].dtype == np.float32
    assert item["response"].sum() == sample.channel_offsets[-1]
    assert item["cell_response"].shape == (bins, 100) and item["cell_response"].sum() == sample.spike_ids.size
    np.testing.assert_allclose(item["stimulus"].sum(), sample.pulse_amplitudes.sum(), rtol=1e-5)
    batches = list(arrays.batches(8))
    assert [b["response"].shape[0] for b in batches] == [8, 8, 4]
    np.testing.assert_array_equal(batches[0]["response"][2], item["response"])
    shuffled = np.concatenate([b["index"] for b in arrays.batches(8, shuffle=True, seed=1)])
    assert sorted(shuffled.tolist()) == list(range(SAMPLES)) and shuffled.tolist() != list(range(SAMPLES))


def test_lfp_is_stored_when_asked(tmp_path):
    out = tmp_path / "lfp"
    ds.generate("EI2", 2, 100.0, out, backend=BACKEND, seed=3, shard_size=2, lfp=True, progress=False, comm=None)
    sample = ds.Dataset(out)[1]
    assert sample.lfp is not None and sample.lfp.shape == (16, 1000) and sample.lfp_dt == 0.1
    assert ds.verify(out, regenerate_indices=[1]) == []


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(ValueError, match="samples"):
        ds.generate("EI2", 0, 100.0, tmp_path, backend=BACKEND, comm=None)
    with pytest.raises(ValueError, match="duration"):
        ds.generate("EI2", 2, -1.0, tmp_path, backend=BACKEND, comm=None)
    with pytest.raises(FileNotFoundError, match="not a livn dataset"):
        ds.Dataset(tmp_path)
    # the last --samples wins, as argparse reads options
    result = subprocess.run(_generate_args(tmp_path, "--samples", "0"), capture_output=True, text=True)
    assert result.returncode == 2 and "--samples must be >= 1" in result.stderr


def test_mpi_ranks_write_the_same_dataset(reference, tmp_path):
    mpiexec = require_mpiexec()
    out = tmp_path / "mpi"
    result = subprocess.run(
        [mpiexec, "-n", "2", *_generate_args(out)], env=_cli_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 MPI ranks" in result.stdout
    assert ds.verify(out) == []
    assert all(a.identical(b) for a, b in zip(ds.Dataset(out), ds.Dataset(reference), strict=True))


def test_two_generators_never_write_one_dataset(tmp_path):
    from filelock import FileLock

    out = tmp_path / "locked"
    out.mkdir()
    with FileLock(str(out / ".generate.lock")):
        with pytest.raises(ds.DatasetError, match="another `livn dataset generate` is writing"):
            ds.generate("EI2", 2, 50.0, out, backend=BACKEND, progress=False, comm=None)
    ds.generate("EI2", 2, 50.0, out, backend=BACKEND, shard_size=2, progress=False, comm=None)
    assert ds.verify(out) == []


def test_generator_reports_a_timing_for_every_sample(tmp_path):
    timings = []
    out = tmp_path / "timed"
    ds.generate("EI2", 6, 100.0, out, backend=BACKEND, shard_size=4, progress=False, comm=None, timings=timings)
    assert sorted(t.index for t in timings) == list(range(6))
    for t in timings:
        assert 0 < t.stimulus + t.clear + t.run <= t.simulate < t.total
        assert t.stimulus > 0 and t.run > 0
        assert t.store > 0 and t.cpu >= 0
        assert t.start + t.simulate <= t.shard_done
    # the two shards (4 + 2 samples) each finish once and share their write among their samples
    assert sorted(Counter(t.shard_done for t in timings).values()) == [2, 4]
    # timings are reported, never stored
    entries = json.loads((out / MANIFEST_FILE).read_text())["shards"].values()
    assert all(set(entry) == {"sha256", "first", "count", "bytes"} for entry in entries)


def test_pool_workers_report_their_timings(reference, tmp_path):
    timings = []
    out = tmp_path / "pool-timed"
    # spawned workers get this process's sys.path, which holds the tests directory (livn_fake)
    ds.generate(
        "EI2",
        6,
        DURATION,
        out,
        backend=BACKEND,
        seed=11,
        shard_size=SHARD,
        workers=2,
        progress=False,
        comm=None,
        timings=timings,
    )
    assert sorted(t.index for t in timings) == list(range(6))
    assert all(t.worker.rsplit(":", 1)[1] != str(os.getpid()) for t in timings)
    assert all(a.identical(b) for a, b in zip(ds.Dataset(out), list(ds.Dataset(reference))[:6]))


def test_pulse_inputs_are_the_sum_of_each_electrodes_biphasic_pulses():
    from livn.dataset._protocol import pulse_inputs
    from livn.stimulus import Stimulus

    params = ds.ProtocolParams()
    # electrode 2 pulses twice at one amplitude and once at another, overlapping the first pulse;
    # electrode 0 once; electrode 1 never
    times = np.array([1.0, 1.1, 3.0, 2.0])
    channels = np.array([2, 2, 2, 0])
    amplitudes = np.array([1.5, 0.7, 1.5, 4.0])
    inputs = pulse_inputs(times, channels, amplitudes, 3, 5.0, params)
    expected = np.zeros((100, 3))
    for channel, amplitude, chosen in ((2, 1.5, [0, 2]), (2, 0.7, [1]), (0, 4.0, [3])):
        expected += Stimulus.biphasic_pulse(3, channel, amplitude=amplitude, pulse_times=times[chosen], duration=5.0)
    assert inputs.shape == expected.shape and inputs.tobytes() == expected.tobytes()
    assert not inputs[:, 1].any() and inputs[:, 2].min() == -1.5 - 0.7
