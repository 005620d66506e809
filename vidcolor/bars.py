"""Black bars: the picture of a letterboxed or pillarboxed frame, for the model to see alone.

Archival transfers often carry a 4:3 film in a 16:9 frame (pillarbox) or a wide film in a 4:3
frame (letterbox). Given the whole frame, the model colours the picture worse: on the 169
validation photos with bars of about 1/8 of the frame on each side, 0.83 dB less PSNR than the
picture alone pillarboxed, 0.50 dB less letterboxed (docs/colour.md, "Black bars"). So the model sees the picture inside
the bars, at its render size, and the bars get no colour (they stay black, where the model used
to tint them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .exposure import apply_gains
from .hints import spread_hints

BAR_LIGHTNESS = 8.0  # L*: a row or column this dark or darker (most of it, in every frame) is a bar
BAR_SHARE = 0.95  # ... "most of it": this share of its values, so noise and specks do not count
BAR_MIN_SHARE = 0.02  # bars thinner than this share of the frame's side are left in the picture
# Bars come in pairs about as thick as each other (a letterbox or pillarbox centres the picture).
PICTURE_MIN_SHARE = 0.4  # a "picture" narrower than this share of a side is a dark scene, not bars


@dataclass(frozen=True)
class Box:
    """The picture inside the bars, as shares of the frame's height and width (0..1)."""

    top: float
    bottom: float
    left: float
    right: float

    def pixels(self, height: int, width: int) -> tuple[slice, slice]:
        """(rows, columns) of the picture in a frame of this size."""
        return (
            slice(round(self.top * height), round(self.bottom * height)),
            slice(round(self.left * width), round(self.right * width)),
        )


def picture_box(lightness: np.ndarray) -> Box | None:
    """The picture inside black bars common to every frame of `lightness` (N, h, w) L*, or None
    where there are no bars (or nothing but dark: a fade to black is not bars)."""
    height, width = lightness.shape[1:]
    dark = lightness <= BAR_LIGHTNESS  # counted, not sorted: a percentile took 2 ms a 1080p frame
    rows = np.count_nonzero(dark, axis=2).min(axis=0) >= math.ceil(BAR_SHARE * width)
    columns = np.count_nonzero(dark, axis=1).min(axis=0) >= math.ceil(BAR_SHARE * height)
    top, bottom = _bars(rows)
    left, right = _bars(columns)
    if not (top or bottom or left or right):
        return None
    return Box(top / height, 1 - bottom / height, left / width, 1 - right / width)


def _bars(dark: np.ndarray) -> tuple[int, int]:
    """Lengths of the dark runs at the start and end of a side, where they are bars: both thick
    enough, about as thick as each other (the picture is centred: one of them at least half the
    other; a dark strip on one side is the picture's own, the grass of a field at dusk) and
    leaving enough picture between them; (0, 0) where they are not."""
    size = len(dark)
    lit = np.flatnonzero(~dark)
    if not len(lit):
        return 0, 0
    start, end = int(lit[0]), size - 1 - int(lit[-1])
    if min(start, end) < BAR_MIN_SHARE * size or min(start, end) < max(start, end) / 2:
        return 0, 0
    if size - start - end < PICTURE_MIN_SHARE * size:
        return 0, 0
    return start, end


def place_ab(ab: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """The picture's ab (N, h, w, 2) placed in a frame's ab grid of `shape` (height, width), with
    no colour in the bars."""
    rows, columns = box.pixels(*shape)
    out = np.zeros((len(ab), *shape, 2), np.float32)
    size = (columns.stop - columns.start, rows.stop - rows.start)
    for whole, picture in zip(out, ab):
        whole[rows, columns] = cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR)
    return out


def predict_picture(
    info,
    predict: Callable[[np.ndarray], np.ndarray],
    lightness_at: Callable[[tuple[int, int], slice, slice], np.ndarray],
    height: int,
    width: int,
    render_size: int | None = None,
    steady: Callable[[np.ndarray], np.ndarray] | None = None,
    hints_at: Callable[[tuple[int, int], slice, slice], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, Box | None]:
    """(L* (N, h, w) of whole frames at the render size, the model's ab (N, h', w', 2) for them, the
    picture's box or None) for frames of height x width, black bars left out of what `predict`
    sees. `lightness_at(shape, rows, columns)` gives L* (N, *shape) of the frames' rows x columns;
    `info` is the model's ModelInfo (render shape, output stride). `steady`, given the picture's L*,
    returns each frame's exposure gain (exposure.ExposureSteadier.gains); the L* returned and the
    L* the model sees are steadied by it. `hints_at(shape, rows, columns)`, for a hinted run, gives
    the hint plane (N, 3, *shape) of the same rows x columns (hints.hint_plane), which `predict`
    is given beside the L*: `predict(lightness, hints)`."""
    shape = info.render_shape(height, width, render_size)
    lightness = lightness_at(shape, slice(None), slice(None))
    box = picture_box(lightness)
    if box is None:
        if steady is not None:
            lightness = apply_gains(lightness, steady(lightness))
        return lightness, _predict(predict, lightness, hints_at, shape, slice(None), slice(None), info.hint_scale), None
    # the picture alone, at the render size, from the full-size frames
    rows, columns = box.pixels(height, width)
    inner = info.render_shape(rows.stop - rows.start, columns.stop - columns.start, render_size)
    grid = (shape[0] // info.output_stride, shape[1] // info.output_stride)
    picture = lightness_at(inner, rows, columns)
    if steady is not None:
        gains = steady(picture)
        lightness, picture = apply_gains(lightness, gains), apply_gains(picture, gains)
    return (
        lightness,
        place_ab(_predict(predict, picture, hints_at, inner, rows, columns, info.hint_scale), box, grid),
        box,
    )


def _predict(
    predict: Callable[..., np.ndarray],
    lightness: np.ndarray,
    hints_at: Callable[[tuple[int, int], slice, slice], np.ndarray] | None,
    shape: tuple[int, int],
    rows: slice,
    columns: slice,
    hint_scale: float,
) -> np.ndarray:
    """`predict(lightness)`, or with the hint plane of the same region where the run has hints,
    the prediction then moved onto the hints (hints.spread_hints)."""
    if hints_at is None:
        return predict(lightness)
    plane = hints_at(shape, rows, columns)
    return spread_hints(predict(lightness, plane), lightness, plane, hint_scale)
