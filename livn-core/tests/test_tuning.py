"""The tuning tool (livn.tuning, ``livn tune``): input checks before any simulation, studies that resume.

The fake backend's activity does not depend on the parameters, so these tests check the machinery;
tests/test_tuning.py tunes real cultures on every backend.
"""

from __future__ import annotations

import json

import pytest
from livn import cli, tuning
from livn.tuning import Parameter, parse_space, tune
from livn_fake.env import Env as FakeEnv

pytest.importorskip("optuna")

FAKE = "livn_fake.env"
NEVER = {"name": "never", "bands": {"mean_rate": [500.0, 600.0]}, "duration": 200.0, "warmup": 0.0}
SPACE = {"EXC_EXC-hillock-AMPA-weight": (0.01, 1.0, "log"), "noise-std": (0.0, 0.05)}


@pytest.fixture
def no_runs(monkeypatch):
    """Fail any test that would simulate."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("a simulation ran before the input was checked")

    monkeypatch.setattr(FakeEnv, "run", refuse)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"system": "EI9"}, KeyError, "unknown system 'EI9'"),
        ({"targets": "bursty"}, KeyError, "unknown target set"),
        ({"targets": {"bands": {"mean_rate": [4, 2]}}}, ValueError, "low 4 > high 2"),
        ({"targets": {"bands": {"rate": [1, 2]}}}, KeyError, "unknown statistic"),
        ({"space": {"EXC_EXC-AMPA-weight": (0.1, 1.0)}}, KeyError, "not a weight of EI2"),
        ({"space": {"noise-sigma": (0.1, 1.0)}}, KeyError, "unknown noise parameter 'noise-sigma'"),
        ({"space": {"cell-EXC.tau": (1.0, 2.0)}}, KeyError, "unknown cell parameter 'cell-EXC.tau'"),
        ({"space": {"cell-GLIA.C": (1.0, 2.0)}}, KeyError, "populations"),
        ({"space": {"noise-std": (0.5, 0.1)}}, ValueError, "low 0.5 >= high 0.1"),
        ({"space": {"noise-std": (0.0, 0.1, "log")}}, ValueError, "log scale"),
        ({"space": {"noise-std": (0.1,)}}, ValueError, "give \\(low, high\\)"),
        ({"space": {}}, ValueError, "empty"),
        ({"start": {"noise-std": 1.0}}, ValueError, "outside its box"),
        ({"start": {"noise-tau": 1.0}}, KeyError, "not in the search space"),
        ({"seeds": []}, ValueError, "seeds"),
        ({"trials": 0}, ValueError, "trials"),
    ],
)
def test_bad_input_is_refused_before_any_simulation(no_runs, kwargs, error, match):
    call = {"system": "EI2", "targets": NEVER, "space": SPACE, "backend": FAKE, "trials": 2, "progress": None}
    call.update(kwargs)
    with pytest.raises(error, match=match):
        tune(call.pop("system"), call.pop("targets"), call.pop("space"), **call)


def test_parse_space_forms():
    parameters = parse_space({"a": (1, 2), "b": (0.1, 10, "log"), "noise-mean": Parameter("noise-mean", -1, 1)})
    assert parameters == (Parameter("a", 1.0, 2.0), Parameter("b", 0.1, 10.0, True), Parameter("noise-mean", -1.0, 1.0))
    with pytest.raises(ValueError, match="synaptic weights are >= 0"):
        Parameter("EXC_EXC-hillock-AMPA-weight", -1.0, 1.0)


def test_a_study_resumes_where_it_stopped(tmp_path):
    storage = tmp_path / "study.db"
    lines: list[str] = []
    first = tune("EI2", NEVER, SPACE, backend=FAKE, trials=3, storage=storage, progress=lines.append)
    assert first.trials == 3 and not first.passed and first.best_distance > 0
    assert len(lines) == 3 and lines[-1].startswith("3/3 done")
    lines.clear()
    again = tune("EI2", NEVER, SPACE, backend=FAKE, trials=5, storage=storage, progress=lines.append)
    assert again.trials == 5
    assert lines[0] == f"resuming study {first.study!r}: 3 trials done, 2 to go" and len(lines) == 3
    assert set(again.best_params) == set(SPACE)
    assert all(SPACE[k][0] <= v <= SPACE[k][1] for k, v in again.best_params.items())


def test_a_trial_left_running_is_run_again(tmp_path):
    import optuna

    storage = tmp_path / "study.db"
    url = f"sqlite:///{storage}"
    study = optuna.create_study(study_name="s", storage=url, direction="minimize")
    distributions = {p.name: optuna.distributions.FloatDistribution(p.low, p.high, log=p.log) for p in parse_space(SPACE)}
    study.enqueue_trial({"EXC_EXC-hillock-AMPA-weight": 0.5, "noise-std": 0.02})
    interrupted = study.ask(distributions)  # asked, never told: what an interrupted run leaves behind
    result = tune("EI2", NEVER, SPACE, backend=FAKE, trials=1, storage=storage, study="s", progress=None)
    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    assert trials[interrupted.number].state == optuna.trial.TrialState.FAIL
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 1 and finished[0].params == {"EXC_EXC-hillock-AMPA-weight": 0.5, "noise-std": 0.02}
    assert result.best_params == finished[0].params


def test_met_bands_stop_the_search_and_the_result_applies(tmp_path):
    always = {"name": "always", "bands": {"mean_rate": [0.0, 1e6]}, "duration": 200.0, "warmup": 0.0}
    start = {"EXC_EXC-hillock-AMPA-weight": 0.3, "noise-std": 0.01}
    result = tune("EI2", always, SPACE, backend=FAKE, trials=10, start=start, progress=None)
    assert result.passed and result.best_distance == 0.0 and result.trials == 1  # stopped at the first trial in band
    assert result.best_params == start
    assert result.make_kwargs() == {"weights": {"EXC_EXC-hillock-AMPA-weight": 0.3}, "noise": {"std": 0.01}}
    assert "| mean_rate |" in result.report() and json.loads(json.dumps(result.to_dict()))["passed"] is True


def test_default_space_spans_a_decade_each_way():
    import livn

    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as env:
        env.set_weights({"EXC_EXC-hillock-AMPA-weight": 0.2})
        space = {p.name: p for p in tuning.default_space(env)}
    assert space["EXC_EXC-hillock-AMPA-weight"] == Parameter("EXC_EXC-hillock-AMPA-weight", 0.02, 2.0, True)
    with pytest.raises(ValueError, match="factor must be > 1"):
        tuning.default_space(env, factor=1.0)


def test_cli_reports_bad_input_in_one_line(capsys, no_runs):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tune", "EI2", "--backend", FAKE, "--band", "mean_rate=4:2", "--param", "noise-std=0:0.1"])
    assert exit_info.value.code == 2
    assert "low 4 > high 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["tune", "EI2", "--backend", FAKE, "--param", "noise-std=0:0.1"])
    assert "give --targets" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["tune", "EI2", "--backend", FAKE, "--band", "mean_rate=1:2", "--param", "noise-std=0:x"])
    assert "'x' is not a number" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a repeated name is refused, not settled by the last one
        cli.main(["tune", "EI2", "--backend", FAKE, "--band", "mean_rate=1:2", "--param", "noise-std=0:0.1",
                  "--start", "noise-std=0.01", "--start", "noise-std=0.05"])
    assert "--start noise-std is given twice" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --make options reach livn.make, which refuses an unknown one
        cli.main(["tune", "EI2", "--backend", FAKE, "--band", "mean_rate=1:2", "--param", "noise-std=0:0.1",
                  "--make", "warp=9"])
    assert "'warp'" in capsys.readouterr().err


def test_cli_writes_the_report(tmp_path, capsys):
    out = tmp_path / "tuned"
    code = cli.main([
        "tune", "EI2", "--backend", FAKE, "--band", "mean_rate=0:", "--param", "noise-std=0:0.1",
        "--duration", "200", "--warmup", "0", "--trials", "2", "--out", str(out), "--quiet",
    ])
    assert code == 0
    assert "every statistic in band" in (out / "report.md").read_text()
    assert json.loads((out / "result.json").read_text())["targets"]["bands"] == {"mean_rate": [0.0, None]}
    assert "# Tuning EI2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("stp-EXC->EXC.V", "field one of"),
        ("stp-EXC->GLIA.U", "not stp-<synapses>.<field>"),
        ("stp-EXC_EXC-hillock-AMPA.U", "not stp-<synapses>.<field>"),
        ("stp-U", "not stp-<synapses>.<field>"),
    ],
)
def test_bad_plasticity_parameters_are_refused(no_runs, name, match):
    with pytest.raises(KeyError, match=match):
        tune("EI2", NEVER, {name: (0.1, 0.5)}, backend=FAKE, trials=1, progress=None)


def test_plasticity_parameters_build_rules_over_the_tuned_ones():
    import livn
    from livn.plasticity import TsodyksMarkram

    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as learning:
        learning.plasticity = {"EXC_EXC-hillock-AMPA-weight": (TsodyksMarkram(U=0.3, tau_rec=900.0),)}  # its rules now
        assert livn.tuning._stp_config(learning, {"EXC->EXC": {"U": 0.1}}) == {
            "EXC->EXC": {"rule": "tsodyks-markram", "U": 0.1, "tau_rec": 900.0, "tau_facil": 0.0}
        }
        assert livn.tuning._stp_config(learning, {"INH->EXC": {"tau_rec": 50.0}}) == {
            "INH->EXC": {"rule": "tsodyks-markram", "tau_rec": 50.0}
        }


def test_a_runaway_trial_is_stopped_early(monkeypatch):
    from livn import targets

    monkeypatch.setattr(tuning, "RUNAWAY_RATE", 1.0)  # the fake's ~5 Hz counts as runaway
    chunks = []
    original = FakeEnv.run

    def counted(self, duration, *args, **kwargs):
        chunks.append(duration)
        return original(self, duration, *args, **kwargs)

    monkeypatch.setattr(FakeEnv, "run", counted)
    lines: list[str] = []
    long = {**NEVER, "duration": 5000.0}
    result = tune("EI2", long, SPACE, backend=FAKE, trials=1, progress=lines.append)
    assert chunks == [tuning.CHUNK]  # stopped after the first chunk of 5 s
    assert result.best_distance == targets.MAX_DISTANCE and not result.passed
    assert "runaway" in lines[0]
