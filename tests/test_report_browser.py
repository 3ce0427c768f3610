"""The report as a person sees it: opened from disk in real headless Chromium (Debian's,
installed by `bash setup.sh test`), driven by Playwright."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import EVIL, REPO, small_config, snakemake, synthetic_report, write_config

# Chromium's own connections fail on a machine with no network; these flags stop it trying.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("STYLESWEEP_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("STYLESWEEP_CHROMIUM") or shutil.which("chromium")
    if not executable:
        pytest.fail(
            "Chromium not found: `bash setup.sh test` installs Debian's chromium "
            "(or set STYLESWEEP_CHROMIUM to a Chromium binary)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Open a file in a new page; fail the test on any console error or uncaught exception,
    and on any dialog (an `alert` would mean a prompt ran as script)."""
    pages, problems = [], []

    def open_(path: Path, **context):
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, **context).new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                          dialog.dismiss()))  # fmt: skip
        page.goto(path.resolve().as_uri())
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.context.close()
    assert problems == []


def load_every_image(page) -> list[str]:
    """Load every image on the page now, lazy ones too; return the sources that failed."""
    shown = "Array.from(document.images).filter(i => i.getAttribute('src'))"
    # Setting the source again makes a lazy image that is off screen load at once.
    page.evaluate(
        f"{shown}.forEach(i => {{ i.loading = 'eager'; i.src = i.getAttribute('src'); }})"
    )
    with contextlib.suppress(PlaywrightTimeout):  # the failures are listed below
        page.wait_for_function(f"{shown}.every(i => i.complete && i.naturalWidth)", timeout=10_000)
    return page.evaluate(f"{shown}.filter(i => !i.naturalWidth).map(i => i.src)")


def grid_sources(page) -> list[str]:
    return page.eval_on_selector_all("#grid-view img", "els => els.map(e => e.src)")


def test_demo_report_loads_every_image_and_switches_axes(finished, open_page):
    index = finished / "results" / "report" / "index.html"
    page = open_page(index)
    assert load_every_image(page) == []
    # Every image of the sweep, grid by grid: CFG as a stack, every subject, placement and
    # weight (the house is rendered at weight 1 only: prompts.subject_weights).
    page.select_option("#axis-z", "cfg")
    seen = set()
    for subject in range(2):
        for placement in range(2):
            for weight in range(2):
                page.select_option("#fixed-subject", str(subject))
                page.select_option("#fixed-placement", str(placement))
                page.select_option("#fixed-weight", str(weight))
                assert load_every_image(page) == []
                seen.update(grid_sources(page))
    # models x seeds x CFG x placements x (the portrait's 2 weights + the house's 1)
    assert len(seen) == 5 * 2 * 2 * 2 * (2 + 1)
    page.select_option("#axis-z", "")
    for axis in ("subject", "placement", "weight"):  # back to the portrait's first cell
        page.select_option(f"#fixed-{axis}", "0")

    headers = page.eval_on_selector_all("#grid-view th", "els => els.map(e => e.textContent)")
    assert "base" in headers and "te~0.25/step-4" in headers and "seed 2" in headers
    before = grid_sources(page)
    page.select_option("#axis-x", "cfg")
    headers = page.eval_on_selector_all("#grid-view th", "els => els.map(e => e.textContent)")
    assert {"base (control)", "CFG 3", "CFG 7"} <= set(headers)
    assert "te~0.25/step-4" not in headers
    assert grid_sources(page) != before
    assert page.is_hidden("label[data-axis='cfg']") and page.is_visible("label[data-axis='run']")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.select_option("#axis-x", "model")
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)


def test_lightbox_shows_the_full_image_and_moves_with_the_keyboard(finished, open_page):
    page = open_page(finished / "results" / "report" / "index.html")
    assert page.is_hidden("#lightbox")
    page.click("#grid-view a.cell >> nth=0")
    assert page.is_visible("#lightbox")
    page.wait_for_function("document.getElementById('lb-image').naturalWidth > 0")
    first = page.get_attribute("#lb-image", "src")
    assert first.startswith("images/base/")
    params = page.text_content("#lb-params")
    assert "Seed: 1" in params and "Sampler: Euler a" in params and "vsynth" in params
    assert page.text_content("#lb-title") == "base"

    page.keyboard.press("ArrowRight")
    assert page.text_content("#lb-title") == "te~0.25/step-2"
    page.keyboard.press("ArrowDown")
    assert "Seed: 2" in page.text_content("#lb-params")
    page.keyboard.press("ArrowDown")  # past the last row: stays
    assert "Seed: 2" in page.text_content("#lb-params")
    page.screenshot(path=ARTIFACTS / "lightbox.png")
    page.keyboard.press("Escape")
    assert page.is_hidden("#lightbox")
    assert page.evaluate("document.activeElement.classList.contains('cell')")


