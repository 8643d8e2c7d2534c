"""HTML report pages of every kind of run folder, read as text: sections, links, escaping, bad
input, the size of a long search's page, and multi-fidelity searches: pruned trials drawn as their
own trace and left out of the ranking, learning curves from the intermediate reports, a budgeted
search ranked at its largest budget as ``SearchResult.best`` is."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("plotly", reason="HTML reports need plotly (pip install 'symnas[report]')")

from symnas.flows.html_learning_curves import MAX_CURVES, Curve, sample  # noqa: E402
from symnas.flows.html_page import script_json  # noqa: E402
from symnas.flows.html_report import PAGE, write_pages  # noqa: E402
from symnas.flows.html_run_folder import read_run_folder  # noqa: E402
from symnas.flows.html_search_data import MAX_HISTORY_POINTS, history_sample, score  # noqa: E402
from symnas.flows.report import load_result  # noqa: E402
from symnas.flows.trial_log import TrialLog  # noqa: E402

PLOTLY_JS_BYTES = 5_000_000


def values(array) -> np.ndarray:
    """A figure's array: plotly writes numpy arrays as base64 typed arrays."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def figures(page: str) -> dict:
    """The figures' JSON of a page."""
    match = re.search(r"var SYMNAS_FIGURES = (\{.*?\});\n", page)
    return json.loads(match.group(1)) if match else {}


def test_search_page_has_every_section_and_escapes_specs_and_errors(runs, pages, hostile):
    INJECTION, IMG_INJECTION, UNICODE = hostile.injection, hostile.img, hostile.unicode
    [path] = pages["search"]
    page = path.read_text()
    for title in ("Optimisation history", "Best trials", "Failed trials", "Which decisions matter"):
        assert f"<h2>{title}" in page
    assert page.count("<script") == 3  # plotly.js once, the figures, the table sort
    assert INJECTION not in page and IMG_INJECTION not in page
    assert "&lt;/script&gt;&lt;script&gt;window.symnasInjected=1&lt;/script&gt;" in page  # table
    assert UNICODE in page
    data = figures(page)
    history = data["figure-0"]["figure"]["data"]
    names = [trace["name"] for trace in history]
    assert names[0] == "trials" and names[-1] == "best so far (max)"
    assert any(name.startswith("failed") for name in names)
    failed = next(t for t in history if t["name"].startswith("failed"))
    assert "out of memory &lt;img src=x" in failed["customdata"][0][0]  # hover shows the error
    result = load_result(runs["search"])
    assert len(history[0]["x"]) + len(failed["x"]) == len(result.trials)


def test_importance_ranks_the_decision_that_sets_the_score_first(pages):
    [path] = pages["search"]
    importance = figures(path.read_text())["figure-1"]["figure"]["data"][0]
    ranked = dict(zip(importance["y"], values(importance["x"]), strict=True))
    assert max(ranked, key=ranked.get) == "width"  # accuracy is 0.5 + width / 100 + op bonus
    assert ranked["width"] > 10 * abs(ranked["depth"])  # depth plays no part


