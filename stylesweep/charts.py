"""The report's charts: the blog's four findings, each read off the per-image scores.

The summaries are plain functions of score rows (the `images` of results/scores/*.json:
model, seed, cfg_scale, variant and the measures of stylesweep.score). The renderings draw
them with matplotlib into inline SVG whose points and cells link to the images behind them
(`#show?model=...&seed=...`, which the page's script opens in the grid and lightbox).
matplotlib is imported only when a chart is drawn, so jobs that never draw start fast.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable
from statistics import fmean, pstdev
from urllib.parse import quote, urlencode

from stylesweep.summary import seed_means
from stylesweep.sweep import is_control, model_name, run_and_step, split_label

STYLE, FIDELITY = "style_csd", "content"
METRIC_LABELS = {  # per image
    "style_csd": "style (CSD)",
    "content": "content kept",
    "fidelity_dino": "structure kept (DINO)",
    "still_likeness": "likeness to a still",
    "style_colour": "style (colours)",
    "style_clip": "style (CLIP)",
    "fidelity_base": "fidelity to base (SSIM)",
    "fidelity_prompt": "fidelity to prompt (CLIP)",
}
MODEL_LABELS = {  # per model
    **METRIC_LABELS,
    "diversity": "diversity over seeds",
    "validation_loss": "validation loss",
}
# Below this content similarity to the base model's picture of the same seed, the subject is
# gone (the content head puts pictures of one subject near 1, of others near 0).
ABSTRACT_BELOW = 0.5
BASE_COLOUR = "#888888"
WORDS_COLOUR = "#444444"
# The controls' lines: the base model dashed, the stills' words dotted.
CONTROL_LINES = {"base": "--", "words": ":"}
RUN_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#bcbd22", "#17becf"]  # fmt: skip
# Drawn in this colour, text, axes and ticks become the page's own text colour.
FOREGROUND = "#010203"


# --- Summaries -----------------------------------------------------------------------------
def spread(per_seed: dict) -> dict:
    """Mean and standard deviation over seeds, as in the decision table."""
    values = list(per_seed.values())
    return {"mean": fmean(values), "std": pstdev(values), "seeds": len(values)}


def over_steps(rows: list[dict], runs: dict[str, list[int]], metric: str) -> dict[str, list]:
    """Per run, the metric at each checkpoint step (the base model as step 0) with its
    spread over seeds; the words control, when rendered, as a level of its own."""
    by_model = seed_means(rows, metric, ("model",))
    lines = {}
    for run, steps in runs.items():
        models = [(0, "base")] + [(step, model_name(run, step)) for step in steps]
        lines[run] = [
            {"step": step, "model": model, **spread(by_model[(model,)])}
            for step, model in models
            if (model,) in by_model
        ]
    if ("words",) in by_model:
        lines["words"] = [{"step": 0, "model": "words", **spread(by_model[("words",)])}]
    return lines


def over_cfg(rows: list[dict], models: list[str], metric: str) -> dict[str, list]:
    """Per model, the metric at each CFG scale, averaged over seeds."""
    by_cfg = seed_means(rows, metric, ("model", "cfg_scale"))
    cfgs = sorted({cfg for _, cfg in by_cfg})
    return {
        model: [
            {"cfg": cfg, **spread(by_cfg[(model, cfg)])} for cfg in cfgs if (model, cfg) in by_cfg
        ]
        for model in models
        if any((model, cfg) in by_cfg for cfg in cfgs)
    }


def abstract_seeds(
    rows: list[dict],
    models: list[str],
    threshold: float = ABSTRACT_BELOW,
    metric: str = FIDELITY,
    most: float = 0.5,
) -> dict:
    """Fidelity to the base of every seed with every trained model (averaged over variants
    and CFG scales), the cells below `threshold`, and the seeds below it in more than `most`
    of the models they were rendered with: the seeds that turn abstract whatever the model."""
    by_model = seed_means(rows, metric, ("model",))
    trained = [m for m in models if (m,) in by_model]
    seeds = sorted({seed for m in trained for seed in by_model[(m,)]})
    values = {(s, m): by_model[(m,)][s] for m in trained for s in seeds if s in by_model[(m,)]}
    named = []
    for seed in seeds:
        rendered = [m for m in trained if (seed, m) in values]
        below = [m for m in rendered if values[(seed, m)] < threshold]
        if rendered and len(below) > most * len(rendered):
            named.append({"seed": seed, "models": len(below), "of": len(rendered)})
    return {
        "seeds": seeds,
        "models": trained,
        "values": values,
        "threshold": threshold,
        "named": named,
    }


def abstract_sentence(summary: dict) -> str:
    """ "Seed 3 turns abstract in 9 of 12 models", in words, for the page."""
    rule = f"{METRIC_LABELS[FIDELITY]} below {summary['threshold']:.2f}"
    if not summary["named"]:
        return f"No seed turns abstract ({rule}) in most models."
    first, *rest = summary["named"]
    models = "model" if first["of"] == 1 else "models"
    parts = [f"Seed {first['seed']} turns abstract in {first['models']} of {first['of']} {models}"]
    parts += [f"seed {n['seed']} in {n['models']} of {n['of']}" for n in rest]
    return ", ".join(parts) + f" ({rule})."


def by_placement(rows: list[dict], variants: list[dict], model: str, metric: str) -> dict:
    """One model's metric per key placement, key weight and CFG scale, averaged over seeds
    (and over base prompts, when there are several)."""
    key_of = {v["name"]: (v["placement"], v["weight"]) for v in variants}
    mine = [
        {**r, "placement": key_of[r["variant"]][0], "weight": key_of[r["variant"]][1]}
        for r in rows
        if r["model"] == model and r["variant"] in key_of
    ]
    means = seed_means(mine, metric, ("placement", "weight", "cfg_scale"))
    return {
        "model": model,
        "placements": list(dict.fromkeys(v["placement"] for v in variants)),
        "weights": sorted({v["weight"] for v in variants}),
        "cfgs": sorted({r["cfg_scale"] for r in mine}),
        "values": {cell: spread(per_seed)["mean"] for cell, per_seed in means.items()},
    }


def best_cell(summary: dict) -> tuple | None:
    """(placement, weight, CFG scale, value) with the highest value, or None."""
    if not summary["values"]:
        return None
    cell = max(summary["values"], key=lambda c: (summary["values"][c], c[1]))
    return (*cell, summary["values"][cell])


# --- Rendering -----------------------------------------------------------------------------
def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def image_link(note: str, **shown) -> str:
    """The page's link to the images behind a point: the grid axes it fixes, and the value
    the page shows on hover."""
    fields = {k: _text(v) for k, v in shown.items()} | {"note": note}
    return "#show?" + urlencode(fields, quote_via=quote, safe="/~")


def decimals(values: list[float]) -> int:
    """Enough decimals (2 to 4) to tell the values apart: 0.091 from 0.093, not 0.09 twice."""
    span = max(values) - min(values)
    return 2 if span <= 0 else min(max(2, -math.floor(math.log10(span))), 4)


def run_colours(runs: Iterable[str]) -> dict[str, str]:
    colours = {run: RUN_COLOURS[i % len(RUN_COLOURS)] for i, run in enumerate(runs)}
    return colours | {"base": BASE_COLOUR, "words": WORDS_COLOUR}


def _rc(name: str) -> dict:
    return {
        "svg.fonttype": "none",  # text stays text, in the page's font
        "svg.hashsalt": name,  # ids are the same on every run, and differ between charts
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: the same layout everywhere
        "font.size": 8,
        "text.color": FOREGROUND,
        "axes.edgecolor": FOREGROUND,
        "axes.labelcolor": FOREGROUND,
        "xtick.color": FOREGROUND,
        "ytick.color": FOREGROUND,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "figure.facecolor": "none",
        "axes.facecolor": "none",
        "savefig.facecolor": "none",
        "path.simplify": True,
    }


def _round_numbers(match: re.Match) -> str:
    rounded = re.sub(r"(\d+\.\d\d)\d+", r"\1", match.group(2))
    return f'{match.group(1)}{rounded}"'


def _bare_groups_removed(svg: str) -> str:
    """Drop the `<g>` elements that carry no attributes (and their end tags): they group
    nothing the page uses."""
    kept: list[bool] = []

    def tag(match: re.Match) -> str:
        if match.group(0).startswith("</"):
            return match.group(0) if kept.pop() else ""
        kept.append(match.group(0) != "<g>")
        return match.group(0) if kept[-1] else ""

    return re.sub(r"<g\b[^>]*>|</g>", tag, svg)


def inline_svg(svg: str, name: str = "") -> str:
    """matplotlib's SVG file as an element of the page: no XML prologue, metadata, global
    style, font names (the page's font applies) or ids of its own groups (several charts
    share a page); coordinates to 0.01 pt; the foreground in the page's text colour."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", "", svg, flags=re.S)
    svg = re.sub(r'<g id="[^"]*"', "<g", svg)
    svg = re.sub(r'(\s(?:d|x|y|transform)=")([^"]*)"', _round_numbers, svg)
    svg = re.sub(r' transform="rotate\(-?0 [^)]*\)"', "", svg)
    svg = re.sub(r"font-family: [^;\"]*;? ?", "", svg).replace(' target="_blank"', "")
    svg = _bare_groups_removed(re.sub(r"\n\s*", "", svg.replace(" \n", " ")))
    svg = svg.replace(FOREGROUND, "currentColor")
    return svg.replace("<svg ", f'<svg class="chart {name}" ' if name else '<svg class="chart" ', 1)