def test_the_animation_plays_with_its_settings(finished, open_page):
    page = open_page(finished / "results" / "report" / "index.html")
    video = "document.querySelector('#animations video')"
    page.wait_for_function(f"() => {video} && {video}.readyState >= 2", timeout=20_000)
    assert page.evaluate(f"{video}.videoWidth") == 64  # Chromium decoded the H.264 stream
    started = page.evaluate(f"{video}.play().then(() => {video}.currentTime)")
    page.wait_for_function(f"() => {video}.currentTime > {started} + 0.1", timeout=10_000)
    caption = page.locator("#animations figcaption").first.inner_text()
    assert "drift" in caption and "frame 2: te~0.25/step-4" in caption


def test_an_animation_with_a_soundtrack_plays_with_its_sound(finished, open_page):
    page = open_page(finished / "results" / "report" / "index.html")
    figure = "[...document.querySelectorAll('#animations figure')]"
    video = f"{figure}.find(f => f.textContent.includes('beat')).querySelector('video')"
    page.wait_for_function(f"() => {video}.readyState >= 2", timeout=20_000)
    assert page.evaluate(f"{video}.muted") is False  # sound on, unlike the silent ones
    assert page.evaluate(f"{video}.autoplay") is False  # browsers refuse to autoplay sound
    page.click("#animations h2")  # a user's gesture: the page may now play sound
    started = page.evaluate(f"{video}.play().then(() => {video}.currentTime)")
    page.wait_for_function(f"() => {video}.currentTime > {started} + 0.1", timeout=10_000)
    # Chromium decoded the AAC track (it counts the bytes of each stream it decodes)
    page.wait_for_function(f"() => {video}.webkitAudioDecodedByteCount > 0", timeout=10_000)
    assert "with sound" in page.evaluate(f"{video}.parentElement.textContent")
    assert page.locator("#animations svg").count() >= 1  # the schedule and sound chart


def test_a_prompt_with_a_script_tag_shows_as_text(tmp_path, open_page):
    page = open_page(synthetic_report(tmp_path))
    assert EVIL in page.text_content("table.variants")
    assert EVIL in page.title()
    page.click("#grid-view a.cell >> nth=0")
    assert f"vsynth, a portrait {EVIL}" in page.text_content("#lb-params")
    # the grid's and the comparison's data, the page's own script
    assert page.evaluate("document.querySelectorAll('script').length") == 3


CHARTS = ("pareto", "steps", "abstract", "placement", "cfg")


def test_every_chart_renders_with_its_axes_and_caption(finished, open_page):
    page = open_page(finished / "results" / "report" / "index.html")
    for name in CHARTS:
        figure = page.locator(f"#chart-{name}")
        box = figure.locator("svg.chart").bounding_box()
        assert box["width"] > 200 and box["height"] > 100, name
        assert len(figure.locator("figcaption").text_content().split()) > 10, name
        # tick values and axis labels, laid out by the browser in the page's font
        texts = figure.locator("svg text").evaluate_all(
            "els => els.filter(t => t.getBBox().width > 0).map(t => t.textContent)"
        )
        assert len(texts) >= 6 and any(t.replace(".", "").isdigit() for t in texts), name
        assert figure.locator("svg a").count() > 0, name  # the points and cells behind it
        colour = figure.locator("svg text").first.evaluate("t => getComputedStyle(t).fill")
        assert colour == page.locator("body").evaluate("b => getComputedStyle(b).color"), name
    assert "turns abstract" in page.text_content("#abstract-seeds")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#charts").screenshot(path=ARTIFACTS / "charts.png")


