"""Temporal stability on real colour clips: per-frame colour vs temporal smoothing vs the truth.

    python benchmarks/temporal.py ../shared/data/video/color [--model M.onnx] [--strength S] [--json-out F]

Each colour clip is colorized twice from its luma alone (the model only reads the Y plane, so a
colour clip is a black-and-white clip to it), losslessly (FFV1) so that only colour is scored:
once per frame (`--no-temporal`) and once with temporal smoothing. Both are scored against the
original with `vidcolor eval` (PSNR, colourfulness, CDC, warp error); the original's own CDC and
warp error are the truth's. A grey video (the clip's Y plane, neutral chroma) is scored too: our
output has the same luma, so the grey video's warp error shows how much of ours the luma alone
makes. Prints the table of docs/temporal.md, "Measured", and one JSON line per clip.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import emit, now, video_clips, write_with_chroma

from vidcolor import colorize
from vidcolor.evaluate import evaluate_videos
from vidcolor.model import DEFAULT_MODEL
from vidcolor.temporal import DEFAULT_STRENGTH

SCORES = ("psnr", "ssim", "colorfulness", "cdc", "warp_error", "warp_error_ab")  # kept per run


def write_grey(clip: Path, out: Path) -> None:
    """The clip's Y plane with neutral chroma, lossless: what the model sees, as a video."""
    write_with_chroma(clip, out, lambda rows: np.full_like(rows, 128))


def score_clip(clip: Path, model: Path, strength: float, work: Path) -> dict:
    row: dict = {"clip": clip.name}
    grey = work / f"{clip.stem}.grey.mkv"
    write_grey(clip, grey)
    scores = evaluate_videos(clip, grey).to_dict()
    grey.unlink()
    row["grey"] = {k: scores[k] for k in SCORES}
    for name, temporal in (("per_frame", False), ("temporal", True)):
        out = work / f"{clip.stem}.{name}.mkv"
        stats = colorize(clip, out, model=model, codec="ffv1", temporal=temporal, temporal_strength=strength)
        scores = evaluate_videos(clip, out).to_dict()
        out.unlink()
        row[name] = {k: scores[k] for k in SCORES}
        row[name]["fps"] = round(stats.fps, 2)
        if temporal:
            row["cuts"] = len(stats.cuts)
            row["truth"] = {
                "colorfulness": scores["colorfulness_reference"],
                "cdc": scores["cdc_reference"],
                "warp_error": scores["warp_error_reference"],
                "warp_error_ab": scores["warp_error_ab_reference"],
            }
    p, t, truth = row["per_frame"], row["temporal"], row["truth"]
    row["ratios"] = {
        "warp_error_vs_per_frame": t["warp_error"] / p["warp_error"],
        "warp_error_vs_truth": t["warp_error"] / truth["warp_error"],
        "warp_error_ab_vs_per_frame": t["warp_error_ab"] / p["warp_error_ab"],
        "warp_error_ab_vs_truth": t["warp_error_ab"] / truth["warp_error_ab"],
        "cdc_vs_truth": t["cdc"] / truth["cdc"],
        "psnr_change_db": t["psnr"] - p["psnr"],
        "colorfulness_change": t["colorfulness"] / p["colorfulness"] - 1,
    }
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", type=Path, help="folder of colour clips")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--strength", type=float, default=DEFAULT_STRENGTH)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    clips = video_clips(args.clips, p)
    date = now()
    columns = f"{'warp err x1e3':>13} {'ab warp err':>11} {'CDC x1e3':>9} {'PSNR dB':>8} {'colourful':>9}"
    print(f"{'clip':26} {'run':10} {columns}")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            row = score_clip(clip, args.model, args.strength, Path(tmp))
            for name in ("grey", "per_frame", "temporal", "truth"):
                r = row[name]
                psnr = f"{r['psnr']:8.2f}" if "psnr" in r else f"{'':8}"
                print(
                    f"{clip.name:26} {name:10} {1e3 * r['warp_error']:13.3f} {r['warp_error_ab']:11.3f} "
                    f"{1e3 * r['cdc']:9.3f} {psnr} {r['colorfulness']:9.1f}",
                    flush=True,
                )
            record = {"benchmark": "temporal", "date": date, "model": str(args.model), "strength": args.strength, **row}
            emit(record, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
