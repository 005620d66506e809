"""The README's hints figure: for a few held-out photos, grey / automatic / hinted (its points
drawn) / truth, one row each.

    python benchmarks/hint_figure.py [--model M.onnx] [--photos 4] [--hints 10] [--out docs/hints.jpg]

The photos are the first of `python -m vidcolor.training.evaluate`'s `val` split (never trained
on); each photo's hints are drawn as benchmarks/hints.py draws them (uniform points, coloured with
the true mean over their square, seeded), and shown on the hinted picture as discs of their colour
in a white ring.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from hints import SEED, sampled_hints
from vidcolor.training.data import find_photos, load_rgb
from vidcolor.training.evaluate import EVAL_SHORT_SIDE, select

from vidcolor.colour import rgb_to_luma
from vidcolor.hints import parse_hints
from vidcolor.image import colorize_luma
from vidcolor.metrics import psnr
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer

LABEL_PX = 22  # height of the caption strip above each picture


def _caption(picture: np.ndarray, text: str) -> np.ndarray:
    strip = np.full((LABEL_PX, picture.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, LABEL_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([strip, picture])


def _points(rgb8: np.ndarray, hints: list[dict]) -> np.ndarray:
    shown = rgb8.copy()
    for hint in hints:
        colour = tuple(int(hint["color"][i : i + 2], 16) for i in (1, 3, 5))
        cv2.circle(shown, (hint["x"], hint["y"]), 6, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(shown, (hint["x"], hint["y"]), 4, colour, -1, cv2.LINE_AA)
    return shown


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="a model with hint inputs (default: bundled)")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "photos")
    p.add_argument("--photos", type=int, default=4)
    p.add_argument("--hints", type=int, default=10)
    p.add_argument("--skip", type=int, default=0, help="start this many photos into the split")
    p.add_argument("--out", type=Path, default=Path("docs/hints.jpg"))
    args = p.parse_args()
    colorizer = OnnxColorizer(args.model)
    if not colorizer.info.hint_input:
        raise SystemExit(f"{args.model} takes no colour hints")
    photos = select(find_photos([args.data]), "val")
    rows = []
    for index, path in list(enumerate(photos))[args.skip : args.skip + args.photos]:
        rgb8 = load_rgb(path, EVAL_SHORT_SIDE)
        truth = rgb8.astype(np.float32) / 255
        luma = rgb_to_luma(truth)
        height, width = luma.shape
        # the same points as benchmarks/hints.py gives this photo (its first `--hints` of 50)
        document = sampled_hints(truth, 50, np.random.default_rng((SEED, index)))
        chosen = document["hints"][: args.hints]
        hints = parse_hints(json.dumps({"hints": chosen}), path.name).for_still(width, height, path.name)
        auto = colorize_luma(colorizer, luma)
        hinted = colorize_luma(colorizer, luma, hints=hints)
        as8 = lambda rgb: np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)  # noqa: E731
        grey = as8(np.repeat(luma[..., None], 3, axis=-1))
        row = [
            _caption(grey, f"grey {psnr(grey / 255, truth):.1f} dB"),
            _caption(as8(auto), f"automatic {psnr(auto, truth):.1f} dB"),
            _caption(_points(as8(hinted), chosen), f"{len(chosen)} hints {psnr(hinted, truth):.1f} dB"),
            _caption(rgb8, "truth"),
        ]
        rows.append(np.hstack([cv2.resize(r, (round(r.shape[1] * 256 / r.shape[0]), 256)) for r in row]))
    width = max(r.shape[1] for r in rows)
    figure = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    cv2.imwrite(str(args.out), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"{args.out}: {figure.shape[1]}x{figure.shape[0]} px, {len(rows)} photos of the val split, {args.model}")


if __name__ == "__main__":
    main()
