"""``symnas report OUT --html [--watch]`` and ``report(out, html=True)``."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("plotly", reason="HTML reports need plotly (pip install 'symnas[report]')")

from symnas.flows import (
    html_report,  # noqa: E402
    report,  # noqa: E402
)
from symnas.flows.cli import main  # noqa: E402
from symnas.flows.html_report import PAGE  # noqa: E402


def test_report_html_writes_the_page_and_names_it(runs, capsys):
    assert main(["report", str(runs["search"]), "--html"]) == 0
    out = capsys.readouterr().out
    assert "best 10" in out and f"HTML report: {runs['search'] / PAGE}" in out
    assert (runs["search"] / PAGE).read_text().startswith("<!DOCTYPE html>")


def test_report_html_of_a_folder_without_a_search_writes_only_the_page(runs):
    text = report.report(runs["fewshot"], html=True)
    assert text == f"HTML report: {runs['fewshot'] / PAGE}"


def test_report_html_of_a_nested_run_counts_its_inner_pages(runs):
    text = report.report(runs["nested"], html=True)
    inner = len(list((runs["nested"] / "inner").iterdir()))
    assert text.endswith(f"(and {inner} linked pages below it)")


def test_watch_rewrites_a_page_that_reloads_itself_until_interrupted(runs, monkeypatch, capsys):
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(html_report.time, "sleep", sleep)
    assert main(["report", str(runs["failed"]), "--html", "--watch", "2"]) == 0
    assert sleeps == [2.0, 2.0]  # written three times: before each sleep and after the first
    assert capsys.readouterr().out.count("every 2 s") == 1
    assert '<meta http-equiv="refresh" content="2">' in (runs["failed"] / PAGE).read_text()


def test_watch_needs_html_and_positive_seconds(runs, capsys):
    assert main(["report", str(runs["failed"]), "--watch"]) == 2
    assert "--watch rewrites the HTML report: give --html too" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", str(runs["failed"]), "--html", "--watch", "0"])
    assert "expected seconds > 0" in capsys.readouterr().err


def test_without_plotly_the_error_names_the_extra(runs, monkeypatch, capsys):
    for name in [m for m in sys.modules if m.startswith(("plotly", "symnas.flows.html_"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)
    assert main(["report", str(runs["failed"]), "--html"]) == 2
    assert "pip install 'symnas[report]'" in capsys.readouterr().err


def test_report_html_of_a_corrupt_log_writes_the_page_and_names_the_line(runs, capsys):
    assert main(["report", str(runs["torn"]), "--html"]) == 0
    out = capsys.readouterr().out
    assert f"HTML report: {runs['torn'] / PAGE}" in out
    assert "No text table:" in out and "trials.jsonl:4: corrupt trial record" in out
    assert main(["report", str(runs["torn"])]) == 2  # the text report alone refuses the log
