"""The temporal stage: each frame's a*b* smoothed along the motion from the frames before
(`vidcolor.temporal.TemporalSmoother`), started again at scene cuts, which go into the stats."""

from __future__ import annotations

from collections.abc import Iterator

from ..checkpoint import ResumePoint
from ..temporal import TemporalSmoother
from .context import FrameItem, RunContext


class SmoothingStage:
    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.smoother = TemporalSmoother(ctx.options.temporal_strength)
        self.smoothed = 0  # frames through the stage so far (warm-up frames not counted)
        self.warmed = False  # the smoother has seen frames before this part (so a cut at its start counts)

    def restore(self, point: ResumePoint) -> None:
        self.smoothed = point.smoothed
        self.ctx.stats.cuts = list(point.cuts)
        own = {name: array for name, array in (point.temporal or {}).items() if not name.startswith("hint_")}
        self.smoother.restore(own)

    def __call__(self, batches: Iterator[list[FrameItem]]) -> Iterator[list[FrameItem]]:
        cuts = self.ctx.stats.cuts
        for batch in batches:
            for item in batch:
                if item.segment is not None:
                    item.segment.smoothed, item.segment.cuts = self.smoothed, list(cuts)
                    item.segment.temporal = (item.segment.temporal or {}) | self.smoother.state()
                result = self.smoother.smooth(item.lightness, item.ab)
                item.ab, item.lightness = result.ab, None
                if item.warmup:
                    self.warmed = True
                    continue
                if result.cut and (self.smoothed or self.warmed):
                    cuts.append({"frame": self.smoothed, "time": round(item.seconds, 3)})
                self.smoothed += 1
            yield batch
