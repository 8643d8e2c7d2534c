"""The ``symnas`` command line."""

from __future__ import annotations

import json
import textwrap

import pytest

from symnas.flows import cli


def test_list_names_spaces_algorithms_and_flows(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("vit_tiny", "nb201_cell", "regularized_evolution", "nsga2", "nb201-digits"):
        assert name in out


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
    assert all(0.0 <= r["metrics"]["accuracy"] <= 1.0 for r in records)
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
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["train_s"] > 0
    assert metrics["params"] > 0 and metrics["macs"] > 0
