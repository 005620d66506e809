"""End-to-end CPU throughput of `vidcolor` next to a plain ffmpeg x264 transcode of the same clip.

    python benchmarks/throughput.py CLIP [--model M] [--preset medium] [--crf 18] [--json-out results.jsonl]

All runs encode with libx264 at the same preset and CRF and copy the audio, one after the
other in this process, so the ratios are measured on one machine in one run: ffmpeg, vidcolor,
and vidcolor --no-temporal (the cost of temporal smoothing). Prints a table and one JSON line
with the machine, library versions and git revision.
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

from common import emit, now


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path)
    p.add_argument("--preset", default="medium")
    p.add_argument("--crf", type=int, default=18)
    p.add_argument("--threads", type=int, help="passed to vidcolor --threads (model threads)")
    p.add_argument("--model", help="passed to vidcolor --model (default: the bundled model)")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    if not shutil.which("ffmpeg"):
        p.error("ffmpeg is not on PATH (e.g. apt-get install ffmpeg); it is the baseline")
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.mp4"
        ours = Path(tmp) / "ours.mp4"
        stats_path = Path(tmp) / "stats.json"
        ffmpeg_s = _timed(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(args.clip),
                "-map",
                "0:v:0",
                "-map",
                "0:a?",
                "-c:v",
                "libx264",
                "-preset",
                args.preset,
                "-crf",
                str(args.crf),
                "-c:a",
                "copy",
                str(plain),
            ]
        )

        def vidcolor(*extra: str) -> tuple[float, dict]:
            command = [sys.executable, "-m", "vidcolor", "-q", str(args.clip), str(ours), "--overwrite"]
            command += ["--preset", args.preset, "--crf", str(args.crf), "--stats-json", str(stats_path)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            if args.model:
                command += ["--model", args.model]
            seconds = _timed(command + list(extra))
            return seconds, json.loads(stats_path.read_text())

        vidcolor_s, stats = vidcolor()
        per_frame_s, _ = vidcolor("--no-temporal")
    frames = stats["frames"]
    record = {
        "benchmark": "throughput",
        "date": now(),
        "clip": args.clip.name,
        "frames": frames,
        "preset": args.preset,
        "crf": args.crf,
        "ffmpeg_x264_fps": round(frames / ffmpeg_s, 2),
        "vidcolor_fps": round(frames / vidcolor_s, 2),
        "ratio": round(ffmpeg_s / vidcolor_s, 3),
        "vidcolor_no_temporal_fps": round(frames / per_frame_s, 2),
        "temporal_cost": round(1 - per_frame_s / vidcolor_s, 3),  # share of throughput lost to smoothing
        "cuts": len(stats.get("cuts", [])),
        "vidcolor_busy_seconds": stats["busy_seconds"],
        "vidcolor_peak_rss_mb": stats.get("peak_rss_mb"),
        "render_shape": stats["render_shape"],
        "model_threads": args.threads or "default",
        "model": args.model or "bundled",
    }
    print(f"{'clip':28} {'frames':>6} {'ffmpeg fps':>10} {'vidcolor fps':>12} {'ratio':>6} {'per-frame fps':>13}")
    print(
        f"{args.clip.name:28} {frames:6d} {record['ffmpeg_x264_fps']:10.1f} {record['vidcolor_fps']:12.1f} "
        f"{record['ratio']:6.2f} {record['vidcolor_no_temporal_fps']:13.1f}"
    )
    emit(record, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
