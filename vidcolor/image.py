"""Colorizing a single picture given as Y' (the same path a video frame takes, without the codec)."""

from __future__ import annotations

import numpy as np

from .chroma import ab_like
from .colour import chroma_from_lab, luma_to_lightness, ycbcr_to_rgb
from .model import OnnxColorizer


def colorize_luma(colorizer: OnnxColorizer, luma: np.ndarray, matrix: str = "bt709", guided: bool = True) -> np.ndarray:
    """Y' (H, W) in [0, 1] -> R'G'B' (H, W, 3) in [0, 1] with that exact luma and predicted colour."""
    import cv2

    h, w = colorizer.info.render_shape(*luma.shape)
    lightness = luma_to_lightness(cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA))
    ab = colorizer.predict_ab(lightness[None])[0]
    cb, cr = chroma_from_lab(luma, ab_like(ab, luma_to_lightness(luma), guided), matrix)
    return ycbcr_to_rgb(luma, cb, cr, matrix)
