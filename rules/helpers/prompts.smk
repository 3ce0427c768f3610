# The prompts (rules/prompts.smk): placements and subjects checked, the portraits and
# the interrogator's settings.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.prompts import PromptError, check_placements
from stylesweep.settings import prompt_settings
from stylesweep.subjects import SubjectError, resolve_subjects

try:  # a placement template without {key} would stop the prompt_variants job
    check_placements(config["prompts"]["placements"])
except PromptError as error:
    raise WorkflowError(f"config key 'prompts.placements': {error}") from None


try:
    SUBJECTS = resolve_subjects(config["prompts"]["subjects"])
except SubjectError as error:
    raise WorkflowError(f"config key 'prompts.subjects': {error}") from None


def base_prompt_texts():
    return [text for text in as_list(config["prompts"]["base_prompt"]) if text.strip()]


def interrogation_settings():
    """What interrogating a picture depends on: the stand-in caption only when there is
    no caption model."""
    settings = dict(config["prompts"]["interrogator"])
    if settings["caption_model"] is not None:
        settings.pop("caption")
    return settings


def interrogator_settings():
    """What the base prompt depends on: nothing when it is written in config."""
    return None if base_prompt_texts() else interrogation_settings()


def portrait_paths():
    """The portraits to interrogate; none when the base prompts are written in config."""
    if base_prompt_texts():
        return []
    return [
        portrait_path(portrait) for portrait in as_list(config["prompts"]["portrait"])
    ]


def reference_portraits():
    """The pictures the style words must fit less well than the stills: the portraits."""
    return [portrait_path(p) for p in as_list(config["prompts"]["portrait"])]
