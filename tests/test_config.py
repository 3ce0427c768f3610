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


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("learning_rate: 1e-4", "'1e-4' is not of type 'number'; YAML reads 1e-4 as text "
         "(PyYAML needs a dot and a signed exponent): write 1.0e-4"),
        ("learning_rate: 1.5E4", "write 1.5e+4"),
        ("learning_rate: '1.0e-4'", "it is in quotes, so YAML reads it as text: remove the quotes"),
        ("max_steps: 1e3", "'1e3' is not of type 'integer'; YAML reads 1e3 as text: write it "
         "as digits, 1000"),
    ],
)  # fmt: skip
def test_a_number_in_exponent_form_read_as_text_gets_the_fix(line, hint):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["train"].update(yaml.safe_load(line))  # PyYAML reads each value as a string
    with pytest.raises(ConfigError) as error:
        check_config(config, REPO / "schemas" / "config.schema.yaml")
    assert str(error.value).startswith(f"config key 'train.{line.split(':')[0]}': ")
    assert str(error.value).endswith(hint)


def test_the_librarys_names_are_the_schemas_enums():
    """One source of allowed values: each list of names in the library equals its enum."""
    from stylesweep import conditioning, dataset, interrogate, methods, sample, train
    from stylesweep.config import load_schema

    schema = load_schema(SCHEMA)
    defs, top = schema["$defs"], schema["properties"]

    def enum(section: str, key: str) -> list:
        return top[section]["properties"][key]["enum"]

    pairs = {
        "methods.METHODS": (methods.METHODS, defs["method"]["enum"]),
        "train.LR_SCHEDULES": (train.LR_SCHEDULES, defs["lr_schedule"]["enum"]),
        "train.OPTIMIZERS": (train.OPTIMIZERS, defs["optimizer"]["enum"]),
        "train.CAPTIONS": (train.CAPTIONS, defs["captions"]["enum"]),
        "train.MIXED_PRECISION": (train.MIXED_PRECISION, enum("train", "mixed_precision")),
        "sample.SAMPLERS": (sample.SAMPLERS, defs["sampler"]["enum"]),
        "conditioning.EMPHASIS": (conditioning.EMPHASIS, enum("sample", "emphasis")),
        "dataset.CROPS": (dataset.CROPS, enum("dataset", "crop")),
        "interrogate.MODES": (
            interrogate.MODES,
            top["prompts"]["properties"]["interrogator"]["properties"]["mode"]["enum"],
        ),
    }
    for name, (library, allowed) in pairs.items():
        assert sorted(library) == sorted(allowed), name
    from stylesweep.single_file import DTYPES

    assert set(enum("export", "precision")) <= set(DTYPES)


def test_the_conda_environment_lists_pyprojects_dependencies():
    """envs/stylesweep.yaml (for --sdm conda) cannot drift from pyproject.toml."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "stylesweep.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert [p for p in pip if p != "-e ../"] == project["dependencies"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace(" ", "").replace("python=", "") in project["requires-python"]


def gpu_rules() -> set[str]:
    """The rules whose resources declare a GPU."""
    import re

    rules = set()
    for path in (REPO / "rules").glob("*.smk"):
        parts = re.split(r"^rule (\w+):$", path.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if re.search(r"^\s+gpu=1,", body, re.M):
                rules.add(name)
    return rules


def test_the_slurm_profile_asks_gpus_for_exactly_the_gpu_rules():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    asked = {rule for rule, res in profile["set-resources"].items() if res.get("gpu")}
    assert gpu_rules() and asked == gpu_rules()


def test_the_snakefile_header_points_at_files_that_exist():
    import re

    header = (REPO / "Snakefile").read_text().split("\nfrom ")[0]
    named = re.findall(r"[\w./-]+\.(?:md|yaml|smk)", header)
    assert named
    for name in named:
        assert (REPO / name).is_file(), name


def test_subjects_given_in_a_later_config_file_replace_the_demos_whole(tmp_path):
    from stylesweep.config import workflow_config

    schema = REPO / "schemas" / "config.schema.yaml"
    assert workflow_config(REPO, [], schema)["prompts"]["subjects"] == "builtin:toy"
    none, mine = tmp_path / "none.yaml", tmp_path / "mine.yaml"
    none.write_text("prompts: {subjects: {}}\n")
    mine.write_text("prompts: {subjects: {cat: 'a cat, sofa'}}\n")
    # Snakemake would merge {} into the demo's suite and keep it
    assert workflow_config(REPO, [none], schema)["prompts"]["subjects"] == {}
    assert workflow_config(REPO, [mine], schema)["prompts"]["subjects"] == {"cat": "a cat, sofa"}
    assert workflow_config(REPO, [mine, none], schema)["prompts"]["subjects"] == {}
