"""Colorizing a single picture: a still image in, a colorized image out (the same colour path a
video frame takes, without the codec)."""

from __future__ import annotations

import io
import itertools
import logging
import os
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .bars import predict_picture
from .chroma import ab_like
from .colour import (
    chroma_codes,
    chroma_from_lab,
    colour_input_warning,
    independent_chroma,
    luma_to_lightness,
    rgb_to_chroma,
    rgb_to_luma,
    ycbcr_to_rgb,
    ycbcr_to_rgb_keeping_luma,
)
from .config import ColorizeOptions
from .errors import InputError, ModelError, OutputError, VidcolorError
from .hints import Hint, hint_plane, hint_record, read_hints
from .model import Colorizer
from .stats import RunStats

log = logging.getLogger(__name__)

# Still images read and written with OpenCV (lower case). DPX and EXR come in as image sequences.
IMAGE_SUFFIXES = frozenset(".png .apng .jpg .jpeg .tif .tiff .bmp .webp".split())
EIGHT_BIT_ONLY = frozenset(".jpg .jpeg .bmp .webp".split())  # formats that cannot hold 16-bit samples
# Files that hold several pictures: the pages of a TIFF (a scanned album), and animations (APNG,
# animated WebP), which are written back as they came, every page or frame colorized.
PAGE_SUFFIXES = frozenset(".tif .tiff".split())
ANIMATION_SUFFIXES = frozenset(".png .apng .webp".split())
ANIMATION_BATCH = 8  # frames of an animation the model sees at once (bars are found over a batch)
MAX_HELD_BYTES = 4 << 30  # the pages or frames of one file, in and out, are held in memory: at most this
# A still's metadata is carried into its colorized copy where OpenCV writes it: the EXIF block
# (its orientation made 1, as the pixels are written upright), the XMP packet and the ICC profile
# of a colour picture into JPEG, PNG and WebP; the resolution of a TIFF into a TIFF. What is not
# carried is said in a warning.
METADATA_SUFFIXES = frozenset(".jpg .jpeg .png .webp".split())
_EXIF, _XMP, _ICC = 0, 1, 2  # cv2.IMAGE_METADATA_EXIF, _XMP, _ICCP
# A JPEG's XMP segment starts with its namespace, which OpenCV reads and writes as part of the
# packet (and a PNG's with its text key); written into a PNG that way, the packet was cut at the
# namespace's NUL.
_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"


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
    return page_orientations(path)[0]


def page_orientations(path: Path) -> list[int]:
    """The orientation (1-8) of each picture of a JPEG (one) or a TIFF (one per page), [1] where
    the file says none."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            if head == b"\xff\xd8":  # JPEG: the EXIF block is an APP1 segment before the image data
                while True:
                    marker = f.read(4)
                    if len(marker) < 4 or marker[0] != 0xFF or marker[1] in (0xDA, 0xD9):
                        return [1]
                    length = struct.unpack(">H", marker[2:])[0]
                    body = f.read(length - 2)
                    if marker[1] == 0xE1 and body.startswith(b"Exif\x00\x00"):
                        return _tiff_orientations(io.BytesIO(body[6:]), pages=1)
            elif head in (b"II", b"MM"):
                f.seek(0)
                return _tiff_orientations(f)
    except (OSError, struct.error):
        pass
    return [1]


def _tiff_orientations(f: BinaryIO, pages: int = 1 << 16) -> list[int]:
    """Tag 274 of each image file directory of the TIFF structure in `f` (an EXIF block is one),
    following the chain of directories for up to `pages`; 1 for a directory without it."""
    order = "<" if f.read(2) == b"II" else ">"
    f.seek(4)
    (offset,) = struct.unpack(order + "I", f.read(4))
    orientations: list[int] = []
    seen = set()
    while offset and offset not in seen and len(orientations) < pages:
        seen.add(offset)  # a directory chain that loops back is damaged: stop there
        f.seek(offset)
        (count,) = struct.unpack(order + "H", f.read(2))
        entries = f.read(12 * count)
        value = 1
        for start in range(0, len(entries) - 11, 12):
            tag, kind = struct.unpack(order + "HH", entries[start : start + 4])
            if tag == 274 and kind == 3:  # SHORT
                (value,) = struct.unpack(order + "H", entries[start + 8 : start + 10])
                value = value if value in _ORIENTATIONS else 1
        orientations.append(value)
        following = f.read(4)
        offset = struct.unpack(order + "I", following)[0] if len(following) == 4 else 0
    return orientations or [1]


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as viewers show them, for an EXIF orientation (1-8)."""
    return np.ascontiguousarray(_ORIENTATIONS.get(orientation, lambda a: a)(image))


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir()


