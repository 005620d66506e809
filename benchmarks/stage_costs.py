"""Where a run's time goes: each stage's cost per frame with the stages run one after another in
one thread (no stage waits for a core another holds), beside the same run in threads.

    python benchmarks/stage_costs.py CLIP [vidcolor's run options: --device cuda ...]

For each of `inline` and `threaded`: frames/s, each stage's busy milliseconds per frame, and how
many cores the process kept busy (CPU seconds over wall seconds). docs/performance.md's per-frame 1080p
costs on the H200 came from this, on `benchmarks/gpu_check.py`'s 1080p clip. Nothing here
asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from dataclasses import replace
from pathlib import Path

from vidcolor import colorize
from vidcolor.cli import add_run_options, options_from_args


def stage_costs(clip: Path, options, threaded: bool, out: Path) -> dict:
    """One run of `clip` into `out`; its fps, busy ms per frame per stage and busy cores."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    stats = colorize(clip, out, replace(options, threaded=threaded, overwrite=True))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "mode": "threaded" if threaded else "inline",
        "frames": stats.frames,
        "fps": round(stats.fps, 1),
        "steady_fps": round(stats.steady_fps, 1),
        "ms_per_frame": {k: round(v / stats.frames * 1000, 2) for k, v in stats.busy_seconds.items()},
        "cores_busy": round(cpu / stats.wall_seconds, 2),
        "backend": stats.backend,
        "colour_device": stats.colour_device,
        "decoder": stats.decoder,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path)
    add_run_options(p)
    args = p.parse_args()
    options = options_from_args(args)
    with tempfile.TemporaryDirectory(prefix="vidcolor-stages-") as tmp:
        out = Path(tmp) / "out.mkv"  # x264 as into .mp4, and Matroska holds any input's sound as it is
        # The first run also pays the one-time costs (CUDA, cuDNN's choices): compare steady_fps.
        for threaded in (True, False):
            print(json.dumps(stage_costs(args.clip, options, threaded, out)), flush=True)


if __name__ == "__main__":
    main()
