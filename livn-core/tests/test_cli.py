"""The livn command: listing, bad arguments (one line, exit 2), and the run summary."""

from __future__ import annotations

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
        assert "pip install livn-brian2" in out
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