def picture_count(path: Path) -> int:
    """How many pictures an image file holds: its pages (TIFF) or frames (APNG, animated WebP)."""
    import cv2

    with _opencv_quiet():  # it logs an error for a file it cannot read
        try:
            return max(1, cv2.imcount(str(path)))  # 0 where it cannot read it: reading it says so
        except cv2.error:
            return 1


def plays_as_video(path: Path) -> bool:
    """Whether an image file is an animation FFmpeg decodes (an APNG, whatever its suffix), so it
    can go through the video path (its timing kept, into any video container)."""
    import av

    if path.suffix.lower() in PAGE_SUFFIXES or picture_count(path) < 2:
        return False
    try:
        with av.open(str(path)) as container:
            return container.format.name == "apng" and bool(container.streams.video)
    except av.FFmpegError:
        return False


def picture_by_picture(src: Path, dst: Path) -> bool:
    """Whether `src` into `dst` is colorized here as an image file (a still, pages, an animation),
    or else through the video path; VidcolorError where neither can write what `src` holds."""
    if is_image(dst):
        if is_image(src) or (src.suffix.lower() == ".gif" and dst.suffix.lower() in ANIMATION_SUFFIXES):
            return True  # (OpenCV reads a GIF's frames and delays: into an animated WebP or PNG)
        raise VidcolorError(
            "a video or a folder of frames is colorized into a video (.mkv, .mp4), a GIF into a video or "
            "an animated .webp or .png; a still image into an image (.png, .tif, .jpg)"
        )
    if not is_image(src) or not src.is_file() or plays_as_video(src):
        return False  # (the video path says what is wrong with a path that is no file)
    count = picture_count(src)
    if count > 1:
        raise VidcolorError(
            f"{src} holds {count} pictures: they are colorized into a file of the same kind (pages into "
            "a .tif, an animation into a .webp or .png)"
        )
    raise VidcolorError("a still image is colorized into an image (.png, .tif, .jpg); a video into a video")


@dataclass
class Metadata:
    """What a still says beside its pixels."""

    exif: bytes | None = None  # the EXIF block (a TIFF structure), its orientation made upright
    xmp: bytes | None = None  # the XMP packet (<?xpacket ...)
    icc: bytes | None = None  # the ICC colour profile
    resolution: tuple[float, float, int] | None = None  # a TIFF's pixels per unit across and down; unit (2 inch, 3 cm)


@dataclass
class Pictures:
    """What an image file holds: one picture, the pages of a TIFF, or the frames of an animation
    (with each frame's duration in ms and the number of loops, 0 for ever)."""

    frames: list[np.ndarray]  # as OpenCV reads them, upright: grey, BGR or BGRA; 8 or 16 bits
    durations: list[int] | None = None  # an animation's; None for a still or pages
    loop_count: int = 0
    background: tuple = field(default=(0.0, 0.0, 0.0, 0.0))
    missing: int = 0  # pictures the file says it holds but does not (it is cut short)
    metadata: Metadata | None = None  # a still's

    @property
    def kind(self) -> str:
        if len(self.frames) == 1:
            return "image"
        return "pages" if self.durations is None else "animation"


def read_pictures(src: Path) -> Pictures:
    """Every picture of the image file `src`, upright as viewers show them (their EXIF orientation).

    A file cut short gives the pictures before the cut, and says how many are missing."""
    import cv2

    count = picture_count(src)
    if count == 1:
        with _opencv_quiet():
            image, kinds, chunks = cv2.imreadWithMetadata(str(src), cv2.IMREAD_UNCHANGED)
        if image is None or not image.size:
            raise InputError(f"{src}: not an image vidcolor can read")
        found = {int(kind): bytes(chunk.ravel()) for kind, chunk in zip(kinds, chunks)}
        orientation = exif_orientation(src)
        resolution = _tiff_resolution(src)
        if resolution and orientation >= 5:  # turned a quarter: across is down
            resolution = (resolution[1], resolution[0], resolution[2])
        exif = found.get(_EXIF)
        xmp = _xmp_packet(found.get(_XMP))
        metadata = Metadata(exif and _exif_upright(exif, orientation), xmp, found.get(_ICC), resolution)
        return Pictures([upright(image, orientation)], metadata=metadata)
    first = _read_some(src, 0, 1).frames
    if not first:
        raise InputError(f"{src}: not an image vidcolor can read (it says it holds {count} pictures)")
    held = 2 * count * first[0].nbytes  # in and out
    if held > MAX_HELD_BYTES:
        height, width = first[0].shape[:2]
        raise InputError(
            f"{src}: holds {count} pictures of {width}x{height}, {held / 2**30:.1f} GiB in memory in and out "
            f"(at most {MAX_HELD_BYTES / 2**30:.0f}); split it into smaller files"
        )
    pictures = _read_some(src, 0, count)
    pictures.missing = count - len(pictures.frames)
    return pictures


