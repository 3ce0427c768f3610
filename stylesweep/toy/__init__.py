"""`builtin:toy` at run time: small SD 1.5-class parts and a small CLIP, trained by the project
on a procedurally drawn, captioned world (`world`), with the configuration in `configs`, the
shipped weights and their manifest in `shipped`, and clip-interrogator's tables on the world in
`interrogator`. What the workflow needs, and nothing that trains: the training and its
evaluation are `stylesweep.toylab` (`python -m stylesweep.toylab train`).
"""
