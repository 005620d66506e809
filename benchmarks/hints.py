"""How much colour hints help on held-out photos: PSNR at 0, 1, 5, 10 and 50 hints (docs/hints.md).

    python benchmarks/hints.py --model M.onnx [--data ../shared/data/photos] [--limit N] [--model-only] [--json-out F]

Each validation photo (`python -m vidcolor.training.evaluate`'s split, at its 256 px short side)
is turned into its luma and colorized with hints sampled from its true colours, as a user would
give them: points drawn uniformly over the picture, each with the default radius, its colour the
photo's mean sRGB over the hint's square written as "#rrggbb", read back through the hints.json
parser (vidcolor.hints). The first k of one photo's 50 points are its k hints, so more hints add
to fewer. PSNR is of the whole picture in R'G'B' against the photo (as `evaluate`). A hintless
model (`--baseline`, default the bundled one, none where it takes hints) is scored on the same
photos, for "0 hints must lose nothing". `--model-only` scores what the network makes of its hint
plane alone, without the spreading of what it left out (hints.spread_hints) that every run does.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import emit, now
from vidcolor.training.data import find_photos, load_rgb
from vidcolor.training.evaluate import EVAL_SHORT_SIDE, select

from vidcolor import bars
from vidcolor.colour import rgb_to_luma
from vidcolor.hints import DEFAULT_RADIUS, parse_hints
from vidcolor.image import colorize_luma
from vidcolor.metrics import psnr
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer

COUNTS = (0, 1, 5, 10, 50)  # hints per photo
SEED = 28  # the points of photo i are drawn from default_rng((SEED, i))


def sampled_hints(truth: np.ndarray, count: int, rng: np.random.Generator, radius: float = DEFAULT_RADIUS) -> dict:
    """A hints.json document of `count` points of the R'G'B' photo `truth` (H, W, 3) in [0, 1]:
    uniform positions, each coloured with the photo's mean over the hint's square."""
    height, width = truth.shape[:2]
    reach = int(radius)
    hints = []
    for _ in range(count):
        x, y = int(rng.integers(width)), int(rng.integers(height))
        patch = truth[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + reach + 1]
        colour = np.clip(np.round(patch.reshape(-1, 3).mean(axis=0) * 255), 0, 255).astype(int)
        hints.append({"x": x, "y": y, "color": "#" + "".join(f"{c:02x}" for c in colour), "radius": radius})
    return {"hints": hints}


def score(model: Path, photos: list[Path], baseline: Path | None, threads: int | None) -> dict:
    """Mean PSNR (dB) per hint count on `photos` (and of the baseline model), and how many."""
    colorizer = OnnxColorizer(model, threads=threads)
    if not colorizer.info.hint_input:
        raise SystemExit(f"{model} takes no colour hints")
    plain = OnnxColorizer(baseline, threads=threads) if baseline else None
    if plain is not None and plain.info.hint_input:
        plain = None  # a hinted baseline with no hints is the 0 row already
    rows, base, grey = [], [], []
    for index, path in enumerate(photos):
        rgb8 = load_rgb(path, EVAL_SHORT_SIDE)
        if rgb8 is None:
            continue
        truth = rgb8.astype(np.float32) / 255
        luma = rgb_to_luma(truth)
        height, width = luma.shape
        document = sampled_hints(truth, max(COUNTS), np.random.default_rng((SEED, index)))
        row = []
        for count in COUNTS:
            hints = parse_hints(json.dumps({"hints": document["hints"][:count]}), path.name)
            ours = colorize_luma(colorizer, luma, hints=hints.for_still(width, height, path.name) if count else None)
            row.append(psnr(ours, truth))
        rows.append(row)
        grey.append(psnr(np.repeat(luma[..., None], 3, axis=-1), truth))
        if plain is not None:
            base.append(psnr(colorize_luma(plain, luma), truth))
    scores = np.array(rows).mean(axis=0)
    return {
        "photos": len(rows),
        "psnr": {str(count): round(float(value), 3) for count, value in zip(COUNTS, scores)},
        "psnr_grey": round(float(np.mean(grey)), 3),
        "psnr_baseline": round(float(np.mean(base)), 3) if base else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help="a model with hint inputs")
    p.add_argument("--baseline", type=Path, default=DEFAULT_MODEL, help="a hintless model (default: bundled)")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "photos")
    p.add_argument("--split", default="val", help="evaluate's split (default val: held out of training)")
    p.add_argument("--limit", type=int, help="the first N photos of the split only")
    p.add_argument("--threads", type=int, help="model threads (default: every core)")
    p.add_argument("--model-only", action="store_true", help="without hints.spread_hints (the network alone)")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    if args.model_only:  # the one place runs call it (bars._predict); a run has no switch for it
        bars.spread_hints = lambda ab, lightness, plane, scale: ab
    photos = select(find_photos([args.data]), args.split)[: args.limit]
    started = time.perf_counter()
    result = score(args.model, photos, args.baseline, args.threads)
    print(f"{result['photos']} photos of the {args.split} split, {args.model.name}:")
    print("| hints | PSNR (dB) | over 0 hints |")
    print("| ---: | ---: | ---: |")
    zero = result["psnr"]["0"]
    for count, value in result["psnr"].items():
        print(f"| {count} | {value:.2f} | {value - zero:+.2f} |")
    if result["psnr_baseline"] is not None:
        print(f"hintless {args.baseline.name}: {result['psnr_baseline']:.2f} dB; grey: {result['psnr_grey']:.2f} dB")
    emit(
        {
            "benchmark": "hints",
            "date": now(),
            "model": str(args.model),
            "baseline": str(args.baseline),
            "split": args.split,
            "spread": not args.model_only,
            "radius": DEFAULT_RADIUS,
            "seed": SEED,
            "seconds": round(time.perf_counter() - started, 1),
            **result,
        },
        args.json_out,
    )


if __name__ == "__main__":
    main()