def _read_some(src: Path, start: int, count: int) -> Pictures:
    """Pictures start.. start + count - 1 of a TIFF's pages or an animation's frames (fewer where
    the file ends before them)."""
    import cv2

    with _opencv_quiet():  # OpenCV logs an error where the file is cut short
        if src.suffix.lower() in PAGE_SUFFIXES:
            ok, pages = cv2.imreadmulti(str(src), start=start, count=count, flags=cv2.IMREAD_UNCHANGED)
            orientations = page_orientations(src)[start : start + count]
            orientations += [1] * (count - len(orientations))
            return Pictures([upright(page, turn) for page, turn in zip(pages or [], orientations)])
        ok, animation = cv2.imreadanimation(str(src), start, count)
        frames = list(animation.frames)
        durations = [int(d) for d in animation.durations][: len(frames)]
        exact = _apng_durations(src)
        if exact and len(exact) >= start + len(frames):  # (each frame has its fcTL, before its data)
            durations = exact[start : start + len(frames)]
        return Pictures(frames, durations, int(animation.loop_count), animation.bgcolor)


def _apng_durations(path: Path) -> list[int] | None:
    """An APNG's frame durations in whole ms, rounded so that the frames' times are its own to
    within half a ms; None for any other file. An APNG times frames in fractions of a second
    (1001/30000 at 29.97 fps), which OpenCV rounds down to ms one by one: 37 ms early at frame 100."""
    delays: list[Fraction] = []
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while header := f.read(8):
                length, kind = struct.unpack(">I4s", header)
                if kind == b"fcTL":
                    numerator, denominator = struct.unpack(">HH", f.read(length)[20:24])
                    delays.append(Fraction(numerator, denominator or 100))  # 0: hundredths
                    f.seek(4, os.SEEK_CUR)
                elif kind == b"IEND":
                    break
                else:
                    f.seek(length + 4, os.SEEK_CUR)
    except (OSError, struct.error):
        return None
    if not delays:
        return None
    times = [round(1000 * t) for t in itertools.accumulate(delays, initial=Fraction(0))]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@contextmanager
