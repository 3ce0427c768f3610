"""The charts' summaries on hand-made score tables, and their SVG as the page embeds it."""

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from stylesweep import charts

VARIANTS = [
    {"name": f"{place}_w{weight:g}", "placement": place, "weight": weight}
    for place in ("start", "middle", "end")
    for weight in (1.0, 1.2)
]


def row(model, seed, cfg=3.0, variant="start_w1", style=0.5, fidelity=0.5):
    fidelity = None if model == "base" else fidelity
    return {"model": model, "seed": seed, "cfg_scale": cfg, "variant": variant,
            "style_colour": style, "fidelity_base": fidelity,
            charts.STYLE: style, charts.FIDELITY: fidelity}  # fmt: skip


def test_seed_means_average_everything_but_the_seed_and_skip_missing_values():
    rows = [row("a/step-1", 1, cfg=3.0, style=0.2), row("a/step-1", 1, cfg=7.0, style=0.4),
            row("a/step-1", 2, style=0.9), row("base", 1)]  # fmt: skip
    assert charts.seed_means(rows, "style_colour", ("model",)) == {
        ("a/step-1",): {1: pytest.approx(0.3), 2: 0.9},
        ("base",): {1: 0.5},
    }
    assert ("base",) not in charts.seed_means(rows, "fidelity_base", ("model",))
    assert charts.spread({1: 0.2, 2: 0.4}) == {
        "mean": pytest.approx(0.3), "std": pytest.approx(0.1), "seeds": 2,
    }  # fmt: skip


def test_over_steps_starts_each_run_at_the_base_model():
    rows = [row("base", s, style=0.1) for s in (1, 2)]
    rows += [row(f"r/step-{step}", s, style=step / 10 + s / 100) for step in (2, 4) for s in (1, 2)]
    lines = charts.over_steps(rows, {"r": [2, 4], "empty": [2]}, "style_colour")
    assert [(p["step"], p["model"]) for p in lines["r"]] == [(0, "base"), (2, "r/step-2"),
                                                              (4, "r/step-4")]  # fmt: skip
    assert lines["r"][2]["mean"] == pytest.approx(0.415)
    assert lines["r"][2]["std"] == pytest.approx(0.005)
    assert [p["model"] for p in lines["empty"]] == ["base"]
    fidelity = charts.over_steps(rows, {"r": [2, 4]}, "fidelity_base")
    assert [p["step"] for p in fidelity["r"]] == [2, 4]  # the base has no fidelity to itself


def test_a_seed_below_the_threshold_in_most_models_is_named():
    models = ["base", "a/step-1", "a/step-2", "b/step-1"]
    fidelity = {1: [0.8, 0.7, 0.9], 2: [0.1, 0.2, 0.5], 3: [0.1, 0.6, 0.7]}
    rows = [row(m, seed, fidelity=f) for seed, fs in fidelity.items()
            for m, f in zip(models[1:], fs, strict=True)]  # fmt: skip
    rows += [row("base", seed) for seed in fidelity]
    summary = charts.abstract_seeds(rows, models, threshold=0.3)
    assert summary["models"] == models[1:] and summary["seeds"] == [1, 2, 3]
    assert summary["values"][(2, "b/step-1")] == 0.5
    # seed 2: 2 of 3 models below 0.3; seed 3: 1 of 3 is not most
    assert summary["named"] == [{"seed": 2, "models": 2, "of": 3}]
    assert charts.abstract_sentence(summary) == (
        "Seed 2 turns abstract in 2 of 3 models (content kept below 0.30)."
    )
    assert charts.abstract_seeds(rows, models, threshold=0.05)["named"] == []
    two = charts.abstract_seeds(rows, models, threshold=0.65)
    assert charts.abstract_sentence(two) == (
        "Seed 2 turns abstract in 3 of 3 models, seed 3 in 2 of 3 (content kept below 0.65)."
    )


def test_half_the_models_is_not_most():
    rows = [row("a/step-1", 1, fidelity=0.1), row("a/step-2", 1, fidelity=0.9)]
    summary = charts.abstract_seeds(rows, ["base", "a/step-1", "a/step-2"])
    assert summary["named"] == []
    assert charts.abstract_sentence(summary).startswith("No seed turns abstract")


