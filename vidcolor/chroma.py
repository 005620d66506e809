"""Per-frame colour planes: L for the model from the Y plane, and Cb/Cr from predicted ab.

Colour math runs at the output's chroma resolution only; the Y plane is never touched here.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .colour import COLOUR_BLOCK, LUMA_COEFFICIENTS, chroma_fade, independent_chroma, luma_to_lightness
from .formats import PlanarFormat, code_range


@lru_cache(maxsize=16)
def lightness_table(depth: int, full_range: bool) -> np.ndarray:
    """L* for every luma code value at this depth and range, (2**depth,) float32."""
    black, white, _ = code_range(depth, full_range)
    codes = np.arange(2**depth, dtype=np.float32)
    return luma_to_lightness((codes - black) / (white - black))


@lru_cache(maxsize=16)
def chroma_fade_table(depth: int, full_range: bool) -> np.ndarray:
    """colour.chroma_fade for every luma code value at this depth and range."""
    return chroma_fade(lightness_table(depth, full_range))


def shrink(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`plane` (H, W) averaged down to `size` (width, height), INTER_AREA. OpenCV averages a
    fractional footprint (1920 -> 336 columns: 5.7 each) at 6 ms a 1080p frame, single-threaded,
    but whole 2x2 blocks at 0.2 ms; so a plane at least four times the size along both sides is
    halved first, as often as that holds, which shrinks the last step's work. The result differs
    from one fractional step only by how a footprint's edge pixels are shared, and an 8-bit
    rounding of the halved plane: 1080p frames of dog_path to 336x192 by 0.3 codes on average (the
    model's a*b* by 0.2, 1.1 at the 99th percentile, below a just-noticeable 2), a fine random
    texture by 1.2 (1.9 from 4K). Frames under four times the render size (720p) are not halved."""
    while plane.shape[0] >= 4 * size[1] and plane.shape[1] >= 4 * size[0] and not (plane.shape[0] | plane.shape[1]) & 1:
        plane = cv2.resize(plane, (plane.shape[1] // 2, plane.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(plane, size, interpolation=cv2.INTER_AREA)


def render_lightness(luma: np.ndarray, fmt: PlanarFormat, full_range: bool, shape: tuple[int, int]) -> np.ndarray:
    """Y plane (H, W) of integer codes -> L* (h, w) float32 at the model's render shape."""
    h, w = shape
    return lightness_table(fmt.depth, full_range)[shrink(luma, (w, h))]


def own_colour(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, fmt: PlanarFormat, full_range: bool) -> float:
    """`colour.independent_chroma` of a frame's planes (integer codes of `fmt`): how far the input's
    own colour is from a tint's or a tone's, in 8-bit codes."""
    height, width = cb.shape
    if luma.shape != cb.shape:  # the luma at the chroma's size: whole 2x2 or 2x1 blocks, when subsampled
        luma = cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA)
    # Whole blocks (the last rows and columns short of one left out): OpenCV's fast path, 0.3 ms a
    # 960x540 plane where 67 rows of 8.06 took 1.4 ms.
    rows, columns = (side - side % COLOUR_BLOCK if side >= COLOUR_BLOCK else side for side in (height, width))
    size = (max(1, columns // COLOUR_BLOCK), max(1, rows // COLOUR_BLOCK))
    black, white, excursion = code_range(fmt.depth, full_range)
    neutral = float(1 << (fmt.depth - 1))
    y, u, v = (
        cv2.resize(plane[:rows, :columns], size, interpolation=cv2.INTER_AREA).astype(np.float32)
        for plane in (luma, cb, cr)
    )
    return independent_chroma((y - black) / (white - black), (u - neutral) / excursion, (v - neutral) / excursion)


GUIDE_RADIUS = 2  # px at model resolution: the window of the local linear model ab = a * L + b
GUIDE_EPSILON = 1e-3  # regularization in (L / 100)^2 units: edges weaker than ~3 L* are smoothed over


def upsample_ab(ab: np.ndarray, lightness: np.ndarray) -> np.ndarray:
    """ab (h, w, 2) at model resolution -> the size of `lightness` (H, W), guided by it.

    Fast guided filter (He & Sun 2015): fit ab = a * L + b in small windows at the model's
    resolution, then apply the upsampled a and b to the full-resolution L, so colour edges
    follow the picture's edges instead of bleeding across them.
    """
    return cv2.merge(_guided_planes(ab, lightness))


def _guided_planes(ab: np.ndarray, lightness: np.ndarray) -> list[np.ndarray]:
    """`upsample_ab` as two (H, W) planes, a* and b*.

    Everything at full size is done plane by plane and in place: numpy's broadcasting over a
    trailing axis of 2 made this 4x slower (6.6 against 1.7 ms at 640x360).
    """
    height, width = lightness.shape
    h, w = ab.shape[:2]
    guide = cv2.resize(lightness, (w, h), interpolation=cv2.INTER_AREA) * np.float32(1 / 100)
    window = (2 * GUIDE_RADIUS + 1, 2 * GUIDE_RADIUS + 1)
    mean_i = cv2.blur(guide, window)[..., None]
    mean_p = cv2.blur(ab, window)
    cov_ip = cv2.blur(guide[..., None] * ab, window) - mean_i * mean_p
    var_i = cv2.blur(guide * guide, window)[..., None] - mean_i * mean_i
    a = cov_ip / (var_i + GUIDE_EPSILON)
    b = mean_p - a * mean_i
    # a is per (L / 100); scaled here so that it multiplies L itself below.
    coefficients = cv2.blur(np.concatenate([a * np.float32(1 / 100), b], axis=2), window)
    planes = []
    for channel in range(2):
        plane = cv2.resize(np.ascontiguousarray(coefficients[..., channel]), (width, height))
        plane *= lightness
        plane += cv2.resize(np.ascontiguousarray(coefficients[..., 2 + channel]), (width, height))
        planes.append(plane)
    return planes


def resize_ab(ab: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ab (h, w, 2) -> (height, width, 2) at `size` = (width, height), bilinear (no guidance)."""
    return cv2.resize(ab, size, interpolation=cv2.INTER_LINEAR)


def ab_like(ab: np.ndarray, lightness: np.ndarray, guided: bool = True) -> np.ndarray:
    """ab brought to the size of `lightness`: guided by it, or plain bilinear when `guided` is False."""
    return cv2.merge(_ab_planes(ab, lightness, guided))


def _ab_planes(ab: np.ndarray, lightness: np.ndarray, guided: bool) -> list[np.ndarray]:
    """`ab_like` as arrays whose channels, in order, are a* and b* (for cv2.merge with L)."""
    if guided:
        return _guided_planes(ab, lightness)
    return [resize_ab(ab, (lightness.shape[1], lightness.shape[0]))]


@lru_cache(maxsize=32)
def chroma_code_matrix(matrix: str, depth: int, full_range: bool) -> np.ndarray:
    """(2, 4) affine map from R'G'B' in [0, 1] to Cb and Cr code values at `depth`."""
    kr, kb = LUMA_COEFFICIENTS[matrix]
    kg = 1 - kr - kb
    _, _, excursion = code_range(depth, full_range)
    mid = 2 ** (depth - 1)
    cb = np.array([-kr, -kg, 1 - kb]) / (2 * (1 - kb))
    cr = np.array([1 - kr, -kg, -kb]) / (2 * (1 - kr))
    return np.array([[*(cb * excursion), mid], [*(cr * excursion), mid]], dtype=np.float32)


def field_wise(height: int, chroma_height: int, interlaced: bool) -> bool:
    """Whether chroma rows of a frame this tall belong to one field each: an interlaced frame whose
    chroma has half its rows (4:2:0). Interlaced 4:2:0 is sampled that way (rows 0, 2, ... of Cb
    and Cr with the top field's lines, rows 1, 3, ... with the bottom's), and each field is a
    different moment: averaged over both, a moving edge takes its colour from where it was in
    either field, and the colour flickers from one field to the next."""
    return interlaced and chroma_height < height and chroma_height >= 2


def chroma_luma(luma: np.ndarray, size: tuple[int, int], interlaced: bool = False) -> np.ndarray:
    """The Y plane (H, W) shrunk to the chroma size (width, height), INTER_AREA; each field on its
    own where `field_wise` says so."""
    height, width = luma.shape
    if (width, height) == size:
        return luma
    if not field_wise(height, size[1], interlaced):
        return cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
    small = np.empty((size[1], size[0]), luma.dtype)
    for parity in (0, 1):
        rows = small[parity::2]
        rows[:] = cv2.resize(luma[parity::2], (size[0], rows.shape[0]), interpolation=cv2.INTER_AREA)
    return small


def chroma_planes(
    luma: np.ndarray,
    ab: np.ndarray,
    source_depth: int,
    out: PlanarFormat,
    full_range: bool,
    matrix: str,
    guided: bool = True,
    interlaced: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cb and Cr planes (integer codes of `out`) that colour a frame with Y plane `luma` by `ab`;
    `interlaced`: the frame holds two fields (see `field_wise`).

    The same computation as `colour.chroma_from_lab`, done with OpenCV's vectorized Lab and
    affine transforms at the chroma resolution (about 10x faster than the numpy reference).
    """
    height, width = luma.shape
    size = out.chroma_size(width, height)
    luma_small = chroma_luma(luma, size, interlaced)
    lightness = _look_up(luma_small, lightness_table(source_depth, full_range))
    fade = _look_up(luma_small, chroma_fade_table(source_depth, full_range))
    planes = _ab_planes(ab, lightness, guided)
    for plane in planes:  # fresh arrays: faded in place
        plane *= fade if plane.ndim == 2 else fade[..., None]
    lab = cv2.merge([lightness, *planes])
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    # Into three channels, the third unused: OpenCV's transform is about 4x faster into three
    # than into two (3.2 against 12.5 ms at 1920x1080).
    codes = cv2.transform(rgb, _code_transform(matrix, out.depth, full_range))
    if out.dtype == np.uint8:
        planes = cv2.convertScaleAbs(codes)  # rounded half to even, as np.rint, and saturated
    else:
        np.rint(codes, out=codes)
        np.clip(codes, 0, 2**out.depth - 1, out=codes)
        planes = codes.astype(out.dtype)
    return planes[..., 0], planes[..., 1]


def _look_up(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """table[codes]; for 8-bit codes with OpenCV's LUT (4x faster than numpy's indexing)."""
    return cv2.LUT(codes, table) if codes.dtype == np.uint8 else table[codes]


@lru_cache(maxsize=32)
def _code_transform(matrix: str, depth: int, full_range: bool) -> np.ndarray:
    """`chroma_code_matrix` with its first row repeated: (3, 4), for a transform into three channels."""
    rows = chroma_code_matrix(matrix, depth, full_range)
    return np.vstack([rows, rows[:1]])
