"""`builtin:toy`: small SD 1.5-class parts and a small CLIP, trained by the project on a
procedurally drawn, captioned world (`world`), with the configuration in `configs`, the
parts in `models` and the training in `train` (`python -m stylesweep.toy train`).
"""
