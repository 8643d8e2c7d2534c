"""HTML reports: one self-contained page per run folder, rebuilt from its logs alone.

``write_pages(folder)`` writes ``report.html`` in a run folder (and in every search below it:
a nested run's inner searches, a few-shot flow's per-method searches), ``watch`` rewrites them
every few seconds during a run. Figures are plotly's (the ``report`` extra:
``pip install 'symnas[report]'``), with plotly.js inlined once per page, so a page opens from
disk with no server and no network.
"""

try:
    import plotly  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "HTML reports need plotly, which the 'report' extra installs: pip install 'symnas[report]'."
    ) from e

from symnas.flows.html_report.build import PAGE, build_page, watch, write_pages  # noqa: E402

__all__ = ["PAGE", "build_page", "watch", "write_pages"]
