import pytest
import yaml
from snakemake.utils import validate

from stylesweep.config import ConfigError, check_config

from .conftest import REPO

SCHEMA = REPO / "schemas" / "config.schema.yaml"


def shipped_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_config_is_valid_and_defaults_fill_in():
    config = shipped_config()
    check_config(config, SCHEMA)
    minimal = {"train": {"key": "k"}}
    check_config(minimal, SCHEMA)
    validate(minimal, str(SCHEMA), set_default=True)
    assert minimal["train"]["max_steps"] == 6000
    assert minimal["sample"]["sampler"] == "Euler a"


def test_unknown_key_is_named():
    config = shipped_config()
    config["train"]["lerning_rate"] = 1e-5
    with pytest.raises(ConfigError, match=r"config key 'train.lerning_rate' is unknown"):
        check_config(config, SCHEMA)
    config = shipped_config()
    config["colour"] = 1
    with pytest.raises(ConfigError, match=r"config key 'colour' is unknown"):
        check_config(config, SCHEMA)


def test_wrong_type_is_named():
    config = shipped_config()
    config["sample"]["seeds"] = [1, "two"]
    with pytest.raises(ConfigError, match=r"config key 'sample.seeds.1': 'two' is not of type"):
        check_config(config, SCHEMA)
    config = shipped_config()
    config["sample"]["sampler"] = "Euler b"
    with pytest.raises(ConfigError, match=r"sample.sampler"):
        check_config(config, SCHEMA)
