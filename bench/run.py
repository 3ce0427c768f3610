"""One benchmark table: stylesweep against its stock (diffusers or plain) baseline, measured in
the same run on the same machine, printed as markdown with the date, machine and versions.

Rows: DreamBooth training steps/s (bench_training), grid sampling images/s (bench_sampling),
animation diffused frames/s (bench_animate), a restyled clip with optical flow and
interpolation against the same without them (what they add), scoring images/s
(stylesweep.score against one image at a time through open_clip), report build time
(bench_report), a job's start-up imports (bench_imports); --rows picks some of them. Each
measurement runs in a fresh process, so its peak memory is its own: on CUDA
torch.cuda.max_memory_allocated, on CPU the process's peak resident set (VmHWM; getrusage's
ru_maxrss in a child started from a large parent can report the parent's size).

    python bench/run.py                                   # tiny model, CPU, 64 px
    python bench/run.py --device cuda                     # SD 1.5 size, random weights, 512 px
    python bench/run.py --rows animation --threads 1      # one row
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import torch

SD15_TFLOP = 0.80  # one UNet forward of one image at 64x64 latents (512 px)
CFGS = [3.0, 7.0]
ROWS = {
    "training": "DreamBooth training, batch 1 (steps/s)",
    "sampling": "grid sampling (images/s)",
    "animation": "animation (diffused frames/s)",
    "restyle": "restyled clip, optical flow and interpolation (diffused frames/s)",
    "scoring": "scoring (images/s)",
    "report": "report build (s)",
    "imports": "sample job start-up: imports (s)",
}


def rows(text: str) -> list[str]:
    """--rows: names of ROWS, comma-separated, measured in ROWS' order."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ROWS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown row {', '.join(unknown) or repr(text)}: use some of {', '.join(ROWS)}"
        )
    return [row for row in ROWS if row in names]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", choices=["tiny", "sd15"], help="tiny on CPU, sd15 on CUDA")
    parser.add_argument("--size", type=int, help="image side, px: 64 for tiny, 512 for sd15")
    parser.add_argument("--steps", type=int, default=25, help="sampling steps")
    parser.add_argument("--seeds", type=int, default=16, help=f"sampling grid: seeds x {CFGS}")
    parser.add_argument("--batch", type=int, default=32, help="images per UNet call (ours)")
    parser.add_argument("--frames", type=int, help="animation frames: 12 for tiny, 24 for sd15")
    parser.add_argument("--train-steps", type=int, help="100 for tiny, 60 for sd15")
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"],
                        help="training, both loops: bf16 on CUDA, no on CPU")  # fmt: skip
    parser.add_argument("--report-models", type=int, default=4, help="models in the report")
    parser.add_argument("--report-seeds", type=int, default=4, help="seeds in the report")
    parser.add_argument("--thumbnail", type=int, help="report thumbnails, px: min(256, size/2)")
    parser.add_argument("--import-repeat", type=int, default=3, help="imports: best of N")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--peak-tflops", type=float, help="device peak (CUDA: 800, H100 bf16)")
    choices = ",".join(ROWS)
    parser.add_argument("--rows", type=rows, default=list(ROWS), help=f"some of {choices}")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, in its own process
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    args.model = args.model or ("sd15" if cuda else "tiny")
    args.size = args.size or (512 if args.model == "sd15" else 64)
    args.train_steps = args.train_steps or (60 if args.model == "sd15" else 100)
    args.frames = args.frames or (24 if args.model == "sd15" else 12)
    args.mixed_precision = args.mixed_precision or ("bf16" if cuda else "no")
    args.thumbnail = args.thumbnail or min(256, args.size // 2)
    if args.peak_tflops is None and cuda:
        args.peak_tflops = 800.0
    return args


# --- one measurement, in a child process ---------------------------------------------------


def peak_memory_mib(device: str) -> float:
    """Peak GPU memory allocated by torch (CUDA), or this process's peak resident set."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mib()


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss (kB on Linux, bytes on macOS)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def clip_for(model: str, device: str):
    """Scoring's CLIP: the tiny built-in one, or ViT-L-14 (SD 1.5's) with random weights."""
    from stylesweep.clip_model import load_clip

    if model == "tiny":
        return load_clip("builtin:tiny", device)
    import open_clip

    torch.manual_seed(0)
    clip, _, preprocess = open_clip.create_model_and_transforms("ViT-L-14", pretrained=None)
    return clip.to(device).eval(), preprocess, open_clip.get_tokenizer("ViT-L-14")


def naive_scores(clip, inputs: dict, manifest: Path, base: Path, device: str, out: Path) -> None:
    """The plain way to score: the same measures as stylesweep.score, each image on its own
    through CLIP and the style scorer (batch 1) and numpy's histogramdd; the stills'
    centroids and the prompts' features computed once."""
    import numpy as np
    from PIL import Image
    from skimage.metrics import structural_similarity

    from stylesweep.evidence import nearest_still, tiny_image
    from stylesweep.files import read_json, write_json
    from stylesweep.style_content import embed, load

    model, preprocess, tokenizer = clip
    scorer = load("builtin:toy", None, device)

    def histogram(image: Image.Image) -> np.ndarray:
        counts = np.histogramdd(np.asarray(image).reshape(-1, 3), bins=8, range=[(0, 256)] * 3)[0]
        return counts.ravel() / counts.sum()

    def feature(image: Image.Image) -> torch.Tensor:
        f = model.encode_image(preprocess(image)[None].to(device)).float()[0]
        return f / f.norm()

    def rgb(path: Path) -> Image.Image:
        with Image.open(path) as image:
            return image.convert("RGB")

    dataset = Path(inputs["dataset_dir"])
    stills = [rgb(dataset / e["file"]) for e in read_json(dataset / "manifest.json")["images"]]
    with torch.no_grad():
        still_embeddings = [embed(scorer, [s], device) for s in stills]
        style_centroid = torch.cat([e["style"] for e in still_embeddings]).mean(dim=0)
        style_centroid = style_centroid / style_centroid.norm()
        still_tiny = np.stack([tiny_image(s) for s in stills])
        still_files = [e["file"] for e in read_json(dataset / "manifest.json")["images"]]
        still_histogram = np.mean([histogram(s) for s in stills], axis=0)
        centroid = torch.stack([feature(s) for s in stills]).mean(dim=0)
        centroid = centroid / centroid.norm()
        prompts, subjects = {}, {}
        for variant in read_json(inputs["variants_file"]):
            subjects[variant["name"]] = variant.get("subject", "portrait")
            f = model.encode_text(tokenizer([variant["base_prompt"]]).to(device)).float()[0]
            prompts[variant["name"]] = f / f.norm()
        bases = {(e["variant"], e["seed"], e["cfg_scale"]): base.parent / e["file"]
                 for e in read_json(base)["images"]}  # fmt: skip
        rows = []
        for entry in read_json(manifest)["images"]:
            image = rgb(manifest.parent / entry["file"])
            f = feature(image)
            mine = embed(scorer, [image], device)
            colour = np.minimum(histogram(image), still_histogram).sum()
            row = {
                **entry,
                "subject": subjects[entry["variant"]],
                "style_csd": float(mine["style"][0] @ style_centroid),
                "content": None,
                "fidelity_dino": None,
                "style_colour": float(colour),
                "style_clip": float(f @ centroid),
                "fidelity_prompt": float(f @ prompts[entry["variant"]]),
                "fidelity_base": None,
            }
            nearest, row["still_likeness"] = nearest_still(tiny_image(image), still_tiny)
            row["nearest_still"] = still_files[nearest]
            reference = bases.get((entry["variant"], entry["seed"], entry["cfg_scale"]))
            if entry["model"] != "base" and reference is not None:
                grey = np.asarray(image.convert("L"), dtype=np.float64)
                other = np.asarray(rgb(reference).convert("L"), dtype=np.float64)
                row["fidelity_base"] = float(structural_similarity(grey, other, data_range=255))
                theirs = embed(scorer, [rgb(reference)], device)
                row["content"] = float(mine["content"][0] @ theirs["content"][0])
                row["fidelity_dino"] = float(mine["structure"][0] @ theirs["structure"][0])
            rows.append(row)
    write_json(out, {"images": rows})


