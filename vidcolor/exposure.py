"""Film flicker: the model sees each frame at the exposure of the frames before it.

Old film flickers: exposure and printing light vary from frame to frame by a few percent. The
model is sensitive to exposure (darker pictures come out more saturated, and in other hues): on a
`dog_path.mp4` frame, 5% less light changes its ab by 4 units RMS, a third of the frame's mean
chroma. So a flickering reel's colour pulses with its brightness, frame by frame, and the temporal
stage, which follows brightness to trust its warp, can hold less of it (docs/temporal.md, "Film flicker").

`ExposureSteadier` measures each frame's exposure (the mean of L* + 16 over the picture: an
exposure gain g in linear light multiplies L* + 16 by g^(1/3) wherever L* > 8) and gives the gain
that brings it to a running mean of the frames before it. Only what the model and the temporal
stage see is steadied; the output's luma is the input's, untouched. A slow change (a fade, a cloud)
is followed with a lag of a few frames; a jump (a cut, a flash, a light switched on) starts again
from the new exposure, uncorrected.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

MEMORY = 0.3  # weight of the newest frame in the running mean of log exposure (an EMA of ~3 frames)
JUMP = math.log(1.4)  # log exposure: a step this large from one frame to the next is a change, not flicker
MAX_GAIN = math.log(1.25)  # log: the correction is bounded (a fade lags the running mean by at most this)
L_OFFSET = 16.0  # L* + 16 is proportional to the cube root of luminance (above L* = 8)
# A new picture is not flicker, whatever its exposure: a cut to a shot as bright as the last would
# otherwise be pulled toward its exposure. The frame's L* in 16 x 12 blocks, correlated with the
# last frame's (a gain leaves the correlation at 1): on the five colour clips consecutive frames
# correlate at 0.83 or more, except across tears_of_steel_canal's three cuts (0.07 or less).
THUMBNAIL = (16, 12)
SAME_PICTURE = 0.7


class ExposureSteadier:
    """Causal exposure gains for one stream of frames; `gains()` takes the frames in order."""

    def __init__(self, memory: float = MEMORY):
        if not 0.0 < memory <= 1.0:
            raise ValueError(f"exposure memory must be in (0, 1], not {memory}")
        self.memory = memory
        self.reset()

    def reset(self) -> None:
        self._mean: float | None = None  # running mean of log exposure
        self._last: float | None = None  # the last frame's log exposure
        self._thumbnail: np.ndarray | None = None  # ... and its L* in blocks

    def state(self) -> list[float]:
        """What the next frame's gain depends on (empty after a reset), for `restore()`."""
        if self._mean is None:
            return []
        return [self._mean, self._last, *(float(v) for v in self._thumbnail)]

    def restore(self, state: list[float]) -> None:
        self.reset()
        if state:
            self._mean, self._last = float(state[0]), float(state[1])
            self._thumbnail = np.asarray(state[2:], np.float64)

    def gains(self, lightness: np.ndarray) -> np.ndarray:
        """lightness (N, h, w) L* of the picture, N frames in order -> (N,) gains for L* + 16."""
        out = np.ones(len(lightness), np.float32)
        for i, frame in enumerate(lightness):
            exposure = math.log(float(np.mean(frame, dtype=np.float64)) + L_OFFSET)
            thumbnail = cv2.resize(frame, THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
            if self._mean is None or abs(exposure - self._last) > JUMP or not self._same(thumbnail):
                self._mean = exposure  # the first frame, or the picture changed: nothing to steady it by
            else:
                out[i] = math.exp(min(max(self._mean - exposure, -MAX_GAIN), MAX_GAIN))
                self._mean += self.memory * (exposure - self._mean)
            self._last, self._thumbnail = exposure, thumbnail
        return out

    def _same(self, thumbnail: np.ndarray) -> bool:
        """Whether the picture is the last frame's, as far as its layout of light and dark goes."""
        a, b = thumbnail - thumbnail.mean(), self._thumbnail - self._thumbnail.mean()
        spread = math.sqrt(float(a @ a) * float(b @ b))
        # A flat picture (a fade to black, a white flash) has no layout to compare: its exposure decides.
        return spread < 1e-6 * a.size or float(a @ b) >= SAME_PICTURE * spread


def apply_gains(lightness: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """L* (N, h, w) with each frame's L* + 16 multiplied by its gain, within 0..100."""
    if np.all(gains == 1):
        return lightness
    scaled = (lightness + np.float32(L_OFFSET)) * gains.astype(np.float32)[:, None, None] - np.float32(L_OFFSET)
    return np.clip(scaled, 0, 100, out=scaled)
