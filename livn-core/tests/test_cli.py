"""The livn command: listing, bad arguments (one line, exit 2), and the run summary."""

from __future__ import annotations

import os
import re
import sys

import pytest
from livn import backends
from livn.cli import main


def test_systems_lists_predefined(capsys):
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    for name in ("EI1", "EI2", "EI3", "EI4"):
        assert name in out


def test_backends_matches_metadata(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    names = backends.available()
    if not names:
        assert "no livn backend installed" in out
    for name in names:
        assert name in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "EI1", "--duration", "-5"], "--duration"),
        (["run", "EI1", "--duration", "ten"], "invalid float"),
        (["run", "EI1", "--seed", "-1"], "--seed"),
        (["run", "EI1", "--out", "run.txt"], "--out"),
        (["run", "EI1", "--backend", "warp-drive"], "warp-drive"),
        (["run", "EI9"], "EI9"),
        (["fly"], "invalid choice"),
        (["run", "EI1", "--make", "coreneuron"], "expected NAME=X"),
        (["run", "EI1", "--make", "seed=3"], "--seed"),
        (["run", "EI1", "--make", "2x=1"], "keyword argument of livn.make"),
        (["run", "EI1", "--make", "dt=1", "--make", "dt=2"], "given twice"),
        (["run", "EI1", "--backend", "livn_fake.env", "--make", "warp=9"], "'warp'"),
    ],
)
def test_bad_arguments_one_line_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert err.startswith("livn: error:") and len(err.splitlines()) == 1


