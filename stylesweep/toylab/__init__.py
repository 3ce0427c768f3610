"""The lab of `builtin:toy`: it trains the parts the runtime (`stylesweep.toy`) ships, and
measures them. The parts in `models`, the loop every part shares in `loop`, the training in
`train`, the style-and-content scorer in `scorer`, the evaluation in `evaluate`;
`python -m stylesweep.toylab train` trains every part, `... verify` checks a trained folder.
The workflow never imports it.
"""
