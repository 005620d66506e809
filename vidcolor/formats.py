"""Pixel formats: which planar Y'CbCr layout a frame is in, and which one the encoder gets.

The Y plane is never converted: output luma is the input's sample for sample (shifted left
only when the encoder needs a greater bit depth, which is exact and reversible).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

_PLANAR = re.compile(r"^(?P<family>yuvj|yuv|gray)(?P<sub>4[0-4][0-4]|41[01])?p?(?P<depth>\d+)?(?P<endian>le|be)?$")
_SUBSAMPLING = {"444": (0, 0), "422": (1, 0), "420": (1, 1), "440": (0, 1), "411": (2, 0), "410": (2, 2)}


@dataclass(frozen=True)
class PlanarFormat:
    """A planar Y'CbCr (or grey) pixel format."""

    name: str  # FFmpeg's name, e.g. "yuv420p10le"
    depth: int  # bits per sample
    log2_chroma_w: int  # chroma planes are width >> this...
    log2_chroma_h: int  # ...and height >> this (rounded up)
    grey: bool  # no chroma planes
    full_range: bool  # a yuvj* format: full range implied by the name

    @property
    def dtype(self) -> type:
        return np.uint8 if self.depth <= 8 else np.uint16

    def chroma_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of a chroma plane for a frame of this size."""
        return -(-width >> self.log2_chroma_w), -(-height >> self.log2_chroma_h)

    def frame_bytes(self, width: int, height: int) -> int:
        """The bytes of a frame of this size's samples (line padding left out)."""
        chroma = 0 if self.grey else 2 * int(np.prod(self.chroma_size(width, height)))
        return (width * height + chroma) * np.dtype(self.dtype).itemsize


def planar_format(name: str) -> PlanarFormat | None:
    """Parse an FFmpeg pixel format name; None if it is not little-endian planar Y'CbCr or grey."""
    m = _PLANAR.match(name)
    if not m or m["endian"] == "be" or (m["depth"] and not m["endian"]):
        return None
    grey = m["family"] == "gray"
    if grey == bool(m["sub"]):
        return None
    cw, ch = (0, 0) if grey else _SUBSAMPLING[m["sub"]]
    return PlanarFormat(name, int(m["depth"] or 8), cw, ch, grey, m["family"] == "yuvj")


def _with_depth(base: str, depth: int) -> str:
    return base if depth == 8 else f"{base}{depth}le"


def colour_planar_format(name: str) -> PlanarFormat | None:
    """`planar_format`, for the formats vidcolor writes: with chroma planes, limited range by name."""
    fmt = planar_format(name)
    return fmt if fmt is not None and not fmt.grey and not fmt.full_range else None


def output_format(
    codec: str, source: PlanarFormat, size: tuple[int, int] | None = None, wanted: str | None = None
) -> tuple[PlanarFormat, bool]:
    """The planar format to encode a colorized `source` frame of `size` (width, height) with `codec`:
    `wanted` (ValueError where the encoder does not take it, at that size), or the best for the source.

    Returns (format, luma_exact): luma_exact is False when the format cannot hold the source's
    bit depth and luma has to be rounded. With a size, a format the encoder refuses at that
    size (x264 takes 4:2:0 only at even sizes) gives way to the next best: an odd-sized 4:2:0
    frame goes out as 4:4:4, geometry and luma kept.
    """
    supported = {f.name for f in av.Codec(codec, "w").video_formats or []}
    candidates = [p for p in map(colour_planar_format, supported) if p]
    if not candidates:
        raise ValueError(f"encoder {codec} takes no planar Y'CbCr format")
    if wanted is not None:
        fmt = next((p for p in candidates if p.name == wanted), None)
        if fmt is None:
            names = ", ".join(sorted(p.name for p in candidates))
            raise ValueError(f"{codec} does not write {wanted}; it writes {names}")
        if size is not None and not _opens(codec, wanted, *size):
            raise ValueError(f"{codec} does not write {wanted} at {size[0]}x{size[1]}")
        return fmt, fmt.depth >= source.depth
    if source.grey:
        # A grey source gains chroma planes: 4:2:0, the usual delivery layout, unless the codec lacks it.
        want_w, want_h = 1, 1
    else:
        want_w, want_h = source.log2_chroma_w, source.log2_chroma_h

    def cost(p: PlanarFormat) -> tuple:
        lossless = p.depth >= source.depth
        # Prefer: luma kept exactly, then the same chroma layout, else the coarsest finer one, then the least depth.
        finer = p.log2_chroma_w <= want_w and p.log2_chroma_h <= want_h
        same = (p.log2_chroma_w, p.log2_chroma_h) == (want_w, want_h)
        return (not lossless, not same, not finer, abs(p.depth - source.depth), -(p.log2_chroma_w + p.log2_chroma_h))

    ranked = sorted(candidates, key=cost)
    best = next((p for p in ranked if size is None or _opens(codec, p.name, *size)), ranked[0])
    return best, best.depth >= source.depth


@functools.lru_cache(maxsize=64)
def _opens(codec: str, pix_fmt: str, width: int, height: int) -> bool:
    """Whether the encoder accepts this pixel format at this size (it is opened once to ask)."""
    if all(n % 2 == 0 for n in (width, height)):
        return True  # even sizes suit every layout
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 25)
    try:
        ctx.open()
    except (av.FFmpegError, ValueError):
        return False
    return True


def matrix_name(colorspace: int, height: int) -> str:
    """The Y'CbCr matrix of a frame, from FFmpeg's AVColorSpace; unspecified guessed by size as players do."""
    if colorspace == 1:
        return "bt709"
    if colorspace in (5, 6, 4):  # BT.470BG, SMPTE 170M, FCC
        return "bt601"
    if colorspace in (9, 10):
        return "bt2020"
    return "bt709" if height >= 720 else "bt601"


def plane_array(frame: av.VideoFrame, index: int, dtype: type) -> np.ndarray:
    """A writable (height, width) view of one plane of `frame`, without its line padding."""
    plane = frame.planes[index]
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // itemsize)
    return rows[:, : plane.width]


def code_range(depth: int, full_range: bool) -> tuple[float, float, float]:
    """(black, white, chroma_scale) code values for luma and the chroma excursion at this depth."""
    if full_range:
        top = float(2**depth - 1)
        return 0.0, top, top
    scale = float(2 ** (depth - 8))
    return 16 * scale, 235 * scale, 224 * scale
