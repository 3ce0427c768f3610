"""Blind votes: reading votes.json, the Bradley-Terry fit, and agreement with the metrics."""

import json

import choix
import numpy as np
import pytest

from stylesweep.votes import VotesError, fit_preferences, metric_agreement, read_votes

MODELS = ["base", "te~0.1/step-40", "lora/step-20@0.5", "lora/step-40"]
TRUE = {"base": -1.5, "te~0.1/step-40": 0.5, "lora/step-20@0.5": -0.3, "lora/step-40": 1.4}


def key(model: int, image: int) -> str:
    return f"{model:08x}{image:08x}"


# three renders (recipe keys) per model
LABELS = {key(m, i): model for m, model in enumerate(MODELS) for i in range(3)}


def scripted_votes(count: int = 300, tie_rate: float = 0.1, seed: int = 1) -> list[dict]:
    """An artist whose taste is Bradley-Terry with strengths TRUE, sometimes undecided."""
    rng = np.random.default_rng(seed)
    votes = []
    for _ in range(count):
        a, b = rng.choice(len(MODELS), 2, replace=False)
        left, right = key(a, rng.integers(3)), key(b, rng.integers(3))
        p_left = 1 / (1 + np.exp(TRUE[MODELS[b]] - TRUE[MODELS[a]]))
        winner = "same" if rng.random() < tie_rate else "left" if rng.random() < p_left else "right"
        votes.append({"left": left, "right": right, "winner": winner, "file": "votes.json"})
    return votes


def write(path, data) -> str:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def votes_file(votes: list[dict]) -> dict:
    return {"format": "stylesweep-votes", "version": 1, "seed": 7, "title": "t", "votes": votes}


# read_votes


def test_read_votes_reads_a_good_file(tmp_path):
    vote = {"left": key(0, 0), "right": key(1, 0), "winner": "left"}
    path = write(tmp_path / "votes.json", votes_file([vote]))
    assert read_votes([path]) == [{**vote, "file": path}]


def test_read_votes_concatenates_files_with_their_names(tmp_path):
    a = write(tmp_path / "a.json", votes_file([{"left": "x", "right": "y", "winner": "left"}]))
    b = write(
        tmp_path / "b.json",
        votes_file(
            [
                {"left": "y", "right": "z", "winner": "same"},
                {"left": "z", "right": "x", "winner": "right"},
            ]
        ),
    )
    votes = read_votes([a, tmp_path / "b.json"])
    assert [(v["left"], v["winner"], v["file"]) for v in votes] == [
        ("x", "left", a),
        ("y", "same", b),
        ("z", "right", b),
    ]


def test_read_votes_names_a_file_that_is_not_json(tmp_path):
    path = write(tmp_path / "votes.json", '{"votes": [\n  {"left": "a",,}\n]}')
    with pytest.raises(VotesError, match=r"votes\.json: not JSON \(line 2"):
        read_votes([path])


def test_read_votes_names_a_missing_file(tmp_path):
    with pytest.raises(VotesError, match=r"nowhere\.json: no such votes file"):
        read_votes([tmp_path / "nowhere.json"])


@pytest.mark.parametrize("data", [[], {"format": "stylesweep-votes"}, {"votes": {}}])
def test_read_votes_wants_an_object_with_a_votes_list(tmp_path, data):
    path = write(tmp_path / "votes.json", data)
    with pytest.raises(VotesError, match=r"votes\.json: not a votes file.*'votes' list"):
        read_votes([path])


def test_read_votes_names_the_bad_vote(tmp_path):
    good = {"left": "a", "right": "b", "winner": "left"}
    path = write(tmp_path / "votes.json", votes_file([good, {**good, "winner": "both"}]))
    with pytest.raises(VotesError, match=r"votes\.json: vote 1 is not .*both"):
        read_votes([path])


# fit_preferences


def test_fit_recovers_a_scripted_taste():
    votes = scripted_votes()
    result = fit_preferences(votes, LABELS, MODELS, resamples=50)
    assert result["order"] == sorted(MODELS, key=lambda m: -TRUE[m])
    best, worst = result["models"][result["order"][0]], result["models"][result["order"][-1]]
    assert best["low"] > worst["score"] and worst["high"] < best["score"]
    for entry in result["models"].values():
        assert entry["low"] <= entry["score"] <= entry["high"]
    assert result["used"] == 300 and result["unknown"] == result["same_model"] == 0
    assert result["ties"] == sum(v["winner"] == "same" for v in votes) > 0
    assert sum(e["votes"] for e in result["models"].values()) == 2 * 300
    assert sum(e["wins"] for e in result["models"].values()) == 300
    assert abs(sum(e["score"] for e in result["models"].values())) < 1e-3
    assert "alpha=0.01" in result["method"] and "50 resamples" in result["method"]


def test_fit_matches_choix_on_the_same_data():
    """The reduction: a decisive vote is (winner, loser), a tie both orders."""
    votes = scripted_votes(count=120, tie_rate=0.3, seed=5)
    data = []
    for vote in votes:
        a, b = MODELS.index(LABELS[vote["left"]]), MODELS.index(LABELS[vote["right"]])
        data += {"left": [(a, b)], "right": [(b, a)], "same": [(a, b), (b, a)]}[vote["winner"]]
    expected = choix.opt_pairwise(len(MODELS), data, alpha=0.01)
    expected -= expected.mean()
    result = fit_preferences(votes, LABELS, MODELS, resamples=1)
    for model, value in zip(MODELS, expected, strict=True):
        assert abs(result["models"][model]["score"] - round(float(value), 4)) < 1e-6


