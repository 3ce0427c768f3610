from stylesweep.sweep import (
    checkpoint_steps,
    expand_runs,
    model_names,
    segment_settings,
    text_encoder_steps,
)

TRAIN = {
    "key": "k",
    "instance_prompt": "{key}",
    "max_steps": 6000,
    "checkpoint_every": 2000,
    "text_encoder_fraction": 0.1,
    "text_encoder_steps": None,
    "learning_rate": 2e-6,
    "batch_size": 1,
    "seed": 0,
}


def test_runs_are_named_after_swept_values():
    runs = expand_runs({**TRAIN, "sweep": {"text_encoder_fraction": [0.05, 0.1, 0.15, 0.2]}})
    assert list(runs) == ["te~0.05", "te~0.1", "te~0.15", "te~0.2"]
    assert runs["te~0.15"]["text_encoder_fraction"] == 0.15
    two = expand_runs(
        {**TRAIN, "sweep": {"text_encoder_fraction": [0.1], "learning_rate": [1e-6, 2e-6]}}
    )
    assert list(two) == ["te~0.1_lr~1e-06", "te~0.1_lr~2e-06"]
    assert list(expand_runs({**TRAIN, "sweep": {}})) == ["default"]


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
    runs = expand_runs(
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
    runs = expand_runs(
        {
            **TRAIN,
            "sweep": {"text_encoder_fraction": [0.1]},
            "extra_runs": [{"method": "textual_inversion", "learning_rate": 0.005}],
        }
    )
    assert list(runs) == ["te~0.1", "method~ti_lr~0.005"]
    assert runs["method~ti_lr~0.005"]["method"] == "textual_inversion"
    assert list(expand_runs({**TRAIN, "extra_runs": [{"seed": 3}]})) == ["seed~3"]


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
