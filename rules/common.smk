# What two or more stages share: the config checked, the sweep expanded, param(), the
# paths several rules read, and the votes' `preferred` checkpoint. Each stage's own helpers
# are in rules/helpers/<stage>.smk, which its rule file includes first.
#
# Only light modules are imported here (no torch, diffusers or PIL): every `snakemake`
# call, and every job, parses this file first.
import functools
import json
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stylesweep.config import (
    ConfigError,
    canonical,
    check_config,
    load_schema,
    replace_explicit,
    train_keys,
)
from stylesweep.keys import BadKey, check_keys, check_train_key
from stylesweep.sources import (
    BUILTIN_PORTRAIT,
    BUILTIN_STILLS,
    DRAWN_PORTRAIT,
    HEIF_SUFFIXES,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    BaseModelError,
    astronaut_path,
    check_builtin,
    check_single_file,
    is_builtin,
    is_single_file,
    resolve_base_model,
)
from stylesweep.stages import stage_version
from stylesweep.sweep import (
    checkpoint_steps,
    expand_runs,
    is_control,
    model_labels,
    model_name,
    rendered_models,
)
from stylesweep.votes import VotesError, read_votes

SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
STILL_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


def override_files():
    """The --configfile files over config.yaml, as (path, content); unreadable ones are
    left to Snakemake's own message."""
    files = []
    for path in workflow.overwrite_configfiles or []:
        try:
            files.append((str(path), yaml.safe_load(Path(path).read_text()) or {}))
        except (OSError, yaml.YAMLError):
            continue
    return files


SWEEP_SOURCE = replace_explicit(config, override_files()) or "config.yaml"

try:
    check_train_key(config)  # before the schema, whose pattern for the key says no why
    check_config(config, SCHEMA)
except (ConfigError, BadKey) as error:
    raise WorkflowError(str(error)) from None
validate(config, str(SCHEMA), set_default=True)

try:
    RUNS = expand_runs(config["train"], train_keys(load_schema(SCHEMA)))
    check_keys(config["train"]["key"], RUNS)  # a file name; a textual-inversion key
except ValueError as error:
    raise WorkflowError(str(error)) from None
# The controls: the base model, and the base model prompted with the stills' own words in
# place of the key (prompts.words_baseline; rules/prompts.smk). They have no strength.
RENDERED = rendered_models(RUNS, config["prompts"]["words_baseline"])
CONTROLS = [model for model in RENDERED if is_control(model)]
SAMPLE_GROUPS = [*CONTROLS, *RUNS]  # one sample (and score) job each
# every model at every strength of sample.strengths, as scores and the report name them
MODEL_LABELS = model_labels(RENDERED, config["sample"]["strengths"])
if workflow.is_main_process:
    print(
        f"stylesweep: {len(RUNS)} training runs from train.sweep of {SWEEP_SOURCE} and "
        f"train.extra_runs: {', '.join(RUNS)}",
        file=sys.stderr,
    )


wildcard_constraints:
    run="[^/]+",
    step="[0-9]+",
    group="[^/]+",


def param(value):
    """A config value as a param of a rule, canonical (dict keys sorted, so key order in
    config.yaml never reruns a job) and passed through a function, so that Snakemake never
    reads braces in a prompt or title as wildcards."""
    value = canonical(value)
    return lambda wildcards: value


def _existing(key, path):
    if not Path(path).exists():
        raise WorkflowError(
            f"config key '{key}': {path} does not exist; fix the path in config.yaml"
        )
    return path


def input_path(key, path):
    """A path from the config as a Snakemake input. Snakemake reads braces in an input path
    as wildcards and angle brackets as path variables, with no escape, so such a path gets
    one clear line instead of Snakemake's error."""
    if any(c in str(path) for c in "{}<>"):
        raise WorkflowError(
            f"config key '{key}': {path} has {{, }}, < or > in its name, which Snakemake reads "
            "as a wildcard; rename it (files inside the stills folder may have any name)"
        )
    return str(path)


def stills_folder():
    """The demo stills (made by a rule) or the user's stills folder."""
    stills = config["dataset"]["stills"]
    if stills == BUILTIN_STILLS:
        return "results/demo/stills"
    if not Path(_existing("dataset.stills", stills)).is_dir():
        raise WorkflowError(f"config key 'dataset.stills': {stills} is not a folder")
    suffixes = {path.suffix.lower() for path in Path(stills).rglob("*")}
    if not suffixes & STILL_SUFFIXES:
        heif = (
            "; its HEIC/HEIF photos need converting to PNG, JPEG or AVIF first"
            * bool(suffixes & HEIF_SUFFIXES)
        )
        raise WorkflowError(
            f"config key 'dataset.stills': {stills} holds no image or video "
            f"({', '.join(sorted(STILL_SUFFIXES))}){heif}; put your stills there"
        )
    return input_path("dataset.stills", stills)


