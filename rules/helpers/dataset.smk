# The dataset stage (rules/dataset.smk): what the stills are, and which video keys count.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
import hashlib

from stylesweep.settings import VIDEO_KEYS
from stylesweep.sources import BUILTIN_STILLS, CAPTION_SUFFIXES, VIDEO_SUFFIXES


def stills_fingerprint():
    """Names, sizes and times of the user's stills: an edit, addition or removal of any
    file changes it and reruns the dataset. A param rather than inputs, so that any file
    name works (Snakemake reads braces and angle brackets in paths as patterns). Caption
    sidecars are left out: their job is read_sidecars (rules/captions.smk)."""
    stills = config["dataset"]["stills"]
    if stills == BUILTIN_STILLS:
        return ""
    digest = hashlib.sha256()
    undecodable = []
    files = Path(stills).rglob("*")
    for path in sorted(
        p for p in files if p.is_file() and p.suffix.lower() not in CAPTION_SUFFIXES
    ):
        info = path.stat()
        # A name that is not UTF-8 (Linux allows any bytes) is hashed as its bytes: the
        # surrogates Python reads them as cannot be encoded otherwise.
        name = str(path.relative_to(stills)).encode("utf-8", "surrogateescape")
        digest.update(name + f"\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.append(name.decode("utf-8", "backslashreplace"))
    if undecodable and workflow.is_main_process:
        shown = ", ".join(f"'{name}'" for name in undecodable[:3])
        print(
            f"stylesweep: warning: dataset.stills: {len(undecodable)} file name(s) not valid "
            f"UTF-8 ({shown}): used, shown with \\x escapes "
            "in the manifest and report; rename them to keep their names readable",
            file=sys.stderr,
        )
    return digest.hexdigest()


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