def test_a_click_on_a_heatmap_cell_opens_that_seed_of_that_model(finished, open_page):
    page = open_page(finished / "results" / "report" / "index.html")
    cell = page.locator('#chart-abstract svg a[*|href*="model=te~0.25/step-4&seed=2&"]')
    assert "te~0.25/step-4 · seed 2: 0." in cell.locator("title").text_content()
    cell.click()
    assert page.is_visible("#lightbox")
    assert page.text_content("#lb-title") == "te~0.25/step-4"
    assert "Seed: 2," in page.text_content("#lb-params")
    assert "fidelity to base (SSIM)0." in page.text_content("#lb-scores")
    # Behind the lightbox, the grid holds that model's images of seed 2 beside the base's.
    shown = page.eval_on_selector_all("#grid-view img", "els => els.map(e => e.alt)")
    ours = [alt for alt in shown if alt.startswith("te~0.25/step-4 · seed 2 · ")]
    control = [alt for alt in shown if alt.startswith("base · seed 2 · ")]
    assert len(ours) == 2 * 2 * 2 and len(control) == 2 * 2  # CFG x placement x weight
    assert len(shown) == len(ours) + len(control)
    page.keyboard.press("Escape")
    # Two checkpoints may share a dot's place, so this one is clicked on itself.
    page.dispatch_event('#chart-pareto svg a[*|href*="model=method~ti_lr~0.05/step-4&"]', "click")
    assert page.text_content("#lb-title") == "method~ti_lr~0.05/step-4"


def test_a_click_on_a_subject_cells_value_opens_that_subjects_images(finished, open_page):
    """The value written in a cell lets the click through to the cell (a real mouse, at the
    cell's centre, where the number is)."""
    page = open_page(finished / "results" / "report" / "index.html")
    cell = page.locator('#chart-subjects svg a[*|href*="model=te~0.25/step-4&subject=house&"]')
    cell.first.scroll_into_view_if_needed()
    box = cell.first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.is_visible("#lightbox")
    assert page.text_content("#lb-title") == "te~0.25/step-4"
    assert "house" in page.text_content("#lb-fields")


