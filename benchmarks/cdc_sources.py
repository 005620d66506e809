"""Where the CDC of a temporally smoothed run comes from: docs/temporal.md, "Where the remaining CDC comes from".

    python benchmarks/cdc_sources.py ../shared/data/video/color/bedroom.mp4 [--json-out F]

Scores one colour clip several ways with `vidcolor eval`'s CDC, each changing one thing:
the true clip with its chroma held still or scaled; our colour held still (no flow), held still
but carried along the flow everywhere, or smoothed as shipped; each with guided and with plain
bilinear upsampling of ab. The variants replace the temporal stage's smoother and the colour
stage's function inside `vidcolor.stages` for this process only; nothing in the package changes.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
from common import emit, now, write_with_chroma

import vidcolor.stages.colour as colour_stage
import vidcolor.stages.smoothing as smoothing_stage
from vidcolor import colorize
from vidcolor.chroma import chroma_planes
from vidcolor.evaluate import evaluate_videos
from vidcolor.temporal import DEFAULT_STRENGTH, TemporalSmoother

HELD = 0.999  # strength that keeps the colour of the first frame nearly unchanged
SCALE = 2.5  # chroma gain for "the truth, as vivid as ours" (bedroom: ours 47.7, truth 19.5)


class Carried(TemporalSmoother):
    """Trusts the warp everywhere inside the frame: colour goes wherever the flow takes it."""

    def _trust(self, lightness8, lightness, neighbourhood):
        _, following, agreeing, (map_x, map_y) = super()._trust(lightness8, lightness, neighbourhood)
        height, width = lightness8.shape
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        return inside.astype(np.float32), following, agreeing, (map_x, map_y)


class Still(TemporalSmoother):
    """Carries colour without motion: the identity warp, trusted everywhere."""

    def _trust(self, lightness8, lightness, neighbourhood):
        _, following, agreeing, _ = super()._trust(lightness8, lightness, neighbourhood)
        height, width = lightness8.shape
        map_x, map_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        return np.ones((height, width), np.float32), following, agreeing, (map_x, map_y)


def held(rows: np.ndarray, first: list) -> np.ndarray:
    """The chroma rows of the first frame seen, for every frame (`first` holds them)."""
    if not first:
        first.append(rows.copy())
    return first[0]


def scaled(rows: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(128 + (rows.astype(np.float32) - 128) * SCALE), 0, 255).astype(np.uint8)


def ours(clip: Path, out: Path, smoother: type, strength: float, guided: bool) -> None:
    saved = smoothing_stage.TemporalSmoother, colour_stage.chroma_planes
    smoothing_stage.TemporalSmoother, colour_stage.chroma_planes = smoother, partial(chroma_planes, guided=guided)
    try:
        colorize(clip, out, codec="ffv1", temporal=True, temporal_strength=strength)
    finally:
        smoothing_stage.TemporalSmoother, colour_stage.chroma_planes = saved


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path, help="a colour clip")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    variants = {
        "truth, chroma of frame 0 held": lambda out: write_with_chroma(args.clip, out, partial(held, first=[])),
        f"truth, chroma x{SCALE}": lambda out: write_with_chroma(args.clip, out, scaled),
    }
    for guided in (False, True):
        upsampling = "guided" if guided else "bilinear"
        variants[f"ours held still, {upsampling}"] = partial(
            ours, args.clip, smoother=Still, strength=HELD, guided=guided
        )
        variants[f"ours held, carried along the flow, {upsampling}"] = partial(
            ours, args.clip, smoother=Carried, strength=HELD, guided=guided
        )
        variants[f"ours smoothed as shipped, {upsampling}"] = partial(
            ours, args.clip, smoother=TemporalSmoother, strength=DEFAULT_STRENGTH, guided=guided
        )
    record: dict = {"benchmark": "cdc_sources", "date": now(), "clip": args.clip.name}
    with tempfile.TemporaryDirectory() as work:
        for name, make in variants.items():
            out = Path(work) / "variant.mkv"
            make(out)
            scores = evaluate_videos(args.clip, out)
            out.unlink()
            record["truth"] = round(scores.cdc_reference * 1e3, 3)
            record[name] = round(scores.cdc * 1e3, 3)
            print(f"{name:50} CDC x1e3 {scores.cdc * 1e3:7.3f}  (truth {scores.cdc_reference * 1e3:.3f})", flush=True)
    emit(record, args.json_out)


if __name__ == "__main__":
    main()
