"""Evaluate a model on colour photos: PSNR and colourfulness against the grey baseline.

    python -m vidcolor.training.evaluate --model M.onnx --data DIR [--split val|calibration|all] [--by-folder]

Each photo is turned into its luma (what a black-and-white frame carries), colorized through
the runtime, and compared with the true photo in R'G'B'. The grey baseline is the luma itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from vidcolor.colour import rgb_to_luma
from vidcolor.image import colorize_luma
from vidcolor.metrics import colorfulness, hue_agreement, psnr, ssim
from vidcolor.model import OnnxColorizer

from .data import find_photos, is_validation, load_rgb

EVAL_SHORT_SIDE = 256  # px: photos are scored at this short side
VAL_FRACTION = 0.1  # must match the split the model was trained with
CALIBRATION_EVERY = 10  # the calibration split: every 10th training photo, for choosing decoding settings


def select(photos: list[Path], split: str) -> list[Path]:
    """The photos of a split: "val" (held out of training), "calibration" (every 10th training photo,
    where decoding settings such as the temperature and the chroma gain are chosen, so the
    validation split stays unseen) or "all"."""
    if split == "val":
        return [x for x in photos if is_validation(x, VAL_FRACTION)]
    if split == "val-issue3":  # the validation photos of the first 1,798 (issue 3's table: 169)
        return [x for x in photos if is_validation(x, VAL_FRACTION) and "more" not in x.parts[:-2]]
    if split == "calibration":
        return [x for x in photos if not is_validation(x, VAL_FRACTION)][::CALIBRATION_EVERY]
    return list(photos)


@dataclass
class Scores:
    photos: int
    psnr_grey: float  # dB, the luma as a grey picture against the truth
    psnr_model: float
    psnr_model_unguided: float  # the same model with plain bilinear ab upsampling
    ssim_grey: float
    ssim_model: float
    colorfulness_grey: float  # Hasler-Suesstrunk, 0-255 scale (always 0 for grey)
    colorfulness_model: float
    colorfulness_truth: float
    better_than_grey: float  # share of the photos where the model's PSNR is above the grey picture's


def evaluate(
    model: Path,
    photos: list[Path],
    threads: int | None = None,
    temperature: float | None = None,
    chroma_gain: float | None = None,
) -> Scores:
    """Mean scores over `photos`; `temperature` and `chroma_gain` override the model's own."""
    return summarize(row for _, row in photo_scores(model, photos, threads, temperature, chroma_gain))


def photo_scores(
    model: Path,
    photos: list[Path],
    threads: int | None = None,
    temperature: float | None = None,
    chroma_gain: float | None = None,
) -> list[tuple[Path, tuple[float, ...]]]:
    """(photo, its scores) for each readable photo, the scores in the order of Scores' fields
    after `photos` (less `better_than_grey`, which `summarize` derives)."""
    colorizer = OnnxColorizer(model, threads=threads)
    if temperature is not None:
        colorizer.info = replace(colorizer.info, temperature=temperature)
    # A different gain is the model's ab scaled as `vidcolor --saturation` scales them.
    saturation = 1.0 if chroma_gain is None else chroma_gain / colorizer.info.chroma_gain
    rows = []
    for path in photos:
        rgb8 = load_rgb(path, EVAL_SHORT_SIDE)
        if rgb8 is None:
            continue
        truth = rgb8.astype(np.float32) / 255
        luma = rgb_to_luma(truth)
        grey = np.repeat(luma[..., None], 3, axis=-1)
        ours = colorize_luma(colorizer, luma, saturation=saturation)
        unguided = colorize_luma(colorizer, luma, guided=False, saturation=saturation)
        scores = (
            psnr(grey, truth),
            psnr(ours, truth),
            psnr(unguided, truth),
            ssim(grey, truth),
            ssim(ours, truth),
            colorfulness(grey),
            colorfulness(ours),
            colorfulness(truth),
        )
        rows.append((path, scores))
    return rows