def test_script_json_cannot_close_the_script_element(hostile):
    text = script_json({"spec": hostile.injection, "e": hostile.img + " & more"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["spec"] == hostile.injection


def test_nested_page_links_every_outer_trial_to_its_inner_page(runs, pages):
    written = pages["nested"]
    page = written[0].read_text()
    inner = sorted((runs["nested"] / "inner").iterdir())
    assert written[1:] == [folder / PAGE for folder in inner]
    for folder in inner:
        assert f'href="inner/{folder.name}/{PAGE}"' in page
        assert f'href="../../{PAGE}"' in (folder / PAGE).read_text()  # and back
    data = figures(page)
    pareto = next(f for f in data.values() if f["links"])
    panels = {trace["xaxis"] for trace in pareto["figure"]["data"]}
    assert panels == {"x", "x2", "x3"}  # three objectives: three pairs
    links = {c[2] for t in pareto["figure"]["data"] for c in t["customdata"]}
    assert links - {""} == {f"inner/{folder.name}/{PAGE}" for folder in inner}
    assert "<h2>Hypervolume over trials" in page and "infeasible" in page


def test_darts_page_draws_the_architecture_weights_of_every_edge_by_op_name(pages):
    [path] = pages["darts"]
    page = path.read_text()
    assert "<h2>Supernet training" in page and "Architecture weights over epochs" in page
    alphas = [f for f in figures(page).values() if "edges[0]" in json.dumps(f)][-1]
    traces = alphas["figure"]["data"]
    assert len(traces) == 6 * 5  # six edges, five ops each
    assert {t["name"] for t in traces} == {
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
    }
    assert all(len(t["x"]) == 3 for t in traces)  # three epochs


def test_fewshot_page_draws_each_split_tree_and_stage_curves_at_their_split_epoch(runs, pages):
    run = read_run_folder(runs["fewshot"])
    assert [p.method for p in run.plans] == ["exhaustive", "gm"]
    [path] = pages["fewshot"]
    page = path.read_text()
    assert page.count("<h2>Few-shot split tree") == 2
    trees = [f for f in figures(page).values() if "epoch of the split" in json.dumps(f)]
    exhaustive_nodes = trees[0]["figure"]["data"][1]
    assert len(exhaustive_nodes["x"]) == 6  # the root and one child per op
    curves = next(f for f in figures(page).values() if "training loss" in json.dumps(f))
    first = {t["name"]: t["x"][0] for t in curves["figure"]["data"] if t["xaxis"] == "x"}
    split = run.plans[0].split_epochs[0]
    assert first["exhaustive/supernet/s/stage0"] == 1
    assert first["exhaustive/supernet/s.0/stage1"] == split + 1


def test_empty_and_failed_runs_get_a_page_that_says_so(pages, hostile):
    [empty] = pages["empty"]
    assert "Nothing is logged in this folder yet" in empty.read_text()
    [failed] = pages["failed"]
    page = failed.read_text()
    assert "Every trial failed" in page and hostile.injection not in page
    assert "Failed trials (3 most recent of 3)" in page


def test_a_torn_log_is_read_up_to_its_last_complete_line_and_bad_lines_are_named(runs):
    run = read_run_folder(runs["torn"])
    assert len(run.result.trials) == 35  # 36 trials, one corrupt line, the torn tail dropped
    assert len(run.notes) == 1 and run.notes[0].startswith("trials.jsonl:4: skipped")
    [path] = write_pages(runs["torn"])
    assert "trials.jsonl:4: skipped" in path.read_text()


def test_a_folder_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        write_pages(tmp_path / "missing")


def _long_log(folder, n: int, seed: int = 0) -> None:
    """``n`` trials of an NB201-like search, a tenth failed, logged as a search logs them."""
    rng = np.random.default_rng(seed)
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    log = TrialLog(folder / "trials.jsonl")
    for i in range(n):
        genome = rng.integers(0, 5, 6)
        spec = {"_type": "symnas.spaces.cells.NB201Cell", "edges": [ops[g] for g in genome]}
        ok = rng.random() > 0.1
        accuracy = float(0.5 + 0.05 * (genome == 3).sum() + 0.02 * rng.standard_normal())
        log.append(
            {
                "id": i,
                "genome": genome.tolist(),
                "dna": genome.tolist(),
                "spec": spec,
                "metrics": {"accuracy": accuracy} if ok else None,
                "status": "ok" if ok else "failed",
                "error": None if ok else "RuntimeError: diverged",
            }
        )
    log.close()


def test_a_long_search_draws_a_bounded_sample_with_every_improvement(tmp_path):
    _long_log(tmp_path, 5_000)
    search = score(load_result(tmp_path))
    shown = history_sample(search)
    assert len(shown) <= MAX_HISTORY_POINTS
    best = search.best_so_far()
    previous = np.r_[np.nan, best[:-1]]
    improvements = np.flatnonzero(~np.isnan(best) & (np.isnan(previous) | (best > previous)))
    assert set(improvements) <= set(shown.tolist())
    assert 0 < (~search.scored[shown]).sum() <= MAX_HISTORY_POINTS // 10
    [path] = write_pages(tmp_path)
    assert path.stat().st_size < PLOTLY_JS_BYTES + 3_000_000


def test_a_parent_folder_links_the_top_searches_below_it_and_they_their_own(runs, tmp_path):
    shutil.copytree(runs["nested"], tmp_path / "hw")
    shutil.copytree(runs["search"], tmp_path / "a" / "search")
    run = read_run_folder(tmp_path)
    assert run.result is None and run.searches == [tmp_path / "a" / "search", tmp_path / "hw"]
    written = write_pages(tmp_path)
    inner = sorted((tmp_path / "hw" / "inner").iterdir())
    assert written == [
        tmp_path / PAGE,
        tmp_path / "a" / "search" / PAGE,
        tmp_path / "hw" / PAGE,
        *(folder / PAGE for folder in inner),
    ]
    page = written[0].read_text()
    assert 'href="hw/report.html"' in page and "inner/" not in page


PRUNED_TRACE = "pruned (stopped early; at its last report)"


def _traces(figure: dict) -> dict[str, dict]:
    return {trace["name"]: trace for trace in figure["figure"]["data"]}


def _best_table_ids(page: str) -> list[int]:
    """The trial ids of the best-trials table, in rank order."""
    body = page.split("<h2>Best trials", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1])
    return [int(re.findall(r"<td[^>]*>(.*?)</td>", row)[1]) for row in rows]


def test_pruned_trials_have_their_own_trace_and_stay_out_of_the_ranking(runs, pages):
    result = load_result(runs["pruned"])
    ok = [t for t in result.trials if t.status == "ok"]
    pruned = [t for t in result.trials if t.status == "pruned"]
    assert ok and pruned
    [path] = pages["pruned"]
    page = path.read_text()
    assert f"16 trials: {len(ok)} ok, 0 failed, {len(pruned)} pruned" in page
    assert "<h2>Failed trials" not in page  # pruned is not failed
    history = _traces(figures(page)["figure-0"])
    assert not any(name.startswith("failed") for name in history)
    assert list(values(history[PRUNED_TRACE]["x"])) == [t.id for t in pruned]
    last = [t.extra["reports"][-1][1]["accuracy"] for t in pruned]
    assert np.allclose(values(history[PRUNED_TRACE]["y"]), last)  # at their last report
    assert list(values(history["trials"]["x"])) == [t.id for t in ok]
    best = values(history["best so far (max)"]["y"])
    assert best[-1] == pytest.approx(result.best.metrics["accuracy"])
    # A pruned trial's last report may beat every completed one; it still ranks nowhere.
    assert f"<h2>Best trials ({len(ok)} of {len(ok)} scored)" in page
    ids = _best_table_ids(page)
    assert ids[0] == result.best.id and set(ids) == {t.id for t in ok}


def test_learning_curves_show_every_trial_and_where_pruned_ones_stopped(runs, pages):
    result = load_result(runs["pruned"])
    [path] = pages["pruned"]
    page = path.read_text()
    assert "<h2>Learning curves" in page
    curves = next(f for f in figures(page).values() if "step" in str(f["figure"]["layout"]))
    traces = _traces(curves)
    assert set(traces) == {"completed", "pruned (stopped early)", "where a pruned trial stopped"}
    pruned = [t for t in result.trials if t.status == "pruned"]
    steps = max(len(t.extra["reports"]) for t in result.trials)  # a completed trial's
    stopped = traces["where a pruned trial stopped"]
    assert list(values(stopped["customdata"])) == [t.id for t in pruned]
    assert all(step < steps for step in values(stopped["x"]))  # visibly ended early
    completed = traces["completed"]
    assert max(s for s in completed["x"] if s is not None) == steps
    assert sum(s is None for s in completed["x"]) == len(result.trials) - len(pruned)


def test_a_budgeted_search_ranks_only_the_trials_at_its_largest_budget(runs, pages):
    result = load_result(runs["hyperband"])
    top = [t for t in result.trials if t.extra["budget"] == 9]
    lower = [t for t in result.trials if t.extra["budget"] < 9]
    assert top and lower
    [path] = pages["hyperband"]
    page = path.read_text()
    counts = "20 trials: 20 ok, 0 failed, 0 pruned"
    assert f"{counts}; {len(top)} completed at the largest budget 9, the only candidates" in page
    history = _traces(figures(page)["figure-0"])
    assert list(values(history["trials at budget 9 (largest)"]["x"])) == [t.id for t in top]
    assert list(values(history["at lower budgets"]["x"])) == [t.id for t in lower]
    best = values(history["best so far (max)"]["y"])
    assert best[-1] == pytest.approx(result.best.metrics["accuracy"])
    assert f"<h2>Best trials ({len(top)} of {len(top)} scored)" in page
    assert _best_table_ids(page)[0] == result.best.id
    assert "<h2>Learning curves" not in page  # objective(spec, budget) reports nothing


def test_many_learning_curves_are_sampled_keeping_the_best_completed():
    rng = np.random.default_rng(0)
    found = [
        Curve(i, "ok" if i % 3 else "pruned", [1, 2, 3], list(rng.random(3)))
        for i in range(5 * MAX_CURVES)
    ]
    drawn = sample(found, "max")
    assert len(drawn) == MAX_CURVES
    assert [c.trial for c in drawn] == sorted({c.trial for c in drawn})
    completed = sorted((c for c in found if c.status == "ok"), key=lambda c: -c.values[-1])
    assert {c.trial for c in completed[: MAX_CURVES // 5]} <= {c.trial for c in drawn}
    assert {c.status for c in drawn} == {"ok", "pruned"}
    assert sample(found[:10], "max") == found[:10]