def render(name: str, size: tuple[float, float], draw: Callable, layout: str | None = None) -> str:
    """Draw a figure with `draw(figure)` and return it as inline SVG, the same bytes on every
    run (no date, fixed ids)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc(name)):
        figure = Figure(figsize=size, layout=layout)
        draw(figure)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None}, transparent=True)
    return inline_svg(buffer.getvalue(), name)


def _links(axes, xs: list, ys: list, links: list[str], colours, size: float = 16, **style):
    """Clickable markers: one link per point."""
    if xs:
        points = axes.scatter(xs, ys, s=size, c=colours, zorder=3, **style)
        points.set_urls(links)


def loss_chart(points: list[tuple[int, float]]) -> str:
    """A run's training loss against step."""
    if not points:
        return ""

    def draw(figure):
        axes = figure.add_subplot()
        axes.plot([p[0] for p in points], [p[1] for p in points], color=FOREGROUND, lw=1)
        axes.set_xlabel("step")
        axes.set_ylabel("loss")
        axes.margins(x=0.01)

    return render("loss", (3.6, 1.5), draw, layout="constrained")


def steps_chart(
    style: dict[str, list],
    fidelity: dict[str, list],
    runs: list[str],
    validation: dict[str, list] | None = None,
) -> str:
    """Style and fidelity (and the validation loss, when measured) against training step, one
    line per run, ± the spread over seeds."""
    colours = run_colours(runs)
    shown = [(style, METRIC_LABELS[STYLE]), (fidelity, METRIC_LABELS[FIDELITY])]
    if validation:
        shown.append((validation, "validation loss"))

    def draw(figure):
        panes = figure.subplots(1, len(shown), sharex=True)
        for axes, (lines, label) in zip(panes, shown, strict=True):
            xs, ys, links, dots, drawn = [], [], [], [], set()
            for run in runs:
                points = lines.get(run, [])
                if not points:
                    continue
                steps = [p["step"] for p in points]
                means = [p["mean"] for p in points]
                low = [p["mean"] - p["std"] for p in points]
                high = [p["mean"] + p["std"] for p in points]
                axes.fill_between(steps, low, high, color=colours[run], alpha=0.15, lw=0)
                axes.plot(steps, means, color=colours[run], lw=1.3, label=run)
                for p in points:
                    if p["model"] in drawn:  # the base model starts every run's line
                        continue
                    drawn.add(p["model"])
                    xs.append(p["step"])
                    ys.append(p["mean"])
                    dots.append(colours["base" if p["model"] == "base" else run])
                    note = f"{p['mean']:.3f} ± {p['std']:.3f}"
                    links.append(image_link(note, model=p["model"]))
            if lines.get("words"):  # the stills' words on the base model: a level
                axes.axhline(lines["words"][0]["mean"], color=colours["words"],
                             ls=CONTROL_LINES["words"], lw=1, label="words (control)")  # fmt: skip
                xs.append(0)
                ys.append(lines["words"][0]["mean"])
                dots.append(colours["words"])
                links.append(image_link(f"{lines['words'][0]['mean']:.3f}", model="words"))
            _links(axes, xs, ys, links, dots)
            axes.set_xlabel("training step (0: base model)")
            axes.set_ylabel(label)
        handles, labels = panes[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside right upper", title="run")

    return render("steps", (4.2 * len(shown), 2.6), draw, layout="constrained")


def validation_over_steps(losses: dict[str, dict], runs: dict[str, list[int]]) -> dict:
    """Per run, the validation loss at each checkpoint step (the base model as step 0)."""
    lines = {}
    for run, steps in runs.items():
        models = [(0, "base")] + [(step, model_name(run, step)) for step in steps]
        lines[run] = [
            {"step": step, "model": model, "mean": losses[model]["loss"], "std": 0.0}
            for step, model in models
            if model in losses
        ]
    return lines


def _cells(axes, rows: list, columns: list, values: dict, links: dict, norm, cmap):
    """A heatmap of rectangles, each a link; `values` and `links` keyed by (row, column)."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    keys = [(r, c) for r in rows for c in columns if (r, c) in values]
    patches = [Rectangle((columns.index(c), rows.index(r)), 1, 1) for r, c in keys]
    collection = PatchCollection(patches, cmap=cmap, norm=norm, edgecolor="none")
    collection.set_array([values[k] for k in keys])
    collection.set_urls([links[k] for k in keys])
    axes.add_collection(collection)
    axes.set_xlim(0, len(columns))
    axes.set_ylim(len(rows), 0)
    axes.set_xticks([i + 0.5 for i in range(len(columns))])
    axes.set_yticks([i + 0.5 for i in range(len(rows))])
    axes.tick_params(length=0)
    for side in axes.spines.values():
        side.set_visible(False)
    return collection


def abstract_chart(summary: dict) -> str:
    """Fidelity to the base of each trained model (rows) with each seed (columns); a cross
    marks the cells below the threshold, and the seeds that turn abstract are in bold."""
    models, seeds, values = summary["models"], summary["seeds"], summary["values"]
    if not values:
        return ""
    named = {n["seed"] for n in summary["named"]}

    def draw(figure):
        from matplotlib.colors import Normalize

        axes = figure.add_subplot()
        cells = {(m, s): values[(s, m)] for m in models for s in seeds if (s, m) in values}
        links = {(m, s): image_link(f"{v:.3f}", model=m, seed=s) for (m, s), v in cells.items()}
        collection = _cells(axes, models, seeds, cells, links, Normalize(0, 1), "viridis")
        below = [(seeds.index(s) + 0.5, models.index(m) + 0.5) for (m, s), v in cells.items()
                 if v < summary["threshold"]]  # fmt: skip
        if below:
            axes.scatter(*zip(*below, strict=True), marker="x", s=22, c="white", lw=1.2)
        axes.set_xticklabels([str(s) for s in seeds])
        axes.set_xlabel("seed")
        axes.xaxis.set_label_position("top")
        for label, seed in zip(axes.get_xticklabels(), seeds, strict=True):
            label.set_fontweight("bold" if seed in named else "normal")
        axes.set_yticklabels(models)
        axes.xaxis.tick_top()
        bar = figure.colorbar(collection, ax=axes, label=METRIC_LABELS[FIDELITY], shrink=0.8)
        bar.ax.axhline(summary["threshold"], color=FOREGROUND, lw=1)

    size = (3.2 + 0.45 * len(seeds), 0.9 + 0.2 * len(models))
    return render("abstract", size, draw, layout="constrained")


def placement_chart(style: dict, fidelity: dict) -> str:
    """For one model, style (top) and fidelity (bottom) per key placement (rows) and weight
    (columns), one panel per CFG scale, each cell's value written in it."""
    cfgs, placements, weights = style["cfgs"], style["placements"], style["weights"]
    if not cfgs:
        return ""
    model = style["model"]

    def draw(figure):
        from matplotlib.colors import Normalize

        grid = figure.subplots(2, len(cfgs), squeeze=False)
        for row, (summary, metric) in enumerate(((style, STYLE), (fidelity, FIDELITY))):
            values = summary["values"]
            if not values:
                for axes in grid[row]:
                    axes.set_axis_off()
                continue
            norm = Normalize(min(values.values()), max(values.values()) + 1e-9)
            digits = decimals(list(values.values()))
            for axes, cfg in zip(grid[row], cfgs, strict=True):
                cells = {(p, w): values[(p, w, cfg)] for p in placements for w in weights
                         if (p, w, cfg) in values}  # fmt: skip
                links = {
                    (p, w): image_link(
                        f"{v:.3f}", model=model, placement=p, weight=w, cfg=cfg
                    )  # fmt: skip
                    for (p, w), v in cells.items()
                }
                collection = _cells(axes, placements, weights, cells, links, norm, "viridis")
                for (p, w), v in cells.items():
                    axes.text(weights.index(w) + 0.5, placements.index(p) + 0.5, f"{v:.{digits}f}",
                              ha="center", va="center", fontsize=7,
                              color="black" if norm(v) > 0.55 else "white")  # fmt: skip
                axes.set_xticklabels([f"{w:g}" for w in weights])
                axes.set_yticklabels(placements)
                axes.set_title(f"CFG {_text(cfg)}", fontsize=8)
                if row == 1:
                    axes.set_xlabel("key weight")
            grid[row][0].set_ylabel(f"{METRIC_LABELS[metric]}\nkey placement")
            figure.colorbar(collection, ax=list(grid[row]), shrink=0.9)

    size = (1.6 + len(cfgs) * (0.55 * len(weights) + 0.9), 1.2 + 2 * 0.32 * len(placements))
    return render("placement", size, draw, layout="constrained")


def subject_chart(subjects: dict[str, dict], models: list[str]) -> str:
    """Style (left) and content kept (right) of each model (rows) on each subject (columns),
    from the per-subject summaries {subject: {model: {measure: {mean, std}}}}; each cell's
    value is written in it and links to its images."""
    names = list(subjects)
    if len(names) < 2:
        return ""
    shown = [m for m in models if any(m in subjects[s] for s in names)]

    def draw(figure):
        from matplotlib.colors import Normalize

        panes = figure.subplots(1, 2, squeeze=False)[0]
        for axes, metric in zip(panes, (STYLE, FIDELITY), strict=True):
            cells = {
                (m, s): value
                for m in shown
                for s in names
                if (value := subjects[s].get(m, {}).get(metric, {}).get("mean")) is not None
            }
            if not cells:
                axes.set_axis_off()
                continue
            norm = Normalize(min(cells.values()), max(cells.values()) + 1e-9)
            links = {(m, s): image_link(f"{v:.3f}", model=m, subject=s)
                     for (m, s), v in cells.items()}  # fmt: skip
            collection = _cells(axes, shown, names, cells, links, norm, "viridis")
            digits = decimals(list(cells.values()))
            for (m, s), v in cells.items():
                axes.text(names.index(s) + 0.5, shown.index(m) + 0.5, f"{v:.{digits}f}",
                          ha="center", va="center", fontsize=7,
                          color="black" if norm(v) > 0.55 else "white")  # fmt: skip
            axes.set_xticklabels(names, rotation=30, ha="left")
            axes.xaxis.tick_top()
            axes.set_yticklabels(shown if axes is panes[0] else [])
            axes.set_title(METRIC_LABELS[metric], fontsize=9)
            figure.colorbar(collection, ax=axes, shrink=0.8)

    size = (3.4 + 2 * 0.6 * len(names), 1.3 + 0.2 * len(shown))
    return render("subjects", size, draw, layout="constrained")


def cfg_chart(style: dict[str, list], fidelity: dict[str, list], runs: list[str]) -> str:
    """Style and fidelity against CFG scale, one line per model in its run's colour, the
    later the checkpoint the stronger the colour."""
    colours = run_colours(runs)

    def shade(model: str) -> float:
        run, step = run_and_step(model)
        steps = sorted(run_and_step(m)[1] for m in style if run_and_step(m)[0] == run)
        return 1.0 if is_control(run) else 0.35 + 0.65 * (steps.index(step) + 1) / len(steps)

    def draw(figure):
        from matplotlib.lines import Line2D

        panes = figure.subplots(1, 2)
        for axes, lines, metric in ((panes[0], style, STYLE), (panes[1], fidelity, FIDELITY)):
            xs, ys, links, dots = [], [], [], []
            for model, points in lines.items():
                run = run_and_step(model)[0]
                cfgs, means = [p["cfg"] for p in points], [p["mean"] for p in points]
                axes.plot(cfgs, means, color=colours[run], alpha=shade(model), lw=1.2,
                          ls=CONTROL_LINES.get(run, "-"))  # fmt: skip
                for p in points:
                    xs.append(p["cfg"])
                    ys.append(p["mean"])
                    dots.append(colours[run])
                    links.append(image_link(f"{p['mean']:.3f}", model=model, cfg=p["cfg"]))
            _links(axes, xs, ys, links, dots, size=12)
            axes.set_xlabel("CFG scale")
            axes.set_ylabel(METRIC_LABELS[metric])
            axes.set_xticks(sorted({p["cfg"] for ps in lines.values() for p in ps}))
        shown = dict.fromkeys(run_and_step(m)[0] for m in style)
        handles = [Line2D([], [], color=colours[run], ls=CONTROL_LINES.get(run, "-"))
                   for run in shown]  # fmt: skip
        figure.legend(handles, list(shown), loc="outside right upper", title="run")

    return render("cfg", (8.4, 2.6), draw, layout="constrained")


def over_strength(rows: list[dict], metric: str) -> dict[str, list]:
    """Per checkpoint, the metric at each strength (averaged over seeds, each subject
    weighing the same); the base model as one point at strength 0."""
    by_label = seed_means(rows, metric, ("model",))
    lines: dict[str, list] = {}
    for (label,), per_seed in by_label.items():
        model, strength = split_label(label)
        point = {"strength": strength or 0.0, "model": label, **spread(per_seed)}
        lines.setdefault(model, []).append(point)
    return {model: sorted(points, key=lambda p: p["strength"]) for model, points in lines.items()}


def strength_chart(style: dict[str, list], fidelity: dict[str, list], runs: list[str]) -> str:
    """Style and fidelity against strength, one line per checkpoint in its run's colour (the
    later the checkpoint the stronger the colour), the base model as a dashed level."""
    colours = run_colours(runs)
    steps = {run: sorted({run_and_step(m)[1] for m in style if run_and_step(m)[0] == run})
             for run in runs}  # fmt: skip

    def shade(model: str) -> float:
        run, step = run_and_step(model)
        return 0.35 + 0.65 * (steps[run].index(step) + 1) / len(steps[run])

    def draw(figure):
        from matplotlib.lines import Line2D

        panes = figure.subplots(1, 2)
        for axes, lines, metric in ((panes[0], style, STYLE), (panes[1], fidelity, FIDELITY)):
            xs, ys, links, dots = [], [], [], []
            for model, points in lines.items():
                if is_control(model):
                    axes.axhline(points[0]["mean"], color=colours[model], ls=CONTROL_LINES[model],
                                 lw=1)  # fmt: skip
                    continue
                run = run_and_step(model)[0]
                axes.plot([p["strength"] for p in points], [p["mean"] for p in points],
                          color=colours[run], alpha=shade(model), lw=1.2)  # fmt: skip
                for p in points:
                    xs.append(p["strength"])
                    ys.append(p["mean"])
                    dots.append(colours[run])
                    links.append(image_link(f"{p['mean']:.3f}", model=p["model"]))
            _links(axes, xs, ys, links, dots, size=12)
            axes.set_xlabel("strength")
            axes.set_ylabel(METRIC_LABELS[metric])
            axes.set_xticks(sorted({p["strength"] for m, ps in lines.items() if not is_control(m)
                                    for p in ps}))  # fmt: skip
        shown = [m for m in CONTROL_LINES if m in style]
        shown += [run for run in runs if any(run_and_step(m)[0] == run for m in style)]
        handles = [Line2D([], [], color=colours[run], ls=CONTROL_LINES.get(run, "-"))
                   for run in shown]  # fmt: skip
        figure.legend(handles, shown, loc="outside right upper", title="run")

    return render("strength", (8.4, 2.6), draw, layout="constrained")


def agreement_chart(agreement: dict[str, dict]) -> str:
    """Each measure's agreement with the artist's votes: Kendall's tau between the measure's
    ranking of the voted models and the votes' (1: the same order, -1: reversed)."""
    shown = [(MODEL_LABELS.get(k, k), v) for k, v in agreement.items() if v["tau"] is not None]
    if not shown:
        return ""

    def draw(figure):
        axes = figure.add_subplot()
        names = [name for name, _ in shown][::-1]
        taus = [value["tau"] for _, value in shown][::-1]
        colours = [RUN_COLOURS[2] if tau >= 0 else RUN_COLOURS[3] for tau in taus]
        axes.barh(names, taus, color=colours, height=0.6)
        for y, (tau, (_, value)) in enumerate(zip(taus, shown[::-1], strict=True)):
            axes.text(tau + (0.03 if tau >= 0 else -0.03), y, f"{tau:+.2f} ({value['models']})",
                      va="center", ha="left" if tau >= 0 else "right", fontsize=8)  # fmt: skip
        axes.axvline(0, color=FOREGROUND, lw=0.8)
        axes.set_xlim(-1.25, 1.25)
        axes.set_xlabel("Kendall's tau with the votes (models compared)")

    return render("agreement", (6.0, 0.45 * len(shown) + 0.9), draw, layout="constrained")


def _overlap(a, b) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0) * max(height, 0)


