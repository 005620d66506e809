"""The figures of the README and docs/: grey / ours / truth for a few held-out photos, or grey / each model for
frames of a black-and-white film (no truth there), to compare models side by side.

python -m vidcolor.training.figure --model M.onnx --data ../shared/data/photos --out docs/validation.jpg
python -m vidcolor.training.figure --model OLD.onnx --model NEW.onnx \
    --video ../shared/data/video/archival/chaplin_street.mp4 --at 1,4.5,8 --out docs/chaplin_street.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from vidcolor.colour import rgb_to_luma
from vidcolor.image import colorize_luma
from vidcolor.model import OnnxColorizer

from .data import find_photos, is_validation, load_rgb
from .evaluate import VAL_FRACTION

TILE_HEIGHT = 192  # px, each row of the figure


def figure(models: list[Path], photos: list[Path]) -> np.ndarray:
    """(H, W, 3) uint8 RGB: one row per photo, columns grey / each model / truth."""
    colorizers = [OnnxColorizer(m) for m in models]
    rows = []
    for path in photos:
        truth = load_rgb(path, 256).astype(np.float32) / 255
        luma = rgb_to_luma(truth)
        tiles = [np.repeat(luma[..., None], 3, axis=-1), *(colorize_luma(c, luma) for c in colorizers), truth]
        rows.append(_row(tiles))
    return _stack(rows)


def film_figure(models: list[Path], video: Path, times: list[float]) -> np.ndarray:
    """(H, W, 3) uint8 RGB: one row per time (s), columns grey / each model (frame by frame)."""
    import av

    colorizers = [OnnxColorizer(m) for m in models]
    rows, wanted = [], sorted(times)
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if wanted and frame.time is not None and frame.time >= wanted[0]:
                wanted.pop(0)
                luma = frame.to_ndarray(format="gray").astype(np.float32) / 255
                tiles = [np.repeat(luma[..., None], 3, axis=-1), *(colorize_luma(c, luma) for c in colorizers)]
                rows.append(_row(tiles))
    return _stack(rows)


def _row(tiles: list[np.ndarray]) -> np.ndarray:
    """Tiles (H, W, 3) float side by side, each TILE_HEIGHT px high."""
    scale = TILE_HEIGHT / tiles[0].shape[0]
    size = (round(tiles[0].shape[1] * scale), TILE_HEIGHT)
    return np.concatenate([cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in tiles], axis=1)


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows]
    return (np.concatenate(rows) * 255).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vidcolor.training.figure", description=__doc__)
    p.add_argument("--model", type=Path, action="append", required=True, help="repeatable: one column each")
    p.add_argument("--data", type=Path, action="append", help="folder of colour photos")
    p.add_argument("--video", type=Path, help="a black-and-white film instead of photos")
    p.add_argument("--at", default="1,4.5,8", help="--video: times of the frames, seconds (default %(default)s)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", type=int, default=6, help="photos, spread evenly over the validation split")
    args = p.parse_args(argv)
    if args.video:
        image = film_figure(args.model, args.video, [float(t) for t in args.at.split(",")])
        chosen = [args.video]
    elif args.data:
        photos = [x for x in find_photos(args.data) if is_validation(x, VAL_FRACTION)]
        chosen = [photos[i] for i in np.linspace(0, len(photos) - 1, args.count).round().astype(int)]
        image = figure(args.model, chosen)
    else:
        p.error("give --data (photos) or --video")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({', '.join(p.name for p in chosen)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
