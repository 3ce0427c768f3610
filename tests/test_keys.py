"""The trigger key: a safe file name everywhere, and a textual-inversion key that matches only
itself and whose every vector trains."""

from __future__ import annotations

import pytest
import torch

from stylesweep.base import load_components
from stylesweep.checkpoints import apply_embeddings
from stylesweep.conditioning import encode_prompts
from stylesweep.export import ExportError, export_embedding
from stylesweep.keys import BadKey, check_file_name, check_keys, sd15_vocabulary
from stylesweep.methods import TextualInversion
from tests.conftest import train_settings

UNSAFE = ["AC/DC", "../../../../x", "a\\b", ".hidden", "..", "line\nbreak", "tab\tkey", "nul\0"]
WORDS = "tasks, asks, risks and whisks"


@pytest.mark.parametrize("key", UNSAFE)
def test_a_key_that_is_no_safe_file_name_is_refused(key):
    with pytest.raises(BadKey, match="config key 'train.key'.*use letters"):
        check_file_name(key)


@pytest.mark.parametrize("key", ["vsynth", "my-style", "v_synth2", "sks", "ünï"])
def test_a_plain_key_is_a_file_name(key):
    check_file_name(key)


@pytest.mark.parametrize("key", ["AC/DC", "../../../../x"])
def test_export_never_writes_an_embedding_outside_its_folder(tmp_path, key):
    out = tmp_path / "a" / "b" / "c" / "d" / "export"
    with pytest.raises(ExportError, match="use letters"):
        export_embedding(tmp_path, {"settings": {"key": key}}, out)
    assert not any(path.suffix == ".safetensors" for path in tmp_path.rglob("*"))


def test_a_known_word_is_refused_as_a_textual_inversion_key_only():
    runs = {"ti": {"key": "art", "method": "textual_inversion", "num_vectors": 2}}
    with pytest.raises(BadKey, match="'art'.*like 'vsynth'"):
        check_keys("art", runs)
    check_keys("art", {"db": {"key": "art", "method": "dreambooth"}})
    check_keys("vsynth", {"ti": {**runs["ti"], "key": "vsynth"}})
    assert "vsynth" not in sd15_vocabulary() and "vsynth</w>" not in sd15_vocabulary()


@pytest.mark.parametrize("key", ["art", "Art"])
def test_textual_inversion_refuses_a_key_of_the_vocabulary(tiny_model, key):
    """Such a key's first token kept a real row's id: that row was overwritten and, as
    prompts read the word as `art</w>`, its vector never trained."""
    method = TextualInversion(train_settings(method="textual_inversion", key=key, num_vectors=2))
    with pytest.raises(BadKey, match="vocabulary already holds"):
        method.prepare(load_components(tiny_model))


def test_a_textual_inversion_key_matches_only_the_whole_key(tiny_model):
    components = load_components(tiny_model)  # its own: the key's tokens are added to it
    tokenizer, encoder = components.tokenizer, components.text_encoder
    before = tokenizer(WORDS).input_ids
    conditioning = encode_prompts(WORDS, "", tokenizer, encoder)[0]
    width = encoder.get_input_embeddings().weight.shape[1]
    apply_embeddings(components, {"sks": torch.randn(2, width)})
    assert tokenizer(WORDS).input_ids == before
    assert torch.equal(encode_prompts(WORDS, "", tokenizer, encoder)[0], conditioning)
    sks, sks_1 = tokenizer.convert_tokens_to_ids(["sks", "sks_1"])
    assert tokenizer("sks sks_1, (sks:1.2) sks's", add_special_tokens=False).input_ids[:3] == [
        sks,
        sks_1,
        tokenizer.convert_tokens_to_ids(",</w>"),
    ]
    assert tokenizer("(sks:1.2)", add_special_tokens=False).input_ids.count(sks) == 1