def test_placement_and_weight_are_averaged_over_seeds_for_one_model():
    rows = [row("m/step-1", seed, cfg, v["name"], style=0.1 * seed + cfg / 100
                + (0.5 if v["placement"] == "middle" and v["weight"] == 1.2 else 0))
            for seed in (1, 2) for cfg in (3.0, 7.0) for v in VARIANTS]  # fmt: skip
    rows += [row("other/step-1", 1, 3.0, "end_w1", style=9.0)]
    summary = charts.by_placement(rows, VARIANTS, "m/step-1", "style_colour")
    assert summary["placements"] == ["start", "middle", "end"]
    assert summary["weights"] == [1.0, 1.2] and summary["cfgs"] == [3.0, 7.0]
    assert len(summary["values"]) == 3 * 2 * 2
    assert summary["values"][("start", 1.0, 3.0)] == pytest.approx(0.15 + 0.03)
    assert charts.best_cell(summary) == ("middle", 1.2, 7.0, pytest.approx(0.15 + 0.07 + 0.5))
    assert charts.best_cell(charts.by_placement(rows, VARIANTS, "none", "style_colour")) is None


def test_over_cfg_gives_each_model_its_line():
    rows = [row("m/step-1", s, cfg, style=cfg / 10) for s in (1, 2) for cfg in (2.0, 7.0)]
    rows += [row("base", 1, 2.0, style=0.3)]
    lines = charts.over_cfg(rows, ["base", "m/step-1", "gone/step-1"], "style_colour")
    assert list(lines) == ["base", "m/step-1"]
    assert [(p["cfg"], p["mean"]) for p in lines["m/step-1"]] == [(2.0, 0.2), (7.0, 0.7)]
    assert [p["cfg"] for p in lines["base"]] == [2.0]


def test_run_and_step_and_the_link_to_the_images():
    assert charts.run_and_step("method~ti_lr~0.05/step-20") == ("method~ti_lr~0.05", 20)
    assert charts.run_and_step("base") == ("base", 0)
    link = charts.image_link("0.213", model="te~0.1/step-20", seed=3, cfg=7.0, weight=1.2)
    assert link.startswith("#show?model=te~0.1/step-20&")
    fields = parse_qs(urlsplit(link).fragment.split("?", 1)[1])
    assert fields == {"model": ["te~0.1/step-20"], "seed": ["3"], "cfg": ["7"],
                      "weight": ["1.2"], "note": ["0.213"]}  # fmt: skip
    assert charts.decimals([0.091, 0.093]) == 3 and charts.decimals([0.2, 0.9]) == 2


def demo_rows():
    rows = []
    for model in ["base", "r/step-1", "r/step-2", "s/step-2"]:
        step = charts.run_and_step(model)[1]
        for seed in (1, 2, 3):
            for cfg in (3.0, 7.0):
                style = 0.2 + step / 5 + cfg / 50
                fidelity = 0.9 - step / 4 - (0.5 if seed == 3 else 0)
                rows += [row(model, seed, cfg, v["name"], style, fidelity) for v in VARIANTS]
    return rows


