import hashlib

import numpy as np
from PIL import Image

from stylesweep.demo import write_demo_stills
from stylesweep.sources import astronaut_path


def test_demo_stills_are_deterministic_and_distinct(tmp_path):
    first = write_demo_stills(tmp_path / "a", count=12, size=96)
    second = write_demo_stills(tmp_path / "b", count=12, size=96)
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in first]
    assert digests == [hashlib.sha256(p.read_bytes()).hexdigest() for p in second]
    assert len(set(digests)) == 12
    for path in first:
        pixels = np.asarray(Image.open(path))
        assert pixels.shape == (96, 96, 3)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) >= 3  # hard colour, several of them


def test_the_demo_portrait_ships_with_scikit_image():
    with Image.open(astronaut_path()) as image:
        assert image.size == (512, 512)
