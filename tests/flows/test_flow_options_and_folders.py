"""Every flow checks its options before any work, marks its output folder from the first moment,
and refuses a resume that cannot be one before it changes anything."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

from symnas import flows
from symnas.flows import cli
from symnas.flows.registry import flows as registered_flows
from symnas.flows.registry import get_flow
from symnas.flows.run_marker import MARKER, claim, read_marker

FLOW_NAMES = sorted(registered_flows())


@pytest.fixture
def no_work(monkeypatch):
    """Any training (an optimizer step) fails the test: the option must be refused before."""

    def step(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    monkeypatch.setattr(torch.optim.Adam, "step", step)
    monkeypatch.setattr(torch.optim.AdamW, "step", step)


def _numeric_options(name: str) -> list[str]:
    """The flow's options that take a number (and not a bool)."""
    options = []
    for option in get_flow(name).options.values():
        text = option.type_text.split(" or ")
        if ("int" in text or "float" in text) and "bool" not in text:
            options.append(option.name)
    return options


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_every_numeric_option_of_every_flow_is_checked_before_any_work(name, tmp_path, no_work):
    numeric = _numeric_options(name)
    assert numeric, f"{name} has no numeric option"
    for option in numeric:
        out = tmp_path / option
        with pytest.raises(ValueError, match=option):
            get_flow(name).run(out=str(out), verbose=False, **{option: -1})
        assert not out.exists()  # nothing written: not even the folder's mark


def test_fewshot_needs_two_epochs_before_it_trains(no_work):
    with pytest.raises(ValueError, match=r"'epochs' must be an integer >= 2 \(the few-shot"):
        get_flow("fewshot-nb201").run(epochs=1, verbose=False)
    assert "at least 2" in get_flow("fewshot-nb201").options["epochs"].help


def test_cli_refuses_zero_epochs_with_the_option_named(tmp_path, capsys):
    out = tmp_path / "nb"
    assert cli.main(["run", "nb201-digits", "--set", "epochs=0", "--out", str(out)]) == 2
    assert "option 'epochs' must be an integer >= 1" in capsys.readouterr().err
    assert not (out / "trials.jsonl").exists()


def test_a_run_whose_every_trial_failed_exits_1_below_the_consecutive_limit(tmp_path, capsys):
    script = tmp_path / "always_fails.py"
    script.write_text(
        textwrap.dedent("""
        import pyglove as pg
        from symnas import flows

        def objective(spec):
            raise RuntimeError(f"cannot build {spec['x']}")

        def flow(budget=None, out=None, **options):
            space = pg.Dict(x=pg.oneof([1, 2, 3]))
            return flows.search(space, objective, "random", budget=budget, out=out, **options)
        """)
    )
    argv = ["run", str(script), "--budget", "3", "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "every one of the 3 trials failed; the first, trial 0:" in err
    assert "RuntimeError: cannot build" in err


def test_a_flow_marks_its_folder_before_its_first_step(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("symnas.flows.family_flows.search", interrupted)
    out = tmp_path / "nb"
    with pytest.raises(KeyboardInterrupt):
        get_flow("nb201-digits").run(out=str(out), epochs=2, verbose=False)
    marker = read_marker(out)
    assert marker["flow"] == "nb201-digits" and marker["options"]["epochs"] == 2


def test_another_flow_is_refused_in_a_marked_folder(tmp_path, capsys):
    out = tmp_path / "run"
    claim(out, "fewshot-nb201", {"epochs": 8}, resume=False)
    (out / "gm").mkdir()  # the few-shot flow's work so far (no top-level trials.jsonl)
    argv = ["run", "nb201-digits", "--out", str(out)]
    assert cli.main(argv) == 2
    assert "holds a run of flow 'fewshot-nb201', not 'nb201-digits'" in capsys.readouterr().err
    assert cli.main([*argv, "--resume"]) == 2
    assert "holds a run of flow 'fewshot-nb201'" in capsys.readouterr().err
    assert read_marker(out)["flow"] == "fewshot-nb201"


def test_a_new_run_is_refused_in_a_folder_holding_files(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["run", "nb201-digits", "--out", str(tmp_path)]) == 2
    assert "already holds files (notes.txt...); pass --resume" in capsys.readouterr().err
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize("kind", ["missing", "empty", "only files"])
def test_resume_on_a_folder_without_a_run_is_an_error(tmp_path, capsys, kind):
    out = tmp_path / "typo"
    if kind != "missing":
        out.mkdir()
    if kind == "only files":
        (out / "notes.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert cli.main(["run", "nb201-digits", "--out", str(out), "--resume"]) == 2
    assert f"--resume: {out} holds no run to continue" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_resume_of_a_script_flow_on_a_folder_without_a_run_is_an_error(tmp_path, capsys):
    script = tmp_path / "my_flow.py"
    script.write_text("def flow(**options):\n    raise AssertionError('ran')\n")
    out = tmp_path / "mistyped"
    assert cli.main(["run", str(script), "--out", str(out), "--resume"]) == 2
    assert f"--resume: {out} holds no run to continue" in capsys.readouterr().err


def test_resume_with_other_flow_options_is_refused_before_anything_changes(tmp_path, capsys):
    out = tmp_path / "run"
    claim(out, "nb201-digits", {"epochs": 4, "budget": 8}, resume=False)
    (out / "trials.jsonl").write_bytes(b'{"id": 0, "torn')  # a write cut short by a kill
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    argv = ["run", "nb201-digits", "--out", str(out), "--set", "epochs=3", "--resume"]
    assert cli.main(argv) == 2
    assert "its run's 'options.epochs' was 4, now 3" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # the budget may change on resume (claim accepts it and rewrites the same mark)
    claim(out, "nb201-digits", {"epochs": 4, "budget": 30}, resume=True)
    assert json.loads((out / MARKER).read_text())["options"] == {"epochs": 4}


def test_a_refused_search_resume_leaves_the_log_untouched(tmp_path):
    import pyglove as pg

    space = pg.Dict(x=pg.oneof([1, 2, 3, 4]))
    flows.search(space, lambda s: s["x"], "random", 2, out=tmp_path, seed=1, verbose=False)
    log = tmp_path / "trials.jsonl"
    with open(log, "ab") as f:
        f.write(b'{"id": 2, "gen')  # torn last line
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="'seed' was 1"):
        flows.search(space, lambda s: s["x"], "random", 4, out=tmp_path, seed=2, resume=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    result = flows.search(
        space, lambda s: s["x"], "random", 3, out=tmp_path, seed=1, resume=True, verbose=False
    )
    assert [t.id for t in result.trials] == [0, 1, 2]  # accepted: the torn line dropped