def test_every_chart_is_inline_svg_with_axes_and_links():
    rows, runs = demo_rows(), {"r": [1, 2], "s": [2]}
    models = ["base", "r/step-1", "r/step-2", "s/step-2"]
    svgs = {
        "steps": charts.steps_chart(charts.over_steps(rows, runs, charts.STYLE),
                                    charts.over_steps(rows, runs, charts.FIDELITY), list(runs)),
        "abstract": charts.abstract_chart(charts.abstract_seeds(rows, models)),
        "placement": charts.placement_chart(
            charts.by_placement(rows, VARIANTS, "r/step-2", charts.STYLE),
            charts.by_placement(rows, VARIANTS, "r/step-2", charts.FIDELITY)),
        "cfg": charts.cfg_chart(charts.over_cfg(rows, models, charts.STYLE),
                                charts.over_cfg(rows, models, charts.FIDELITY), list(runs)),
        "loss": charts.loss_chart([(1, 0.5), (2, 0.25), (3, 0.2)]),
    }  # fmt: skip
    for name, svg in svgs.items():
        assert svg.startswith(f'<svg class="chart {name}" ') and svg.endswith("</svg>"), name
        assert "<?xml" not in svg and "<metadata" not in svg and "<style" not in svg
        assert '<g id="' not in svg and "DejaVu" not in svg and "\n" not in svg
        assert "currentColor" in svg and charts.FOREGROUND not in svg
        assert len(re.findall(r"<text[^>]*>[^<]+</text>", svg)) >= 4, name  # tick values
    texts = re.findall(r"<text[^>]*>([^<]+)</text>", svg := svgs["abstract"])
    assert {"r/step-1", "s/step-2", "seed", charts.METRIC_LABELS[charts.FIDELITY]} <= set(texts)
    assert svg.count('<a xlink:href="#show?') == 3 * 3  # a cell per trained model and seed
    assert '<a xlink:href="#show?model=r/step-2&amp;seed=3&amp;note=' in svg
    assert svgs["placement"].count("<a ") == 2 * 2 * 6  # 2 measures x 2 CFG x 6 variants
    assert "#show?model=r/step-2&amp;placement=middle&amp;weight=1.2&amp;cfg=7" in svgs["placement"]
    assert svgs["cfg"].count("<a ") == 2 * (4 + 3)  # style of 4 models and fidelity of 3, 2 CFG
    assert "<a " not in svgs["loss"]


def test_a_chart_is_the_same_bytes_every_time_and_its_ids_are_its_own():
    rows, models = demo_rows(), ["base", "r/step-1", "r/step-2", "s/step-2"]
    first = charts.abstract_chart(charts.abstract_seeds(rows, models))
    assert charts.abstract_chart(charts.abstract_seeds(rows, models)) == first
    style, fidelity = (charts.over_cfg(rows, models, m) for m in (charts.STYLE, charts.FIDELITY))
    other = charts.cfg_chart(style, fidelity, ["r", "s"])
    ids = set(re.findall(r' id="([^"]+)"', first))
    assert ids and not ids & set(re.findall(r' id="([^"]+)"', other))


def test_pareto_chart_marks_the_picks_and_its_names_do_not_overlap():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Annotation, Text

    # Five models crowded together: their names must still find their own places.
    points = [(0.5 + i * 0.001, 0.5 + i * 0.001, f"run~{i}/step-100") for i in range(5)]
    figure = Figure(figsize=(5, 3))
    axes = figure.add_subplot()
    axes.scatter([p[0] for p in points], [p[1] for p in points])
    axes.set_xlim(0.4, 0.6)
    axes.set_ylim(0.4, 0.6)
    charts.place_labels(axes, points, [p[:2] for p in points])
    renderer = FigureCanvasAgg(figure).get_renderer()
    labels = [c for c in axes.get_children() if isinstance(c, Annotation)]
    for label in labels:
        label.update_positions(renderer)
    boxes = [Text.get_window_extent(label, renderer) for label in labels]  # without leaders
    assert len(boxes) == 5
    for i, box in enumerate(boxes):
        for other in boxes[i + 1 :]:
            assert charts._overlap(box, other) == 0, (box, other)

    metric = {"mean": 0.5, "std": 0.1}
    summary = {m: {charts.STYLE: {"mean": s, "std": 0}, charts.FIDELITY: {"mean": f, "std": 0},
                   "style_clip": metric}
               for m, s, f in [("base", 0.3, None), ("r/step-1", 0.4, 0.9),
                               ("r/step-2", 0.8, 0.3), ("r/step-3", 0.5, 0.2)]}  # fmt: skip
    picks = {"front": ["r/step-1", "r/step-2"], "figurative": "r/step-1",
             "abstraction": "r/step-2", "axes": [charts.STYLE, charts.FIDELITY]}  # fmt: skip
    svg = charts.pareto_chart(summary, picks, ["r"])
    texts = re.findall(r"<text[^>]*>([^<]+)</text>", svg)
    assert {"r/step-1", "r/step-2", "recommended: figurative subject",
            "recommended: pure abstraction", "Pareto front"} <= set(texts)  # fmt: skip
    assert "r/step-3" not in texts  # off the front: named on hover only
    assert svg.count("<a ") == 3
    assert charts.pareto_chart(summary, {"front": []}, ["r"]) == ""


def test_the_report_imports_matplotlib_only_to_draw():
    code = "import sys, stylesweep.report; assert 'matplotlib' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
