"""Screenshots of a report for README: `python docs/screenshots.py results/report/index.html`.

Writes docs/grid.png (the grid section, with the axes given below), docs/charts.png and
docs/compare.png (the blind comparison, index.html#compare), with Debian's Chromium through
Playwright (installed by `bash setup.sh test`).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--columns", default="step", help="grid axis of the columns")
    parser.add_argument("--rows", default="run", help="grid axis of the rows")
    parser.add_argument("--cell", default="96", help="cell size in px")
    parser.add_argument(
        "--fixed", action="append", default=[], metavar="AXIS=VALUE",
        help="a value of an axis off the grid, as its menu shows it (e.g. placement=end)",
    )  # fmt: skip
    args = parser.parse_args()
    executable = os.environ.get("STYLESWEEP_CHROMIUM") or shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(args.report.resolve().as_uri())
        page.select_option("#axis-x", args.columns)
        page.select_option("#axis-y", args.rows)
        for fixed in args.fixed:
            axis, value = fixed.split("=", 1)
            page.select_option(f"#fixed-{axis}", label=value)
        page.fill("#cell-size", args.cell)
        page.dispatch_event("#cell-size", "input")
        page.locator("#grid-view").screenshot(path=DOCS / "grid.png")
        page.locator("#charts").screenshot(path=DOCS / "charts.png")
        page.set_viewport_size({"width": 1000, "height": 780})
        page.click("nav a[href='#compare']")
        page.wait_for_function("document.getElementById('compare-left').naturalWidth > 0")
        page.screenshot(path=DOCS / "compare.png")
        browser.close()


if __name__ == "__main__":
    main()
