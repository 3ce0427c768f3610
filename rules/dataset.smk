# The keys of dataset: that say what is done with a video (stylesweep/video.py reads them).
VIDEO_KEYS = (
    "video_every_seconds",
    "video_scene_threshold",
    "video_max_frames",
    "blur_threshold",
    "dedupe_distance",
)
# Files that may give frames: videos, and GIFs (an animated one is read as a video).
FRAME_SUFFIXES = VIDEO_SUFFIXES | {".gif"}


def video_settings():
    """The video keys of dataset:, or None when the stills folder holds no video or GIF:
    they only change frames, so an edit of them then reruns nothing. The demo's stills
    hold a clip."""
    stills = config["dataset"]["stills"]
    if stills != BUILTIN_STILLS and not any(
        path.suffix.lower() in FRAME_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(stills).parts)
        for path in Path(stills).rglob("*")
    ):
        return None
    return {key: config["dataset"][key] for key in VIDEO_KEYS}


rule make_demo_stills:
    output:
        directory("results/demo/stills"),
    log:
        "logs/dataset/make_demo_stills.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        images=param(config["dataset"]["demo_count"]),
        version=stage_version("make_demo_stills"),
    script:
        "../scripts/make_demo_stills.py"


rule prepare_dataset:
    input:
        stills=stills_folder(),
    output:
        directory("results/dataset"),
    log:
        "logs/dataset/prepare_dataset.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        stills=param(stills_fingerprint()),
        resolution=param(config["dataset"]["resolution"]),
        crop=param(config["dataset"]["crop"]),
        video=param(video_settings()),
        version=stage_version("prepare_dataset"),
    script:
        "../scripts/prepare_dataset.py"