def child(args: argparse.Namespace) -> dict:
    """Run one measurement (args.child: row-side) on the inputs the parent prepared."""
    # Every child imports the same modules first, so their resident sets start alike.
    import bench_animate
    import bench_report
    import bench_sampling
    import bench_training

    import stylesweep.score
    from stylesweep.files import read_json

    imports_mib = peak_rss_mib()
    work = args.work
    inputs = json.loads((work / "inputs.json").read_text())
    folder, device = work / "model", args.device
    row, side = args.child.split("-")
    own = Path(tempfile.mkdtemp(dir=work, prefix=f"{args.child}-"))
    result: dict = {}
    if row == "training":
        te_steps = args.train_steps // 10
        dataset, latents = work / "train" / "dataset", work / "train" / "latents.safetensors"
        if side == "ours":
            run = lambda n: bench_training.ours(  # noqa: E731
                folder, latents, n, te_steps, device, own, args.mixed_precision
            )
        else:
            run = lambda n: bench_training.plain_loop(  # noqa: E731
                folder, dataset, n, te_steps, device, args.mixed_precision
            )
        result["value"], _ = bench_training.marginal(run, args.train_steps, device)
    elif row == "sampling":
        recipes = bench_sampling.grid(args.seeds, CFGS, args.steps, args.size, side)
        if side == "ours":
            seconds, _, calls = bench_sampling.time_ours(folder, recipes, device, args.batch, own)
        else:
            dtype = torch.float16 if device.startswith("cuda") else torch.float32
            seconds, _ = bench_sampling.time_stock(folder, recipes, device, dtype)
            calls = len(recipes) * args.steps
        result |= {"value": len(recipes) / seconds, "unet_calls": calls}
    elif row == "animation":
        init = work / "animate" / "init.png"
        bench_animate.warm_device(device)  # CUDA's start-up, outside both timings
        if side == "ours":
            settings, text = bench_animate.settings_for(args.frames, args.size, args.steps)
            seconds, summary = bench_animate.time_ours(
                folder, init, settings, text, device, own / "animation"
            )
            if summary["rendered"] != args.frames:
                raise SystemExit(f"rendered {summary['rendered']} of {args.frames} frames")
            result["frames_value"] = summary["rendered"] / summary["seconds"]
        else:
            seconds, result["load_s"] = bench_animate.stock_frames(
                folder, init, args.frames, args.steps, device, own / "stock"
            )
        result |= {"value": args.frames / seconds, "seconds": seconds}
    elif row == "restyle":
        bench_animate.warm_device(device)
        settings, text = bench_animate.restyle_settings(
            args.frames, args.size, args.steps, flow=side == "ours"
        )
        seconds, summary = bench_animate.time_ours(
            folder, None, settings, text, device, own / "restyle", work / "restyle" / "clip.mp4"
        )
        if summary["rendered"] != args.frames:
            raise SystemExit(f"rendered {summary['rendered']} of {args.frames} frames")
        result |= {"value": args.frames / seconds, "seconds": seconds}
    elif row == "scoring":
        clip = clip_for(args.model, device)
        base, manifest = map(Path, inputs["sample_manifests"][:2])
        variants = read_json(inputs["variants_file"])
        images = len(read_json(manifest)["images"])
        if side == "ours":
            stylesweep.score.load_clip = lambda name, device: clip  # loaded once, as naive's
            # As in the workflow, the base model's score job runs first (not timed) and
            # leaves its embeddings for the others.
            base_embeddings = own / "base.embeddings.safetensors"
            stylesweep.score.score_group(
                samples_manifest=base, base_manifest=base, dataset_dir=inputs["dataset_dir"],
                variants=variants, clip_model="bench", style_model="builtin:toy",
                structure_model=None, out_path=own / "base.json",
                embeddings_path=base_embeddings, device=device,
            )  # fmt: skip

            def run(path: Path, out: Path) -> None:
                stylesweep.score.score_group(
                    samples_manifest=path, base_manifest=base, dataset_dir=inputs["dataset_dir"],
                    variants=variants, clip_model="bench", style_model="builtin:toy",
                    structure_model=None, out_path=out, base_embeddings=base_embeddings,
                    device=device,
                )  # fmt: skip
        else:

            def run(path: Path, out: Path) -> None:
                naive_scores(clip, inputs, path, base, device, out)

        run(base.with_name("warm.json"), own / "warm.json")  # warm-up: two images
        bench_sampling.sync(device)
        start = time.perf_counter()
        run(manifest, own / "scores.json")
        bench_sampling.sync(device)
        result["value"] = images / (time.perf_counter() - start)
    elif row == "report":
        for attempt in ("warm", "timed"):  # the first build also loads templates and fonts
            start = time.perf_counter()
            if side == "ours":
                bench_report.build_report(
                    out_dir=own / attempt, thumbnail_size=args.thumbnail, **inputs
                )
            else:
                bench_report.plain_page(own / attempt, **inputs)
            result["value"] = time.perf_counter() - start
        if side == "ours":
            weight = read_json(own / "timed" / "weight.json")
            first = bench_report.first_screen_bytes(weight, args.report_models, args.report_seeds)
            result |= {"first_screen": first, "all_full": weight["html"] + weight["full"]}
            result["images"] = weight["images"]
    else:
        raise SystemExit(f"unknown measurement {args.child}")
    # The report uses no GPU: its row gives the resident set on every device.
    result["peak_mib"] = peak_memory_mib("cpu" if row == "report" else device)
    result["imports_mib"] = imports_mib
    return result


