"""Regenerates the screenshots of docs/html_report.md: runs four flows small, writes their HTML
reports and photographs each page in headless Chromium from its top (from its training section
for DARTS, its Pareto front for the nested run), cropped and reduced to 64 colours.

    python docs/html_report_screenshots.py --out runs/docs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image

from symnas.flows.html_browser import check_page, chromium
from symnas.flows.html_report import write_pages

DOCS = Path(__file__).resolve().parent
# Page kind: the `symnas run` arguments of its flow.
RUNS = {
    "search": "nb201-digits --budget 40 --set epochs=1",
    "nested": "hw-nested --budget 8 --set inner_budget=4 --set supernet_epochs=2 --device cpu",
    "darts": "darts-pt-nb201 --set epochs=8 --set C=4 --set image_size=8 --set eval_batches=1 "
    "--device cpu",
    "fewshot": "fewshot-nb201 --budget 4 --set epochs=4 --set cells=10 --set gradient_batches=1 "
    "--device cpu",
}
HEIGHT = 1500
# Page kind: the section the screenshot starts at (None: the top of the page).
FROM_SECTION = {"darts": "Supernet training", "nested": "Pareto front"}
_SECTION_TOP = """
var title = arguments[0];
var h = Array.prototype.find.call(document.querySelectorAll("h2"),
                                  function (h) { return h.textContent.indexOf(title) === 0; });
return h ? h.getBoundingClientRect().top + window.scrollY : 0;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/docs")
    parser.add_argument("--skip-runs", action="store_true", help="reuse the run folders")
    args = parser.parse_args()
    pages = {}
    for kind, command in RUNS.items():
        folder = Path(args.out) / kind
        if not args.skip_runs:
            run = [
                sys.executable,
                "-m",
                "symnas.flows.cli",
                "run",
                *command.split(),
                "--out",
                str(folder),
            ]
            subprocess.run(run, check=True)
        pages[kind] = write_pages(folder)[0]
    with chromium() as driver:
        for kind, page in pages.items():
            shot = Path(args.out) / f"{kind}.png"
            check = check_page(driver, page, screenshot=shot)
            if check.errors or not all(f.ok for f in check.figures):
                raise SystemExit(f"{page}: {check.errors} {check.figures}")
            image = Image.open(shot).convert("RGB")
            section = FROM_SECTION.get(kind)
            top = int(driver.execute_script(_SECTION_TOP, section)) - 10 if section else 0
            image = image.crop((0, top, image.width, min(image.height, top + HEIGHT)))
            image.quantize(colors=64).save(DOCS / f"html_report_{kind}.png", optimize=True)
            print(DOCS / f"html_report_{kind}.png")


if __name__ == "__main__":
    main()