def place_labels(axes, labelled: list[tuple[float, float, str]], dots: list) -> None:
    """Name points beside them without covering each other, other points or the axes'
    edge: each label takes the first free place around its point (farther out, with a
    leader line, when the near ones are taken), or else the least covered one. The axes'
    limits and place in the figure must be final."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    renderer = FigureCanvasAgg(axes.figure).get_renderer()
    frame = axes.get_window_extent(renderer)
    marks = [Bbox.from_bounds(x - 4, y - 4, 8, 8) for x, y in axes.transData.transform(dots)]
    near = [
        (6, 3, "left", "bottom"), (6, -3, "left", "top"), (-6, 3, "right", "bottom"),
        (-6, -3, "right", "top"), (0, 7, "center", "bottom"), (0, -7, "center", "top"),
    ]  # fmt: skip
    places = near + [(dx * 3, dy * 4, ha, va) for dx, dy, ha, va in near]
    taken: list = []
    for x, y, text in labelled:
        best = None
        for dx, dy, ha, va in places:
            label = axes.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                                  ha=ha, va=va, fontsize=7)  # fmt: skip
            box = label.get_window_extent(renderer)
            label.remove()
            cost = sum(_overlap(box, other) for other in taken + marks)
            cost += box.width * box.height - _overlap(box, frame)  # outside the axes
            if best is None or cost < best[0]:
                best = (cost, (dx, dy, ha, va), box)
            if cost == 0:
                break
        _, (dx, dy, ha, va), box = best
        leader = {"arrowstyle": "-", "color": FOREGROUND, "lw": 0.5, "shrinkA": 1, "shrinkB": 3}
        far = (dx, dy, ha, va) not in near
        axes.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                      fontsize=7, arrowprops=leader if far else None)  # fmt: skip
        taken.append(box)


def pareto_chart(summary: dict, picks: dict, runs: list[str]) -> str:
    """Style against fidelity of every model, the Pareto front joined by a dashed line, the
    two recommended checkpoints ringed; the front, the picks and the base named."""
    if not picks.get("axes"):
        return ""
    style, fidelity = picks["axes"]
    points = {
        m: (v[style]["mean"], v[fidelity]["mean"])
        for m, v in summary.items()
        if v.get(style, {}).get("mean") is not None and v.get(fidelity, {}).get("mean") is not None
    }
    if not points:
        return ""
    base_style = summary.get("base", {}).get(style, {}).get("mean")
    colours = run_colours(runs)
    rings = {"figurative": ("o", "figurative subject"), "abstraction": ("s", "pure abstraction")}

    def draw(figure):
        from matplotlib.lines import Line2D

        axes = figure.add_subplot()
        models = list(points)
        xs, ys = [points[m][0] for m in models], [points[m][1] for m in models]
        front = sorted(picks["front"], key=lambda m: points[m][0])
        axes.plot([points[m][0] for m in front], [points[m][1] for m in front], ls="--",
                  color=FOREGROUND, lw=0.8, zorder=1, label="Pareto front")  # fmt: skip
        links = [image_link(f"{points[m][0]:.3f}, {points[m][1]:.3f}", model=m) for m in models]
        dots = [colours.get(run_and_step(m)[0], BASE_COLOUR) for m in models]
        _links(axes, xs, ys, links, dots, size=[36 if m in front else 16 for m in models])
        for pick, (marker, what) in rings.items():
            if picks.get(pick) in points:
                axes.scatter(*points[picks[pick]], s=150, marker=marker, facecolors="none",
                             edgecolors=FOREGROUND, lw=1.2, zorder=4,
                             label=f"recommended: {what}")  # fmt: skip
        if base_style is not None:
            axes.axvline(base_style, color=BASE_COLOUR, lw=0.8, ls=":", zorder=0,
                         label="base model's style")  # fmt: skip
        axes.margins(0.08)
        axes.locator_params(nbins=6)
        axes.set_xlabel(f"{METRIC_LABELS[style]} →")
        axes.set_ylabel(f"{METRIC_LABELS[fidelity]} →")
        handles, labels = axes.get_legend_handles_labels()
        for run in [r for r in runs if any(run_and_step(m)[0] == r for m in models)]:
            handles.append(Line2D([], [], ls="", marker="o", color=colours[run], ms=4))
            labels.append(run)
        figure.legend(handles, labels, loc="outside right upper")
        # Fix the layout and the limits, then find places for the names.
        axes.autoscale_view()
        axes.set_xlim(axes.get_xlim())
        axes.set_ylim(axes.get_ylim())
        figure.draw_without_rendering()
        figure.set_layout_engine("none")
        named = [m for m in models if m in front]
        named += [picks[p] for p in rings if picks.get(p) in points and picks[p] not in named]
        named += [m for m in ("words",) if m in points and m not in named]  # the words control
        place_labels(axes, [(*points[m], m) for m in named], list(zip(xs, ys, strict=True)))

    return render("pareto", (7.6, 3.4), draw, layout="constrained")


def schedule_values(recipes: list[dict]) -> dict[str, list]:
    """Each schedule that changes during an animation, per frame (None where the frame does
    not say: a frame between two diffused ones holds only its motion)."""
    from stylesweep.animate.plan import SCHEDULED

    values = {}
    for key in SCHEDULED:
        series = [recipe.get(key) for recipe in recipes]
        if len({value for value in series if value is not None}) > 1:
            values[key] = series
    return values


def animation_chart(recipes: list[dict], audio: dict[str, list] | None) -> str:
    """The schedules that change over an animation's frames, one row each, and under them
    the soundtrack's features (amp and onset as lines, beats as bars) on the same frames."""
    schedules = schedule_values(recipes)
    rows = len(schedules) + (1 if audio else 0)
    if not rows:
        return ""

    def draw(figure):
        axes_list = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
        for axes, (key, series) in zip(axes_list, schedules.items(), strict=False):
            frames = [frame for frame, value in enumerate(series) if value is not None]
            axes.plot(frames, [series[f] for f in frames], color=FOREGROUND, lw=1)
            axes.set_ylabel(key, rotation=0, ha="right", va="center")
        if audio:
            axes = axes_list[-1]
            frames = list(range(len(audio["beat"])))
            axes.bar(frames, audio["beat"], width=0.8, color="#c8c8c8", label="beat")
            axes.plot(frames, audio["amp"], color="#1f77b4", lw=1, label="amp")
            axes.plot(frames, audio["onset"], color="#d62728", lw=1, label="onset")
            axes.set_ylim(0, 1.05)
            axes.set_ylabel("sound", rotation=0, ha="right", va="center")
            axes.legend(loc="upper right", fontsize="x-small", ncols=3, frameon=False)
        axes_list[-1].set_xlabel("frame")

    return render("animation", (4.2, 0.5 + 0.8 * rows), draw, layout="constrained")
