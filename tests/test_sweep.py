import pytest

from stylesweep.config import load_schema, train_keys
from stylesweep.sweep import (
    checkpoint_steps,
    expand_runs,
    model_names,
    segment_settings,
    text_encoder_steps,
)
from tests.conftest import SCHEMA, schema_defaults

ORDER = train_keys(load_schema(SCHEMA))
TRAIN = {
    **schema_defaults()["train"],
    "key": "k",
    "max_steps": 6000,
    "checkpoint_every": 2000,
    "text_encoder_fraction": 0.1,
    "learning_rate": 2e-6,
    "lr_schedule": "constant",
}


def runs_of(train: dict) -> dict:
    return expand_runs(train, ORDER)


def test_runs_are_named_after_swept_values():
    runs = runs_of({**TRAIN, "sweep": {"text_encoder_fraction": [0.05, 0.1, 0.15, 0.2]}})
    assert list(runs) == ["te~0.05", "te~0.1", "te~0.15", "te~0.2"]
    assert runs["te~0.15"]["text_encoder_fraction"] == 0.15
    two = runs_of(
        {**TRAIN, "sweep": {"text_encoder_fraction": [0.1], "learning_rate": [1e-6, 2e-6]}}
    )
    assert list(two) == ["te~0.1_lr~1e-06", "te~0.1_lr~2e-06"]
    assert list(runs_of({**TRAIN, "sweep": {}})) == ["default"]


def test_checkpoint_steps_include_the_last_step():
    assert checkpoint_steps(TRAIN) == [2000, 4000, 6000]
    assert checkpoint_steps({**TRAIN, "max_steps": 5000}) == [2000, 4000, 5000]
    assert checkpoint_steps({**TRAIN, "max_steps": 500}) == [500]


def test_strength_is_a_fraction_of_max_steps_unless_absolute():
    assert text_encoder_steps({**TRAIN, "text_encoder_fraction": 0.15}) == 900
    assert text_encoder_steps({**TRAIN, "text_encoder_steps": 350}) == 350


def test_segment_settings_see_the_text_encoder_stop_only_within_their_range():
    run = {**TRAIN, "text_encoder_steps": 600}
    first, second = segment_settings(run, 0, 2000), segment_settings(run, 2000, 4000)
    assert first["text_encoder_steps"] == 600
    assert second["text_encoder_steps"] == 2000  # already frozen before this segment
    # moving the stop step within the first segment does not touch the second
    moved = {**run, "text_encoder_steps": 900}
    assert segment_settings(moved, 2000, 4000) == second
    assert segment_settings(moved, 0, 2000) != first


def test_model_names_start_with_the_base_control():
    runs = runs_of(
        {
            **TRAIN,
            "max_steps": 40,
            "checkpoint_every": 20,
            "sweep": {"text_encoder_fraction": [0.1, 0.2]},
        }
    )
    assert model_names(runs) == [
        "base", "te~0.1/step-20", "te~0.1/step-40", "te~0.2/step-20", "te~0.2/step-40",
    ]  # fmt: skip


def test_extra_runs_follow_the_sweep():
    runs = runs_of(
        {
            **TRAIN,
            "sweep": {"text_encoder_fraction": [0.1]},
            "extra_runs": [{"method": "textual_inversion", "learning_rate": 0.005}],
        }
    )
    assert list(runs) == ["te~0.1", "method~ti_lr~0.005"]
    assert runs["method~ti_lr~0.005"]["method"] == "textual_inversion"
    assert list(runs_of({**TRAIN, "extra_runs": [{"seed": 3}]})) == ["default", "seed~3"]


def test_extending_max_steps_keeps_segments_that_do_not_depend_on_it():
    constant = {**TRAIN, "lr_schedule": "constant", "text_encoder_steps": 300}
    longer = {**constant, "max_steps": 8000}
    assert segment_settings(constant, 0, 2000) == segment_settings(longer, 0, 2000)
    decaying = {**constant, "lr_schedule": "polynomial"}
    assert segment_settings(decaying, 0, 2000)["lr_horizon"] == 6000
    assert segment_settings(decaying, 0, 2000) != segment_settings({**decaying, "max_steps": 8000},
                                                                   0, 2000)  # fmt: skip
    fixed = {**decaying, "lr_horizon": 10000}
    assert segment_settings(fixed, 0, 2000) == segment_settings(
        {**fixed, "max_steps": 8000}, 0, 2000
    )
    # a strength given as a fraction of max_steps moves with it
    fraction = {**constant, "text_encoder_steps": None}
    assert segment_settings(fraction, 0, 2000) != segment_settings({**fraction, "max_steps": 8000},
                                                                   0, 2000)  # fmt: skip


def test_textual_inversion_segments_carry_their_own_settings():
    ti = segment_settings({**TRAIN, "method": "textual_inversion", "num_vectors": 2}, 0, 2000)
    assert "text_encoder_steps" not in ti and ti["num_vectors"] == 2
    assert "num_vectors" not in segment_settings(TRAIN, 0, 2000)


def test_only_runs_with_prior_preservation_see_the_class_prompt():
    prior = {**TRAIN, "prior_loss_weight": 1.0, "class_prompt": "an abstract image"}
    segment = segment_settings(prior, 0, 2000)
    assert segment["prior_loss_weight"] == 1.0 and segment["class_prompt"] == "an abstract image"
    plain = segment_settings({**TRAIN, "class_prompt": "a new class prompt"}, 0, 2000)
    assert plain["prior_loss_weight"] == 0.0 and "class_prompt" not in plain
    ti = segment_settings({**prior, "method": "textual_inversion"}, 0, 2000)
    assert ti["prior_loss_weight"] == 0.0  # textual inversion trains no class images


def test_key_order_changes_no_name_no_setting_and_no_run_order():
    train = {
        **TRAIN,
        "sweep": {"text_encoder_fraction": [0.1, 0.2], "learning_rate": [1e-6, 2e-6]},
        "extra_runs": [{"learning_rate": 0.05, "method": "textual_inversion"}],
    }
    runs = runs_of(train)
    reversed_train = {key: train[key] for key in reversed(list(train))}
    reversed_train["sweep"] = dict(reversed(list(train["sweep"].items())))
    again = runs_of(reversed_train)
    assert list(again) == list(runs)
    assert [list(settings) for settings in again.values()] == [list(s) for s in runs.values()]
    assert again == runs
    assert list(runs)[0] == "te~0.1_lr~1e-06"  # schema order: text_encoder_fraction first
    assert "method~ti_lr~0.05" in runs


def test_settings_are_read_strictly():
    incomplete = {key: value for key, value in TRAIN.items() if key != "lr_schedule"}
    with pytest.raises(KeyError, match="lr_schedule"):
        segment_settings(incomplete, 0, 2000)
    with pytest.raises(KeyError, match="not in the schema"):
        runs_of({**TRAIN, "sweep": {"no_such_setting": [1]}})
