"""The colour stage with torch: `chroma.chroma_planes` on a GPU (or any torch device).

At 1080p the colour math (guided upsampling of ab, Lab -> R'G'B' -> Cb/Cr at 960x540) is the
largest piece of CPU work per frame after the encoder. With `--colour-device cuda` it runs on
the GPU beside the model: the Y plane goes up (2 MB at 1080p, 8-bit), Cb and Cr come down.

It computes what `chroma_planes` computes, step for step: OpenCV's INTER_AREA downscaling as
separable weight matrices (each output pixel the exact area average, fractional pixels
included), its box blur with BORDER_REFLECT_101 padding, its INTER_LINEAR upscaling (half-pixel
centres, edges clamped, as torch's bilinear without align_corners), and the CIE Lab -> sRGB
formulas of `colour.lab_to_rgb` (OpenCV's own differ by up to 5e-4). The tests hold it to within
two code values of the OpenCV path, 0.05 on average.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache

import numpy as np

from .chroma import (
    GUIDE_EPSILON,
    GUIDE_RADIUS,
    chroma_code_matrix,
    chroma_fade_table,
    field_wise,
    lightness_table,
)
from .colour import D65_WHITE, LAB_EPSILON, LAB_KAPPA, XYZ_TO_RGB
from .errors import ModelError
from .formats import PlanarFormat

log = logging.getLogger(__name__)

# Where the colour stage runs: OpenCV on the CPU, torch on the GPU, or `auto`: the GPU where the
# model runs on one and torch can use it. On an H200 at 1080p the torch stage ran at 199 frames
# per busy second against OpenCV's 90 on 16 cores, and whole runs were 4-18% faster in three runs (2026-11-30).
COLOUR_DEVICES = ("auto", "cpu", "cuda")


def colour_device_for(requested: str, model_device: str) -> str:
    """The colour stage's device for `--colour-device requested` when the model runs on `model_device`."""
    if requested != "auto":
        return requested
    if model_device != "cuda" or importlib.util.find_spec("torch") is None:
        return "cpu"  # torch is not imported for a CPU run: it takes seconds
    try:
        import torch
    except (ImportError, OSError) as e:  # a broken torch beside a model that does not need it
        log.warning("the colour stage runs on the CPU: torch is installed but does not load (%s)", e)
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=32)
def area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) float64 matrix averaging each target pixel's exact footprint in the source
    (OpenCV's INTER_AREA when shrinking: a source pixel cut by a footprint edge counts by its share)."""
    if target > source:
        raise ValueError("area weights are for shrinking")
    scale = source / target
    weights = np.zeros((target, source))
    for i in range(target):
        start, end = i * scale, (i + 1) * scale
        for j in range(int(np.floor(start)), min(int(np.ceil(end)), source)):
            weights[i, j] = min(end, j + 1) - max(start, j)
    return weights / scale


@lru_cache(maxsize=32)
def stretch_weights(source: int, target: int) -> np.ndarray:
    """(target, source) float64 matrix of OpenCV's INTER_AREA along one axis when the image grows
    along either: two taps per target pixel, with OpenCV's own area-mode offsets (`cv::resize`)."""
    scale, inverse = source / target, target / source
    weights = np.zeros((target, source))
    for i in range(target):
        j = int(np.floor(i * scale))
        fraction = (i + 1) - (j + 1) * inverse
        fraction = 0.0 if fraction <= 0 else fraction - np.floor(fraction)
        if j >= source - 1:
            j, fraction = source - 1, 0.0
        weights[i, j] += 1 - fraction
        if fraction:
            weights[i, j + 1] += fraction
    return weights


class TorchChroma:
    """`chroma_planes` with torch tensors on `device`; called like it, returns numpy planes."""

    def __init__(self, device: str = "cuda"):
        try:
            import torch
        except ImportError:
            raise ModelError("--colour-device cuda needs torch: pip install 'vidcolor[torch]'") from None
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError("--colour-device cuda: torch sees no CUDA device")
        self.torch = torch
        self.device = torch.device(device)
        self._cache: dict[tuple, object] = {}
        self._xyz_to_rgb = torch.tensor(XYZ_TO_RGB, device=self.device)
        self._white = torch.tensor(D65_WHITE, device=self.device)

    def _cached(self, key: tuple, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _area(self, image, size: tuple[int, int]):
        """(H, W) float -> (height, width) with INTER_AREA weights; size = (width, height)."""
        torch = self.torch
        height, width = image.shape[-2:]
        if (width, height) == size:
            return image
        if height % size[1] == 0 and width % size[0] == 0:  # whole blocks (4:2:0 of even sizes): their means
            kernel = (height // size[1], width // size[0])
            return torch.nn.functional.avg_pool2d(image[None, None], kernel)[0, 0]
        # OpenCV averages footprints only where both axes shrink; else it interpolates (a small
        # frame whose model output is finer than its chroma planes).
        weights = area_weights if size[0] <= width and size[1] <= height else stretch_weights
        rows, cols = (
            self._cached(
                (weights.__name__, source, target, image.dtype),
                lambda source=source, target=target: torch.tensor(weights(source, target)).to(self.device, image.dtype),
            )
            for source, target in ((height, size[1]), (width, size[0]))
        )
        return rows @ image @ cols.T

    def _blur(self, image):
        """(C, h, w) -> the mean over each (2r+1)^2 window, borders mirrored (BORDER_REFLECT_101)."""
        functional = self.torch.nn.functional
        r = GUIDE_RADIUS
        padded = functional.pad(image[None], (r, r, r, r), mode="reflect")
        return functional.avg_pool2d(padded, 2 * r + 1, stride=1)[0]

    def _upsample_ab(self, ab, lightness):
        """As chroma.upsample_ab: ab (2, h, w), L (H, W) -> guided ab (2, H, W)."""
        functional = self.torch.nn.functional
        height, width = lightness.shape
        h, w = ab.shape[-2:]
        guide_hi = lightness * np.float32(1 / 100)
        guide = self._area(guide_hi.double(), (w, h)).float()
        mean_i = self._blur(guide[None])
        mean_p = self._blur(ab)
        cov_ip = self._blur(guide[None] * ab) - mean_i * mean_p
        var_i = self._blur((guide * guide)[None]) - mean_i * mean_i
        a = cov_ip / (var_i + GUIDE_EPSILON)
        b = mean_p - a * mean_i
        coefficients = self.torch.cat([self._blur(a), self._blur(b)])[None]
        up = functional.interpolate(coefficients, size=(height, width), mode="bilinear", align_corners=False)[0]
        return up[:2] * guide_hi + up[2:]

    def _lab_to_rgb(self, lightness, ab):
        """L (H, W), ab (2, H, W) -> R'G'B' (3, H, W) in [0, 1] (colour.lab_to_rgb)."""
        torch = self.torch
        fy = (lightness + 16) / 116
        f = torch.stack([fy + ab[0] / 500, fy, fy - ab[1] / 200])
        f3 = f**3
        xyz = torch.where(f3 > LAB_EPSILON, f3, (116 * f - 16) / LAB_KAPPA) * self._white[:, None, None]
        linear = torch.einsum("ij,jhw->ihw", self._xyz_to_rgb, xyz).clamp(0.0, 1.0)
        return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear.pow(1 / 2.4) - 0.055)

    def __call__(
        self,
        luma: np.ndarray,
        ab: np.ndarray,
        source_depth: int,
        out: PlanarFormat,
        full_range: bool,
        matrix: str,
        interlaced: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cb and Cr planes (integer codes of `out`) that colour a frame with Y plane `luma` by `ab`;
        `interlaced`: the frame holds two fields (see `chroma.field_wise`)."""
        torch = self.torch
        height, width = luma.shape
        size = out.chroma_size(width, height)
        # uint16 goes up as int16 bits and is widened on the device (torch casts few uint16 ops).
        host = luma.view(np.int16) if luma.dtype == np.uint16 else luma
        codes = torch.from_numpy(np.ascontiguousarray(host)).to(self.device, non_blocking=True).to(torch.int32)
        if luma.dtype == np.uint16:
            codes &= 0xFFFF
        if field_wise(height, size[1], interlaced):
            small = torch.empty((size[1], size[0]), dtype=torch.int64, device=self.device)
            for parity in (0, 1):
                rows = (size[1] - parity + 1) // 2
                small[parity::2] = torch.round(self._area(codes[parity::2].double(), (size[0], rows)))
            codes = small
        elif (width, height) != size:
            codes = torch.round(self._area(codes.double(), size)).to(torch.int64)  # cv2 rounds half to even too
        table = self._cached(
            ("table", source_depth, full_range),
            lambda: torch.from_numpy(lightness_table(source_depth, full_range)).to(self.device),
        )
        fade = self._cached(
            ("fade", source_depth, full_range),
            lambda: torch.from_numpy(chroma_fade_table(source_depth, full_range)).to(self.device),
        )
        codes = codes.long()
        lightness = table[codes]
        ab_t = torch.from_numpy(np.ascontiguousarray(ab.transpose(2, 0, 1))).to(self.device)
        rgb = self._lab_to_rgb(lightness, self._upsample_ab(ab_t, lightness) * fade[codes])
        transform = self._cached(
            ("matrix", matrix, out.depth, full_range),
            lambda: torch.from_numpy(chroma_code_matrix(matrix, out.depth, full_range)).to(self.device),
        )
        planes = torch.einsum("ij,jhw->ihw", transform[:, :3], rgb) + transform[:, 3, None, None]
        planes = torch.round(planes).clamp(0, 2**out.depth - 1)
        # 8-bit codes cross to the host as bytes (a quarter of int32's); torch has few uint16 ops.
        planes = planes.to(torch.uint8) if out.dtype == np.uint8 else planes.to(torch.int32)
        planes = planes.cpu().numpy().astype(out.dtype, copy=False)
        return planes[0], planes[1]
