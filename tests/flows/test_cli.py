"""The ``symnas`` command line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from symnas.flows import cli
from symnas.flows.registry import get_flow


def test_list_names_what_every_registry_holds(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("vit_tiny", "nb201_cell", "regularized_evolution", "nsga2", "nb201-digits"):
        assert name in out
    assert "pruners (flows.search(..., pruner=NAME)" in out
    for name in ("median", "percentile", "successive_halving", "hyperband", "asha", "bohb"):
        assert f"\n  {name} " in out
    for line in (
        "  einspace_shapes ",
        "  symnas.spaces.cells.NB201Cell ",
        "  cifar10_subset         [folder] ",
        "  sandwich               [needs sized] ",
        "  snip                   [labelled, supernet-safe, saliency] ",
    ):
        assert line in out


def test_unknown_names_list_the_valid_ones(capsys):
    assert cli.main(["run", "no-such-flow", "--out", "x"]) == 2
    assert "valid flows" in capsys.readouterr().err
    assert cli.main(["run", "nb201-digits", "--algorithm", "annealing"]) == 2
    assert "regularized_evolution" in capsys.readouterr().err


def test_run_flow_then_report(tmp_path, capsys):
    out = tmp_path / "nb"
    code = cli.main(
        ["run", "nb201-digits", "--budget", "2", "--out", str(out), "--set", "epochs=1"]
    )
    assert code == 0
    assert f"results in {out}" in capsys.readouterr().out
    records = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert all(0.0 <= r["metrics"]["valid_accuracy"] <= 1.0 for r in records)
    # Resume with a larger budget runs only the missing trial.
    assert (
        cli.main(
            [
                "run",
                "nb201-digits",
                "--budget",
                "3",
                "--out",
                str(out),
                "--set",
                "epochs=1",
                "--resume",
            ]
        )
        == 0
    )
    assert len((out / "trials.jsonl").read_text().splitlines()) == 3
    assert cli.main(["report", str(out)]) == 0
    assert "3 trials (3 ok, 0 failed)" in capsys.readouterr().out


def test_run_script_with_flow_function_and_pareto_report(tmp_path, capsys):
    script = tmp_path / "my_flow.py"
    script.write_text(
        textwrap.dedent("""
        import pyglove as pg
        from symnas import algorithms, flows

        def objective(spec):
            return {"gain": float(sum(spec["x"])), "cost": float(spec["x"][0])}

        def flow(algorithm=None, budget=None, out=None, **options):
            algo = algorithms.NSGA2(population_size=6, objectives={"gain": "max", "cost": "min"})
            space = pg.Dict(x=[pg.oneof([0, 1, 2, 3]) for _ in range(3)])
            return flows.search(space, objective, algo, budget=budget or 12, out=out, **options)
    """)
    )
    out = tmp_path / "mine"
    assert cli.main(["run", str(script), "--budget", "18", "--out", str(out)]) == 0
    assert cli.main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Pareto front" in text
    assert (out / "pareto.png").stat().st_size > 1000


def test_report_of_a_folder_without_search(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "holds no search" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["run", "--set", "novalue"]])
def test_bad_set_option(argv):
    with pytest.raises(SystemExit):
        cli.main(argv)


@pytest.mark.parametrize("flow", ["nb201-digits", "vit-digits", "pooling-digits", "tdnn-fsdd"])
def test_family_flows_train_real_models(flow, tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("SYMNAS_DATA", str(shared_data))
    out = tmp_path / flow
    assert cli.main(["run", flow, "--budget", "1", "--out", str(out), "--set", "epochs=1"]) == 0
    record = json.loads((out / "trials.jsonl").read_text().splitlines()[0])
    assert record["status"] == "ok", record["error"]
    metrics = record["metrics"]
    assert 0.0 <= metrics["valid_accuracy"] <= 1.0 and metrics["train_s"] > 0
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and "accuracy" not in metrics
    assert metrics["params"] > 0 and metrics["macs"] > 0
    # The validation accuracy is reported after each epoch: the one epoch's is the final one.
    assert record["budget"] == 1 and [s for s, _ in record["reports"]] == [1]
    assert record["reports"][0][1]["valid_accuracy"] == metrics["valid_accuracy"]
    assert "test_accuracy" not in record["reports"][0][1]


def test_family_flow_with_a_pruner_and_with_asha(tmp_path, capsys):
    out = tmp_path / "median"
    argv = ["run", "nb201-digits", "--budget", "7", "--set", "epochs=3", "--out", str(out)]
    assert cli.main([*argv, "--pruner", "median", "--algorithm", "tpe"]) == 0
    records = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert json.loads((out / "config.json").read_text())["pruner"]["pruner"] == "MedianPruner"
    for r in records:
        steps = [s for s, _ in r["reports"]]
        assert steps == list(range(1, len(steps) + 1))
        assert len(steps) == 3 if r["status"] == "ok" else r["status"] == "pruned"
    capsys.readouterr()
    assert cli.main(["report", str(out)]) == 0
    assert "last report of 7 of 7 trials" in capsys.readouterr().out
    out = tmp_path / "asha"
    argv = ["run", "nb201-digits", "--budget", "8", "--set", "epochs=3", "--out", str(out)]
    assert cli.main([*argv, "--algorithm", "asha"]) == 0
    records = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert {r["budget"] for r in records} == {1, 3}
    # A promoted cell continues its rung-1 checkpoint: it reports the epochs it adds.
    assert all(len(r["reports"]) == r["budget"] - r.get("start", 0) for r in records)
    assert all(r.get("start") == 1 for r in records if r["budget"] == 3)


def test_pruner_with_a_bracket_algorithm_or_a_flow_without_search_is_refused(tmp_path, capsys):
    argv = ["run", "nb201-digits", "--budget", "2", "--out", str(tmp_path / "x")]
    assert cli.main([*argv, "--pruner", "median", "--algorithm", "hyperband"]) == 2
    assert "cannot be combined with Hyperband" in capsys.readouterr().err
    assert cli.main([*argv, "--pruner", "no-such"]) == 2
    assert "successive_halving" in capsys.readouterr().err
    assert not (tmp_path / "x" / "trials.jsonl").exists()
    assert cli.main(["run", "hw-nested", "--pruner", "median", "--out", str(tmp_path / "y")]) == 2
    assert "flow 'hw-nested' does not take a pruner" in capsys.readouterr().err


# ---------------------------------------------------------------- what the user sees
def test_every_trial_failing_exits_non_zero_with_the_first_traceback(tmp_path, capsys):
    script = tmp_path / "buggy.py"
    script.write_text(
        textwrap.dedent("""
        import pyglove as pg
        from symnas import flows

        def objective(spec):
            return spec["x"] / 0

        def flow(budget=None, out=None, **options):
            space = pg.Dict(x=pg.oneof([1, 2, 3]))
            return flows.search(space, objective, "random", budget=budget, out=out, **options)
        """)
    )
    out = tmp_path / "bad"
    assert cli.main(["run", str(script), "--budget", "8", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "5 consecutive trials failed" in err
    assert "ZeroDivisionError: division by zero" in err and "Traceback" in err
    # one progress line per trial off a terminal, with its id and the failure's reason
    assert "trial 0 failed (1/8 done): ZeroDivisionError: division by zero" in err
    assert len((out / "trials.jsonl").read_text().splitlines()) == 5


def test_a_mistyped_flow_option_is_refused_before_any_trial(tmp_path, capsys):
    out = tmp_path / "typo"
    assert cli.main(["run", "nb201-digits", "--out", str(out), "--set", "epochs=abc"]) == 2
    assert "option 'epochs' expects int; got 'abc'" in capsys.readouterr().err
    assert not (out / "trials.jsonl").exists()


@pytest.mark.parametrize("flow", ["nb201-digits", "hw-nested"])
@pytest.mark.parametrize("option", ["--budget", "--workers"])
def test_zero_budget_or_workers_is_refused(flow, option, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", flow, option, "0"])
    assert info.value.code == 2
    assert "expected a positive integer; got 0" in capsys.readouterr().err


def test_hw_nested_checks_options_and_folder_before_training(tmp_path, capsys, monkeypatch):
    from symnas.flows import hw_flow

    def no_training(*args, **kwargs):
        raise AssertionError("the supernet trained before the options were checked")

    monkeypatch.setattr(hw_flow, "supernet_accuracy_table", no_training)
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert cli.main(["run", "hw-nested", "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'budget' must be a positive integer; got 0"):
        hw_flow.hw_nested(budget=0, out=str(tmp_path / "hw"))
    with pytest.raises(ValueError, match="'inner_budget' must be a positive integer"):
        hw_flow.hw_nested(inner_budget=0, out=str(tmp_path / "hw"))


def test_output_folder_errors_are_one_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert cli.main(["run", "nb201-digits", "--out", str(a_file / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symnas: error: 'out': cannot write in folder") and err.count("\n") == 1


def test_unknown_set_option_lists_the_flow_options(capsys):
    assert cli.main(["run", "nb201-digits", "--set", "epoch=2", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "has no option 'epoch'" in err and "'epochs'" in err


def test_flow_help_lists_its_set_options_with_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "nb201-digits", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--set options of nb201-digits" in out and "epochs (int, 4)" in out
    with pytest.raises(SystemExit):
        cli.main(["run", "hw-nested", "-h"])
    out = capsys.readouterr().out
    assert "inner_budget (int, 12)" in out and "supernet_epochs (int, 8)" in out


@pytest.mark.parametrize("with_flow", [False, True])
def test_a_script_runs_once(tmp_path, with_flow, capsys):
    marker = tmp_path / "runs.txt"
    script = tmp_path / "script.py"
    body = f"with open({str(marker)!r}, 'a') as f:\n    f.write('ran\\n')\n"
    if with_flow:
        body += "def flow(**options):\n    return None\n"
    script.write_text(body)
    assert cli.main(["run", str(script)]) == 0
    assert marker.read_text() == "ran\n"


def test_readme_example_runs_through_the_cli(tmp_path, monkeypatch, capsys):
    """The README's ten-line search, run as a script (it used to run twice and fail)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "budget=6" in code
    code = code.replace("budget=6", "budget=2")
    (tmp_path / "example.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "example.py"]) == 0
    assert len((tmp_path / "runs" / "nb201" / "trials.jsonl").read_text().splitlines()) == 2


def _pareto_script(tmp_path: Path) -> Path:
    script = tmp_path / "two.py"
    script.write_text(
        textwrap.dedent("""
        import pyglove as pg
        from symnas import algorithms, flows

        def objective(spec):
            return {"gain": float(sum(spec["x"])), "cost": float(spec["x"][0]) + spec["f"]}

        def flow(algorithm=None, budget=None, out=None, **options):
            algo = algorithms.NSGA2(population_size=6, objectives={"gain": "max", "cost": "min"},
                                    constraints={"cost": ("<=", 2.5)})
            space = pg.Dict(x=[pg.oneof([0, 1, 2, 3]) for _ in range(3)], f=pg.floatv(0.0, 1.0),
                            task=pg.Dict(classes=10))
            return flows.search(space, objective, algo, budget=budget or 12, out=out, **options)
        """)
    )
    return script


def test_run_prints_the_best_spec_readably_and_what_best_means(tmp_path, capsys):
    out = tmp_path / "two"
    assert (
        cli.main(["run", str(_pareto_script(tmp_path)), "--budget", "18", "--out", str(out)]) == 0
    )
    text = capsys.readouterr().out
    assert "best by gain (max), the first of the objectives gain (max), cost (min)" in text
    assert "feasible means cost <= 2.5" in text and "Pareto front" in text
    assert "_type" not in text and "task={classes=10}" in text
    best = text.split("\n")[1]
    assert all(len(v.split("=")[1].split(".")[-1]) <= 4 for v in best.split(", ") if "." in v)


def test_report_never_writes_the_log_and_works_without_summary(tmp_path, capsys):
    out = tmp_path / "two"
    assert (
        cli.main(["run", str(_pareto_script(tmp_path)), "--budget", "18", "--out", str(out)]) == 0
    )
    log = out / "trials.jsonl"
    cut = log.read_bytes() + b'{"id": 18, "geno'
    log.write_bytes(cut)
    (out / "summary.json").unlink()
    capsys.readouterr()
    assert cli.main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert log.read_bytes() == cut  # the cut-off line is left for the resuming search
    assert "18 trials" in text and "Pareto front" in text
    # The table shows the fields that tell its rows apart, not the fixed ones.
    assert "x=" in text and "classes" not in text
    (out / "config.json").unlink()
    assert cli.main(["report", str(out)]) == 0
    assert "18 trials" in capsys.readouterr().out


def test_a_script_flow_runs_with_worker_processes(tmp_path, capsys):
    script = tmp_path / "my_flow.py"
    script.write_text(
        textwrap.dedent("""
        import pyglove as pg
        from symnas import flows

        def objective(spec):
            return float(spec["x"])

        def flow(budget=None, out=None, **options):
            space = pg.Dict(x=pg.oneof([1, 2, 3, 4]))
            return flows.search(space, objective, "random", budget=budget, out=out, **options)
        """)
    )
    out = tmp_path / "run"
    argv = ["run", str(script), "--workers", "2", "--budget", "4", "--out", str(out)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    records = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 4
    assert json.loads((out / "config.json").read_text())["workers"] == 2


def test_hw_nested_takes_its_supernet_sampler_by_name_and_refuses_a_bad_one_first(tmp_path, capsys):
    from symnas import spaces
    from symnas.algorithms.samplers import UniformSampler
    from symnas.flows import hw_flow

    out = tmp_path / "hw"
    assert cli.main(["run", "hw-nested", "--out", str(out), "--set", "sampler=unifrom"]) == 2
    err = capsys.readouterr().err
    assert "Unknown path sampler 'unifrom'" in err and "'uniform'" in err
    assert cli.main(["run", "hw-nested", "--out", str(out), "--set", "sampler=sandwich"]) == 2
    assert "needs a supernet with the 'sized' capability" in capsys.readouterr().err
    assert cli.main(["run", "hw-nested", "--out", str(out), "--set", "sampler=preferred"]) == 2
    assert "sampler 'preferred' cannot draw this space's architectures" in capsys.readouterr().err
    assert not out.exists()  # refused before the output folder was made

    space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    every = hw_flow.every_spec(space)
    sampler = hw_flow.path_sampler("uniform", space, every)
    assert isinstance(sampler, UniformSampler) and sampler.specs == every and len(every) == 36
    assert get_flow("hw-nested").options["sampler"].default == "uniform"