def test_fit_counts_and_ignores_unknown_and_same_model_votes():
    votes = scripted_votes(count=60)
    extra = [
        {"left": "ffffffffffffffff", "right": key(0, 0), "winner": "left"},  # another sweep
        {"left": key(1, 0), "right": "eeeeeeeeeeeeeeee", "winner": "right"},
        {"left": key(2, 0), "right": key(2, 1), "winner": "left"},  # same model
    ]
    plain = fit_preferences(votes, LABELS, MODELS, resamples=5)
    mixed = fit_preferences(extra[:2] + votes + extra[2:], LABELS, MODELS, resamples=5)
    assert (mixed["unknown"], mixed["same_model"], mixed["used"]) == (2, 1, 60)
    assert mixed["models"] == plain["models"]


def test_fit_treats_models_no_longer_in_the_sweep_as_unknown():
    votes = scripted_votes(count=80)
    kept = MODELS[:3]
    result = fit_preferences(votes, LABELS, kept, resamples=5)
    dropped = sum(MODELS[3] in (LABELS[v["left"]], LABELS[v["right"]]) for v in votes)
    assert 0 < dropped < 80
    assert (result["unknown"], result["used"]) == (dropped, 80 - dropped)
    assert sorted(result["models"]) == sorted(kept)


def test_fit_only_fits_models_that_were_voted_on():
    votes = [
        {"left": key(0, 0), "right": key(1, 0), "winner": "right"},
        {"left": key(1, 1), "right": key(0, 2), "winner": "same"},
    ]
    result = fit_preferences(votes, LABELS, MODELS, resamples=20)
    assert result["order"] == [MODELS[1], MODELS[0]]
    assert result["models"][MODELS[1]]["score"] == -result["models"][MODELS[0]]["score"] > 0
    assert result["models"][MODELS[1]] | {"score": 0, "low": 0, "high": 0} == {
        "score": 0,
        "low": 0,
        "high": 0,
        "votes": 2,
        "wins": 1.5,
    }
    assert result["ties"] == 1


def test_fit_refuses_votes_none_of_which_are_of_this_sweep():
    votes = [
        {"left": "ffffffffffffffff", "right": key(0, 0), "winner": "left", "file": "old.json"},
        {"left": key(2, 0), "right": key(2, 1), "winner": "left", "file": "mine.json"},
    ]
    with pytest.raises(VotesError, match=r"2 votes read from old\.json, mine\.json.*none"):
        fit_preferences(votes, LABELS, MODELS, resamples=5)


def test_fit_of_no_votes_is_empty():
    result = fit_preferences([], LABELS, MODELS, resamples=5)
    assert (result["models"], result["order"], result["used"]) == ({}, [], 0)


def test_fit_is_deterministic_for_a_seed():
    votes = scripted_votes(count=100)
    first = fit_preferences(votes, LABELS, MODELS, resamples=30, seed=3)
    assert fit_preferences(votes, LABELS, MODELS, resamples=30, seed=3) == first
    assert json.loads(json.dumps(first)) == first
    other = fit_preferences(votes, LABELS, MODELS, resamples=30, seed=4)
    assert other["models"] != first["models"]  # the seed does drive the bootstrap


# metric_agreement


def preferences(scores: dict[str, float]) -> dict:
    return {"models": {m: {"score": s} for m, s in scores.items()}, "order": list(scores)}


def test_metric_agreement_follows_the_ranking():
    prefs = preferences({"a": 1.0, "b": 0.2, "c": -0.4, "d": -0.8})
    summary = {
        "a": {"up": {"mean": 0.9, "std": 0}, "down": {"mean": 0.1, "std": 0}},
        "b": {"up": {"mean": 0.5, "std": 0}, "down": {"mean": 0.3, "std": 0}},
        "c": {"up": {"mean": 0.4, "std": 0}, "down": {"mean": 0.6, "std": 0}},
        "d": {"up": {"mean": None, "std": None}, "down": {"mean": 0.7, "std": 0}},
    }
    agreement = metric_agreement(prefs, summary, ["up", "down"])
    assert agreement["up"]["tau"] == 1.0 and agreement["up"]["models"] == 3
    assert agreement["down"]["tau"] == -1.0 and agreement["down"]["models"] == 4
    assert 0 < agreement["down"]["p"] <= 1


def test_metric_agreement_needs_three_models():
    prefs = preferences({"a": 1.0, "b": 0.2, "c": -0.4})
    summary = {"a": {"m": {"mean": 1.0}}, "b": {"m": {"mean": 0.5}}, "c": {"m": {"mean": None}}}
    summary["extra"] = {"m": {"mean": 2.0}}  # scored by a metric, never voted on
    assert metric_agreement(prefs, summary, ["m", "absent"]) == {
        "m": {"tau": None, "p": None, "models": 2},
        "absent": {"tau": None, "p": None, "models": 0},
    }
