"""`vidcolor bench [CLIP]`: how fast each stage runs, next to a plain transcode of the same clip.

The plain transcode (decode, then encode with the same encoder, preset and CRF, with PyAV's
libraries, in this process) is the floor vidcolor cannot beat: the colorizer decodes and encodes
the same frames and does more besides. Both run one after the other in this process, so their
ratio is measured in one run on one machine. Per-stage throughput is frames / busy seconds of
that stage (time spent working, not waiting for its neighbours); the stages run in parallel, so
the slowest one bounds the whole.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from .cli import add_run_options, options_from_args
from .config import ColorizeOptions
from .containers import DEFAULT_CODEC, default_codec, setup_video_stream
from .errors import InputError, VidcolorError
from .media import open_input, set_decode_threads, video_stream
from .model import probe_lightness
from .provenance import git_revision, library_versions, machine

SYNTHETIC_SIZE = (1280, 720)  # px: the clip made when none is given ...
SYNTHETIC_FRAMES = 120  # ... 4 s at 30 fps
EXIT_OK, EXIT_FAILED = 0, 1


@dataclass
class BenchResult:
    clip: str
    frames: int
    size: tuple[int, int]  # (width, height)
    codec: str
    encoder_options: dict[str, str]
    transcode_fps: float  # plain decode + encode of the same clip, same encoder settings
    vidcolor_fps: float  # end to end
    ratio: float  # vidcolor_fps / transcode_fps
    # After vidcolor's first batch (RunStats.steady_fps): its startup (model load, CUDA, graph
    # captures: seconds on a GPU) left out, as a reel much longer than the clip would see it
    steady_fps: float
    steady_ratio: float  # steady_fps / transcode_fps
    startup_seconds: float  # until vidcolor's first batch was written
    stage_fps: dict[str, float | None]  # frames / busy seconds, per stage (None: never measurably busy)
    model_alone_fps: float  # the model runtime on its own, batches of random L at the render shape
    device: str = "cpu"
    backend: str = "onnxruntime-cpu"
    decoder: str = "cpu"  # where vidcolor and the plain transcode decoded: cpu or cuda (NVDEC)
    colour_device: str = "cpu"  # where the colour stage ran: cpu (OpenCV) or cuda (torch)
    render_shape: tuple[int, int] = (0, 0)
    date: str = ""
    machine: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    revision: str = ""  # git revision of the checkout vidcolor runs from, if it is one

    def to_dict(self) -> dict:
        return asdict(self)


def transcode(src: Path, dst: Path, options: ColorizeOptions) -> tuple[int, tuple[int, int]]:
    """Decodes the first video stream of `src` and encodes it to `dst` with vidcolor's encoder settings
    (video only); returns the number of frames and their (width, height)."""
    options = replace(options, codec=options.codec or default_codec(dst))
    with open_input(src, decoder=options.decoder) as inp, av.open(str(dst), "w") as out:
        source = video_stream(inp, src)
        set_decode_threads(source)  # as vidcolor's run does
        stream = setup_video_stream(out, source, options.codec, options.encoder_options(), dst)
        frames = 0
        for frame in inp.decode(source):
            if not frames:
                stream.width, stream.height = frame.width, frame.height
                native = frame.format.name if frame.format.name.startswith("yuv") else "yuv420p"
                stream.pix_fmt = options.pixel_format or native  # as vidcolor writes it with --pix-fmt
            out.mux(stream.encode(frame))
            frames += 1
        out.mux(stream.encode(None))
    return frames, (stream.width, stream.height)


def synthetic_clip(path: Path, size: tuple[int, int] = SYNTHETIC_SIZE, frames: int = SYNTHETIC_FRAMES) -> Path:
    """A grey clip with moving texture (so the encoder has work to do), for a bench without media."""
    width, height = size
    rng = np.random.default_rng(0)
    texture = rng.integers(16, 236, (height // 8 + 1, width // 8 + 2), dtype=np.uint8)
    texture = np.kron(texture, np.ones((8, 8), np.uint8))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            planes = np.full((height * 3 // 2, width), 128, np.uint8)
            shift = (2 * i) % 8
            planes[:height] = texture[:height, shift : shift + width]
            out.mux(stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")))
        out.mux(stream.encode(None))
    return path


def bench(clip: Path, options: ColorizeOptions, work: Path) -> BenchResult:
    """Times a plain transcode of `clip`, then vidcolor on it with the same encoder settings."""
    from .run import colorize

    if not clip.is_file() and not clip.is_dir():
        raise InputError(f"{clip}: no such file")
    options = replace(options, codec=options.codec or DEFAULT_CODEC)  # what a .mp4 gets
    suffix = ".mkv" if options.codec == "ffv1" else ".mp4"
    started = time.perf_counter()
    frames, size = transcode(clip, work / f"plain{suffix}", options)
    transcode_seconds = time.perf_counter() - started
    stats = colorize(clip, work / f"ours{suffix}", options, overwrite=True)
    if stats.frames != frames:
        raise VidcolorError(f"{clip}: the transcode saw {frames} frames and vidcolor {stats.frames}")
    vidcolor_fps = stats.fps
    transcode_fps = frames / transcode_seconds
    model_fps = model_alone(options, tuple(stats.render_shape))
    return BenchResult(
        clip=str(clip),
        frames=frames,
        size=size,
        codec=options.codec,
        encoder_options=options.encoder_options(),
        transcode_fps=round(transcode_fps, 2),
        vidcolor_fps=round(vidcolor_fps, 2),
        ratio=round(vidcolor_fps / transcode_fps, 4),
        steady_fps=round(stats.steady_fps, 2),
        steady_ratio=round(stats.steady_fps / transcode_fps, 4),
        startup_seconds=round(stats.first_batch_seconds, 2),
        stage_fps={k: round(frames / v, 1) if v > 0 else None for k, v in stats.busy_seconds.items()},
        model_alone_fps=round(model_fps, 1),
        device=stats.device,
        backend=stats.backend,
        decoder=stats.decoder,
        colour_device=stats.colour_device,
        render_shape=tuple(stats.render_shape),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine(),
        versions=library_versions(),
        revision=git_revision(),
    )


def model_alone(options: ColorizeOptions, render_shape: tuple[int, int], seconds: float = 2.0) -> float:
    """Frames per second of the model runtime alone: `batch_size` frames per call, timed for at
    least `seconds` after two warm-up calls (engine builds, allocations and caches are not counted)."""
    from .backends import load_colorizer

    colorizer = load_colorizer(options.runtime_request(render_shape))
    lightness = probe_lightness(options.batch_size, *render_shape)
    for _ in range(2):
        colorizer.predict_ab(lightness)
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or calls < 3:
        colorizer.predict_ab(lightness)
        calls += 1
    return calls * options.batch_size / elapsed


def format_table(result: BenchResult) -> str:
    width, height = result.size
    rows = [
        f"{Path(result.clip).name}: {result.frames} frames, {width}x{height}, {result.codec} "
        + " ".join(f"{k}={v}" for k, v in result.encoder_options.items())
        + f"; model {result.backend} at {result.render_shape[1]}x{result.render_shape[0]}; decoder {result.decoder}",
        f"{'stage':<22}{'fps':>10}",
        *(f"{stage:<22}{'-' if fps is None else f'{fps:.1f}':>10}" for stage, fps in result.stage_fps.items()),
        f"{'model alone':<22}{result.model_alone_fps:>10.1f}",
        f"{'vidcolor end to end':<22}{result.vidcolor_fps:>10.1f}",
        f"{'plain transcode':<22}{result.transcode_fps:>10.1f}",
        f"{'ratio':<22}{result.ratio:>10.2f}",
        f"{'after the first batch':<22}{result.steady_fps:>10.1f}  (startup {result.startup_seconds:.1f} s)",
        f"{'ratio then':<22}{result.steady_ratio:>10.2f}",
    ]
    return "\n".join(rows)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidcolor bench",
        description=__doc__.split("\n\n")[0],
        epilog="Without CLIP, a synthetic 1280x720 clip of 120 frames is made and used.",
    )
    p.add_argument("clip", type=Path, nargs="?", help="video to benchmark on (default: a synthetic 720p clip)")
    add_run_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="vidcolor: %(levelname)s: %(message)s")
    try:
        options = options_from_args(args)
        with tempfile.TemporaryDirectory(prefix="vidcolor-bench-") as tmp:
            clip = args.clip or synthetic_clip(Path(tmp) / "synthetic.mp4")
            result = bench(clip, options, Path(tmp))
    except VidcolorError as e:
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except av.FFmpegError as e:
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result.to_dict()) if args.json else format_table(result))
    return EXIT_OK
