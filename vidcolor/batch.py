"""`vidcolor batch IN_DIR OUT_DIR`: colorize every video in a folder tree (and with `--stills`,
every still image: a box of scanned prints).

Each video under IN_DIR is written to the same relative path under OUT_DIR (same container, or
`--suffix`). A video whose output exists is finished and skipped: vidcolor only ever leaves a
complete file at an output path, so a batch that was interrupted continues where it stopped when
run again. A file that fails is reported and the batch goes on; the run ends with a summary
table and exits 1 if any file failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from .cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    Terminated,
    add_run_options,
    options_from_args,
    sigterm_raises,
)
from .config import ColorizeOptions
from .distributed import DEFAULT_PART_SECONDS
from .errors import VidcolorError
from .outcome import Outcome, colorize_one

log = logging.getLogger(__name__)

# What is taken for a video when walking IN_DIR (lower case); anything else is left alone.
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mxf .mpg .mpeg .ts .m2ts .mts .vob .wmv .flv .dv .ogv .3gp .nut".split()
)


def find_videos(root: Path, exclude: Path | None = None, stills: bool = False) -> list[Path]:
    """Video files under `root` by suffix (and still images with `stills`), sorted; nothing under
    `exclude` (an OUT_DIR inside IN_DIR)."""
    from .image import IMAGE_SUFFIXES

    suffixes = VIDEO_SUFFIXES | IMAGE_SUFFIXES if stills else VIDEO_SUFFIXES
    found = []
    for path in sorted(root.rglob("*")):
        if exclude is not None and path.is_relative_to(exclude):
            continue
        if path.suffix.lower() in suffixes and path.is_file() and not path.name.startswith("."):
            found.append(path)
    return found


def plan(sources: list[Path], in_dir: Path, out_dir: Path, suffix: str | None) -> list[tuple[Path, Path]]:
    """(input, output) pairs, each output at the input's relative path under out_dir."""
    pairs = []
    for src in sources:
        dst = out_dir / src.relative_to(in_dir)
        pairs.append((src, dst.with_suffix(suffix) if suffix else dst))
    return pairs


def run_batch(
    in_dir: Path,
    out_dir: Path,
    options: ColorizeOptions,
    suffix: str | None = None,
    progress: bool = False,
    ray_address: str | None = None,
    cpus_per_video: float = 2,
    part_seconds: float = DEFAULT_PART_SECONDS,
    stills: bool = False,
) -> list[Outcome]:
    """Colorizes every video under in_dir into out_dir (and every still image, with `stills`);
    one Outcome per file, in path order.

    With `ray_address` ("auto" starts a local cluster; else a cluster's address) the videos run
    as Ray tasks of `cpus_per_video` CPUs each (and one GPU each when the run asks for CUDA).
    """
    if not in_dir.is_dir():
        raise VidcolorError(f"{in_dir}: no such folder")
    if not part_seconds > 0:
        raise VidcolorError(f"part length must be positive, not {part_seconds} s")
    exclude = out_dir.resolve() if out_dir.resolve().is_relative_to(in_dir.resolve()) else None
    pairs = plan(find_videos(in_dir.resolve(), exclude, stills), in_dir.resolve(), out_dir, suffix)
    if not pairs:
        images = len(find_videos(in_dir.resolve(), exclude, stills=True))
        hint = f"; it holds {images} image files: --stills colorizes each" if images and not stills else ""
        raise VidcolorError(f"{in_dir}: no video files found (looked for {', '.join(sorted(VIDEO_SUFFIXES))}){hint}")
    targets: dict[Path, Path] = {}
    outcomes: list[Outcome] = []
    pending: list[int] = []  # indices into outcomes of the videos to colorize
    for src, dst in pairs:
        outcome = Outcome(str(src), str(dst), "pending")
        if dst in targets:
            outcome.status, outcome.message = "failed", f"same output as {targets[dst].name}; use --suffix with care"
        elif dst.exists() and not options.overwrite:
            outcome.status = "skipped"
        else:
            pending.append(len(outcomes))
        targets.setdefault(dst, src)
        outcomes.append(outcome)
    if ray_address:
        from .distributed import run_on_ray

        done = run_on_ray([pairs[i] for i in pending], options, ray_address, cpus_per_video, part_seconds)
    else:
        done = (
            colorize_one(*pairs[i], options, f"[{n}/{len(pending)}] {pairs[i][0].name}" if progress else None)
            for n, i in enumerate(pending, 1)
        )
    for i, outcome in zip(pending, done, strict=True):
        outcomes[i] = outcome
        if outcome.status == "failed":
            message, src = outcome.message, outcome.input
            log.error("%s", message if src in message else f"{src}: {message}")
    return outcomes


