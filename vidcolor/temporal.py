"""Temporal smoothing of predicted colour along motion, reset at scene cuts.

Per-frame predictions flicker: the same coat changes hue from frame to frame. The smoother
carries the previous output's ab to the current frame along optical flow computed on L (OpenCV
DIS at 128 px short side) and blends it with the new prediction, but only where the
warp can be trusted: the forward and backward flows agree (Sundaram et al. 2010) or the area is
flat, and the warped L matches the current L (brightness constancy). Occluded, disoccluded and changed pixels take the
new prediction, so moving objects do not drag their colour behind them. A scene cut resets the
state. The blend keeps chroma magnitude (the weighted mean of the two magnitudes), so averaging
two slightly different hues does not wash the colour out.

It is causal and keeps one frame of state: memory does not grow with the reel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .consistency import flows_agree, js_divergence

DEFAULT_STRENGTH = 0.98  # weight of the carried colour where the warp is fully trusted (0: per-frame)
BRIGHTNESS_SIGMA = 16.0  # L* units: where warped L is this far from the current L, trust falls to exp(-1)
CUT_HISTOGRAM_JS = 0.25  # Jensen-Shannon divergence (bits) of 64-bin L histograms: a jump in brightness
CUT_MATCH_L = 5.0  # L* units: a pixel "follows" from the last frame if its warped L is this close ...
CUT_MIN_FOLLOWING = 0.3  # ... and a frame where fewer pixels than this share follow is a cut,
CUT_JUMP_FOLLOWING = 0.6  # ... as is one under this share whose L histogram jumped (CUT_HISTOGRAM_JS),
CUT_MAX_AGREEING = 0.5  # ... unless the forward and backward flows agree on this share of pixels or more
HISTOGRAM_BINS = 64
# Trust is the minimum over a window at flow size about one ab cell wide (ab lives at a quarter of
# the render size): 3x3 when the flow is at half the render size, 5x5 at the full render size.
FLOW_SIDE = 128  # px: short side the flow is computed at (never above the render size) ...
FLOW_MIN_SIDE = 64  # px: ... nor below this (DIS needs room for its patches)
# DIS's medium preset lowers CDC by about 10% but makes a whole run about 10% slower (docs/temporal.md,
# "Tried and not kept").
FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
FLAT_GRADIENT = 0.5  # L* per pixel at flow size: below this an area is flat ...
FLAT_WINDOW = (5, 5)  # ... on average over this window
MAX_GAIN = 2.0  # bound on the chroma-magnitude restoration where the blended hues nearly cancel


@dataclass
class SmoothResult:
    ab: np.ndarray  # (h, w, 2) float32 smoothed colour at model resolution
    cut: bool  # the state was reset before this frame (first frame, cut or size change)
    trust: float  # mean warp trust over the frame, 0..1 (0 at a reset)


@dataclass
class Motion:
    """How a frame follows from the one before, at the flow size."""

    size: tuple[int, int]  # (width, height) of the flow
    trust: np.ndarray | None  # (h2, w2) trust in the previous frame warped onto this one; None: a reset
    warp: tuple | None  # cv2.remap maps: where each pixel was in the previous frame


def _histogram(lightness8: np.ndarray) -> np.ndarray:
    hist = cv2.calcHist([lightness8], [0], None, [HISTOGRAM_BINS], [0, 256]).ravel().astype(np.float64)
    return hist / max(hist.sum(), 1.0)


class TemporalSmoother:
    """Causal ab smoother for one stream of frames; `smooth()` is called once per frame, in order."""

    def __init__(self, strength: float = DEFAULT_STRENGTH):
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"temporal strength must be in [0, 1), not {strength}")
        self.strength = strength
        self.flow = cv2.DISOpticalFlow_create(FLOW_PRESET)
        self.reset()

    def reset(self) -> None:
        self._lightness8: np.ndarray | None = None  # previous frame's L at flow size, uint8
        self._lightness: np.ndarray | None = None  # ... and as float L*
        self._histogram: np.ndarray | None = None
        self._ab: np.ndarray | None = None  # previous output ab at flow size
        self._ab_shape: tuple | None = None  # shape of the model's ab it came from

    def state(self) -> dict[str, np.ndarray]:
        """What the next frame's smoothing depends on (empty after a reset), for `restore()`."""
        if self._lightness8 is None:
            return {}
        state = {
            "lightness8": self._lightness8,
            "lightness": self._lightness,
            "histogram": self._histogram,
            "ab_shape": np.asarray(self._ab_shape),
        }
        return state if self._ab is None else state | {"ab": self._ab}  # none where only `follow` was called

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Continues from a `state()` taken in another process (a resumed run) as if never stopped."""
        self.reset()
        if state:
            self._lightness8, self._lightness = state["lightness8"], state["lightness"]
            self._histogram, self._ab = state["histogram"], state.get("ab")
            self._ab_shape = tuple(int(n) for n in state["ab_shape"])

    def smooth(self, lightness: np.ndarray, ab: np.ndarray) -> SmoothResult:
        """lightness (H, W) L* at render size, ab (h, w, 2) prediction -> smoothed ab for this frame."""
        ab = np.asarray(ab, dtype=np.float32)
        motion = self.follow(lightness, ab.shape)
        # The colour is carried and blended at the flow size, where occlusion edges are sharper than
        # at the model's quarter size; the prediction only gets the difference the blend made.
        predicted = cv2.resize(ab, motion.size, interpolation=cv2.INTER_LINEAR)
        if motion.trust is None or self.strength == 0:
            out, state = ab, predicted
        else:
            state = self._blend(predicted, motion.trust, motion.warp)
            out = ab + cv2.resize(state - predicted, (ab.shape[1], ab.shape[0]), interpolation=cv2.INTER_AREA)
        self._ab = state
        trust = motion.trust
        return SmoothResult(out, trust is None, 0.0 if trust is None else float(trust.mean()))

    def follow(self, lightness: np.ndarray, ab_shape: tuple) -> Motion:
        """How this frame (L* (H, W) at render size) follows from the last one given, for colour
        of `ab_shape` (h, w, 2); the last frame becomes this one. `smooth` carries the colour along
        it; `vidcolor.hint_track` carries hint points."""
        height, width = lightness.shape
        # Flow at a fixed 128 px short side, whatever the render size: at 96 px (half of 192) fast
        # motion in tears_of_steel read as 3 false cuts. ab lives at a quarter of the render size,
        # so the flow is finer than the colour it carries.
        scale = max(min(1.0, FLOW_SIDE / min(height, width)), FLOW_MIN_SIDE / min(height, width))
        size = (round(width * scale), round(height * scale))
        resampling = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        lightness = cv2.resize(np.asarray(lightness, dtype=np.float32), size, interpolation=resampling)
        lightness8 = np.clip(lightness * 2.55 + 0.5, 0, 255).astype(np.uint8)
        histogram = _histogram(lightness8)
        fresh = self._lightness8 is None or self._lightness8.shape != lightness8.shape or self._ab_shape != ab_shape
        cell = size[0] / ab_shape[1]  # flow pixels per ab pixel
        radius = max(1, round(cell / 2))
        neighbourhood = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        trust, following, agreeing, warp = (
            (None, 0.0, 0.0, None) if fresh else self._trust(lightness8, lightness, neighbourhood)
        )
        # A cut: little of the frame follows from the last one, or the brightness distribution jumped
        # and not most of it does (narrow histograms of flat, grainy frames jump without a cut).
        jumped = not fresh and float(js_divergence(histogram, self._histogram)) > CUT_HISTOGRAM_JS
        # Unless the motion still holds across most of the frame: a flash or a strobe changes L everywhere
        # but not the picture (DIS matches mean-normalized patches, so its two flows still agree).
        unfollowed = following < CUT_MIN_FOLLOWING or (jumped and following < CUT_JUMP_FOLLOWING)
        if unfollowed and agreeing < CUT_MAX_AGREEING:
            trust = warp = None
        self._lightness8, self._lightness, self._histogram = lightness8, lightness, histogram
        self._ab_shape = tuple(ab_shape)
        return Motion(size, trust, warp)

    def _trust(
        self, lightness8: np.ndarray, lightness: np.ndarray, neighbourhood: np.ndarray
    ) -> tuple[np.ndarray, float, float, tuple]:
        """Per-pixel trust (h2, w2) in [0, 1] of the previous frame warped onto this one, the share of
        pixels that follow from it (flows agree or flat, L within CUT_MATCH_L), the share where the
        two flows agree, and the warp's cv2.remap maps (where each pixel was in the previous frame)."""
        backward = self.flow.calc(lightness8, self._lightness8, None)  # this frame -> previous
        forward = self.flow.calc(self._lightness8, lightness8, None)  # previous -> this frame
        height, width = lightness8.shape
        map_x = backward[..., 0] + np.arange(width, dtype=np.float32)
        map_y = backward[..., 1] + np.arange(height, dtype=np.float32)[:, None]
        there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        # DIS flow is arbitrary where there is nothing to follow, so the two flows disagree on flat
        # areas (a sky, an overcast field) although any warp there carries the right colour; there
        # the L match alone decides.
        agree = flows_agree(backward, there) & inside
        agreeing = float(np.count_nonzero(agree)) / agree.size
        trusted = agree | (_flat(lightness) & inside)
        warped = cv2.remap(self._lightness, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        difference = np.abs(warped - lightness)
        following = float(np.count_nonzero(trusted & (difference < CUT_MATCH_L))) / trusted.size
        difference *= np.float32(1 / BRIGHTNESS_SIGMA)
        trust = np.exp(-(difference * difference)) * trusted
        # A pixel is only as trustworthy as its neighbours: the carried colour is sampled bilinearly,
        # so an untrusted neighbour (an occlusion edge) would leak colour.
        return cv2.erode(trust, neighbourhood), following, agreeing, (map_x, map_y)

    def _blend(self, ab: np.ndarray, trust: np.ndarray, warp: tuple) -> np.ndarray:
        """ab (h2, w2, 2) prediction at flow size, trust (h2, w2), warp maps -> blended ab at flow size."""
        weight = trust.astype(np.float32) * np.float32(self.strength)
        carried = cv2.remap(self._ab, *warp, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # The magnitude is carried on its own: interpolating ab vectors of different hues shortens
        # them, and frame after frame that would wear the chroma away along every hue edge.
        carried_magnitude = cv2.remap(_norm(self._ab), *warp, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        w1 = weight[..., None]
        mixed = w1 * carried + (1 - w1) * ab
        # Keep chroma: the blend's magnitude is the blend of the magnitudes, not the magnitude of the mean.
        magnitude = weight * carried_magnitude + (1 - weight) * _norm(ab)
        gain = np.minimum(magnitude / np.maximum(_norm(mixed), np.float32(1e-3)), np.float32(MAX_GAIN))
        return mixed * gain[..., None]


def _flat(lightness: np.ndarray) -> np.ndarray:
    """(h2, w2) bool: where L changes by less than FLAT_GRADIENT per pixel, averaged over 5x5."""
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)  # the 3x3 Sobel kernel sums to 8
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    return cv2.blur(np.hypot(gx, gy), FLAT_WINDOW) < FLAT_GRADIENT


def _norm(ab: np.ndarray) -> np.ndarray:
    # Not cv2.magnitude: its last bit depends on where its output lands in memory (OpenCV 4.12 and
    # 5.0 on x86_64), so the same frames could come out one code apart from one run to the next.
    return np.hypot(ab[..., 0], ab[..., 1])
