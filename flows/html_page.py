"""One self-contained HTML page: plotly.js inlined once, every figure's data inlined as JSON.

Nothing in a page is fetched: no server, no network. Every text that comes from a log (specs,
error messages, folder names) is escaped: HTML text with ``html.escape``, and the figures' JSON
with ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026``, so no log line can
close the script element or open a tag.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; }
.meta { color: #555; } .note { color: #8a5300; } .figure { min-height: 360px; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th.sortable { cursor: pointer; background: #f4f4f4; white-space: nowrap; }
th.sortable::after { content: " \\21C5"; color: #aaa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.spec { font-family: ui-monospace, monospace; word-break: break-word; }
.scroll { max-height: 520px; overflow: auto; }
"""

# Sorts a table by the clicked column: numbers by data-sort, text otherwise; again reverses.
_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.dataset.order !== "asc";
      th.dataset.order = ascending ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return ascending ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

_PLOT_SCRIPT = """
Object.keys(SYMNAS_FIGURES).forEach(function (id) {
  var spec = SYMNAS_FIGURES[id];
  Plotly.newPlot(id, spec.figure.data, spec.figure.layout, SYMNAS_PLOT_CONFIG).then(function (gd) {
    if (spec.links) {
      gd.on("plotly_click", function (event) {
        var link = event.points[0].customdata && event.points[0].customdata[2];
        if (link) { window.location.href = link; }
      });
    }
  });
});
"""


def script_json(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def text(value: Any) -> str:
    """A value as escaped HTML text."""
    return html.escape(str(value), quote=True)


@dataclass
class Page:
    """A page under construction: sections of HTML and the figures they place."""

    title: str
    subtitle: str = ""
    refresh_s: float | None = None
    parts: list[str] = field(default_factory=list)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, title: str, body: str = "") -> None:
        """Starts a section (``body``: HTML, already escaped)."""
        self.parts.append(f"<h2>{text(title)}</h2>\n{body}")

    def add_html(self, body: str) -> None:
        """Appends HTML (already escaped) to the current section."""
        self.parts.append(body)

    def paragraph(self, words: str, css: str = "meta") -> None:
        """Appends a paragraph of plain text (escaped here)."""
        self.parts.append(f'<p class="{css}">{text(words)}</p>')

    def figure(self, fig: Any, links: bool = False) -> None:
        """Places a plotly figure; with ``links`` a click on a point opens the URL in its
        ``customdata[2]``."""
        figure_id = f"figure-{len(self.figures)}"
        spec = json.loads(fig.to_json())
        self.figures[figure_id] = {"figure": spec, "links": links}
        traces = len(spec.get("data", []))
        self.parts.append(f'<div class="figure" id="{figure_id}" data-traces="{traces}"></div>')

    def render(self) -> str:
        """The whole page as one HTML document."""
        head = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{text(self.title)}</title>",
        ]
        if self.refresh_s:
            head.append(f'<meta http-equiv="refresh" content="{max(1, round(self.refresh_s))}">')
        head.append(f"<style>{_STYLE}</style>")
        if self.figures:
            from plotly.offline import get_plotlyjs

            head.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
        body = [f"<h1>{text(self.title)}</h1>"]
        if self.subtitle:
            body.append(f'<p class="meta">{text(self.subtitle)}</p>')
        body += self.parts
        scripts = [_SORT_SCRIPT]
        if self.figures:
            scripts.insert(
                0,
                f"var SYMNAS_FIGURES = {script_json(self.figures)};\n"
                f"var SYMNAS_PLOT_CONFIG = {script_json(PLOT_CONFIG)};\n{_PLOT_SCRIPT}",
            )
        body += [f"<script>{s}</script>" for s in scripts]
        return "\n".join(head) + "\n</head><body>\n" + "\n".join(body) + "\n</body></html>\n"


def sortable_table(columns: list[tuple[str, str]], rows: list[list[tuple[str, Any]]]) -> str:
    """A table sorted by a click on a column header.

    ``columns``: (header, css class: ``num``, ``spec`` or ``""``); ``rows``: per cell (HTML
    already escaped, sort key).
    """
    head = "".join(f'<th class="sortable">{text(name)}</th>' for name, _ in columns)
    lines = []
    for row in rows:
        cells = "".join(
            f'<td class="{css}" data-sort="{text(key)}">{cell}</td>'
            for (cell, key), (_, css) in zip(row, columns, strict=True)
        )
        lines.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )
