"""`vidcolor IN OUT`: colorize a black-and-white video.

Exit codes: 0 success; 1 the run failed (bad input, unwritable output, model or encoder
error; one line on stderr, nothing written at OUT); 2 wrong command-line usage;
130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import signal
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from . import __version__, sample_path
from .backends import BACKENDS, DEVICES
from .checkpoint import work_dir
from .config import ColorizeOptions
from .errors import VidcolorError
from .media import DECODERS
from .progress import ProgressBar
from .torch_colour import COLOUR_DEVICES

# `vidcolor NAME ...` runs the module's main(); an input file with one of these names needs a path (./eval).
SUBCOMMANDS = {
    "eval": "vidcolor.evaluate",
    "bench": "vidcolor.bench",
    "engines": "vidcolor.engines_cli",
    "batch": "vidcolor.batch",
    "frame": "vidcolor.frame",
}
SAMPLE_OUTPUT = "chaplin_colour.mp4"  # where `vidcolor --sample` writes when it is given no OUTPUT
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Terminated(BaseException):
    """SIGTERM, turned into an exception so the run cleans up as it does for Ctrl-C."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (so temporary files are removed on the way out)."""

    def terminate(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_frame_rate(text: str) -> Fraction:
    """argparse type of --frame-rate: a positive rate, 24 or 24000/1001."""
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a frame rate: {text!r} (e.g. 24 or 24000/1001)") from None
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"frame rate must be positive, not {text}")
    return rate


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The flags of a colorization run (one per ColorizeOptions field), shared with `vidcolor batch`."""
    defaults = ColorizeOptions()
    p.add_argument(
        "--model", type=Path, default=defaults.model, help="ONNX model from vidcolor-train (default: bundled)"
    )
    p.add_argument(
        "--codec",
        default=defaults.codec,
        help="video encoder: libx264 (default; the container's own where it cannot hold H.264, as VP9 in "
        ".webm), libx265, ffv1, prores_ks, ...",
    )
    p.add_argument(
        "--crf",
        type=int,
        default=defaults.crf,
        help="quality for x264, x265, SVT-AV1, VP9, VP8; lower is better (default 18)",
    )
    p.add_argument("--preset", default=defaults.preset, help="encoder preset for x264/x265 (default medium)")
    p.add_argument(
        "--pix-fmt",
        dest="pixel_format",
        help="output pixel format, e.g. yuv420p for a copy every player plays (default: the input's, as far as "
        "the encoder holds it; fewer bits than the input's round the luma)",
    )
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="frames per model call (default 8)")
    p.add_argument("--render-size", type=int, help="short side in px the model sees (default: the model's)")
    p.add_argument("--threads", type=int, help="model threads on CPU (default: every core)")
    p.add_argument(
        "--device",
        choices=DEVICES,
        default=defaults.device,
        help="where the model runs (default auto: a GPU if usable)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=defaults.backend,
        help="model runtime (default auto: the fastest installed); a named one that is missing is an error",
    )
    p.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="with --backend torch on CUDA: capture the model once as a CUDA graph and replay it",
    )
    p.add_argument(
        "--colour-device",
        choices=COLOUR_DEVICES,
        default=defaults.colour_device,
        help="where the colour stage runs: cpu (OpenCV), cuda (torch on the GPU, needs the torch extra), or "
        "auto (default: cuda where the model runs on the GPU and torch is installed, else cpu)",
    )
    p.add_argument(
        "--decoder",
        choices=DECODERS,
        default=defaults.decoder,
        help="where video is decoded (default cpu; cuda: the GPU's NVDEC, an error if there is no CUDA device)",
    )
    p.add_argument(
        "--frame-rate",
        type=parse_frame_rate,
        help="frames per second when INPUT is a folder of numbered frames (DPX, TIFF, PNG...): 24, 24000/1001 "
        "(default 24)",
    )
    p.add_argument(
        "--segment-seconds",
        type=float,
        default=defaults.segment_seconds,
        help="checkpoint the run every this many seconds of video "
        f"(default {defaults.segment_seconds:g}); an interrupted run continues from there with --resume",
    )
    p.add_argument(
        "--saturation",
        type=float,
        default=defaults.saturation,
        help="multiply the model's colour (CIE a/b) by this: 0 grey, below 1 more muted, above 1 more vivid "
        f"(default {defaults.saturation:g}); the luma is kept either way",
    )
    p.add_argument("--no-temporal", action="store_true", help="per-frame colour, no temporal smoothing")
    p.add_argument(
        "--temporal-strength",
        type=float,
        default=defaults.temporal_strength,
        help=f"weight of the colour carried along motion, 0 to below 1 (default {defaults.temporal_strength})",
    )
    p.add_argument(
        "--no-deflicker",
        action="store_true",
        help="show the model each frame's exposure as it is (by default a flickering film is steadied for the "
        "model, so its colour does not pulse with the flicker); the output's luma is the input's either way",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidcolor",
        usage="vidcolor [options] INPUT OUTPUT\n       vidcolor --sample [OUTPUT] [options]",
        description="Colorize a black-and-white video. The luma and the sound are kept as they are.",
        epilog="Exit codes: 0 done; 1 failed (nothing written); 2 usage; 130 interrupted; 143 terminated. "
        "To score a result against the true colour video: vidcolor eval REFERENCE CANDIDATE (see vidcolor eval -h). "
        "To time each stage against a plain transcode: vidcolor bench [CLIP] (see vidcolor bench -h). "
        "To prebuild TensorRT engines: vidcolor engines build --size WxH. "
        "To colorize every video in a folder: vidcolor batch IN_DIR OUT_DIR. "
        "To see a video's frame as a PNG with its size (to place --hints): vidcolor frame VIDEO --at SECONDS OUT.png.",
    )
    # Both optional for argparse so that `--sample [OUTPUT]` can stand in for them; main() insists on the pair.
    p.add_argument(
        "input",
        type=Path,
        nargs="?",
        metavar="INPUT",
        help="video to colorize, a folder of numbered frames, or a still image",
    )
    p.add_argument(
        "output", type=Path, nargs="?", metavar="OUTPUT", help="colorized video to write (container from the extension)"
    )
    p.add_argument(
        "--sample",
        type=Path,
        nargs="?",
        const=Path(SAMPLE_OUTPUT),
        metavar="OUTPUT",
        help="colorize the black-and-white sample that comes with vidcolor (4.8 s of a Chaplin street scene, "
        f"with its music) into OUTPUT instead of INPUT into OUTPUT (default {SAMPLE_OUTPUT} in this folder)",
    )
    add_run_options(p)
    # Here, not in add_run_options: a batch takes each video's own hints file beside it (batch.py).
    p.add_argument(
        "--hints",
        type=Path,
        help="hints.json: points of known colour for the colour to follow (docs/hints.md); held along a "
        "video's shot; needs a model trained with hints (vidcolor frame shows a video's frame to place them on)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT if it exists (and discard an interrupted run's work)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (Ctrl-C, kill, crash, power cut) from its last checkpoint; its work "
        "is kept in the hidden folder .OUTPUT.vidcolor beside OUTPUT",
    )
    p.add_argument("--stats-json", type=Path, help="write the run's statistics (frames, timings) here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, errors only")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"vidcolor {__version__}")
    return p


def options_from_args(args: argparse.Namespace) -> ColorizeOptions:
    return ColorizeOptions(
        model=args.model,
        codec=args.codec,
        crf=args.crf,
        preset=args.preset,
        pixel_format=args.pixel_format,
        batch_size=args.batch_size,
        temporal=not args.no_temporal,
        temporal_strength=args.temporal_strength,
        deflicker=not args.no_deflicker,
        render_size=args.render_size,
        saturation=args.saturation,
        threads=args.threads,
        device=args.device,
        backend=args.backend,
        decoder=args.decoder,
        cuda_graphs=args.cuda_graphs,
        colour_device=args.colour_device,
        frame_rate=args.frame_rate,
        segment_seconds=args.segment_seconds,
        overwrite=getattr(args, "overwrite", False),  # `vidcolor bench` has no --overwrite
        resume=getattr(args, "resume", False),  # nor --resume; `vidcolor batch` always resumes
        hints=getattr(args, "hints", None),  # (only `vidcolor` itself takes --hints so far)
    )


def _kept(output: Path) -> str:
    """What an interrupted run leaves: nothing at OUTPUT, and maybe finished segments to resume from."""
    folder = work_dir(output)
    if folder.is_dir():
        return f"nothing written to {output}; the finished part is kept in {folder}: add --resume to continue"
    return f"nothing written to {output}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.sample is not None:
        if args.input is not None:
            extra = " ".join(str(path) for path in (args.input, args.output) if path is not None)
            parser.error(f"--sample [OUTPUT] colorizes the sample that comes with vidcolor, not INPUT: drop {extra}")
        args.input, args.output = sample_path(), args.sample
    elif args.output is None:
        missing = "OUTPUT" if args.input is not None else "INPUT OUTPUT"
        parser.error(f"the following arguments are required: {missing} (or --sample [OUTPUT] for a first try)")
    level = logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="vidcolor: %(levelname)s: %(message)s")
    bar = ProgressBar(args.input, args.input.name)
    try:
        with sigterm_raises():
            from .image import colorize_image, picture_by_picture
            from .run import colorize

            options = options_from_args(args)
            if picture_by_picture(args.input, args.output):
                stats = colorize_image(args.input, args.output, options, progress=None if args.quiet else bar)
            else:
                stats = colorize(args.input, args.output, options, progress=None if args.quiet else bar)
            bar.close()
            if args.stats_json:
                args.stats_json.write_text(json.dumps(stats.to_dict(), indent=2))
            if not args.quiet:
                print(
                    f"vidcolor: wrote {args.output} ({stats.frames} frame{'' if stats.frames == 1 else 's'}, "
                    f"{stats.fps:.1f} fps, {stats.backend})",
                    file=sys.stderr,
                )
            return EXIT_OK
    except VidcolorError as e:
        bar.close()  # the message on a line of its own, not at the end of the bar's
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bar.close()
        print(f"vidcolor: interrupted; {_kept(args.output)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        bar.close()
        print(f"vidcolor: terminated; {_kept(args.output)}", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
