"""Blind votes between models, turned into a ranking with honest error bars.

The metrics say how far each model moved towards the style; only the artist can say which
result they prefer. The HTML report shows two renders of the same recipe from two models,
side by side in random order, and saves the artist's choices as votes.json:

    {"format": "stylesweep-votes", "version": 1, "seed": 7, "title": "...",
     "votes": [{"left": "0123456789abcdef", "right": "fedcba9876543210", "winner": "left"}]}

`left` and `right` are the renders' recipe keys, `winner` is "left", "right" or "same". A
few hundred such votes over many models never compare every pair often, so we fit the
Bradley-Terry model (one strength per model; P(a beats b) = sigmoid(s_a - s_b)), which pools
all pairs into one scale, and bootstrap the votes for its uncertainty. `metric_agreement`
then asks whether the metrics rank the models as the artist does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import choix
import numpy as np
from scipy.stats import kendalltau

from stylesweep.files import write_json
from stylesweep.sweep import is_control

WINNERS = ("left", "right", "same")


class VotesError(ValueError):
    """Bad votes input: the message names the file, what is wrong, and the fix."""


def read_votes(paths: Sequence[str | Path]) -> list[dict]:
    """All votes of the given votes.json files, in order; each vote gains "file": its path."""
    votes = []
    for path in paths:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise VotesError(
                f"{path}: no such votes file; pass the votes.json saved by the report's vote page"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise VotesError(
                f"{path}: cannot read it as a votes file ({error}); "
                "pass the votes.json saved by the report's vote page"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise VotesError(
                f"{path}: not JSON (line {error.lineno}: {error.msg}); "
                "pass the votes.json the report saved, unedited"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("votes"), list):
            raise VotesError(
                f"{path}: not a votes file (expected a JSON object with a 'votes' list); "
                "pass the votes.json saved by the report's vote page"
            )
        for index, vote in enumerate(data["votes"]):
            if not (
                isinstance(vote, dict)
                and isinstance(vote.get("left"), str)
                and isinstance(vote.get("right"), str)
                and vote.get("winner") in WINNERS
            ):
                raise VotesError(
                    f"{path}: vote {index} is not "
                    '{"left": key, "right": key, "winner": "left" | "right" | "same"} '
                    f"(got {json.dumps(vote)[:120]}); fix or delete that vote"
                )
            votes.append({**vote, "file": str(path)})
    return votes


def _fit(n_items: int, pairs: list[tuple[int, int]], alpha: float) -> np.ndarray:
    """Bradley-Terry log-strengths (MAP under choix's Gaussian prior), mean subtracted."""
    params = choix.opt_pairwise(n_items, pairs, alpha=alpha)
    return params - params.mean()


def _pairs(comparisons: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """(winner, loser) pairs of (left, right, winner) comparisons; a tie gives both orders."""
    pairs = []
    for left, right, winner in comparisons:
        if winner == "left":
            pairs.append((left, right))
        elif winner == "right":
            pairs.append((right, left))
        else:
            pairs += [(left, right), (right, left)]
    return pairs


def _r(value: float) -> float:
    return round(float(value), 4)


def fit_preferences(
    votes: list[dict],
    labels: dict[str, str],
    models: list[str],
    *,
    resamples: int = 200,
    seed: int = 0,
    alpha: float = 0.01,
) -> dict:
    """A Bradley-Terry ranking of `models` from blind votes, with 95 % bootstrap intervals.

    `labels` maps a render's recipe key to its model label. A vote naming a key not in
    `labels`, or a model not in `models` (another sweep's votes, a model since removed from
    the config), is ignored and counted as unknown; a vote between two renders of the same
    model says nothing about models and is counted as same_model. Only models in at least
    one usable vote are fitted.

    A "same" vote is the usual reduction of ties for Bradley-Terry: half a win each way,
    entered as both (a, b) and (b, a) since choix takes no weights (so in the likelihood a
    tie weighs as two comparisons). The Davidson model would fit ties with an extra
    parameter, but choix has no fitter for it and the tie rate is of no interest here; the
    reduction keeps the strengths' ordering and pulls tied models together, as it should.

    `score` is the log-strength minus the fitted models' mean (0 = an average fitted model;
    a difference d means P(win) = 1 / (1 + exp(-d))). `alpha` is choix's L2 prior, which
    keeps a model that won (or lost) all its votes finite. The interval is the 2.5-97.5
    percentile of the scores refitted on `resamples` resamples of the usable votes, drawn
    with replacement by numpy's default_rng(seed): the same votes and seed give the same
    result. In a resample, a model absent from every drawn vote has no score (the prior
    alone would put it at 0) and the mean is over the models present; a model absent from
    all resamples (only possible with very few votes and resamples) gets low = high = None.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    known = set(models)
    unknown = same_model = 0
    usable: list[tuple[str, str, str]] = []
    for vote in votes:
        left, right = labels.get(vote["left"]), labels.get(vote["right"])
        if left not in known or right not in known:
            unknown += 1
        elif left == right:
            same_model += 1
        else:
            usable.append((left, right, vote["winner"]))
    if votes and not usable:
        files = ", ".join(dict.fromkeys(str(v.get("file", "?")) for v in votes))
        raise VotesError(
            f"{len(votes)} votes read from {files}, but none names images of two models of "
            f"this sweep ({unknown} unknown, {same_model} same model); pass the votes saved "
            "from this sweep's report"
        )

    seen = {label for left, right, _ in usable for label in (left, right)}
    fitted = [m for m in dict.fromkeys(models) if m in seen]
    index = {label: i for i, label in enumerate(fitted)}
    comparisons = [(index[left], index[right], winner) for left, right, winner in usable]
    scores = _fit(len(fitted), _pairs(comparisons), alpha) if fitted else np.zeros(0)

    rng = np.random.default_rng(seed)
    boot = np.full((resamples if comparisons else 0, len(fitted)), np.nan)  # NaN: absent
    for row in boot:
        drawn = [comparisons[i] for i in rng.integers(0, len(comparisons), len(comparisons))]
        present = sorted({i for left, right, _ in drawn for i in (left, right)})
        params = choix.opt_pairwise(len(fitted), _pairs(drawn), alpha=alpha)
        row[present] = params[present] - params[present].mean()

    result = {}
    for i, label in enumerate(fitted):
        mine = [c for c in comparisons if i in c[:2]]
        wins = sum(
            0.5 if winner == "same" else float((winner == "left") == (left == i))
            for left, _, winner in mine
        )
        samples = boot[:, i][~np.isnan(boot[:, i])]
        low, high = np.percentile(samples, [2.5, 97.5]) if samples.size else (None, None)
        result[label] = {
            "score": _r(scores[i]),
            "low": None if low is None else _r(low),
            "high": None if high is None else _r(high),
            "votes": len(mine),
            "wins": wins,
        }
    return {
        "models": result,
        "order": sorted(fitted, key=lambda label: -result[label]["score"]),
        "used": len(usable),
        "unknown": unknown,
        "same_model": same_model,
        "ties": sum(winner == "same" for _, _, winner in usable),
        "method": (
            f"Bradley-Terry (choix.opt_pairwise, alpha={alpha}), "
            f"95 % bootstrap interval over {resamples} resamples"
        ),
    }


def metric_agreement(preferences: dict, summary: dict, metrics: list[str]) -> dict[str, dict]:
    """Per metric, Kendall's tau between the models' preference scores and metric means.

    `preferences` is `fit_preferences`'s result and `summary[label][metric]` holds
    {"mean": float | None, "std": ...}; a model counts when it has both a score and a mean.
    tau = 1: the metric ranks the models as the votes do. This function does not know which
    way a metric points: for metrics where lower is better the caller flips their sign.
    tau and p are None with fewer than 3 models (or when a side is constant)."""
    agreement = {}
    for metric in metrics:
        pairs = [
            (entry["score"], mean)
            for label, entry in preferences["models"].items()
            if (mean := summary.get(label, {}).get(metric, {}).get("mean")) is not None
        ]
        tau = p = None
        if len(pairs) >= 3:
            scores, means = zip(*pairs, strict=True)
            fit = kendalltau(scores, means)
            if not np.isnan(fit.statistic):
                tau, p = _r(fit.statistic), _r(fit.pvalue)
        agreement[metric] = {"tau": tau, "p": p, "models": len(pairs)}
    return agreement


def image_labels(sample_manifests: Sequence[str | Path]) -> dict[str, str]:
    """Each rendered image's recipe key and the model label that rendered it, from the
    sample jobs' images.json (sample stage 3 on, which names each image's key)."""
    labels = {}
    for path in sample_manifests:
        for image in json.loads(Path(path).read_text())["images"]:
            labels[image["key"]] = image["model"]
    return labels


def fit_votes_files(
    votes_files: Sequence[str | Path],
    sample_manifests: Sequence[str | Path],
    models: list[str],
    out_path: str | Path,
    left_out: dict[str, list] | None = None,
) -> dict:
    """Fit the votes of `votes_files` over `models` (labels, as the report names them) and
    write the result to `out_path`, with the top-voted checkpoint (`preferred`) among those
    not `left_out` (copies of a still, collapsed seeds: stylesweep.summary.flags), as the
    report's recommendation leaves them out."""
    votes = read_votes(votes_files)
    fit = fit_preferences(votes, image_labels(sample_manifests), models)
    left_out = left_out or {}
    preferred = next((m for m in fit["order"] if not is_control(m) and m not in left_out), None)
    fit |= {
        "files": [str(path) for path in votes_files],
        "read": len(votes),
        "left_out": {m: reasons for m, reasons in left_out.items() if m in fit["models"]},
        "preferred": preferred,
        "preferred_checkpoint": preferred and preferred.partition("@")[0],
    }
    print(
        f"votes: {len(votes)} read from {len(votes_files)} file(s), {fit['used']} used, "
        f"{fit['unknown']} ignored (their images are not in this sweep), "
        f"{fit['same_model']} between pictures of one model; preferred: {preferred}"
    )
    write_json(out_path, fit)
    return fit
