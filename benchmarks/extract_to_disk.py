"""vidcolor against the extract-frames-to-disk design (DeOldify's video colorizer), same model.

    python benchmarks/extract_to_disk.py CLIP [--preset medium] [--crf 18] [--json-out results.jsonl]

The baseline does what DeOldify's VideoColorizer does, with our model in place of theirs so only
the architecture differs:
  1. ffmpeg extracts every frame to an image file in a work folder (JPEG at high quality, as
     DeOldify does; PNG with --png);
  2. each file is read, colorized on its own (full-resolution RGB out, no temporal smoothing) and
     written back as a new image file;
  3. ffmpeg encodes the colorized files with libx264 at the same preset and CRF, and copies the
     original audio in.
vidcolor then runs on the same clip with the same encoder settings (streaming, no files, temporal
smoothing on). Both are timed end to end, one after the other in this process; the peak disk use
of the baseline's work folder is reported too. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import emit, now

from vidcolor.colour import rgb_to_luma
from vidcolor.image import colorize_luma
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _rate(clip: Path) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=r_frame_rate", "-of", "csv=p=0"]
        + [str(clip)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def extract_to_disk(clip: Path, out: Path, work: Path, preset: str, crf: int, ext: str) -> tuple[int, int]:
    """The baseline; returns (frames, peak bytes in the work folder)."""
    grey_dir, colour_dir = work / "frames", work / "colour"
    grey_dir.mkdir()
    colour_dir.mkdir()
    quality = ["-qscale:v", "2"] if ext == "jpg" else []
    _ffmpeg("-i", str(clip), "-map", "0:v:0", *quality, str(grey_dir / f"%06d.{ext}"))
    colorizer = OnnxColorizer(DEFAULT_MODEL)
    files = sorted(grey_dir.glob(f"*.{ext}"))
    peak = sum(f.stat().st_size for f in files)
    written = 0
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        luma = rgb_to_luma(bgr[..., ::-1].astype(np.float32) / 255)
        rgb = colorize_luma(colorizer, luma)
        target = colour_dir / path.name
        cv2.imwrite(str(target), np.round(rgb[..., ::-1] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
        written += target.stat().st_size
    peak += written
    _ffmpeg(
        "-framerate", _rate(clip), "-i", str(colour_dir / f"%06d.{ext}"), "-i", str(clip),
        "-map", "0:v:0", "-map", "1:a?", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
        "-pix_fmt", "yuv420p", "-c:a", "copy", "-shortest", str(out),
    )  # fmt: skip
    return len(files), peak


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path)
    p.add_argument("--preset", default="medium")
    p.add_argument("--crf", type=int, default=18)
    p.add_argument("--png", action="store_true", help="lossless PNG frames instead of JPEG")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    if not shutil.which("ffmpeg"):
        p.error("ffmpeg is not on PATH (e.g. apt-get install ffmpeg); the baseline is built on it")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        frames, peak_bytes = extract_to_disk(
            args.clip, tmp / "baseline.mp4", tmp, args.preset, args.crf, "png" if args.png else "jpg"
        )
        baseline_s = time.perf_counter() - started
        stats_path = tmp / "stats.json"
        command = [sys.executable, "-m", "vidcolor", "-q", str(args.clip), str(tmp / "ours.mp4")]
        command += ["--preset", args.preset, "--crf", str(args.crf), "--stats-json", str(stats_path)]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        vidcolor_s = time.perf_counter() - started
        stats = json.loads(stats_path.read_text())
    if stats["frames"] != frames:
        print(f"frame counts differ: baseline {frames}, vidcolor {stats['frames']}", file=sys.stderr)
        return 1
    record = {
        "benchmark": "extract_to_disk",
        "date": now(),
        "clip": str(args.clip),
        "frames": frames,
        "image_format": "png" if args.png else "jpg",
        "preset": args.preset,
        "crf": args.crf,
        "baseline_fps": round(frames / baseline_s, 2),
        "baseline_disk_mb": round(peak_bytes / 2**20, 1),
        "vidcolor_fps": round(frames / vidcolor_s, 2),
        "speedup": round(baseline_s / vidcolor_s, 3),
        "vidcolor_backend": stats["backend"],
    }
    print(f"{Path(args.clip).name}: {frames} frames")
    print(f"  extract to disk ({record['image_format']}): {record['baseline_fps']:.2f} fps, ", end="")
    print(f"{record['baseline_disk_mb']} MB of frames on disk")
    print(f"  vidcolor (streaming):  {record['vidcolor_fps']:.2f} fps, no frames on disk")
    print(f"  speed-up: {record['speedup']:.2f}x")
    emit(record, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