def test_the_copy_button_puts_the_images_infotext_on_the_clipboard(finished, open_page):
    from PIL import Image

    index = finished / "results" / "report" / "index.html"
    page = open_page(index, permissions=["clipboard-read", "clipboard-write"])
    page.click("#grid-view a.cell >> nth=1")
    with Image.open(index.parent / page.get_attribute("#lb-image", "src")) as image:
        infotext = image.text["parameters"]
    # the nearest training still beside the image, small
    assert page.is_visible("#lb-still")
    assert page.get_attribute("#lb-still-image", "src").startswith("dataset/")
    width = "document.getElementById('lb-still-image').getBoundingClientRect().width"
    assert page.evaluate(width) <= 96
    page.click("#lb-copy")
    page.wait_for_function("document.getElementById('lb-copied').textContent.includes('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == infotext
    # Where the Clipboard API is refused, the fallback copies the same text.
    page.evaluate("navigator.clipboard.writeText('stale')")
    page.evaluate(
        "() => { navigator.clipboard.writeText = () => Promise.reject(new Error('no')); }"
    )
    page.keyboard.press("ArrowRight")
    with Image.open(index.parent / page.get_attribute("#lb-image", "src")) as image:
        infotext = image.text["parameters"]
    page.click("#lb-copy")
    page.wait_for_function("document.getElementById('lb-copied').textContent.includes('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == infotext


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_a_new_title_rebuilds_the_page_and_not_the_thumbnails(finished):
    for edit, jobs in [
        ({"title": "Another {title}"}, {"report": 1, "publish_report": 1, "all": 1}),
        (
            {"thumbnail_size": 32},
            {"make_thumbnails": 3, "report": 1, "publish_report": 1, "all": 1},
        ),
    ]:
        config = small_config()
        config["report"].update(edit)
        write_config(finished, config)
        try:
            result = snakemake(finished, "-n")
            assert job_counts(result.stdout) == jobs, result.stdout[-3000:]
        finally:
            write_config(finished, small_config())


def test_axes_of_runs_and_steps_alone_always_leave_a_grid(tmp_path, open_page):
    """With one seed, CFG scale, placement and weight, only model, run and step vary, and the
    model axis clashes with the other two: whatever is chosen, the columns keep an axis."""
    models = ("base", "te~0.1/step-2", "te~0.1/step-4")
    index = synthetic_report(tmp_path, models=models, seeds=(1,), cfg_scales=(7.0,))
    page = open_page(index)
    axes = "['x', 'y', 'z'].map(k => document.getElementById('axis-' + k).value)"
    assert page.evaluate(axes) == ["model", "", ""]  # no clashing run rows to start with
    page.select_option("#axis-x", "step")
    page.select_option("#axis-y", "model")  # the choice: rows = model
    assert page.evaluate(axes) == ["model", "", ""]
    assert len(grid_sources(page)) == 3
    names = {"x": ("model", "run", "step"), "y": ("model", "run", "step", "")}
    moves = [(place, name) for place in "xyz" for name in names["x" if place == "x" else "y"]]
    for first, second in itertools.product(moves, repeat=2):
        page.reload()
        page.select_option("#axis-y", "")  # as after a chart's link: the model on the columns
        for place, name in (first, second):
            page.select_option(f"#axis-{place}", name)
        chosen = page.evaluate(axes)
        assert chosen[0] and len(grid_sources(page)) >= 2, (first, second, chosen)


def image_labels(workdir: Path) -> dict[str, str]:
    """Each image's model label, by its recipe key, from a finished workflow's samples."""
    labels = {}
    for path in (workdir / "results" / "samples").glob("*/images.json"):
        for image in json.loads(path.read_text())["images"]:
            labels[image["key"]] = image["model"]
    return labels


def test_blind_votes_rank_the_most_styled_model_first(finished, open_page, tmp_path):
    """A scripted taste (always the picture with more style) votes 20 pairs; the downloaded
    votes, given back to the workflow, put the most-styled model first.

    The taste judges a picture by its model's style (CSD, the mean over its pictures), as a
    consistent eye would: on this small config one picture's score differs from another's
    of the next model by more than the two models' means do."""
    workdir = tmp_path / "workflow"
    shutil.copytree(finished, workdir, symlinks=True)
    summary = {}
    for path in (workdir / "results" / "scores").glob("*.json"):
        summary |= json.loads(path.read_text())["models"]
    labels = image_labels(workdir)
    styles = {key: summary[label]["style_csd"]["mean"] for key, label in labels.items()}
    page = open_page(workdir / "results" / "report" / "index.html")
    assert page.is_hidden("#compare")
    page.click("nav a[href='#compare']")
    page.wait_for_selector("#compare", state="visible")  # on the hash's change
    view = page.locator("#compare")
    shown = view.inner_html() + view.inner_text()
    names = {*labels.values(), *(label.rpartition("/")[0] for label in labels.values())} - {""}
    assert [name for name in names if name in shown] == []  # no model name, run or step
    assert "step-" not in shown and "seed 1" in view.inner_text()
    for _ in range(20):
        page.wait_for_selector("#compare[data-ready='true']")  # a vote counts once both show
        left, right = (Path(page.get_attribute(f"#compare-{side}", "src")).stem
                       for side in ("left", "right"))  # fmt: skip
        assert labels[left] != labels[right]
        key = {True: "ArrowLeft", False: "ArrowRight"}[styles[left] > styles[right]]
        page.keyboard.press("ArrowDown" if styles[left] == styles[right] else key)
    assert page.text_content("#compare-count") == "20 votes so far"
    with page.expect_download() as download:
        page.click("#compare-download")
    votes_file = tmp_path / "votes.json"
    download.value.save_as(votes_file)
    assert len(json.loads(votes_file.read_text())["votes"]) == 20
    page.keyboard.press("Escape")
    assert page.is_hidden("#compare")

    config = small_config()
    config["report"].update(votes=str(votes_file), recommend_by="votes", min_votes=20)
    write_config(workdir, config)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stderr) == {"fit_votes": 1, "report": 1, "publish_report": 1,
                                         "all": 1}  # fmt: skip
    fitted = json.loads((workdir / "results" / "votes" / "preferences.json").read_text())
    most_styled = max(fitted["models"], key=lambda m: summary[m]["style_csd"]["mean"])
    assert fitted["order"][0] == most_styled and fitted["used"] == 20
    html = (workdir / "results" / "report" / "index.html").read_text()
    assert f"Your pick, by 20 blind votes: <strong>{fitted['preferred']}" in html
    assert 'id="chart-agreement"' in html
    # `preferred` names the top-voted checkpoint, for an export and an animation
    config["export"]["checkpoints"] = ["preferred"]
    config["animate"]["animations"]["drift"]["models"] = "preferred"
    write_config(workdir, config)
    result = snakemake(workdir, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    export = f"results/export/{fitted['preferred_checkpoint']}"
    assert export in result.stdout or (workdir / export).is_dir()  # the `last` one, made
    assert job_counts(result.stdout)["animate"] == 1  # its frames now from another model
