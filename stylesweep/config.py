"""Config validation: one clear line per mistake, then the schema's defaults filled in."""

from __future__ import annotations

from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


class ConfigError(ValueError):
    """A config.yaml mistake, named by its key."""


def check_config(config: dict, schema_file: str | Path) -> None:
    """Raise ConfigError naming the first offending key (jsonschema's best match)."""
    schema = yaml.safe_load(Path(schema_file).read_text())
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        key = ".".join(filter(None, [".".join(str(p) for p in error.absolute_path), unknown[0]]))
        raise ConfigError(
            f"config key '{key}' is unknown; known keys here: {', '.join(known)} "
            "(see the comments in config.yaml)"
        )
    raise ConfigError(f"config key '{where}': {error.message}")
