# The artist's blind votes (the report's index.html#compare), ranked by a Bradley-Terry fit.
# A checkpoint: export.checkpoints and animations may name `preferred`, the top-voted
# checkpoint, which is known only once the votes are fitted.
checkpoint fit_votes:
    input:
        votes=votes_files(),
        samples=sample_manifests(),
    output:
        PREFERENCES,
    log:
        "logs/votes/fit_votes.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        models=param(MODEL_LABELS),
        version=stage_version("fit_votes"),
    script:
        "../scripts/fit_votes.py"