def summarize(rows) -> Scores:
    """Scores over photos from their `photo_scores` rows."""
    rows = np.array(list(rows))
    if not len(rows):
        raise ValueError("no readable photos to evaluate")
    better = float(np.mean(rows[:, 1] > rows[:, 0]))
    return Scores(len(rows), *(float(v) for v in rows.mean(axis=0)), better_than_grey=better)


def sweep(
    model: Path, photos: list[Path], temperatures: list[float], gains: list[float], threads: int | None = None
) -> list[dict]:
    """PSNR, colourfulness (and its ratio to the truth's) and the share of photos above grey for
    every (temperature, chroma gain) pair: the model runs once per photo and temperature, the
    gains scale its ab as `--chroma-gain` would. For choosing decoding settings on the calibration
    split (`--sweep`)."""
    from vidcolor.image import luma_with_ab, predict_ab

    colorizer = OnnxColorizer(model, threads=threads)
    base = colorizer.info
    truths = [rgb.astype(np.float32) / 255 for rgb in (load_rgb(p, EVAL_SHORT_SIDE) for p in photos) if rgb is not None]
    results = []
    for temperature in temperatures:
        colorizer.info = replace(base, temperature=temperature)
        abs_ = [predict_ab(colorizer, [rgb_to_luma(t)], None)[1][0] / np.float32(base.chroma_gain) for t in truths]
        for gain in gains:
            rows = []
            for truth, ab in zip(truths, abs_, strict=True):
                luma = rgb_to_luma(truth)
                ours = luma_with_ab(luma, ab * np.float32(gain), "bt709", True, False)
                grey = np.repeat(luma[..., None], 3, axis=-1)
                rows.append((psnr(grey, truth), psnr(ours, truth), colorfulness(ours), colorfulness(truth)))
            r = np.array(rows)
            results.append(
                {
                    "temperature": temperature,
                    "chroma_gain": gain,
                    "psnr_over_grey": float(r[:, 1].mean() - r[:, 0].mean()),
                    "colorfulness_ratio": float(r[:, 2].mean() / r[:, 3].mean()),
                    "better_than_grey": float(np.mean(r[:, 1] > r[:, 0])),
                }
            )
    return results


def by_folder(photos: list[Path], roots: list[Path]) -> dict[str, list[Path]]:
    """The photos grouped by the folder they lie in, named relative to the --data root holding
    them (`more/intel_scenes`), largest group first: where the model is above or below grey."""
    groups: dict[str, list[Path]] = {}
    for path in photos:
        root = next((r for r in roots if path.is_relative_to(r)), path.parent)
        groups.setdefault(str(path.parent.relative_to(root)), []).append(path)
    return dict(sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])))


@dataclass
class ClipScores:
    clip: str
    frames: int  # frames scored (every `every`-th)
    psnr_grey: float
    psnr_model: float
    hue_agreement: float  # see vidcolor.metrics.hue_agreement
    colorfulness_ratio: float  # model's colourfulness over the true clip's, mean over scored frames


