"""HTML reports: one self-contained page per run folder, rebuilt from its logs alone.

``write_pages(folder)`` writes ``report.html`` in a run folder and in every search below it (a
nested run's inner searches, a few-shot flow's per-method searches), each linked from its
parent's page and back; ``watch`` rewrites them every few seconds during a run. Figures are
plotly's (the ``report`` extra: ``pip install 'symnas[report]'``), with plotly.js inlined once
per page, so a page opens from disk with no server and no network. The page is put together
from the ``html_*`` modules: ``html_run_folder`` reads the folder, ``html_search_section`` and
the ``html_*_figures`` modules draw, ``html_page`` escapes and assembles.
"""

from __future__ import annotations

try:
    import plotly  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "HTML reports need plotly, which the 'report' extra installs: pip install 'symnas[report]'."
    ) from e

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from symnas.core.files import write_text_atomic
from symnas.flows.html_fewshot_figures import tree_figure
from symnas.flows.html_page import Page, sortable_table, text
from symnas.flows.html_run_folder import RunFolder, SplitPlan, read_run_folder, read_search
from symnas.flows.html_search_section import add_search
from symnas.flows.html_training_figures import architecture_weights, training_curves
from symnas.flows.nested import hardware_key
from symnas.flows.report import readable

PAGE = "report.html"
_STAGE = re.compile(r"^.+/stage(?P<stage>\d+)$")  # <sub-supernet>/stage<k>


def write_pages(folder: str | Path, refresh_s: float | None = None) -> list[Path]:
    """Writes ``report.html`` for ``folder`` and for every search below it; returns the paths,
    the folder's own page first. ``refresh_s`` makes the pages reload themselves that often."""
    return _write(Path(folder), None, refresh_s)


def _write(folder: Path, parent: Path | None, refresh_s: float | None) -> list[Path]:
    run = read_run_folder(folder)
    written = [folder / PAGE]
    children = sorted(run.inner.values()) + run.searches
    page = build_page(run, parent, refresh_s)
    write_text_atomic(folder / PAGE, page.render())
    for child in children:
        written += _write(child, folder, refresh_s)
    return written


def _link(target: Path, start: Path) -> str:
    """The relative URL of ``target`` from a page in ``start``."""
    return Path(os.path.relpath(target, start)).as_posix()


def build_page(run: RunFolder, parent: Path | None = None, refresh_s: float | None = None) -> Page:
    """The page of one run folder (``parent``: the folder whose page links to this one)."""
    page = Page(f"symnas run {run.path.name or run.path.resolve().name}", str(run.path), refresh_s)
    if parent is not None:
        page.add_html(
            f'<p><a href="{text(_link(parent / PAGE, run.path))}">back to the run</a></p>'
        )
    for note in run.notes:
        page.paragraph(note, "note")
    if run.empty:
        page.paragraph(
            "Nothing is logged in this folder yet (no trials.jsonl, train_log.jsonl or plan.json)."
            " The page can be rebuilt at any time.",
            "note",
        )
    if run.result is not None:
        links = _inner_links(run)
        add_search(page, run.result, links, run.reports)
    if run.searches:
        _searches(page, run)
    if run.train_logs:
        _training(page, run)
    for plan in run.plans:
        _plan(page, plan)
    return page


def _inner_links(run: RunFolder) -> dict[int, str]:
    """Outer trial id to the page of its inner search (a nested run's ``inner/<key>/``)."""
    if not run.inner or run.result is None:
        return {}
    links = {}
    for trial in run.result.trials:
        folder = run.inner.get(hardware_key(trial.spec))
        if folder is not None:
            links[trial.id] = _link(folder / PAGE, run.path)
    return links


def _searches(page: Page, run: RunFolder) -> None:
    page.section("Searches in this folder")
    rows = []
    for folder in run.searches:
        result, _ = read_search(folder)
        name = _link(folder, run.path)
        anchor = f'<a href="{text(_link(folder / PAGE, run.path))}">{text(name)}</a>'
        best = result.best if result is not None else None
        count = len(result.trials) if result is not None else 0
        summary = (
            "-" if best is None else ", ".join(f"{k}={v:.4g}" for k, v in best.metrics.items())
        )
        spec = "-" if best is None else readable(best.spec)
        rows.append(
            [(anchor, name), (str(count), count), (text(summary), summary), (text(spec), spec)]
        )
    columns = [("search", ""), ("trials", "num"), ("best metrics", ""), ("best spec", "spec")]
    page.add_html(sortable_table(columns, rows))


def _stage_offsets(run: RunFolder) -> dict[str, int]:
    """The epoch at which each few-shot stage's log starts (its lineage's split epoch)."""
    offsets = {}
    for plan in run.plans:
        epochs = plan.split_epochs
        for log in run.train_logs:
            rest = _link(log.path.parent, plan.path.parent)
            match = _STAGE.match(rest)
            if match and not rest.startswith(".."):
                stage = int(match["stage"])
                offsets[log.name] = epochs[stage - 1] if 0 < stage <= len(epochs) else 0
    return offsets


def _training(page: Page, run: RunFolder) -> None:
    page.section("Supernet training")
    offsets = _stage_offsets(run)
    page.paragraph(
        f"{len(run.train_logs)} training log(s), one line each: "
        + ", ".join(log.name for log in run.train_logs)
        + (". Few-shot stages start at their split epoch." if offsets else ".")
    )
    page.figure(training_curves(run.train_logs, offsets))
    for log in run.train_logs:
        if any("arch_weights" in r for r in log.records):
            page.section(f"Architecture weights over epochs: {log.name}")
            page.paragraph(
                "Softmax of each decision's architecture parameters after every epoch"
                + ("" if log.op_names and any(log.op_names.values()) else " (op names unknown)")
                + "."
            )
            page.figure(architecture_weights(log))


def _plan(page: Page, plan: SplitPlan) -> None:
    page.section(f"Few-shot split tree: {plan.name} ({plan.method})")
    if not plan.splits:
        page.paragraph("No split: one supernet over the whole space.")
        return
    page.figure(tree_figure(plan, plan.split_epochs))


def watch(
    folder: str | Path,
    interval_s: float,
    rounds: int | None = None,
    on_write: Callable[[list[Path]], None] | None = None,
) -> None:
    """Rewrites the pages every ``interval_s`` seconds (``rounds`` times; None: until
    interrupted); the pages reload themselves as often."""
    done = 0
    while rounds is None or done < rounds:
        written = write_pages(folder, refresh_s=interval_s)
        if on_write is not None:
            on_write(written)
        done += 1
        if rounds is None or done < rounds:
            time.sleep(interval_s)
