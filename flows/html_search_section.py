"""The sections of a page about one search: history, best trials, failed trials, decision
importance with the values among the top trials, and the Pareto front with its hypervolume."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from symnas.flows import html_learning_curves as learning
from symnas.flows import html_search_figures as figures
from symnas.flows.html_importance import (
    FOLDS,
    IMPORTANCE_TREES,
    MIN_TRIALS,
    REPEATS,
    decisions,
    permutation_importance,
)
from symnas.flows.html_page import Page, sortable_table, text
from symnas.flows.html_search_data import ScoredSearch, history_sample, score
from symnas.flows.report import readable
from symnas.flows.result import SearchResult

#: Rows of the best-trials table.
TOP_ROWS = 50
#: The most recent failed trials listed with their errors.
FAILED_ROWS = 20
#: The top trials whose values are compared with all trials': this share, at least TOP_MIN.
TOP_SHARE, TOP_MIN = 0.1, 5
#: Decisions whose value distribution is drawn (the most important first).
DISTRIBUTIONS = 9


def describe(result: SearchResult, search: ScoredSearch) -> str:
    """One line: trial counts by status, the budget the best is chosen at, objectives and
    constraints."""
    counts = Counter(t.status for t in result.trials)
    words = [
        f"{len(result.trials)} trials: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['pruned']} pruned"
    ]
    if search.budget is not None:
        words.append(
            f"{int(search.scored.sum())} completed at the largest budget {search.budget:g}, "
            "the only candidates for best"
        )
    if search.names:
        goals = ", ".join(f"{n} ({m})" for n, m in zip(search.names, search.modes, strict=True))
        words.append(f"objectives {goals}")
    if result.objectives.constraints:
        rules = ", ".join(f"{k} {op} {b:g}" for k, (op, b) in result.objectives.constraints.items())
        words.append(f"feasible means {rules}")
    return "; ".join(words) + "."


def add_search(
    page: Page,
    result: SearchResult,
    links: dict[int, str] | None = None,
    reports: list[dict[str, Any]] | None = None,
) -> None:
    """Adds every section about ``result`` (``links``: trial id to the page of its inner
    search, for a nested run's outer trials; ``reports``: the lines of its ``reports.jsonl``)."""
    search = score(result)
    page.paragraph(describe(result, search))
    if not result.trials:
        page.section("Optimisation history")
        page.paragraph("No trial is logged yet.", "note")
        return
    shown = history_sample(search)
    page.section("Optimisation history")
    if not search.scored.any():
        page.paragraph(_nothing_to_rank(search), "note")
    if len(shown) < len(search.trials):
        page.paragraph(
            f"{len(shown)} of {len(search.trials)} trials drawn: every improvement of the best so "
            "far, failed trials (at most a tenth of the points) and the rest evenly spaced over "
            "the log. Tables and importance use every trial."
        )
    page.figure(figures.history(search, shown))
    if reports:
        _learning_curves(page, search, reports)
    _best_table(page, search, links or {})
    _failed_table(page, search)
    _importance(page, search)
    if len(search.names) >= 2:
        _pareto(page, search, shown, links or {})


def _nothing_to_rank(search: ScoredSearch) -> str:
    """Why no trial is ranked: every trial failed, or none completed (at the largest budget)."""
    if search.failed.all():
        return "Every trial failed: nothing to rank (errors below)."
    return "No trial completed with every objective yet: nothing to rank."


def ranking(search: ScoredSearch) -> np.ndarray:
    """Scored trials, best first: the Pareto front (multi-objective) then the rest, each by the
    first objective; feasible before infeasible (by violation)."""
    scored = np.flatnonzero(search.scored)
    on_front = np.zeros(len(search.trials), dtype=bool)
    if len(search.names) >= 2:
        on_front[search.front()] = True
    keys = (-search.rewards[scored, 0], search.violation[scored], ~on_front[scored])
    return scored[np.lexsort(keys)]


def _learning_curves(page: Page, search: ScoredSearch, reports: list[dict[str, Any]]) -> None:
    found = learning.curves(search, reports)
    if not found:
        return
    page.section("Learning curves")
    drawn = learning.sample(found, search.modes[0])
    words = f"{search.names[0]} as each trial reported it, by step"
    if len(drawn) < len(found):
        words += (
            f"; {len(drawn)} of {len(found)} trials drawn: the best completed ones and the rest "
            "evenly spaced over the log"
        )
    page.paragraph(words + ". Pruned trials end where the pruner stopped them.")
    page.figure(learning.learning_curves(drawn, search.names[0], search.modes[0]))


def _best_table(page: Page, search: ScoredSearch, links: dict[int, str]) -> None:
    rows = ranking(search)[:TOP_ROWS]
    page.section(f"Best trials ({len(rows)} of {int(search.scored.sum())} scored)")
    if not len(rows):
        return
    trials = [search.trials[i] for i in rows]
    metrics = list(dict.fromkeys(k for t in trials for k in t.metrics))
    columns = [("rank", "num"), ("trial", "num")] + [(m, "num") for m in metrics]
    columns += [("violation", "num")] if search.violation.any() else []
    columns += [("inner search", "")] if links else []
    columns.append(("spec", "spec"))
    table = []
    for rank, (i, trial) in enumerate(zip(rows, trials, strict=True), start=1):
        cells = [(str(rank), rank), (str(trial.id), trial.id)]
        for m in metrics:
            value = trial.metrics.get(m)
            cells.append(("-", "") if value is None else (f"{value:.5g}", value))
        if search.violation.any():
            cells.append((f"{search.violation[i]:.4g}", search.violation[i]))
        if links:
            link = links.get(trial.id)
            anchor = f'<a href="{text(link)}">open</a>' if link else "-"
            cells.append((anchor, trial.id))
        spec = readable(trial.spec)
        cells.append((text(spec), spec))
        table.append(cells)
    page.add_html(sortable_table(columns, table))


def _failed_table(page: Page, search: ScoredSearch) -> None:
    failed = [t for t in search.trials if t.status == "failed"]
    if not failed:
        return
    recent = failed[-FAILED_ROWS:]
    page.section(f"Failed trials ({len(recent)} most recent of {len(failed)})")
    rows = []
    for t in recent:
        spec, error = readable(t.spec), str(t.error or "")
        rows.append([(str(t.id), t.id), (text(error), error), (text(spec), spec)])
    page.add_html(sortable_table([("trial", "num"), ("error", "spec"), ("spec", "spec")], rows))


def _importance(page: Page, search: ScoredSearch) -> None:
    page.section("Which decisions matter")
    scored = np.flatnonzero(search.scored)
    specs = [search.trials[i].spec for i in scored]
    found = decisions(specs)
    if not found.names:
        page.paragraph("No decision varies among the scored trials.", "note")
        return
    target = search.rewards[scored, 0]
    importance = permutation_importance(specs, target, found.names)
    if importance is None:
        page.paragraph(
            f"Importance needs at least {MIN_TRIALS} scored trials with different "
            f"{search.names[0]} (this search has {len(scored)}).",
            "note",
        )
        order = list(range(len(found.names)))
    else:
        mean, std = importance
        page.paragraph(
            f"Permutation importance of a random forest ({IMPORTANCE_TREES} trees, scikit-learn) "
            f"predicting {search.names[0]} from the decisions: the drop of R\u00b2 on held-out "
            f"trials ({FOLDS}-fold) when a decision's values are shuffled ({REPEATS} repeats); "
            "bars are means, whiskers standard deviations."
        )
        page.figure(figures.importance(found.names, mean, std, search.names[0]))
        order = list(np.argsort(-mean, kind="stable"))
    top_count = max(TOP_MIN, int(np.ceil(TOP_SHARE * len(scored))))
    best = np.argsort(-target, kind="stable")[:top_count]
    shown = [found.names[i] for i in order[:DISTRIBUTIONS]]
    page.paragraph(
        f"Share of each value among all {len(scored)} scored trials and among the top "
        f"{len(best)} by {search.names[0]}"
        + (f" (the {len(shown)} most important decisions)." if importance is not None else ".")
    )
    page.figure(figures.top_distributions(found, best, shown))


def _pareto(page: Page, search: ScoredSearch, shown: np.ndarray, links: dict[int, str]) -> None:
    page.section("Pareto front")
    if links:
        page.paragraph("Click a point to open the page of its inner search.")
    page.figure(figures.pareto(search, shown, links), links=bool(links))
    curve = figures.hypervolume_curve(search)
    if curve is None:
        page.paragraph("Hypervolume needs two feasible trials.", "note")
        return
    fig, caption = curve
    page.section("Hypervolume over trials")
    page.paragraph(caption)
    page.figure(fig)
