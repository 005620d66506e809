"""The CPU colour stage alone: Cb/Cr planes from the model's ab and the frame's Y plane, per frame.

    python benchmarks/colour_stage.py CLIP [--frames 30] [--height 1080] [--json-out results.jsonl]

Decodes the first frames of CLIP (scaled to --height when given, keeping the aspect ratio), runs
the bundled model on them once, then times `vidcolor.chroma.chroma_planes` (guided upsampling of
ab, Lab -> R'G'B' -> Cb/Cr at the chroma resolution) over those frames, several rounds, with
OpenCV's default threads. Nothing else runs meanwhile, so this is the stage's own cost; in a whole
run on 2 cores it shares the CPU with the model and the encoder. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np
from common import emit, now

from vidcolor.chroma import chroma_planes, render_lightness
from vidcolor.formats import matrix_name, planar_format
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer

ROUNDS = 5


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path)
    p.add_argument("--frames", type=int, default=30, help="frames decoded and timed (default 30)")
    p.add_argument("--height", type=int, help="scale the frames to this height first (e.g. 1080)")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    fmt = planar_format("yuv420p")
    lumas = []
    with av.open(str(args.clip)) as container:
        for frame in container.decode(video=0):
            if args.height:
                width = 2 * round(frame.width * args.height / frame.height / 2)
                frame = frame.reformat(width=width, height=args.height)
            lumas.append(frame.reformat(format="yuv420p").to_ndarray()[: frame.height].copy())
            if len(lumas) == args.frames:
                break
    height, width = lumas[0].shape
    colorizer = OnnxColorizer(DEFAULT_MODEL)
    shape = colorizer.info.render_shape(height, width)
    abs_ = colorizer.predict_ab(np.stack([render_lightness(y, fmt, False, shape) for y in lumas]))
    matrix = matrix_name(0, height)
    chroma_planes(lumas[0], abs_[0], 8, fmt, False, matrix)  # the first call fills the lookup caches
    per_frame = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for luma, ab in zip(lumas, abs_):
            chroma_planes(luma, ab, 8, fmt, False, matrix)
        per_frame.append((time.perf_counter() - start) / len(lumas) * 1e3)
    record = {
        "benchmark": "colour_stage",
        "date": now(),
        "clip": args.clip.name,
        "size": [width, height],
        "frames": len(lumas),
        "opencv_threads": cv2.getNumThreads(),
        "ms_per_frame_median": round(statistics.median(per_frame), 2),
        "ms_per_frame_min": round(min(per_frame), 2),
    }
    median = record["ms_per_frame_median"]
    print(f"{args.clip.name} {width}x{height}: colour stage {median:.1f} ms/frame (median of {ROUNDS})")
    emit(record, args.json_out)


if __name__ == "__main__":
    main()
