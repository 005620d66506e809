"""Film flicker: how much a flickering film's colour pulses with it, with and without steadying.

    python benchmarks/flicker.py ../shared/data/video/color [--amplitude 0.05] [--seconds 4] [--json-out F]

Old film's exposure varies from frame to frame. Each colour clip's first seconds are turned into
flickering black-and-white film (its luma, Y - 16 scaled by 1 + amplitude * N(0, 1) per frame,
seeded; neutral chroma; lossless) and colorized four ways, FFV1 out: per frame (`--no-temporal`),
with temporal smoothing but without steadying (`--no-deflicker`), and as by default (both); then
the clip before the flicker was added, as by default, for comparison. Each is scored against the
colour original with `vidcolor eval` (the ab warp error is the colour flicker). A last run gives
every frame one constant colour instead of the model's: the ab warp error that the flickering luma
alone leaves in the output (the colour stage fades colour at black and white, so the output's
a*b* follow its luma there), the floor no steadying of the model can go below.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
from common import emit, now, video_clips

from vidcolor import colorize
from vidcolor.evaluate import evaluate_videos
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer

RUNS = {  # name: (colorize options, flickering input)
    "per_frame": (dict(temporal=False), True),
    "temporal, not steadied": (dict(deflicker=False), True),
    "temporal, steadied": ({}, True),
    "no flicker": ({}, False),
    "constant colour": (dict(temporal=False), True),
}


def write_first_seconds(clip: Path, out: Path, seconds: float, change=None) -> None:
    """The clip's first `seconds` of video, 8-bit 4:2:0, lossless; `change(planes, height)` may
    alter each frame's planes (PyAV's yuv420p array: the Y rows, then Cb and Cr) in place."""
    with av.open(str(clip)) as inp, av.open(str(out), "w") as dst:
        source = inp.streams.video[0]
        stream = dst.add_stream("ffv1", rate=source.average_rate)
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        for frame in inp.decode(source):
            if frame.time is not None and frame.time >= seconds:
                break
            planes = frame.reformat(format="yuv420p").to_ndarray()
            if change is not None:
                planes = change(planes.astype(np.float32), frame.height)
            written = av.VideoFrame.from_ndarray(np.rint(planes).astype(np.uint8), format="yuv420p")
            written.color_range, written.colorspace = frame.color_range, frame.colorspace
            dst.mux(stream.encode(written))
        dst.mux(stream.encode(None))


def write_film(clip: Path, out: Path, seconds: float, amplitude: float, seed: int = 0) -> None:
    """The clip's first `seconds` as black-and-white film flickering by `amplitude` (0: none)."""
    rng = np.random.default_rng(seed)

    def flicker(planes: np.ndarray, height: int) -> np.ndarray:
        gain = 1 + amplitude * rng.standard_normal()
        planes[:height] = np.clip((planes[:height] - 16) * gain + 16, 16, 235)
        planes[height:] = 128
        return planes

    write_first_seconds(clip, out, seconds, flicker)


@contextmanager
def constant_colour(a: float = 5.0, b: float = 20.0):
    """The model replaced by one colour for every pixel (its output's shape kept)."""
    predict = OnnxColorizer.predict_ab

    def constant(self, lightness):
        stride = self.info.output_stride  # the model's ab grid: its input's size over the stride
        out = np.empty((len(lightness), lightness.shape[1] // stride, lightness.shape[2] // stride, 2), np.float32)
        out[..., 0], out[..., 1] = a, b
        return out

    OnnxColorizer.predict_ab = constant
    try:
        yield
    finally:
        OnnxColorizer.predict_ab = predict


def score_clip(clip: Path, model: Path, seconds: float, amplitude: float, work: Path) -> dict:
    truth, film, clean = work / "truth.mkv", work / "film.mkv", work / "clean.mkv"
    write_film(clip, film, seconds, amplitude)
    write_film(clip, clean, seconds, 0.0)
    write_first_seconds(clip, truth, seconds)  # the colour original, cut the same
    row: dict = {"clip": clip.name}
    for name, (options, flickering) in RUNS.items():
        out = work / "out.mkv"
        if name == "constant colour":
            with constant_colour():
                stats = colorize(film, out, model=model, codec="ffv1", overwrite=True, **options)
        else:
            stats = colorize(film if flickering else clean, out, model=model, codec="ffv1", overwrite=True, **options)
        scores = evaluate_videos(truth, out).to_dict()
        row[name] = {k: scores[k] for k in ("psnr", "colorfulness", "warp_error_ab")}
        row[name]["cuts"] = len(stats.cuts)
        row["frames"] = scores["frames"]
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", type=Path, help="folder of colour clips")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--amplitude", type=float, default=0.05, help="flicker: standard deviation of the gain")
    p.add_argument("--seconds", type=float, default=4.0, help="of each clip")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    clips = video_clips(args.clips, p)
    date = now()
    print(f"{'clip':26} {'run':24} {'ab warp err':>11} {'PSNR dB':>8} {'colourful':>9} {'cuts':>4}")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            row = score_clip(clip, args.model, args.seconds, args.amplitude, Path(tmp))
            for name in RUNS:
                r = row[name]
                print(
                    f"{clip.name:26} {name:24} {r['warp_error_ab']:11.3f} {r['psnr']:8.2f} "
                    f"{r['colorfulness']:9.1f} {r['cuts']:4d}",
                    flush=True,
                )
            record = {"benchmark": "flicker", "date": date, "model": str(args.model), "amplitude": args.amplitude}
            emit({**record, "seconds": args.seconds, **row}, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
