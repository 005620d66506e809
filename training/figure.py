"""The README's figure: grey / ours / truth for a few held-out photos.

python -m vidcolor.training.figure --model M.onnx --data ../shared/data/photos --out docs/validation.jpg
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


def figure(model: Path, photos: list[Path]) -> np.ndarray:
    """(H, W, 3) uint8 RGB: one row per photo, columns grey / ours / truth."""
    colorizer = OnnxColorizer(model)
    rows = []
    for path in photos:
        truth = load_rgb(path, 256).astype(np.float32) / 255
        luma = rgb_to_luma(truth)
        tiles = [np.repeat(luma[..., None], 3, axis=-1), colorize_luma(colorizer, luma), truth]
        scale = TILE_HEIGHT / truth.shape[0]
        size = (round(truth.shape[1] * scale), TILE_HEIGHT)
        rows.append(np.concatenate([cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in tiles], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows]
    return (np.concatenate(rows) * 255).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vidcolor.training.figure", description=__doc__)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, action="append", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", type=int, default=6, help="photos, spread evenly over the validation split")
    args = p.parse_args(argv)
    photos = [x for x in find_photos(args.data) if is_validation(x, VAL_FRACTION)]
    chosen = [photos[i] for i in np.linspace(0, len(photos) - 1, args.count).round().astype(int)]
    image = figure(args.model, chosen)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({', '.join(p.name for p in chosen)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
