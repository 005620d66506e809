"""Image quality measures: PSNR, SSIM and colourfulness of R'G'B' images in [0, 1]."""

from __future__ import annotations

import cv2
import numpy as np

_SSIM_C1 = (0.01) ** 2  # Wang et al. (2004) constants for a dynamic range of 1
_SSIM_C2 = (0.03) ** 2


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]; inf for identical images."""
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")


def ssim(a: np.ndarray, b: np.ndarray, dtype: type = np.float64) -> float:
    """Mean SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5) over pixels and channels.

    `dtype` is the working precision: float32 halves the time and agrees with float64 to about 1e-5
    on 8-bit frames, which is what video evaluation uses.
    """
    a, b = a.astype(dtype), b.astype(dtype)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)
    den = (mu_a**2 + mu_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return float(np.mean(num / den, dtype=np.float64))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of an (H, W, 3) R'G'B' image in [0, 1], 0-255 scale."""
    rgb = np.asarray(rgb, dtype=np.float64) * 255
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def hue_agreement(
    candidate: np.ndarray, reference: np.ndarray, min_chroma: float = 15.0, grey_chroma: float = 1.0
) -> float:
    """Mean cosine between candidate and reference ab over the reference's coloured pixels.

    1: every strongly coloured pixel got the right hue; 0: unrelated or grey; -1: opposite hues.
    Pixels whose reference chroma |ab| is under `min_chroma` (near-grey) are not counted. A
    candidate pixel with under `grey_chroma` (about a just-noticeable difference) is grey and
    scores 0: the direction of a few thousandths of a unit of ab is rounding, not a hue.
    """
    from .colour import rgb_to_lab

    ab_c = rgb_to_lab(candidate)[..., 1:].reshape(-1, 2)
    ab_r = rgb_to_lab(reference)[..., 1:].reshape(-1, 2)
    norm_r = np.linalg.norm(ab_r, axis=1)
    vivid = norm_r > min_chroma
    if not vivid.any():
        return float("nan")
    norm_c = np.linalg.norm(ab_c[vivid], axis=1)
    cosine = (ab_c[vivid] * ab_r[vivid]).sum(1) / (norm_r[vivid] * np.maximum(norm_c, grey_chroma))
    return float(np.where(norm_c < grey_chroma, 0.0, cosine).mean())
