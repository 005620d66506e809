"""How a model's colour depends on the colour sensitivity of the film: docs/quality.md's table
("Film of other colour sensitivities").

    python benchmarks/film_sensitivity.py [--model M.onnx ...] [--data ../shared/data/photos] [--json-out F]

Black-and-white film before the mid-1920s was orthochromatic (blind to red) or, earlier still,
blue-sensitive: the same scene comes out in other greys than in a colour video's luma, which is
what the model learnt from. Each held-out photo is turned grey three ways (the luma; as
orthochromatic and as blue-sensitive film record it: `vidcolor.training.data`'s weights), each
grey picture is colorized, and only the colour is scored: the model's a*b* with the photo's own
L*, against the photo (PSNR, hue agreement, colourfulness). A model that sees through the film's
sensitivity scores the same on all three.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import emit, now
from vidcolor.training.data import BLUE_SENSITIVE, ORTHOCHROMATIC, find_photos, load_rgb
from vidcolor.training.evaluate import EVAL_SHORT_SIDE, select

from vidcolor.colour import lab_to_rgb, rgb_to_lab, rgb_to_luma
from vidcolor.image import colorize_luma
from vidcolor.metrics import colorfulness, hue_agreement, psnr
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer

FILMS = {"panchromatic (the luma)": None, "orthochromatic": ORTHOCHROMATIC, "blue-sensitive": BLUE_SENSITIVE}


def score(model: Path, photos: list[Path]) -> dict[str, tuple[float, float, float]]:
    """Per film: mean PSNR (dB), hue agreement and colourfulness of the model's colour on `photos`."""
    colorizer = OnnxColorizer(model)
    rows: dict[str, list] = {film: [] for film in FILMS}
    for path in photos:
        rgb8 = load_rgb(path, EVAL_SHORT_SIDE)
        if rgb8 is None:
            continue
        truth = rgb8.astype(np.float32) / 255
        lightness = rgb_to_lab(truth)[..., :1]
        for film, weights in FILMS.items():
            grey = rgb_to_luma(truth) if weights is None else truth @ np.asarray(weights, np.float32)
            ab = rgb_to_lab(colorize_luma(colorizer, grey))[..., 1:]
            ours = lab_to_rgb(np.concatenate([lightness, ab], axis=-1))  # the photo's lightness, our colour
            rows[film].append((psnr(ours, truth), hue_agreement(ours, truth), colorfulness(ours)))
    return {film: tuple(float(v) for v in np.mean(r, axis=0)) for film, r in rows.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append", help="ONNX model (repeatable; default: the bundled one)")
    p.add_argument("--data", type=Path, default=Path("../shared/data/photos"), help="folder of colour photos")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    photos = select(find_photos([args.data]), "val")
    print(f"{len(photos)} held-out photos; PSNR (dB) / hue agreement / colourfulness of the colour alone")
    for model in args.model or [DEFAULT_MODEL]:
        scores = score(model, photos)
        print(model.name, " | ".join(f"{film}: {s[0]:.2f} / {s[1]:.3f} / {s[2]:.1f}" for film, s in scores.items()))
        emit({"benchmark": "film_sensitivity", "date": now(), "model": str(model), "photos": len(photos),
              "scores": {film: dict(zip(("psnr", "hue_agreement", "colorfulness"), s)) for film, s in scores.items()}},
             args.json_out)  # fmt: skip


if __name__ == "__main__":
    main()
