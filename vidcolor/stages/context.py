"""What the stages of one run share: the run's context (paths, options, part, stats), the
frames as they travel from stage to stage (FrameItem), and the Part of a reel a worker runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..checkpoint import ResumePoint
from ..config import ColorizeOptions
from ..formats import PlanarFormat
from ..stats import RunStats


@dataclass(frozen=True)
class Part:
    """The frames of a long reel with times in [start, end) seconds, colorized on their own (on
    another machine) into the reel's work folder; `run.assemble_parts` joins the parts.

    The smoother is warmed up on the `source.warmup_seconds` before `start`, so colour carried
    along the motion does not restart at the join (it differs from one whole run only by what the
    smoother remembers from earlier than that: strength**frames, 1% by construction; 0.98**228 =
    9.5 s at 24 fps)."""

    index: int
    start: float  # part 0 starts with the reel, whatever its first timestamp
    end: float | None  # None: to the end of the reel

    @property
    def folder_name(self) -> str:
        return f"part-{self.index:04d}"


@dataclass
class RunContext:
    """One run's input, output and options, and the stats its stages fill in."""

    src: Path
    dst: Path
    options: ColorizeOptions  # its codec is set (the container's default where none was asked for)
    stats: RunStats
    part: Part | None = None
    rotation: int | None = None  # display rotation of the first frame decoded, degrees (set by the source)


@dataclass
class FrameItem:
    frame: av.VideoFrame  # decoded input frame, planar Y'CbCr or grey
    fmt: PlanarFormat
    index: int = -1  # 0-based among the frames decoded (-1: a warm-up frame, see Part)
    seconds: float = 0.0  # its time in the input, after any timestamp repair
    lightness: np.ndarray | None = None  # (H, W) L* at render size, kept for the temporal stage
    ab: np.ndarray | None = None  # (h, w, 2) predicted colour at model resolution
    out: av.VideoFrame | None = None  # the colorized frame
    segment: ResumePoint | None = None  # set when a new segment starts at this frame
    warmup: bool = False  # only run through the model and the smoother, not written (see Part)
    own_colour: float = 0.0  # how far the input frame's own colour is from a tint's (chroma.own_colour)

    @property
    def full_range(self) -> bool:
        return self.fmt.full_range or self.frame.color_range == 2