# --- the table, in the parent -----------------------------------------------------------------


def measure(name: str, work: Path) -> dict:
    """Run one measurement in a fresh interpreter; its result is its output's last line."""
    command = [sys.executable, __file__, *sys.argv[1:], "--child", name, "--work", str(work)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bench/run.py: the {name} measurement failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(args: argparse.Namespace, work: Path) -> None:
    """The base model, and what the rows measured need (training images, the animation's
    init image, rendered images with scores), in `work`."""
    import bench_animate
    import bench_report
    import bench_training

    from stylesweep.base import build_sd15_sized_model, build_tiny_model

    build = build_tiny_model if args.model == "tiny" else build_sd15_sized_model
    folder = build(work / "model")
    if "training" in args.rows:
        (work / "train").mkdir()
        bench_training.prepare(folder, work / "train", args.size)
    if "animation" in args.rows:
        (work / "animate").mkdir()
        bench_animate.write_init(work / "animate" / "init.png", args.size)
    if "restyle" in args.rows:
        (work / "restyle").mkdir()
        bench_animate.write_clip(work / "restyle" / "clip.mp4", args.frames, args.size)
    inputs = {}
    if {"scoring", "report"} & set(args.rows):
        inputs = bench_report.write_inputs(
            work / "report-inputs", args.size, args.report_models, args.report_seeds, CFGS
        )
        base = Path(inputs["sample_manifests"][0])  # scoring's warm-up: two base images
        warm = json.loads(base.read_text())
        base.with_name("warm.json").write_text(json.dumps({"images": warm["images"][:2]}))
    (work / "inputs.json").write_text(json.dumps(inputs, default=str))


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, torch threads: {torch.get_num_threads()}"
    if device.startswith("cuda"):
        text = f"{torch.cuda.get_device_name(torch.device(device))}; {text}"
    else:
        text += ", no GPU" if not torch.cuda.is_available() else ", GPU not used"
    return text + f"; load average {os.getloadavg()[0]:.2f} at the start"


def versions() -> str:
    names = ("torch", "diffusers", "transformers", "open-clip-torch", "pillow", "numpy")
    found = [f"python {platform.python_version()}"]
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    from stylesweep.versions import project_commit

    commit = project_commit()
    if commit[:12].isalnum():  # a hash, and +dirty where the checkout has local changes
        commit = commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
    return ", ".join(found) + f", stylesweep {commit}"


def number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def ratio(a: float, b: float) -> str:
    return number(a / b) if b > 0 else "—"


def table(args: argparse.Namespace, r: dict[str, dict], imports: tuple[float, float] | None) -> str:
    """The markdown table of the rows in args.rows (imports: ours, baseline's seconds)."""
    cuda = args.device.startswith("cuda")
    memory = "peak GPU memory, MiB (report: RSS)" if cuda else "peak RSS of its process, MiB"
    share = cuda and args.model == "sd15" and args.peak_tflops
    scale = (args.size / 512) ** 2  # UNet work grows with the latent area (attention faster)
    tflop_image = 2 * args.steps * SD15_TFLOP * scale  # CFG: 2 UNet images per image
    tflop_step = 3 * SD15_TFLOP * scale  # forward and backward, batch 1
    report = r.get("report-ours", {"all_full": float("nan"), "first_screen": float("nan")})
    baselines = {
        "training": f"plain diffusers loop, uncached VAE and text encoder "
        f"(mixed precision {args.mixed_precision})",
        "sampling": "StableDiffusionPipeline, one image per call",
        "animation": "StableDiffusionImg2ImgPipeline, one call per frame, the same frame "
        "operations, PNGs saved with PIL (timed from its load)",
        "restyle": "the same restyle without optical flow or interpolation",
        "scoring": "same measures, one image at a time through open_clip",
        "report": f"plain HTML page of every full image ({report['all_full'] / 1e6:.1f} MB "
        f"to load, against {report['first_screen'] / 1e6:.2f} MB for the report's first screen)",
        "imports": "`from diffusers import StableDiffusionPipeline`",
    }
    ours = {
        "training": "train_segment",
        "sampling": f"GridRenderer, batch {args.batch}",
        "animation": "render_animation, the whole call (frames, MP4 and GIF)",
        "restyle": "render_animation, hybrid_motion optical_flow, interpolate 1",
        "scoring": "score_group",
        "report": "build_report",
        "imports": "`import stylesweep.sample`",
    }
    head = ["", "stylesweep", "baseline", "speed ÷ baseline's", f"{memory}: ours / baseline"]
    head += ["memory ÷ baseline's"]
    if share:
        head += [f"share of {args.peak_tflops:g} TFLOP/s: ours / baseline"]
    head += ["stylesweep is", "baseline is"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in args.rows:
        label = ROWS[row]
        if row == "imports":
            mine, theirs, mem = imports[0], imports[1], ["—", "—"]
        else:
            mine, theirs = r[f"{row}-ours"]["value"], r[f"{row}-base"]["value"]
            peaks = r[f"{row}-ours"]["peak_mib"], r[f"{row}-base"]["peak_mib"]
            mem = [" / ".join(f"{p:.0f}" for p in peaks), ratio(peaks[0], peaks[1])]
        faster = ratio(theirs, mine) if row in ("report", "imports") else ratio(mine, theirs)
        cells = [label, number(mine), number(theirs), faster, *mem]
        if share:
            per = {"training": tflop_step, "sampling": tflop_image}.get(row)
            cells.append(
                f"{mine * per / args.peak_tflops:.1%} / {theirs * per / args.peak_tflops:.1%}"
                if per
                else "—"
            )
        cells += [ours[row], baselines[row]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = parse()
    if args.child:
        print(json.dumps(child(args)))
        return
    import bench_imports

    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars from the measurements
    started = time.perf_counter()
    images = args.report_models * 6 * args.report_seeds * len(CFGS)
    scored = (args.report_models - 1) * 6 * args.report_seeds * len(CFGS)
    print(f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- Machine: {machine(args.device)}")
    print(f"- Versions: {versions()}")
    print(f"- Command: `python {shlex.join(['bench/run.py', *sys.argv[1:]])}`")
    from bench_animate import STRENGTH as kept  # Deforum's: img2img runs the rest

    settings = {
        "training": f"training {args.train_steps} steps (marginal rate), text encoder for "
        f"the first {args.train_steps // 10}",
        "sampling": f"sampling {args.seeds} seeds x {len(CFGS)} CFG scales = "
        f"{args.seeds * len(CFGS)} images, {args.steps} steps, Euler a",
        "animation": f"animation {args.frames} frames from an init image, Deforum strength "
        f"{kept} ({int(args.steps * (1 - kept) + 1e-9)} of {args.steps} steps run), CFG 7, "
        f"Euler a, zoom 1.04, angle 2, lab colour match, cadence 1",
        "restyle": f"restyle: the same animation from a clip of {args.frames} frames "
        "(hybrid_comp_alpha 0.5)",
        "scoring": f"scoring {scored} images",
        "report": f"report of {images} images, {args.thumbnail} px thumbnails",
    }
    measured = "; ".join(settings[row] for row in args.rows if row in settings)
    print(
        f"- Settings: {args.model} model, random weights, {args.size} px on {args.device}"
        + (f"; {measured}" if measured else "")
        + "\n",
        flush=True,
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="stylesweep-bench-") as tmp:
        work = Path(tmp)
        prepare(args, work)
        for row in args.rows:
            if row == "imports":
                continue  # measured below, in fresh interpreters of its own
            for side in ("ours", "base"):
                results[f"{row}-{side}"] = measure(f"{row}-{side}", work)
    imports = None
    if "imports" in args.rows:
        imports = (
            bench_imports.import_seconds("stylesweep.sample", args.import_repeat),
            bench_imports.import_seconds(
                "diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion",
                args.import_repeat,
            ),
        )
    print(table(args, results, imports))
    load = os.getloadavg()  # other work on the machine slows the many small calls most
    notes = ["Speed ÷ baseline's above 1: stylesweep is faster; memory ÷ baseline's below 1: "
             "it needs less."]  # fmt: skip
    if results:
        imports_mib = min(result["imports_mib"] for result in results.values())
        notes.append(
            f"Each measurement ran in its own process, one after another, after the same "
            f"imports (a resident set of {imports_mib:.0f} MiB after them, included in the RSS "
            f"above)."
        )
    if "sampling" in args.rows:
        calls = results["sampling-ours"]["unet_calls"], results["sampling-base"]["unet_calls"]
        notes.append(f"Sampling made {calls[0]} UNet calls against {calls[1]}.")
    if "animation" in args.rows:
        ours, base = results["animation-ours"], results["animation-base"]
        notes.append(
            f"Animation: {args.frames} frames in {ours['seconds']:.2f} s against "
            f"{base['seconds']:.2f} s (the baseline's pipeline load {base['load_s']:.2f} s of "
            f"them); render_animation's frames alone (its `seconds`, model load included, no "
            f"MP4 or GIF): {number(ours['frames_value'])} frames/s."
        )
    if "restyle" in args.rows:
        flow, plain = results["restyle-ours"]["seconds"], results["restyle-base"]["seconds"]
        notes.append(
            f"Restyle: {args.frames} frames in {flow:.2f} s with optical flow and interpolation, "
            f"{plain:.2f} s without: they add {flow / plain - 1:.0%}."
        )
    notes.append(
        f"Benchmark wall time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{load[0]:.2f} (1 min), {load[1]:.2f} (5 min)."
    )
    print("\n" + " ".join(notes))


if __name__ == "__main__":
    main()