def evaluate_clip(model: Path, clip: Path, every: int = 30) -> ClipScores:
    """Colorizes a colour clip through the whole pipeline (lossless, so only the model is scored)
    and compares every `every`-th frame with the original. The model sees only the Y plane, so a
    colour clip is a black-and-white clip to it."""
    import tempfile

    import av

    from vidcolor import colorize

    def frames(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") / 255 for i, f in enumerate(c.decode(video=0)) if i % every == 0]

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mkv"
        colorize(clip, out, model=model, codec="ffv1")
        ours = frames(out)
    truth = frames(clip)
    rows = []
    for t, o in zip(truth, ours, strict=True):
        grey = np.repeat(rgb_to_luma(t)[..., None], 3, axis=-1)
        small = (slice(None, None, 4), slice(None, None, 4))
        rows.append((psnr(grey, t), psnr(o, t), hue_agreement(o[small], t[small]), colorfulness(o) / colorfulness(t)))
    m = np.nanmean(rows, axis=0)
    return ClipScores(clip.name, len(rows), *(float(v) for v in m))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vidcolor.training.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, action="append", help="folder of colour photos (repeatable)")
    p.add_argument("--clips", type=Path, help="folder of colour video clips, scored through the whole pipeline")
    p.add_argument(
        "--split",
        choices=["val", "val-issue3", "calibration", "all"],
        default="val",
        help="held-out photos only (default), those of them among the first 1,798 photos (issue 3's split), "
        "every 10th training photo (to choose decoding settings on), or all",
    )
    p.add_argument("--temperature", type=float, help="override the model's annealed-mean temperature")
    p.add_argument("--chroma-gain", type=float, help="override the model's chroma gain (its ab are scaled to this)")
    p.add_argument(
        "--sweep",
        nargs=2,
        metavar=("TEMPERATURES", "GAINS"),
        help="score every pair of these comma-separated temperatures and chroma gains (e.g. 0.38,0.5 1,1.2)",
    )
    p.add_argument("--by-folder", action="store_true", help="score each source folder of the split on its own too")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not args.data and not args.clips:
        p.error("give --data (photos), --clips (videos) or both")
    if args.clips:
        clips = sorted(x for x in args.clips.iterdir() if x.suffix.lower() in (".mp4", ".mkv", ".mov", ".avi"))
        results = [evaluate_clip(args.model, clip) for clip in clips]
        if args.json:
            for r in results:
                print(json.dumps(asdict(r)))
        else:
            header = ("clip", "frames", "PSNR grey", "PSNR model", "hue agreement", "colourfulness")
            print("{:28} {:>6} {:>9} {:>10} {:>13} {:>13}".format(*header))
            for r in results:
                print(
                    f"{r.clip:28} {r.frames:6d} {r.psnr_grey:9.2f} {r.psnr_model:10.2f} {r.hue_agreement:13.2f} "
                    f"{r.colorfulness_ratio:13.2f}"
                )
        if not args.data:
            return 0
    photos = select(find_photos(args.data), args.split)
    if args.sweep:
        temperatures, gains = ([float(v) for v in text.split(",")] for text in args.sweep)
        print(f"{len(photos)} photos ({args.split}); PSNR over grey dB / colourfulness over the truth's / above grey")
        for r in sweep(args.model, photos, temperatures, gains):
            print(json.dumps(r) if args.json else (
                f"T {r['temperature']:<5g} gain {r['chroma_gain']:<5g} {r['psnr_over_grey']:+6.2f} "
                f"{r['colorfulness_ratio']:5.2f} {r['better_than_grey']:5.0%}"))  # fmt: skip
        return 0
    rows = photo_scores(args.model, photos, temperature=args.temperature, chroma_gain=args.chroma_gain)
    if args.by_folder:  # the photos scored once, summed up by folder and for the whole split
        if not args.json:
            print(f"{len(photos)} photos ({args.split}), by folder")
            print(f"{'folder':32} {'photos':>6} {'PSNR grey':>9} {'model':>6} {'above grey':>10} {'colourfulness':>13}")
        by_path = dict(rows)
        for folder, group in by_folder(list(by_path), args.data).items():
            r = summarize(by_path[path] for path in group)
            if args.json:
                print(json.dumps({"folder": folder, **asdict(r)}))
                continue
            print(
                f"{folder:32} {r.photos:6d} {r.psnr_grey:9.2f} {r.psnr_model:6.2f} {r.better_than_grey:10.0%} "
                f"{r.colorfulness_model / r.colorfulness_truth:13.2f}"
            )
    scores = summarize(row for _, row in rows)
    if args.json:
        print(json.dumps(asdict(scores)))
    else:
        print(f"{scores.photos} photos ({args.split})")
        print(f"{'':18} {'PSNR dB':>8} {'SSIM':>6} {'colourfulness':>14}")
        print(f"{'grey':18} {scores.psnr_grey:8.2f} {scores.ssim_grey:6.3f} {scores.colorfulness_grey:14.1f}")
        print(f"{'model':18} {scores.psnr_model:8.2f} {scores.ssim_model:6.3f} {scores.colorfulness_model:14.1f}")
        print(f"{'model, no guide':18} {scores.psnr_model_unguided:8.2f}")
        print(f"{'truth':18} {'':>8} {'':>6} {scores.colorfulness_truth:14.1f}")
        print(f"model above grey on {scores.better_than_grey:.0%} of the photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