@functools.cache  # resolved once: every rule and many input functions ask for it
def base_model_dir():
    """The base model's folder: made by a rule (a built-in model, or converted from a
    single file), local, or a hub id from the local cache."""
    base = config["base_model"]
    try:
        if is_builtin(base):
            check_builtin(base)
            return "results/base/model"
        if is_single_file(base):
            check_single_file(base)
            return "results/base/model"
        return input_path("base_model", resolve_base_model(base))
    except BaseModelError as error:
        raise WorkflowError(f"config key 'base_model': {error}") from None


BASE_HASH = "results/base/model_hash.json"


def as_list(value):
    return value if isinstance(value, list) else [value]


DRAWN_PORTRAIT_PATH = "results/prompts/drawn_portrait.png"


def portrait_path(portrait):
    if portrait == BUILTIN_PORTRAIT:
        return str(astronaut_path())
    if portrait == DRAWN_PORTRAIT:
        return DRAWN_PORTRAIT_PATH
    return input_path("prompts.portrait", _existing("prompts.portrait", portrait))


def checkpoint_dir(model):
    return f"results/train/{model}"


def group_models(group):
    """The models one sample job renders: a control (`base`, `words`), or every checkpoint
    of a run."""
    if group in CONTROLS:
        return {group: None}
    if group not in RUNS:
        raise WorkflowError(f"no training run named {group} (runs: {', '.join(RUNS)})")
    return {
        model_name(group, step): checkpoint_dir(model_name(group, step))
        for step in checkpoint_steps(RUNS[group])
    }


def sample_manifests():
    return [f"results/samples/{group}/images.json" for group in SAMPLE_GROUPS]


def score_files():
    return [f"results/scores/{group}.json" for group in SAMPLE_GROUPS]


PREFERENCES = "results/votes/preferences.json"


def votes_files():
    """report.votes: one votes.json or a list of them; none: []."""
    votes = config["report"]["votes"]
    if votes is None:
        return []
    paths = [votes] if isinstance(votes, str) else votes
    paths = [input_path("report.votes", _existing("report.votes", p)) for p in paths]
    try:  # a file that is no votes file is named now, before any job
        read_votes(paths)
    except VotesError as error:
        raise WorkflowError(f"config key 'report.votes': {error}") from None
    return paths


def score_thresholds():
    """What disqualifies a model from a recommendation (copies, collapse)."""
    return {k: config["score"][k] for k in ("copy_threshold", "collapse_ratio")}


def check_preferred(key):
    """`preferred` (the top-voted checkpoint) needs votes to be known."""
    if not votes_files():
        raise WorkflowError(
            f"config key '{key}': preferred is the top-voted checkpoint, and report.votes "
            "names no votes; vote in the report (index.html#compare), then set report.votes"
        )


def preferred_checkpoint(key):
    """The top-voted checkpoint, once the votes are fitted (a Snakemake checkpoint)."""
    check_preferred(key)
    fitted = json.loads(Path(checkpoints.fit_votes.get().output[0]).read_text())
    if fitted.get("preferred_checkpoint") is None:
        raise WorkflowError(
            f"config key '{key}': preferred: no checkpoint has a vote yet in "
            f"{', '.join(fitted['files'])}"
        )
    return fitted["preferred_checkpoint"]


# The training captions a run reads (rules/captions.smk makes them; train reads them).
AUTO_CAPTIONS = "results/captions/auto.json"
SIDECAR_CAPTIONS = "results/captions/sidecar.json"


def captions_file(run_settings):
    """The training captions a run reads: auto or sidecar; None for the others."""
    if run_settings["method"] == "textual_inversion":
        return None  # it captions with its own templates
    return {"auto": AUTO_CAPTIONS, "sidecar": SIDECAR_CAPTIONS}.get(
        run_settings["captions"]
    )


WORDS_VARIANTS = "results/prompts/words.json"


def check_disk_plan():
    """Print the plan's summary line; stop before the first job when the free space under
    results/ is smaller than what the plan still has to write (stylesweep.plan)."""
    from stylesweep.plan import make_plan, preflight

    plan = make_plan(config, train_keys(load_schema(SCHEMA)))
    try:
        print(f"stylesweep plan: {preflight(plan)}", file=sys.stderr)
    except OSError as error:
        raise WorkflowError(str(error)) from None
