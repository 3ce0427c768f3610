include: "helpers/animate.smk"


# The demo's soundtrack (an animation's `soundtrack: builtin:demo`): a few seconds of synth
# tones on a steady beat, made like the demo's clip.
rule make_demo_soundtrack:
    output:
        DEMO_SOUNDTRACK,
    log:
        "logs/animate/make_demo_soundtrack.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        version=stage_version("make_demo_soundtrack"),
    script:
        "../scripts/make_demo_soundtrack.py"


# Deforum-style animations with the sweep's models: one job per named animation. Its frames
# are cached in results/animate/<name>/frames/ (not an output: Snakemake would delete them),
# so a killed job resumes, and a longer animation renders only its new frames.
rule animate:
    input:
        unpack(animate_inputs),
    output:
        video="results/animate/{animation}/animation.mp4",
        preview="results/animate/{animation}/preview.gif",
        settings="results/animate/{animation}/settings.json",
    log:
        "logs/animate/{animation}.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        animation=lambda wildcards: animation_settings(wildcards.animation),
        models=lambda wildcards: animation_used_models(wildcards.animation),
        media=lambda wildcards: animation_files_used(wildcards.animation),
        text=param(animation_text_settings()),
        version=stage_version("animate"),
    script:
        "../scripts/animate.py"
