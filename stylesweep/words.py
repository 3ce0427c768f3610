"""Words first, as the blog began: what CLIP Interrogator says about the stills, and the
style words that stand in for the key in the words-only control model (`words`).

"Feeding some stills of my work into CLIP Interrogator yielded a couple interesting
keywords", the blog says, then: "Feeding that back into Stable Diffusion did not turn out
what I'm after." Every still is interrogated with the portrait's settings. Each
descriptor of clip-interrogator's tables (artists, mediums, movements, flavours) is ranked by
how much better it fits the stills than the portrait it is meant to restyle (its *lift*), so
that words the two share (a person, a photo) drop out and what is left describes the style.
"""

from __future__ import annotations

import logging
from pathlib import Path

from stylesweep.settings import PromptSettings

log = logging.getLogger(__name__)

STYLE_TABLES = ("artists", "mediums", "movements", "flavors")
KEPT_PER_TABLE = 20  # descriptors of each table written out, best first


def table_similarities(interrogator, features) -> dict[str, tuple[list[str], object]]:
    """Each style table's labels and their similarity to each picture (pictures x labels)."""
    import numpy as np
    import torch

    tables = {}
    for name in STYLE_TABLES:
        table = getattr(interrogator, name)
        if not table.labels:  # the toy world has no artists or movements
            continue
        embeds = torch.from_numpy(np.stack([np.asarray(e, dtype=np.float32) for e in table.embeds]))
        tables[name] = (table.labels, features.float().cpu() @ embeds.T)
    return tables


def rank_descriptors(stills: dict, reference: dict | None) -> dict[str, list[dict]]:
    """Each table's descriptors, by lift over the reference pictures (by plain similarity
    without any), with how many stills each topped and its mean similarity to them."""
    ranked = {}
    for name, (labels, similarity) in stills.items():
        mean = similarity.mean(0)
        lift = mean - reference[name][1].mean(0) if reference else mean
        topped = similarity.argmax(1).bincount(minlength=len(labels))
        order = lift.argsort(descending=True)[:KEPT_PER_TABLE].tolist()
        ranked[name] = [
            {
                "text": labels[i],
                "topped": int(topped[i]),
                "similarity": round(float(mean[i]), 4),
                "lift": round(float(lift[i]), 4),
            }
            for i in order
        ]
    return ranked


def style_words(descriptors: dict[str, list[dict]], count: int | None = None) -> list[str]:
    """The stills' style words, best first: each table's best in turn (artist, medium,
    movement, flavour), as clip-interrogator's classic prompt takes one of each kind."""
    words: list[str] = []
    for row in range(max((len(d) for d in descriptors.values()), default=0)):
        for name in STYLE_TABLES:
            entries = descriptors.get(name, [])
            if row < len(entries) and entries[row]["text"] not in words:
                words.append(entries[row]["text"])
    return words[:count] if count is not None else words


def words_key(stills: dict, count: int) -> str:
    """The text that stands in for the key in the words control: the top `count` style
    words, comma separated (an emphasis weight then applies to all of them)."""
    words = style_words(stills["descriptors"], count)
    if not words:
        raise ValueError(
            "the stills' interrogation found no style words (every descriptor table is empty); "
            "set prompts.words_baseline: 0"
        )
    return ", ".join(words)


def words_variants(
    stills: dict, count: int, base_prompts: list[str], settings: PromptSettings
) -> list[dict]:
    """The words control's prompt variants: prompt_variants' with the top `count` style
    words where the key goes, each naming the words it used."""
    from stylesweep.prompts import make_variants

    key = words_key(stills, count)
    return [{**variant, "words": key} for variant in make_variants(base_prompts, key, settings)]


def interrogate_stills(
    interrogator, *, dataset_dir: str | Path, portraits: list[str | Path], settings: dict
) -> dict:
    """Interrogate every still and kept frame of the dataset with `interrogator` (made from
    `settings` by stylesweep.interrogate.load_interrogator); rank the descriptors."""
    import torch
    from PIL import Image
    from tqdm import tqdm

    from stylesweep.files import read_json
    from stylesweep.interrogate import interrogate

    images = read_json(Path(dataset_dir) / "manifest.json")["images"]
    stills, features = [], []
    for entry in tqdm(images, desc="interrogating stills", unit="still"):
        path = Path(dataset_dir) / entry["file"]
        result = interrogate(interrogator, path, settings["mode"], settings.get("caption", ""))
        stills.append({"file": entry["file"], "source": entry["source"], **result})
        with Image.open(path) as opened, torch.no_grad():
            features.append(interrogator.image_to_features(opened.convert("RGB")))
    reference = []
    for portrait in portraits:
        with Image.open(portrait) as opened, torch.no_grad():
            reference.append(interrogator.image_to_features(opened.convert("RGB")))
    with torch.no_grad():
        ranked = rank_descriptors(
            table_similarities(interrogator, torch.cat(features)),
            table_similarities(interrogator, torch.cat(reference)) if reference else None,
        )
    return {
        "interrogator": settings,
        "reference": [Path(p).name for p in portraits],  # the portraits' file names
        "stills": stills,
        "descriptors": ranked,
        "words": style_words(ranked, KEPT_PER_TABLE),
    }


def words_sentence(summary: dict, models: list[str], style: str, content: str, labels: dict) -> str:
    """How far the words got, in one sentence computed from the scores: the words control's
    style against the base model's and the least and most styled checkpoints' (as trained,
    when strength 1 was rendered), and the content each kept."""
    from stylesweep.sweep import is_control, split_label

    def mean(model: str, metric: str) -> float | None:
        return summary.get(model, {}).get(metric, {}).get("mean")

    trained = [m for m in models if not is_control(m) and mean(m, style) is not None]
    as_trained = [m for m in trained if split_label(m)[1] == 1.0] or trained
    words, base = mean("words", style), mean("base", style)
    if words is None or not as_trained:
        return ""
    least = min(as_trained, key=lambda m: mean(m, style))
    most = max(as_trained, key=lambda m: mean(m, style))
    beaten = sum(mean(m, style) < words for m in as_trained)
    which = "checkpoint" if len(as_trained) == 1 else "checkpoints"
    sentence = (
        f"With the stills' words in place of the key, the base model reached "
        f"{labels[style]} {words:.3f} (with the key: {base:.3f}), more than {beaten} of the "
        f"{len(as_trained)} {which}"
        + (" as trained" if len(as_trained) < len(trained) else "")
        + f", which range from {mean(least, style):.3f} ({least}) to {mean(most, style):.3f} "
        f"({most})"
    )
    kept = [mean(m, content) for m in as_trained if mean(m, content) is not None]
    if mean("words", content) is not None and kept:
        sentence += (
            f"; {labels[content]}: {mean('words', content):.3f} with the words, "
            f"{min(kept):.3f} to {max(kept):.3f} with the checkpoints"
        )
    return sentence + "."


def words_section(stills: dict, words: list[str], sentence: str, shown: int = 10) -> dict:
    """The report's "What the words say": each still's prompt, the ranked descriptors, the
    words the control used and how far they got."""
    return {
        "words": words,
        "sentence": sentence,
        "interrogator": stills["interrogator"],
        "reference": stills["reference"],
        "stills": stills["stills"],
        "descriptors": {name: rows[:shown] for name, rows in stills["descriptors"].items()},
    }