def test_run_prints_summary_and_writes_files(tmp_path, capsys):
    from livn.run import Run

    out, plot = tmp_path / "run.h5", tmp_path / "raster.png"
    argv = ["run", "EI1", "--backend", "livn_fake.env", "--duration", "1000", "--out", str(out), "--plot", str(plot)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["population", "neurons", "spikes", "rate", "(Hz)", "active"]
    assert lines[1].split()[:2] == ["EXC", "8"] and lines[2].split()[:2] == ["INH", "2"]
    assert "real-time factor after the first chunk" in captured.out
    assert "10/10" in captured.err  # progress over the 10 chunks of a long run
    saved = Run.load(out)
    assert saved.duration == 1000.0
    assert int(lines[3].split()[2]) == len(saved.spikes.ids)  # the 'all' row counts the saved spikes
    assert plot.stat().st_size > 1000


def test_run_passes_model_and_make_options_to_make(monkeypatch, capsys):
    import livn

    seen = {}
    original = livn.make

    def spy(system, **kwargs):
        seen.update(kwargs)
        for name in ("coreneuron", "dt", "label"):  # the fake backend takes none of them
            kwargs.pop(name)
        return original(system, **kwargs)

    monkeypatch.setattr(livn, "make", spy)
    argv = ["run", "EI1", "--backend", "livn_fake.env", "--duration", "100", "--quiet", "--model", "izhikevich",
            "--make", "coreneuron=true", "--make", "dt=0.05", "--make", "label=plain text"]
    assert main(argv) == 0
    assert seen["model"] == "izhikevich"
    assert (seen["coreneuron"], seen["dt"], seen["label"]) == (True, 0.05, "plain text")
    assert "population" in capsys.readouterr().out


# -- issue 19: versions, backends not installed, install hints, pre-flight checks, progress ------------------


def _fake_installed():
    """``backends.installed()`` holding only the test double, so nothing heavy is imported."""
    from types import SimpleNamespace

    from livn_fake.env import Env as FakeEnv

    ep = SimpleNamespace(load=lambda: FakeEnv)
    return {"fake": backends.BackendInfo("fake", "livn_fake.env:Env", "livn-fake", "0.0.1", ep)}


def test_version_prints_core_and_backend_versions(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"livn-core {version('livn-core')}"
    for name, meta in backends.installed().items():
        assert f"{meta.distribution} {meta.version} (backend {name})" in lines


def test_backends_lists_first_party_not_installed_with_install_line(monkeypatch, capsys):
    from livn.first_party import FIRST_PARTY, install_hint

    monkeypatch.setattr(backends, "installed", _fake_installed)
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    fake = next(line for line in out.splitlines() if line.startswith("fake "))
    assert fake.split()[1:4] == ["livn-fake", "0.0.1", "yes"]
    assert "not installed" in out
    for name, (distribution, _) in FIRST_PARTY.items():
        line = next(line for line in out.splitlines() if line.startswith(f"{name} ") and "install with:" in line)
        assert distribution in line and line.endswith(install_hint(name))

    monkeypatch.setattr(backends, "installed", dict)  # nothing installed at all
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no livn backend installed")
    assert all(f"install with: {install_hint(name)}" in out for name in FIRST_PARTY)


@pytest.fixture
def checkout(tmp_path):
    """A source checkout (with a space in its path) holding livn-core and livn-neuron."""
    root = tmp_path / "my livn"
    for dist in ("livn-core", "livn-neuron"):
        (root / dist).mkdir(parents=True)
        (root / dist / "pyproject.toml").write_text("[project]\n")
    return root


def _direct_url(monkeypatch, data):
    from livn import first_party

    monkeypatch.setattr(first_party, "_direct_url", lambda dist: data if dist == "livn-core" else None)


@pytest.mark.parametrize("editable", [True, False])
def test_install_hint_from_a_source_checkout_is_the_path(checkout, monkeypatch, editable):
    from livn.errors import BackendNotInstalledError
    from livn.first_party import install_hint, source_checkout

    _direct_url(monkeypatch, {"url": (checkout / "livn-core").as_uri(), "dir_info": {"editable": editable}})
    assert source_checkout() == checkout
    assert install_hint("neuron") == f"pip install {checkout / 'livn-neuron'}"
    monkeypatch.setattr(backends, "installed", dict)
    with pytest.raises(BackendNotInstalledError, match="pip install .*my livn/livn-neuron"):
        backends.load("neuron")
    # a backend whose directory is not in the checkout: the name form, with the note
    assert install_hint("diffrax").startswith("pip install livn-diffrax  (")


@pytest.mark.parametrize(
    "data",
    [
        None,  # no direct_url.json: installed from an index
        {"url": "file:///somewhere/livn_core-0.1.0-py3-none-any.whl", "archive_info": {}},  # a wheel file
        {"url": "file:///no/such/checkout/livn-core", "dir_info": {}},  # a checkout since moved or deleted
    ],
)
def test_install_hint_elsewhere_is_the_name_with_a_note(monkeypatch, data):
    from livn.first_party import install_hint, source_checkout

    _direct_url(monkeypatch, data)
    assert source_checkout() is None
    hint = install_hint("neuron")
    assert hint.startswith("pip install livn-neuron  (")
    assert "not on PyPI" in hint and "pip install ./livn-neuron" in hint


def test_install_hint_from_git_keeps_the_url(monkeypatch):
    from livn.first_party import install_hint

    url = "https://example.org/livn.git"
    _direct_url(monkeypatch, {"url": url, "vcs_info": {"vcs": "git", "commit_id": "abc123"}, "subdirectory": "livn-core"})
    assert install_hint("brian2") == f'pip install "git+{url}@abc123#subdirectory=livn-brian2"'


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if the CLI builds anything."""
    import livn

    def make(*args, **kwargs):
        raise AssertionError("the CLI built a network before checking its outputs")

    monkeypatch.setattr(livn, "make", make)


def _one_line_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("livn: error:") and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("option, name", [("--plot", "x.png"), ("--out", "x.h5")])
def test_outputs_checked_before_building(tmp_path, capsys, no_simulation, option, name):
    missing = tmp_path / "nope" / name
    err = _one_line_error(["run", "EI1", option, str(missing)], capsys)
    assert f"{missing.parent} does not exist" in err and "mkdir -p" in err

    afile = tmp_path / "file.txt"
    afile.write_text("")
    err = _one_line_error(["run", "EI1", option, str(afile / name)], capsys)
    assert "is not a directory" in err

    adir = tmp_path / name
    adir.mkdir()
    err = _one_line_error(["run", "EI1", option, str(adir)], capsys)
    assert "is a directory" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc refuses new files, even to root")
def test_unwritable_directory_checked_before_building(capsys, no_simulation):
    err = _one_line_error(["run", "EI1", "--out", "/proc/livn-run.h5"], capsys)
    assert "cannot write in /proc" in err


def test_plot_without_matplotlib_fails_before_building(tmp_path, monkeypatch, capsys, no_simulation):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    err = _one_line_error(["run", "EI1", "--plot", str(tmp_path / "x.png")], capsys)
    assert 'pip install "livn-core[plot]"' in err


def _run_fake(capsys, *extra):
    assert main(["run", "EI1", "--backend", "livn_fake.env", *extra]) == 0
    return capsys.readouterr()


def test_progress_plain_lines_with_eta_when_not_a_terminal(capsys):
    captured = _run_fake(capsys, "--duration", "1000")
    assert "\r" not in captured.err
    progress = [line for line in captured.err.splitlines() if line.startswith("livn: ") and "/10 " in line]
    assert [line.split()[1] for line in progress] == [f"{k}/10" for k in range(1, 11)]
    assert all("ETA " in line for line in progress[:-1]) and progress[-1].endswith("done")


def test_progress_updates_one_line_on_a_terminal(monkeypatch, capsys):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", "EI1", "--backend", "livn_fake.env", "--duration", "1000"]) == 0
    err = terminal.getvalue()
    assert err.count("\r") == 10 and "ETA " in err  # one line, rewritten for each chunk
    assert re.search(r"\r  10/10  1000/1000 ms  \S+ s elapsed, done *\n$", err)


def test_eta_uses_the_pace_after_the_first_chunk():
    from livn.cli import _Progress

    progress = _Progress(1000.0, 10, stream=open(os.devnull, "w"))  # noqa: SIM115
    progress.update(1, 100.0, 10.0)  # a slow first chunk (compilation)
    assert progress.eta(100.0, 10.0) == pytest.approx(90.0)
    assert progress.eta(200.0, 11.0) == pytest.approx(8.0)  # 1 s per 100 ms since then, 800 ms left
    progress.stream.close()


def test_compile_message_once_per_process_and_only_for_compiling_backends(monkeypatch, capsys):
    from livn import cli

    monkeypatch.setattr(cli, "_compile_noted", False)
    captured = _run_fake(capsys, "--duration", "100")
    assert "compiles" not in captured.err  # the fake backend compiles nothing
    assert "code generation" not in captured.out and "compilation" not in captured.out

    from livn_fake.env import Env as Fake

    monkeypatch.setattr(Fake, "compiles", True)
    first = _run_fake(capsys, "--duration", "1000")
    second = _run_fake(capsys, "--duration", "100")
    message = "the first run of a model compiles it (up to a minute)"
    assert message in first.err and message not in second.err
    assert first.err.index(message) < first.err.index("1/10")  # said before the first chunk runs
    assert "compilation" in first.out and "compilation" not in second.out
    assert _run_fake(capsys, "--duration", "100", "--quiet").err == ""


def _as_rank(monkeypatch, rank: str, size: str = "2") -> None:
    """What mpiexec -n 2 sets in each rank's environment (MPICH's Hydra); no MPI is imported."""
    for name in ("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PMI_SIZE", size)
    monkeypatch.setenv("PMI_RANK", rank)


def test_a_serial_backend_under_mpiexec_runs_on_rank_0_alone(monkeypatch, capsys, tmp_path):
    out = tmp_path / "run.h5"
    argv = ["run", "EI1", "--backend", "livn_fake.env", "--duration", "200", "--out", str(out)]
    import livn

    _as_rank(monkeypatch, "1")
    monkeypatch.setattr(livn, "make", _no_make)
    assert main(argv) == 0  # the other ranks leave before building anything
    assert capsys.readouterr().out == "" and not out.exists()
    monkeypatch.undo()
    assert main(argv) == 0  # serial reference
    serial = capsys.readouterr().out
    out.unlink()
    _as_rank(monkeypatch, "0")
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "rank 0 runs it alone and the other 1 rank(s) exit" in captured.err
    assert _figures(captured.out) == _figures(serial) and out.exists()


def _figures(summary: str) -> list[str]:
    """The summary's table (the wall-clock line differs from run to run)."""
    lines = [line for line in summary.splitlines() if "wall" not in line]
    assert len(lines) >= 3, summary
    return lines


def _no_make(*args, **kwargs):
    raise AssertionError("a rank other than 0 built a network")