def _stderr_to_log() -> Iterator[None]:
    """What C libraries print to the process's stderr meanwhile, logged at debug level instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            if text := sink.read().decode(errors="replace").strip():
                log.debug("%s", text)


@contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV's own log off (errors it returns as empty results are said once, here, in words)."""
    import cv2

    cv_log = cv2.utils.logging
    level = cv_log.getLogLevel()
    cv_log.setLogLevel(cv_log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv_log.setLogLevel(level)


def predict_ab(
    colorizer: Colorizer,
    lumas: list[np.ndarray],
    render_size: int | None = None,
    steady=None,
    hints: Sequence[Hint] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """L* (N, h, w) at the render size and the model's ab (N, h', w', 2) for pictures of one size,
    Y' (H, W) in [0, 1] each, upright. Black bars common to all of them are left out of what the
    model sees; `steady` steadies a film's exposure for it (bars.predict_picture). `hints` (points
    of the pictures, checked against their size: hints.Hints.for_still) go to the model as its hint
    plane, the same for every picture; None: no hints (ModelError where the model takes none)."""
    import cv2

    def lightness_at(shape: tuple[int, int], rows: slice, columns: slice) -> np.ndarray:
        size = (shape[1], shape[0])
        return np.stack(
            [luma_to_lightness(cv2.resize(luma[rows, columns], size, interpolation=cv2.INTER_AREA)) for luma in lumas]
        )

    def hints_at(shape: tuple[int, int], rows: slice, columns: slice) -> np.ndarray:
        plane = hint_plane(hints, (height, width), shape, rows, columns, scale=colorizer.info.hint_scale)
        return np.repeat(plane[None], len(lumas), axis=0)

    height, width = lumas[0].shape
    lightness, ab, _ = predict_picture(
        colorizer.info, colorizer.predict_ab, lightness_at, height, width, render_size, steady,
        None if hints is None else hints_at,
    )  # fmt: skip
    return lightness, ab


def luma_with_ab(
    luma: np.ndarray, ab: np.ndarray, matrix: str = "bt709", guided: bool = True, keep_luma: bool = False
) -> np.ndarray:
    """Y' (H, W) in [0, 1] and ab at model size -> R'G'B' (H, W, 3) in [0, 1] with that luma.

    Out-of-gamut colours are clipped, as a video player clips them (what evaluation scores), or
    with `keep_luma` desaturated until they fit, so the picture's luma is kept exactly."""
    cb, cr = chroma_from_lab(luma, ab_like(ab, luma_to_lightness(luma), guided), matrix)
    return (ycbcr_to_rgb_keeping_luma if keep_luma else ycbcr_to_rgb)(luma, cb, cr, matrix)


def colorize_luma(
    colorizer: Colorizer,
    luma: np.ndarray,
    matrix: str = "bt709",
    guided: bool = True,
    render_size: int | None = None,
    keep_luma: bool = False,
    saturation: float = 1.0,
    hints: Sequence[Hint] | None = None,
) -> np.ndarray:
    """Y' (H, W) in [0, 1] -> R'G'B' (H, W, 3) in [0, 1] with that luma and the predicted colour
    (see `luma_with_ab` for `keep_luma`), steered by colour `hints` where given (see predict_ab)."""
    ab = predict_ab(colorizer, [luma], render_size, hints=hints)[1][0] * np.float32(saturation)
    return luma_with_ab(luma, ab, matrix, guided, keep_luma)


def colorize_image(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    options: ColorizeOptions | None = None,
    progress: Callable[[int], None] | None = None,
    **overrides,
) -> RunStats:
    """Colorizes the image file `src` into `dst` (8 or 16 bits, grey or RGB, alpha kept).

    The picture's luma (Rec. 709 weights of its R'G'B', or its grey value) is kept: the output's
    luma equals the input's to within the rounding of the output samples. A TIFF of several pages
    comes out as a TIFF with every page colorized; an animation (APNG, animated WebP) as an
    animation with the same timing, its colour smoothed over time as a video's is.
    `progress(pictures_done)` is called after each batch of pages or frames (not for a still).
    """
    from .backends import load_colorizer
    from .media import check_paths

    options = replace(options or ColorizeOptions(), **overrides)
    if options.pixel_format:
        raise OutputError(f"{dst}: --pix-fmt is for video; an image is written in its format's own 8 or 16 bits")
    src, dst = Path(src), Path(dst)
    check_paths(src, dst, options.overwrite)
    started = time.perf_counter()
    pictures = read_pictures(src)
    _check_holds(src, dst, pictures)
    for picture in pictures.frames:
        if picture.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{src}: {picture.dtype} samples; vidcolor reads 8- and 16-bit images")
    if pictures.metadata:
        _warn_metadata_left(src, dst, pictures.metadata)
    first = pictures.frames[0]
    hints = _still_hints(options.hints, src, pictures) if options.hints is not None else None
    codes = 0.0
    if first.ndim == 3:  # R'G'B': maybe a tinted print, or a colour photo
        import cv2

        rgb = first[::4, ::4, 2::-1].astype(np.float32) / np.iinfo(first.dtype).max
        cb, cr = rgb_to_chroma(rgb)
        codes = chroma_codes(cb, cr)
        blocks = (max(1, rgb.shape[1] // 2), max(1, rgb.shape[0] // 2))  # 8x8 pixels of the picture
        own = independent_chroma(
            *(cv2.resize(p, blocks, interpolation=cv2.INTER_AREA) for p in (rgb_to_luma(rgb), cb, cr))
        )
        if warning := colour_input_warning(src, codes, own):
            log.warning("%s", warning)
    colorizer = load_colorizer(options.runtime_request())
    if hints is not None and not colorizer.info.hint_input:
        raise ModelError(
            f"--hints: the model {options.model} takes no colour hints (it was trained without hint inputs); "
            "use a model trained with vidcolor-train --hints, or leave out --hints"
        )
    stats = RunStats(input=str(src), output=str(dst), frames=len(pictures.frames), model=str(options.model))
    stats.missing_frames = pictures.missing
    stats.input_chroma = round(codes, 2)
    stats.hints = [hint_record(hint) for hint in hints or ()]
    if pictures.missing:
        log.warning(
            "%s: holds %d of the %d pictures it announces (the file is cut short): the %d before the cut are "
            "colorized",
            src, len(pictures.frames), len(pictures.frames) + pictures.missing, len(pictures.frames),
        )  # fmt: skip
    smoother = steadier = None
    if pictures.kind == "animation" and options.temporal and options.temporal_strength > 0:
        from .temporal import TemporalSmoother

        smoother = TemporalSmoother(options.temporal_strength)
    if pictures.kind == "animation" and options.temporal and options.deflicker:
        from .exposure import ExposureSteadier

        steadier = ExposureSteadier()
    # Pages are pictures of their own (each with its own bars); an animation's frames are a film's.
    batch = ANIMATION_BATCH if pictures.kind == "animation" else 1
    # OpenCV writes animations 8 bits deep
    eight_bit = dst.suffix.lower() in EIGHT_BIT_ONLY or pictures.kind == "animation"
    out_frames = []
    for start, group in _runs(pictures.frames, batch):
        lumas = [_luma(picture) for picture in group]
        lightness, predicted = predict_ab(colorizer, lumas, options.render_size, steadier and steadier.gains, hints)
        for index, (picture, luma, lit, ab) in enumerate(zip(group, lumas, lightness, predicted), start):
            ab = ab * np.float32(options.saturation)
            if smoother is not None:
                result = smoother.smooth(lit, ab)
                ab = result.ab
                if result.cut and index:
                    stats.cuts.append({"frame": index, "time": round(sum(pictures.durations[:index]) / 1000, 3)})
            rgb = luma_with_ab(luma, ab, keep_luma=True)
            out_frames.append(_samples(picture, rgb, eight_bit=eight_bit))
        stats.render_shape = lightness.shape[1:]
        if progress and pictures.kind != "image":
            progress(len(out_frames))
    _write(dst, pictures, out_frames)
    stats.device, stats.backend = colorizer.device, colorizer.name
    channels = out_frames[0].shape[2]
    stats.pixel_format = f"{'rgba' if channels == 4 else 'rgb'}{8 * out_frames[0].dtype.itemsize}"
    stats.wall_seconds = time.perf_counter() - started
    return stats


def _still_hints(path: Path, src: Path, pictures: Pictures) -> tuple[Hint, ...]:
    """The hints of the hints file `path` for the still `src`, checked against its upright size."""
    if pictures.kind != "image":
        raise InputError(
            f"--hints: {src} holds {len(pictures.frames)} {'pages' if pictures.kind == 'pages' else 'frames'}; "
            "hints are taken for a still image only, so far"
        )
    height, width = pictures.frames[0].shape[:2]
    return read_hints(path).for_still(width, height, src.name)


def _runs(frames: list[np.ndarray], size: int):
    """(index of the first, frames) for runs of up to `size` consecutive frames of one size."""
    start = 0
    while start < len(frames):
        end = start + 1
        while end < min(start + size, len(frames)) and frames[end].shape[:2] == frames[start].shape[:2]:
            end += 1
        yield start, frames[start:end]
        start = end


def _luma(picture: np.ndarray) -> np.ndarray:
    """Y' (H, W) in [0, 1] of a grey, BGR or BGRA picture (Rec. 709 weights)."""
    peak = float(np.iinfo(picture.dtype).max)
    if picture.ndim == 2:
        return picture.astype(np.float32) / peak
    return rgb_to_luma(picture[..., 2::-1].astype(np.float32) / peak)


def _samples(picture: np.ndarray, rgb: np.ndarray, eight_bit: bool) -> np.ndarray:
    """The colorized R'G'B' as samples to write: BGR or BGRA (the input's alpha), at the input's
    depth unless `eight_bit`."""
    dtype = np.dtype(np.uint8) if eight_bit else picture.dtype
    peak, peak_out = float(np.iinfo(picture.dtype).max), float(np.iinfo(dtype).max)
    out = np.round(rgb[..., ::-1] * peak_out).astype(dtype)
    if picture.ndim == 3 and picture.shape[2] == 4:
        out = np.dstack([out, (picture[..., 3] / peak * peak_out).round().astype(dtype)])
    return out


def _check_holds(src: Path, dst: Path, pictures: Pictures) -> None:
    """Refuses an output that would hold fewer pictures than the input, before any work."""
    suffix, count = dst.suffix.lower(), len(pictures.frames)
    if pictures.kind == "pages" and suffix not in PAGE_SUFFIXES:
        raise OutputError(f"{src} holds {count} pages; a '{suffix}' file holds one: write them to a .tif")
    if pictures.kind == "animation" and suffix not in ANIMATION_SUFFIXES:
        video = " or into a video (.mkv, .mp4)" if plays_as_video(src) else ""
        raise OutputError(
            f"{src} is an animation of {count} frames; a '{suffix}' file holds one picture: write it to an "
            f"animated .webp or .png{video}"
        )


def _write(dst: Path, pictures: Pictures, frames: list[np.ndarray]) -> None:
    """Writes the colorized pictures to `dst` as the input held them, through a temporary file."""
    import cv2

    with through_temp(dst) as temp:
        if pictures.kind == "image":
            kinds, chunks, params = _metadata_arguments(dst, pictures.metadata or Metadata())
            with _opencv_quiet(), _stderr_to_log():  # libpng warns of odd ICC profiles it writes as they are
                written = cv2.imwriteWithMetadata(str(temp), frames[0], kinds, chunks, params)
        elif pictures.kind == "pages":
            written = cv2.imwritemulti(str(temp), frames)
        else:
            animation = cv2.Animation()
            animation.frames, animation.durations = frames, pictures.durations
            animation.loop_count, animation.bgcolor = pictures.loop_count, pictures.background
            # WebP above quality 100 is lossless, so the luma stays the input's (PNG always is).
            written = cv2.imwriteanimation(str(temp), animation, [cv2.IMWRITE_WEBP_QUALITY, 101])
        if not written:
            raise OutputError(f"{dst}: cannot write a '{dst.suffix}' image")


@contextmanager
def through_temp(dst: Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary file beside `dst` (with `suffix`, else dst's) for the block to write: moved onto
    `dst` when the block ends, removed if it fails, so `dst` is never left half written."""
    temp = dst.with_name(f".{dst.stem}.vidcolor-{uuid.uuid4().hex[:8]}.part{suffix or dst.suffix}")
    try:
        yield temp
        os.replace(temp, dst)
    finally:
        temp.unlink(missing_ok=True)


def _metadata_arguments(dst: Path, metadata: Metadata) -> tuple[list[int], list[np.ndarray], list[int]]:
    """imwriteWithMetadata's metadata kinds, chunks and parameters for `dst`: what it carries."""
    import cv2

    carried: dict[int, bytes] = {}
    if dst.suffix.lower() in METADATA_SUFFIXES:
        if metadata.exif:
            carried[_EXIF] = metadata.exif
        if metadata.xmp:
            suffix = dst.suffix.lower()
            # OpenCV writes a PNG's packet up to the first NUL (with bytes from beyond the end of
            # the buffer where it has none)
            carried[_XMP] = {".jpg": _JPEG_XMP, ".jpeg": _JPEG_XMP}.get(suffix, b"") + metadata.xmp
            carried[_XMP] += b"\x00" if suffix == ".png" else b""
        if _icc_colour(metadata.icc):
            carried[_ICC] = metadata.icc
    params = []
    if dst.suffix.lower() in PAGE_SUFFIXES and metadata.resolution:
        across, down, unit = metadata.resolution
        params = [cv2.IMWRITE_TIFF_RESUNIT, unit, cv2.IMWRITE_TIFF_XDPI, round(across)]
        params += [cv2.IMWRITE_TIFF_YDPI, round(down)]
    chunks = [np.frombuffer(chunk, np.uint8) for chunk in carried.values()]
    return list(carried), chunks, params


def _warn_metadata_left(src: Path, dst: Path, metadata: Metadata) -> None:
    """A warning naming the metadata of `src` that `dst` will not carry, and why, if any."""
    kinds, _, params = _metadata_arguments(dst, metadata)
    suffix = dst.suffix.lower()
    none_there = f"none in a '{suffix}' file"
    left = [
        f"{name} ({why})"
        for name, present, carried, why in (
            ("EXIF", metadata.exif, _EXIF in kinds, none_there),
            ("XMP", metadata.xmp, _XMP in kinds, none_there),
            (
                "ICC profile",
                metadata.icc,
                _ICC in kinds,
                "a grey picture's" if suffix in METADATA_SUFFIXES else none_there,
            ),
            ("resolution", metadata.resolution, bool(params), "a TIFF's, into a TIFF only"),
        )
        if present and not carried
    ]
    if left:
        log.warning("%s: not carried over into %s: %s", src, dst.name, ", ".join(left))


def _xmp_packet(chunk: bytes | None) -> bytes | None:
    """The XMP packet itself ("<?xpacket ..." or "<x:xmpmeta ...") of what OpenCV read as XMP,
    without a JPEG's namespace or a PNG's text key before it, or NULs after it."""
    if not chunk or (start := chunk.find(b"<")) < 0:
        return None
    return chunk[start:].rstrip(b"\x00") or None


def _icc_colour(icc: bytes | None) -> bool:
    """An ICC profile for R'G'B' pictures (its header's colour space), not for grey ones."""
    return bool(icc) and icc[16:20] == b"RGB "


def _exif_upright(exif: bytes, orientation: int) -> bytes:
    """The EXIF block of a picture written upright: its orientation 1 (a viewer would turn it
    again), and its pixel width and height swapped where it was turned a quarter."""
    if orientation == 1:
        return exif
    data = bytearray(exif)
    try:
        order = "<" if data[:2] == b"II" else ">"
        (first,) = struct.unpack_from(order + "I", data, 4)
        for tag, kind, place in _ifd_entries(data, first, order):
            if tag == 274 and kind == 3:
                struct.pack_into(order + "H", data, place, 1)
            elif tag == 0x8769 and orientation >= 5:  # the Exif directory: its PixelXDimension and YDimension
                (offset,) = struct.unpack_from(order + "I", data, place)
                sizes = {t: (k, at) for t, k, at in _ifd_entries(data, offset, order) if t in (0xA002, 0xA003)}
                if len(sizes) == 2:
                    (kx, x_at), (ky, y_at) = sizes[0xA002], sizes[0xA003]
                    across = struct.unpack_from(order + ("H" if kx == 3 else "I"), data, x_at)[0]
                    down = struct.unpack_from(order + ("H" if ky == 3 else "I"), data, y_at)[0]
                    struct.pack_into(order + ("H" if kx == 3 else "I"), data, x_at, down)
                    struct.pack_into(order + ("H" if ky == 3 else "I"), data, y_at, across)
    except struct.error:  # a damaged block: carried as it is
        return exif
    return bytes(data)


def _ifd_entries(data: bytes, offset: int, order: str) -> list[tuple[int, int, int]]:
    """(tag, type, where its value is) of each entry of the TIFF directory at `offset`, for values
    of one SHORT or LONG (held in the entry itself)."""
    (count,) = struct.unpack_from(order + "H", data, offset)
    entries = []
    for start in range(offset + 2, offset + 2 + 12 * count, 12):
        tag, kind, number = struct.unpack_from(order + "HHI", data, start)
        if kind in (3, 4) and number == 1:
            entries.append((tag, kind, start + 8))
    return entries


def _tiff_resolution(path: Path) -> tuple[float, float, int] | None:
    """A TIFF's XResolution, YResolution and ResolutionUnit (tags 282, 283, 296) of its first page;
    None for another file or where it says none."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:2] not in (b"II", b"MM"):
                return None
            order = "<" if head[:2] == b"II" else ">"
            (offset,) = struct.unpack(order + "I", head[4:8])
            f.seek(offset)
            (count,) = struct.unpack(order + "H", f.read(2))
            directory = f.read(12 * count)
            values: dict[int, float] = {}
            for start in range(0, len(directory) - 11, 12):
                tag, kind, _, value = struct.unpack(order + "HHI4s", directory[start : start + 12])
                if tag in (282, 283) and kind == 5:  # RATIONAL, stored elsewhere
                    f.seek(struct.unpack(order + "I", value)[0])
                    numerator, denominator = struct.unpack(order + "II", f.read(8))
                    values[tag] = numerator / denominator if denominator else 0.0
                elif tag == 296 and kind == 3:
                    values[tag] = struct.unpack(order + "H", value[:2])[0]
    except (OSError, struct.error):
        return None
    if not values.get(282) or not values.get(283):
        return None
    return values[282], values[283], int(values.get(296, 2))
