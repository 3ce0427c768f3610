# Validation loss (rules/validate.smk): the models measured and the prompt.
# Functions only: `snakemake --lint` refuses functions and rules in one file.


def validation_models():
    """Every model the report compares: the base model, then each run's checkpoints."""
    models = {"base": None}
    for run in RUNS:
        models |= group_models(run)
    return models


def validation_prompt():
    """The instance prompt with the key, as config.yaml's train section writes them."""
    train = config["train"]
    return train["instance_prompt"].format(key=train["key"])
