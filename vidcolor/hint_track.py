"""Colour hints along a shot: each hint of a video holds from its frame until the next scene cut,
its point carried along the motion from frame to frame, and fading where the motion cannot be
trusted (an occlusion), so that a hinted coat keeps its colour while it walks across the frame.

The cuts are the temporal smoother's (`TemporalSmoother.follow`), so a hint stops at the cuts the
run reports; each point is followed by pyramidal Lucas-Kanade on the same L* there and back
(DIS's dense flow, smoothed over the frame, fell 30% short of a small square's motion, and the
hint slid off it). The track is causal and keeps one frame of state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .hints import Hint, Hints, hint_record
from .temporal import TemporalSmoother

LK = dict(winSize=(15, 15), maxLevel=3)  # pyramidal Lucas-Kanade at the flow size (128 px short side)
ROUND_TRIP_PX = 1.0  # flow px: a point followed there and back that lands further than this is taken as hidden ...
FADE = 0.5  # ... and its weight (the hint mask the model sees) falls by this factor each such frame;
DROP_WEIGHT = 0.1  # below this (four frames hidden in a row) the hint ends
TIME_TOLERANCE = 1e-6  # s: a hint's time given to the ms finds the frame whose timestamp it rounds (as vidcolor frame)


@dataclass
class Carried:
    """A hint as it is at the current frame."""

    hint: Hint
    x: float  # where its point is now: px of the displayed picture (continuous, 0 = left edge)
    y: float
    weight: float = 1.0  # 1 while its motion is trusted; falls while it is hidden

    def moved(self) -> Hint:
        """The hint with its point where it is now (the nearest pixel)."""
        return replace(self.hint, x=int(self.x), y=int(self.y))


class HintTrack:
    """The hints of a video, frame by frame: `advance` is called once per decoded frame, in order."""

    def __init__(self, hints: Hints, rate: float):
        self.hints = hints
        self.period = 1.0 / rate  # s per frame (when the frame after a time hint's frame starts, at the latest)
        self.follower = TemporalSmoother(0.0)  # its motion and cuts only
        self.carried: list[Carried] = []
        self.started: set[int] = set()  # numbers of the hints that have started
        self.dropped: list[dict] = []  # hints a cut ended: hint_record with the frame and time of the cut
        self.first: float | None = None  # time (s) of the first frame (what a hint's "time" counts from)
        self.frames = 0  # frames seen so far
        self.end = 0.0  # s after the first frame: when the last frame seen ends

    def advance(
        self, index: int, seconds: float, lightness: np.ndarray, ab_shape: tuple, displayed: tuple[int, int]
    ) -> list[tuple[Hint, float]]:
        """The hints at decoded frame `index` (0-based) shown at `seconds` (the input's time), as
        (hint moved to where its point is now, weight), given the frame's L* (h, w) as displayed
        (upright, at the size the points are followed at), the shape of the model's ab for it, and
        the size (height, width) of the picture as displayed, which the hints' x and y count."""
        if self.first is None:
            self.first = seconds
        before = self.follower.state().get("lightness8")
        motion = self.follower.follow(lightness, ab_shape)
        if motion.trust is None:
            if self.carried:
                cut = {"cut_frame": index, "cut_time": round(seconds - self.first, 3)}
                self.dropped += [hint_record(c.hint) | cut for c in self.carried]
            self.carried = []
        else:
            self.carried = self._moved(before, self.follower.state()["lightness8"], displayed)
        now = seconds - self.first
        self.frames, self.end = index + 1, now + self.period
        for hint in self.hints:
            if hint.number in self.started:
                continue
            # A time names the frame shown then: the last that starts at or before it (the next one
            # starts a period later); one passed by (a gap in the timestamps) starts at once.
            # A hint giving neither (as a still's may) starts at the first frame.
            first = hint.frame is None and hint.time is None and index == 0
            if (
                first
                or hint.frame == index
                or (hint.time is not None and hint.time + TIME_TOLERANCE < now + self.period)
            ):
                self.started.add(hint.number)
                self.carried.append(Carried(hint, hint.x + 0.5, hint.y + 0.5))
        return [(c.moved(), c.weight) for c in self.carried]

    def _moved(self, before: np.ndarray, after: np.ndarray, shape: tuple[int, int]) -> list[Carried]:
        """The carried hints moved to this frame: each point followed from the last frame's L
        (`before`, uint8 at the flow size) to this one's (`after`) by pyramidal Lucas-Kanade, and
        back again; where the two disagree or the point is lost (hidden), its weight fades. Those
        that leave the picture or fade out are gone. `shape` is the displayed picture's (height,
        width), in whose px the points are kept."""
        if not self.carried:
            return []
        height, width = after.shape
        down, across = height / shape[0], width / shape[1]  # flow px per displayed px
        points = np.float32([[c.x * across - 0.5, c.y * down - 0.5] for c in self.carried]).reshape(-1, 1, 2)
        there, found, _ = cv2.calcOpticalFlowPyrLK(before, after, points, None, **LK)
        back, returned, _ = cv2.calcOpticalFlowPyrLK(after, before, there, None, **LK)
        error = np.linalg.norm((back - points).reshape(-1, 2), axis=1)
        kept = []
        for c, (column, row), ok, home, err in zip(
            self.carried, there.reshape(-1, 2), found.ravel(), returned.ravel(), error
        ):
            if not (-0.5 <= column < width - 0.5 and -0.5 <= row < height - 0.5):
                continue  # out of the picture
            seen = bool(ok) and bool(home) and err <= ROUND_TRIP_PX
            weight = c.weight if seen else c.weight * FADE
            if weight < DROP_WEIGHT:
                continue
            if not seen:  # a hidden point stays where it was
                column, row = c.x * across - 0.5, c.y * down - 0.5
            kept.append(Carried(c.hint, (float(column) + 0.5) / across, (float(row) + 0.5) / down, weight))
        return kept

    # -- resuming ----------------------------------------------------------------------------------

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(what the track holds, as JSON; its motion's arrays, named hint_*), for `restore`."""
        held = {
            "first": self.first,
            "started": sorted(self.started),
            "carried": [[c.hint.number, c.x, c.y, c.weight] for c in self.carried],
            "dropped": [dict(d) for d in self.dropped],
            "frames": self.frames,
            "end": self.end,
        }
        return held, {f"hint_{name}": array for name, array in self.follower.state().items()}

    def restore(self, held: dict, arrays: dict[str, np.ndarray]) -> None:
        """Continues from a `state()` taken in another process (a resumed run) as if never stopped."""
        by_number = {hint.number: hint for hint in self.hints}
        self.first = held.get("first")
        self.started = set(held.get("started", ()))
        self.carried = [Carried(by_number[n], x, y, w) for n, x, y, w in held.get("carried", ())]
        self.dropped = [dict(d) for d in held.get("dropped", ())]
        self.frames, self.end = held.get("frames", 0), held.get("end", 0.0)
        self.follower.restore({name[5:]: a for name, a in arrays.items() if name.startswith("hint_")})
