"""Colorizing a single picture: a still image in, a colorized image out (the same colour path a
video frame takes, without the codec)."""

from __future__ import annotations

import os
import struct
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from .bars import picture_box, place_ab
from .chroma import ab_like
from .colour import chroma_from_lab, luma_to_lightness, rgb_to_luma, ycbcr_to_rgb, ycbcr_to_rgb_keeping_luma
from .config import ColorizeOptions
from .errors import InputError, OutputError
from .model import Colorizer
from .stats import RunStats

# Still images read and written with OpenCV (lower case). DPX and EXR come in as image sequences.
IMAGE_SUFFIXES = frozenset(".png .jpg .jpeg .tif .tiff .bmp .webp".split())
EIGHT_BIT_ONLY = frozenset(".jpg .jpeg .bmp .webp".split())  # formats that cannot hold 16-bit samples


# EXIF orientation (tag 274) -> the numpy view that shows the stored pixels upright.
_ORIENTATIONS = {
    2: lambda a: a[:, ::-1],  # mirrored left to right
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1],  # mirrored top to bottom
    5: lambda a: a.swapaxes(0, 1),  # mirrored, turned a quarter anticlockwise
    6: lambda a: np.rot90(a, -1),  # turned a quarter anticlockwise: shown a quarter clockwise
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # mirrored, turned a quarter clockwise
    8: lambda a: np.rot90(a, 1),  # turned a quarter clockwise: shown a quarter anticlockwise
}


def exif_orientation(path: Path) -> int:
    """The EXIF orientation (1-8) of a JPEG or TIFF file, 1 where it has none: how the camera was
    held, which viewers apply. OpenCV reads the stored pixels as they are when it keeps the alpha
    plane and the depth, and writes no EXIF."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            if head == b"\xff\xd8":  # JPEG: the EXIF block is an APP1 segment before the image data
                while True:
                    marker = f.read(4)
                    if len(marker) < 4 or marker[0] != 0xFF or marker[1] in (0xDA, 0xD9):
                        return 1
                    length = struct.unpack(">H", marker[2:])[0]
                    body = f.read(length - 2)
                    if marker[1] == 0xE1 and body.startswith(b"Exif\x00\x00"):
                        return _tiff_orientation(body[6:])
            elif head in (b"II", b"MM"):
                return _tiff_orientation(head + f.read(1 << 16))
    except (OSError, struct.error):
        pass
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    """Tag 274 of the first image file directory of a TIFF structure (an EXIF block is one)."""
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    for entry in range(count):
        start = offset + 2 + 12 * entry
        tag, kind = struct.unpack(order + "HH", tiff[start : start + 4])
        if tag == 274 and kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", tiff[start + 8 : start + 10])
            return value if value in _ORIENTATIONS else 1
    return 1


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir()


def colorize_luma(
    colorizer: Colorizer,
    luma: np.ndarray,
    matrix: str = "bt709",
    guided: bool = True,
    render_size: int | None = None,
    keep_luma: bool = False,
    saturation: float = 1.0,
) -> np.ndarray:
    """Y' (H, W) in [0, 1] -> R'G'B' (H, W, 3) in [0, 1] with that luma and the predicted colour.

    Out-of-gamut colours are clipped, as a video player clips them (what evaluation scores), or
    with `keep_luma` desaturated until they fit, so the picture's luma is kept exactly."""
    import cv2

    h, w = colorizer.info.render_shape(*luma.shape, render_size)
    lightness = luma_to_lightness(cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA))
    box = picture_box(lightness[None])
    if box is None:
        ab = colorizer.predict_ab(lightness[None])[0]
    else:  # the picture inside black bars (a film scan's frame edge), alone at the render size
        picture = luma[box.pixels(*luma.shape)]
        ph, pw = colorizer.info.render_shape(*picture.shape, render_size)
        inner = luma_to_lightness(cv2.resize(picture, (pw, ph), interpolation=cv2.INTER_AREA))
        stride = colorizer.info.output_stride
        ab = place_ab(colorizer.predict_ab(inner[None]), box, (h // stride, w // stride))[0]
    ab = ab * np.float32(saturation)
    cb, cr = chroma_from_lab(luma, ab_like(ab, luma_to_lightness(luma), guided), matrix)
    return (ycbcr_to_rgb_keeping_luma if keep_luma else ycbcr_to_rgb)(luma, cb, cr, matrix)


def colorize_image(
    src: str | os.PathLike, dst: str | os.PathLike, options: ColorizeOptions | None = None, **overrides
) -> RunStats:
    """Colorizes the still image `src` into `dst` (8 or 16 bits, grey or RGB, alpha kept).

    The picture's luma (Rec. 709 weights of its R'G'B', or its grey value) is kept: the output's
    luma equals the input's to within the rounding of the output samples.
    """
    import cv2

    from .backends import load_colorizer
    from .media import check_paths

    options = replace(options or ColorizeOptions(), **overrides)
    src, dst = Path(src), Path(dst)
    check_paths(src, dst, options.overwrite)
    started = time.perf_counter()
    image = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{src}: not an image vidcolor can read")
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{src}: {image.dtype} samples; vidcolor reads 8- and 16-bit images")
    # Upright, as viewers show it: the output carries no orientation tag (a photo of a print taken
    # with the camera on its side came out on its side).
    image = np.ascontiguousarray(_ORIENTATIONS.get(exif_orientation(src), lambda a: a)(image))
    peak = float(np.iinfo(image.dtype).max)
    alpha = None
    if image.ndim == 2:
        luma = image.astype(np.float32) / peak
    else:
        if image.shape[2] == 4:
            alpha = image[..., 3]
        luma = rgb_to_luma(image[..., 2::-1].astype(np.float32) / peak)
    colorizer = load_colorizer(options.runtime_request())
    rgb = colorize_luma(colorizer, luma, render_size=options.render_size, keep_luma=True, saturation=options.saturation)
    dtype, peak_out = image.dtype, peak
    if dst.suffix.lower() in EIGHT_BIT_ONLY and dtype == np.uint16:
        dtype, peak_out = np.dtype(np.uint8), 255.0
    out = np.round(rgb[..., ::-1] * peak_out).astype(dtype)
    if alpha is not None:
        out = np.dstack([out, (alpha / peak * peak_out).round().astype(dtype)])
    temp = dst.with_name(f".{dst.stem}.vidcolor-{uuid.uuid4().hex[:8]}.part{dst.suffix}")
    try:
        if not cv2.imwrite(str(temp), out):
            raise OutputError(f"{dst}: cannot write a '{dst.suffix}' image")
        os.replace(temp, dst)
    finally:
        temp.unlink(missing_ok=True)
    stats = RunStats(input=str(src), output=str(dst), frames=1, model=str(options.model))
    stats.device, stats.backend = colorizer.device, colorizer.name
    stats.pixel_format = f"{'rgba' if alpha is not None else 'rgb'}{8 * out.dtype.itemsize}"
    stats.render_shape = colorizer.info.render_shape(*luma.shape, options.render_size)
    stats.wall_seconds = time.perf_counter() - started
    return stats
