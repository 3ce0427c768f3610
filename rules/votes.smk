# The artist's blind votes (the report's index.html#compare), ranked by a Bradley-Terry fit.
# A checkpoint: export.checkpoints and animations may name `preferred`, the top-voted
# checkpoint, which is known only once the votes are fitted.
checkpoint fit_votes:
    input:
        votes=votes_files(),
        samples=sample_manifests(),
        scores=score_files(),
    output:
        PREFERENCES,
    log:
        "logs/votes/fit_votes.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        models=param(MODEL_LABELS),
        thresholds=param(score_thresholds()),
        version=stage_version("fit_votes"),
    script:
        "../scripts/fit_votes.py"
