"""`vidcolor frame VIDEO --at SECONDS OUT.png`: the frame shown at a time (or `--frame N`, by its
index) written as a PNG, upright as it is displayed, with its size in pixels: the picture whose
pixels the x and y of colour hints count (docs/hints.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .cli import EXIT_FAILED, EXIT_OK, parse_frame_rate
from .errors import InputError, OutputError, VidcolorError, reason
from .image import through_temp
from .media import check_paths, frame_rate, open_input, quarter_turns, video_stream

# Seconds: a time given to the ms (12.5) finds the frame whose timestamp it rounds (12.4999...).
TIME_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ShownFrame:
    """A decoded frame as a viewer shows it."""

    rgb: np.ndarray  # (H, W, 3) uint8 R'G'B', turned upright by the display rotation
    index: int  # 0-based among the frames decoded (what a hint's "frame" counts)
    seconds: float  # its time after the first frame's (what a hint's "time" counts)
    rotation: int  # degrees of display rotation applied
    sample_aspect: Fraction  # the stored pixels' width / height (1: square)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels: the range of a hint's x and y."""
        return self.rgb.shape[1], self.rgb.shape[0]


def shown_frame(
    src: Path, at: float | None = None, index: int | None = None, rate: Fraction | None = None
) -> ShownFrame:
    """The frame of the video (or folder of numbered frames, at `rate`) `src` shown `at` seconds
    after its first frame (the last frame whose time is not after it), or the frame of 0-based
    `index`; InputError where that is past the end."""
    if (at is None) == (index is None):
        raise ValueError("give at or index")
    try:
        with open_input(src, rate) as container:
            stream = video_stream(container, src)
            period = 1 / frame_rate(stream)
            # Read while the container is open: the last frame is made after it closes.
            aspect = Fraction(stream.sample_aspect_ratio or 1)
            first = None
            shown: tuple[av.VideoFrame, int, float] | None = None
            count = 0
            for count, frame in enumerate(_decoded(container, stream), 1):
                seconds = float(frame.time) if frame.time is not None else float((count - 1) * period)
                first = seconds if first is None else first
                seconds -= first
                if index is not None:
                    if count - 1 == index:
                        return _shown(aspect, frame, index, seconds)
                    continue
                if seconds > at + TIME_TOLERANCE and shown is not None:
                    return _shown(aspect, *shown)
                shown = (frame, count - 1, seconds)
    except av.FFmpegError as e:
        raise InputError(f"{src}: cannot decode its video ({reason(e)})") from e
    if index is not None:
        raise InputError(f"{src}: frame {index} is past the end: the video has {count} frames (0 to {count - 1})")
    if shown is None:
        raise InputError(f"{src}: no frame could be decoded")
    last_end = shown[2] + float(period)
    if at < last_end:
        return _shown(aspect, *shown)
    raise InputError(f"{src}: {at:g} s is past the end: the video lasts {last_end:.3f} s")


def _decoded(container: av.container.InputContainer, stream: av.video.stream.VideoStream):
    """The stream's frames in order, damaged packets left out (as a run leaves them out)."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.InvalidDataError:
            continue


def _shown(aspect: Fraction, frame: av.VideoFrame, index: int, seconds: float) -> ShownFrame:
    rotation = round(frame.rotation or 0)
    rgb = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), quarter_turns(rotation)))
    return ShownFrame(rgb, index, seconds, rotation, aspect)


def write_png(dst: Path, rgb: np.ndarray) -> None:
    """Writes R'G'B' (H, W, 3) uint8 to the PNG `dst`, through a temporary file beside it."""
    import cv2

    with through_temp(dst, ".png") as temp:
        if not cv2.imwrite(str(temp), np.ascontiguousarray(rgb[..., ::-1])):
            raise OutputError(f"{dst}: cannot write the PNG")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidcolor frame",
        usage="vidcolor frame VIDEO (--at SECONDS | --frame N) OUTPUT.png",
        description="Write the frame of a video shown at a time (or by its index) as a PNG, upright as it is "
        "displayed, and print its size: the pixels that the x and y of --hints count (docs/hints.md).",
    )
    p.add_argument("input", type=Path, metavar="VIDEO", help="a video, or a folder of numbered frames")
    p.add_argument("output", type=Path, metavar="OUTPUT.png", help="the PNG to write")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--at", type=float, metavar="SECONDS", help="the frame shown this long after the first frame")
    which.add_argument("--frame", type=int, metavar="N", help="the frame of this 0-based index among those decoded")
    p.add_argument(
        "--frame-rate", type=parse_frame_rate, help="frames per second of a folder of numbered frames (default 24)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.at is not None and not args.at >= 0:
        parser.error(f"--at must be 0 or more seconds, not {args.at:g}")
    if args.frame is not None and args.frame < 0:
        parser.error(f"--frame must be 0 or more, not {args.frame}")
    logging.basicConfig(level=logging.WARNING, format="vidcolor: %(levelname)s: %(message)s")
    try:
        if args.output.suffix.lower() != ".png":
            raise OutputError(f"{args.output}: the frame is written as a PNG: name it .png")
        check_paths(args.input, args.output, args.overwrite)
        shown = shown_frame(args.input, args.at, args.frame, args.frame_rate)
        write_png(args.output, shown.rgb)
    except VidcolorError as e:
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    width, height = shown.size
    notes = [f"turned {shown.rotation} degrees as displayed"] if shown.rotation else []
    if shown.sample_aspect != 1:
        notes.append(f"its pixels are not square ({shown.sample_aspect}); hints count them as they are here")
    print(
        f"{args.output}: {width}x{height} px, frame {shown.index} at {shown.seconds:.3f} s"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