def summary(outcomes: list[Outcome], in_dir: Path) -> str:
    width = max(len(_short(o.input, in_dir)) for o in outcomes)
    lines = [f"{'input':<{width}}  {'status':<8}{'frames':>8}{'seconds':>9}  message"]
    for o in outcomes:
        frames = str(o.frames) if o.status == "done" else "-"
        seconds = f"{o.seconds:.1f}" if o.status != "skipped" else "-"
        lines.append(f"{_short(o.input, in_dir):<{width}}  {o.status:<8}{frames:>8}{seconds:>9}  {o.message}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def _short(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root.resolve()))
    except ValueError:
        return path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidcolor batch",
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 every video done or skipped; 1 some failed (the others are done), or nothing to do; "
        "130 interrupted (the video in progress leaves nothing behind; run again to continue).",
    )
    p.add_argument("in_dir", type=Path, help="folder of videos (searched recursively)")
    p.add_argument("out_dir", type=Path, help="folder for the colorized videos (same relative names)")
    p.add_argument("--suffix", help="container for every output, e.g. .mkv (default: each input's own)")
    p.add_argument(
        "--stills",
        action="store_true",
        help="colorize still images too (.jpg, .png, .tif, .webp, .bmp), each a picture of its own (numbered "
        "frames of a film scan are a film: give their folder to vidcolor itself)",
    )
    p.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run the videos as tasks on a Ray cluster: auto starts one on this machine (needs vidcolor[ray])",
    )
    p.add_argument("--ray-cpus", type=float, default=2, help="CPUs per video on Ray (default 2)")
    p.add_argument(
        "--ray-part-seconds",
        type=float,
        default=DEFAULT_PART_SECONDS,
        help="on Ray, a reel longer than two of these is colorized in parts of this length on several "
        f"workers at once (default {DEFAULT_PART_SECONDS:g})",
    )
    add_run_options(p)
    p.add_argument("--overwrite", action="store_true", help="redo videos whose output exists")
    p.add_argument("--json", action="store_true", help="print one JSON line per video instead of the table")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="vidcolor: %(levelname)s: %(message)s")
    if args.suffix and not args.suffix.startswith("."):
        args.suffix = "." + args.suffix
    try:
        with sigterm_raises():
            outcomes = run_batch(
                args.in_dir,
                args.out_dir,
                options_from_args(args),
                args.suffix,
                progress=not args.quiet and not args.ray,
                ray_address=args.ray,
                cpus_per_video=args.ray_cpus,
                part_seconds=args.ray_part_seconds,
                stills=args.stills,
            )
    except VidcolorError as e:
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("vidcolor: interrupted; finished videos are kept, run again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("vidcolor: terminated; finished videos are kept, run again to continue", file=sys.stderr)
        return EXIT_TERMINATED
    if args.json:
        for outcome in outcomes:
            print(json.dumps(asdict(outcome)))
    else:
        print(summary(outcomes, args.in_dir))
    return EXIT_FAILED if any(o.status == "failed" for o in outcomes) else EXIT_OK
