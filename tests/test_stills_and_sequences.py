"""Archive formats beyond one video file: folders of numbered frames (DPX, TIFF, PNG) as input,
and a single still image in, a colorized image out."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from conftest import read_video, record_model_inputs, run_cli

from vidcolor import colorize
from vidcolor.colour import rgb_to_luma
from vidcolor.errors import InputError
from vidcolor.image import colorize_image
from vidcolor.media import find_sequence


def _gradient(index: int, height: int = 48, width: int = 64, peak: int = 255) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 3 + y * 2 + index * 5) % 200 / 200 * peak + peak * 0.1).astype(np.uint16 if peak > 255 else np.uint8)


def _png_sequence(folder, count=5, start=100, name="reel_"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{name}{start + i:06d}.png"), _gradient(i))
    return folder


def test_a_folder_of_png_frames_is_a_video_at_the_given_rate(tmp_path, tiny_model):
    frames_dir = _png_sequence(tmp_path / "frames", count=7, start=100)
    out = tmp_path / "out.mkv"
    stats = colorize(frames_dir, out, model=tiny_model, codec="ffv1", frame_rate=Fraction(24000, 1001))
    assert stats.frames == 7
    frames, rate = read_video(out)
    assert len(frames) == 7 and rate == Fraction(24000, 1001)
    seconds = [float(f.pts * f.time_base) for f in frames]
    np.testing.assert_allclose(np.diff(seconds), 1001 / 24000, atol=1e-3)
    # The grey frames' luma is kept and colour is added.
    first = frames[0].to_ndarray()
    assert np.array_equal(first[:48], cv2.imread(str(frames_dir / "reel_000100.png"), cv2.IMREAD_UNCHANGED))
    assert np.ptp(first[48:]) > 0


def test_a_16_bit_dpx_sequence_stays_deep(tmp_path, tiny_model):
    folder = tmp_path / "dpx"
    folder.mkdir()
    with av.open(str(folder / "scan_%04d.dpx"), "w", format="image2") as container:
        stream = container.add_stream("dpx", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb48le"
        for i in range(3):
            grey = _gradient(i, peak=65535)
            rgb = np.repeat(grey[..., None], 3, axis=-1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb48le")))
        container.mux(stream.encode(None))
    out = tmp_path / "out.mkv"
    stats = colorize(folder, out, model=tiny_model, codec="ffv1")
    assert stats.frames == 3 and stats.pixel_format.endswith("16le")
    frames, rate = read_video(out)
    assert len(frames) == 3 and rate == 24  # the default rate of a sequence given without one


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["a_0001.png", "a_0002.png", "a_0004.png"], "missing"),
        (["a_0001.png", "b_0001.png"], "several image sequences"),
        (["notes.txt"], "no numbered image frames"),
    ],
)
def test_a_folder_that_is_not_one_whole_sequence_is_refused(tmp_path, files, message):
    for name in files:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputError, match=message):
        find_sequence(tmp_path)


def test_a_gap_in_the_frames_is_one_line_on_the_command_line(tmp_path):
    frames_dir = _png_sequence(tmp_path / "frames", count=4)
    (frames_dir / "reel_000101.png").unlink()
    result = run_cli(str(frames_dir), str(tmp_path / "out.mkv"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "missing" in result.stderr
    assert not (tmp_path / "out.mkv").exists()


@pytest.mark.parametrize(("suffix", "peak", "channels"), [(".png", 255, 1), (".tif", 65535, 3), (".png", 255, 4)])
def test_a_still_image_keeps_its_luma_depth_and_alpha(tmp_path, tiny_model, suffix, peak, channels):
    grey = _gradient(0, peak=peak)
    picture = (
        grey if channels == 1 else np.dstack([grey] * 3 + ([np.full_like(grey, peak // 2)] if channels == 4 else []))
    )
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    cv2.imwrite(str(src), picture)
    stats = colorize_image(src, dst, model=tiny_model)
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert stats.frames == 1 and out.dtype == picture.dtype and out.shape[:2] == picture.shape[:2]
    assert out.shape[2] == (4 if channels == 4 else 3)
    luma = rgb_to_luma(out[..., 2::-1].astype(np.float32))
    assert np.abs(luma - grey).max() <= 0.5 + 1e-3  # only the rounding of the output samples
    assert np.abs(out[..., 2].astype(int) - out[..., 0].astype(int)).max() > 0.05 * peak  # coloured
    if channels == 4:
        assert np.array_equal(out[..., 3], picture[..., 3])


def _with_orientation(jpeg: bytes, orientation: int, order: str) -> bytes:
    """The JPEG with an EXIF block (in `order` byte order, "<" or ">") whose orientation tag is set."""
    tiff = (b"II" if order == "<" else b"MM") + struct.pack(order + "HIH", 42, 8, 1)
    tiff += struct.pack(order + "HHIHHI", 274, 3, 1, orientation, 0, 0)
    app1 = b"\xff\xe1" + struct.pack(">H", 8 + len(tiff)) + b"Exif\x00\x00" + tiff
    return jpeg[:2] + app1 + jpeg[2:]


@pytest.mark.parametrize(("orientation", "order"), [(3, "<"), (6, ">"), (7, "<"), (8, "<")])
def test_a_photo_taken_on_its_side_comes_out_upright(tmp_path, tiny_model, orientation, order):
    """A JPEG whose EXIF says how the camera was held (viewers turn it): it came out as stored, on
    its side, since the output carries no orientation tag. It is written upright, as it is shown;
    OpenCV's own reading with the orientation applied is the reference."""
    grey = _gradient(0, height=40, width=64)
    grey[:10, :20] = 250  # a corner to tell the turns apart
    ok, jpeg = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 100])
    src, dst = tmp_path / "photo.jpg", tmp_path / "colour.png"
    src.write_bytes(_with_orientation(jpeg.tobytes(), orientation, order))
    upright = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)  # OpenCV applies the orientation here
    assert upright.shape != grey.shape or orientation == 3
    colorize_image(src, dst, model=tiny_model)
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert out.shape[:2] == upright.shape
    luma = rgb_to_luma(out[..., 2::-1].astype(np.float32))
    assert np.abs(luma - upright).max() <= 1.5  # the input's luma, turned


def test_still_image_saturation_from_the_command_line(tmp_path, tiny_model):
    src = tmp_path / "photo.png"
    cv2.imwrite(str(src), _gradient(0))
    spreads = []
    for saturation in ("0", "1", "2"):
        dst = tmp_path / f"colour{saturation}.png"
        result = run_cli(str(src), str(dst), "--model", str(tiny_model), "--saturation", saturation, "-q")
        assert result.returncode == 0, result.stderr
        out = cv2.imread(str(dst)).astype(int)
        spreads.append(float(np.abs(out[..., 2] - out[..., 0]).mean()))
    assert spreads[0] < 1 and spreads[2] > 1.3 * spreads[1] > 1


def test_still_image_command_line_and_mismatches(tmp_path, tiny_model, make_video):
    src = tmp_path / "photo.png"
    cv2.imwrite(str(src), _gradient(0))
    ok = run_cli(str(src), str(tmp_path / "colour.jpg"), "--model", str(tiny_model), "-q")
    assert ok.returncode == 0 and cv2.imread(str(tmp_path / "colour.jpg")) is not None
    video = make_video(frames=2)
    for args in ([str(src), str(tmp_path / "x.mp4")], [str(video), str(tmp_path / "x.png")]):
        result = run_cli(*args, "--model", str(tiny_model))
        assert result.returncode == 1 and "still image" in result.stderr and "Traceback" not in result.stderr
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    result = run_cli(str(broken), str(tmp_path / "y.png"), "--model", str(tiny_model))
    assert result.returncode == 1 and "not an image" in result.stderr and not (tmp_path / "y.png").exists()


# -- files of several pictures: a TIFF's pages, an animation's frames ------------------------------


def _luma_of(picture: np.ndarray) -> np.ndarray:
    return rgb_to_luma(picture[..., 2::-1].astype(np.float32)) if picture.ndim == 3 else picture.astype(np.float32)


def _animation(frames: list[np.ndarray], durations: list[int], loops: int = 0) -> cv2.Animation:
    animation = cv2.Animation()
    animation.frames, animation.durations, animation.loop_count = frames, durations, loops
    return animation


def test_every_page_of_a_tiff_is_colorized(tmp_path, tiny_model):
    """A scanned album as one TIFF: only its first page was colorized, into one picture, exit 0.
    Every page comes out, each at its own size and the input's depth, its luma kept."""
    pages = [_gradient(0, peak=65535), _gradient(5, peak=65535), _gradient(9, height=40, width=56, peak=65535)]
    src, dst = tmp_path / "album.tif", tmp_path / "colour.tif"
    assert cv2.imwritemulti(str(src), pages)
    stats = colorize_image(src, dst, model=tiny_model)
    ok, out = cv2.imreadmulti(str(dst), flags=cv2.IMREAD_UNCHANGED)
    assert ok and stats.frames == len(out) == 3
    for page, written in zip(pages, out):
        assert written.shape == (*page.shape, 3) and written.dtype == np.uint16
        assert np.abs(_luma_of(written) - page).max() <= 0.5 + 1e-3
        assert np.abs(written[..., 2].astype(int) - written[..., 0].astype(int)).max() > 0.05 * 65535


def test_each_page_is_turned_by_its_own_orientation():
    """A TIFF's pages each have their own directory, and each its own orientation tag."""
    from vidcolor.image import page_orientations

    def directory(orientation: int | None, following: int) -> bytes:
        entries = [] if orientation is None else [struct.pack("<HHIHH", 274, 3, 1, orientation, 0)]
        return struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", following)

    first = directory(6, 8 + 18)  # the second directory follows the first (2 + 12 + 4 bytes)
    second = directory(None, 8 + 18 + 6)
    third = directory(8, 0)
    tiff = b"II" + struct.pack("<HI", 42, 8) + first + second + third
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".tif") as f:
        f.write(tiff)
        f.flush()
        assert page_orientations(f.name) == [6, 1, 8]


@pytest.mark.parametrize(("name", "out"), [("anim.png", "colour.png"), ("anim.webp", "colour.webp")])
def test_an_animation_keeps_every_frame_its_timing_and_luma(tmp_path, tiny_model, name, out):
    """An animated PNG (APNG, named .png as it often is) or WebP: its first frame alone came out,
    as a still, exit 0. Every frame is colorized, with its duration, the loop count and alpha;
    the WebP is written lossless, so the luma stays the input's."""
    frames = [np.dstack([_gradient(i)] * 3 + [np.full((48, 64), 200, np.uint8)]) for i in range(6)]
    durations = [40, 40, 80, 40, 120, 40]
    src, dst = tmp_path / name, tmp_path / out
    assert cv2.imwriteanimation(str(src), _animation(frames, durations, loops=3), [cv2.IMWRITE_WEBP_QUALITY, 101])
    stats = colorize_image(src, dst, model=tiny_model)
    ok, written = cv2.imreadanimation(str(dst))
    assert ok and stats.frames == len(written.frames) == 6
    assert list(written.durations) == durations and written.loop_count == 3
    for frame, colour in zip(frames, written.frames):
        assert colour.shape == (48, 64, 4) and np.array_equal(colour[..., 3], frame[..., 3])
        assert np.abs(_luma_of(colour) - _luma_of(frame)).max() <= 0.5 + 1e-3
        assert np.abs(colour[..., 2].astype(int) - colour[..., 0].astype(int)).max() > 12


def test_an_animations_colour_is_smoothed_over_time(tmp_path, tiny_model, monkeypatch):
    """Its frames are a film's: the model's flicker (noise added to its colour, frame by frame) is
    smoothed as a video's is, unless the run asks for per-frame colour."""
    import vidcolor.backends

    rng = np.random.default_rng(0)
    record_model_inputs(monkeypatch, vidcolor.backends, lambda ab: ab + rng.normal(0, 6, ab.shape).astype(np.float32))
    frames = [np.dstack([_gradient(0)] * 3) for _ in range(8)]  # a still scene
    for index, frame in enumerate(frames):
        frame[0, 0] = index  # (identical frames are written as one, for the sum of their durations)
    src = tmp_path / "anim.png"
    cv2.imwriteanimation(str(src), _animation(frames, [40] * 8))
    change = {}
    for temporal in (True, False):
        dst = tmp_path / f"{temporal}.png"
        colorize_image(src, dst, model=tiny_model, temporal=temporal)
        colour = np.stack(cv2.imreadanimation(str(dst))[1].frames).astype(np.float32)
        assert len(colour) == 8
        change[temporal] = np.abs(np.diff(colour, axis=0)).mean()
    assert change[True] < 0.5 * change[False]


def test_an_animation_cut_short_gives_the_frames_before_the_cut(tmp_path, tiny_model, caplog):
    frames = [np.dstack([_gradient(i)] * 3) for i in range(10)]
    whole, src = tmp_path / "whole.png", tmp_path / "cut.png"
    cv2.imwriteanimation(str(whole), _animation(frames, [40] * 10))
    data = whole.read_bytes()
    src.write_bytes(data[: len(data) * 2 // 3])
    stats = colorize_image(src, tmp_path / "colour.png", model=tiny_model)
    ok, written = cv2.imreadanimation(str(tmp_path / "colour.png"))
    assert 0 < len(written.frames) == stats.frames < 10 and stats.missing_frames == 10 - stats.frames
    assert "cut short" in caplog.text


@pytest.mark.parametrize(
    ("name", "out", "message"),
    [
        ("album.tif", "colour.jpg", "holds 3 pages"),
        ("anim.webp", "colour.jpg", "animation of 3 frames"),
        ("anim.webp", "colour.mp4", "holds 3 pictures"),
        ("album.tif", "colour.mkv", "holds 3 pictures"),
    ],
)
def test_several_pictures_into_a_file_of_one_is_refused(tmp_path, tiny_model, name, out, message):
    frames = [np.dstack([_gradient(i)] * 3) for i in range(3)]
    src = tmp_path / name
    if name.endswith(".tif"):
        cv2.imwritemulti(str(src), frames)
    else:
        cv2.imwriteanimation(str(src), _animation(frames, [40] * 3))
    result = run_cli(str(src), str(tmp_path / out), "--model", str(tiny_model))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / out).exists()


def test_an_animated_png_into_a_video_goes_through_the_video_path(tmp_path, tiny_model):
    frames = [np.dstack([_gradient(i)] * 3) for i in range(5)]
    src = tmp_path / "anim.png"
    cv2.imwriteanimation(str(src), _animation(frames, [40] * 5))
    result = run_cli(str(src), str(tmp_path / "colour.mkv"), "--model", str(tiny_model), "--codec", "ffv1")
    assert result.returncode == 0, result.stderr
    decoded, rate = read_video(tmp_path / "colour.mkv")
    assert len(decoded) == 5 and rate == 25


def test_a_gif_into_an_animated_webp(tmp_path, tiny_model):
    with av.open(str(tmp_path / "grey.gif"), "w") as container:
        stream = container.add_stream("gif", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "gray"
        for i in range(4):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(_gradient(i), format="gray")))
        container.mux(stream.encode(None))
    result = run_cli(str(tmp_path / "grey.gif"), str(tmp_path / "colour.webp"), "--model", str(tiny_model))
    assert result.returncode == 0, result.stderr
    ok, written = cv2.imreadanimation(str(tmp_path / "colour.webp"))
    assert len(written.frames) == 4 and list(written.durations) == [100] * 4


def test_an_animated_png_at_29_97_keeps_its_timing(tmp_path, tiny_model):
    """An APNG times frames in fractions of a second (1001/30000 s at 29.97 fps). OpenCV reads
    them as whole ms, each rounded down: the colorized animation ran 1.1% fast, 37 ms early by
    frame 100. Each frame is now within half a ms of its time."""
    rate = Fraction(30000, 1001)
    with av.open(str(tmp_path / "grey.png"), "w", format="apng") as container:
        stream = container.add_stream("apng", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "gray"
        for i in range(40):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(_gradient(i), format="gray")))
        container.mux(stream.encode(None))
    colorize_image(tmp_path / "grey.png", tmp_path / "colour.webp", model=tiny_model)
    ok, written = cv2.imreadanimation(str(tmp_path / "colour.webp"))
    times = np.cumsum([0, *written.durations])[: len(written.frames)]
    assert len(written.frames) == 40
    np.testing.assert_allclose(times, np.arange(40) * 1000 / float(rate), atol=0.5 + 1e-9)


# -- a still's metadata ---------------------------------------------------------------------------


def _icc_profile(space: bytes) -> bytes:
    """A small ICC profile (header, one tag) for R'G'B' (b"RGB ") or grey (b"GRAY") pictures; its
    tail is random bytes, as libpng misreads a tiny, very compressible one."""
    tail = np.random.default_rng(0).integers(0, 256, 200, np.uint8).tobytes()
    size = 128 + 4 + 12 + 20 + len(tail)
    white = struct.pack(">iii", 63190, 65536, 54061)  # D50
    header = struct.pack(">I4sI4s4s4s", size, b"none", 0x02100000, b"mntr", space, b"XYZ ") + bytes(12) + b"acsp"
    header += bytes(24) + bytes(4) + white + bytes(48)
    return header + struct.pack(">I4sII", 1, b"wtpt", 144, 20) + b"XYZ " + bytes(4) + white + tail


def _exif(orientation: int, width: int, height: int) -> bytes:
    """An EXIF block: the orientation in the first directory, the pixel size in the Exif one."""
    first = struct.pack("<H", 3) + struct.pack("<HHIHH", 274, 3, 1, orientation, 0)
    first += struct.pack("<HHII", 0x8769, 4, 1, 8 + 2 + 36 + 4) + struct.pack("<HHI4s", 0x9003, 2, 4, b"1928")
    first += struct.pack("<I", 0)
    exif_directory = struct.pack("<H", 2) + struct.pack("<HHII", 0xA002, 4, 1, width)
    exif_directory += struct.pack("<HHIHH", 0xA003, 3, 1, height, 0) + struct.pack("<I", 0)
    return b"II" + struct.pack("<HI", 42, 8) + first + exif_directory


XMP = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>'


def _metadata(path) -> dict[int, bytes]:
    _, kinds, chunks = cv2.imreadWithMetadata(str(path), cv2.IMREAD_UNCHANGED)
    return {int(kind): bytes(chunk.ravel()) for kind, chunk in zip(kinds, chunks)}


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_a_photos_exif_xmp_and_colour_profile_are_carried_over(tmp_path, tiny_model, suffix):
    """An archive's photo says when and how it was taken (EXIF), what it shows (XMP: captions,
    rights) and how to show its colours (ICC): all were dropped. They are carried over, the EXIF
    orientation made 1 (the pixels are written upright; a viewer would turn them again) and the
    pixel width and height swapped with the picture."""
    from vidcolor.image import page_orientations

    photo = np.dstack([_gradient(0)] * 3)
    src, dst = tmp_path / "photo.jpg", tmp_path / f"colour{suffix}"
    chunks = [_exif(6, 64, 48), b"http://ns.adobe.com/xap/1.0/\x00" + XMP, _icc_profile(b"RGB ")]
    assert cv2.imwriteWithMetadata(str(src), photo, [0, 1, 2], [np.frombuffer(c, np.uint8) for c in chunks])
    colorize_image(src, dst, model=tiny_model)
    assert cv2.imread(str(dst)).shape[:2] == (64, 48)  # upright
    found = _metadata(dst)
    assert found[2] == chunks[2]
    assert found[1].strip(b"\x00").endswith(XMP) and b"<" not in found[1].split(XMP)[0].replace(b"http:", b"")
    exif = found[0]
    assert b"1928" in exif  # the date tag, as it was
    tiff = tmp_path / "exif.tif"
    tiff.write_bytes(exif)
    assert page_orientations(tiff) == [1]
    width_at = exif.index(struct.pack("<HHI", 0xA002, 4, 1)) + 8
    height_at = exif.index(struct.pack("<HHI", 0xA003, 3, 1)) + 8
    assert struct.unpack_from("<I", exif, width_at)[0] == 48 and struct.unpack_from("<H", exif, height_at)[0] == 64


@pytest.mark.parametrize(
    ("grey", "suffix", "said"),
    [
        (False, ".tif", ["EXIF (none in a '.tif' file)", "XMP (none in a '.tif' file)", "ICC profile (none in"]),
        (True, ".png", ["ICC profile (a grey picture's)"]),
    ],
)
def test_metadata_that_is_not_carried_over_is_said(tmp_path, tiny_model, caplog, grey, suffix, said):
    photo = _gradient(0) if grey else np.dstack([_gradient(0)] * 3)
    chunks = [_icc_profile(b"GRAY")] if grey else [_exif(1, 64, 48), XMP, _icc_profile(b"RGB ")]
    kinds = [2] if grey else [0, 1, 2]
    src = tmp_path / "photo.jpg" if grey else tmp_path / "photo.webp"
    assert cv2.imwriteWithMetadata(str(src), photo, kinds, [np.frombuffer(c, np.uint8) for c in chunks])
    colorize_image(src, tmp_path / f"colour{suffix}", model=tiny_model)
    warnings = [r.getMessage() for r in caplog.records if "not carried over" in r.getMessage()]
    assert len(warnings) == 1 and all(part in warnings[0] for part in said), warnings
    assert 2 not in _metadata(tmp_path / f"colour{suffix}")


def test_a_tiff_scans_resolution_is_kept(tmp_path, tiny_model, caplog):
    """A scan's resolution says how large the print was; a TIFF's is kept in a TIFF (turned with
    the picture), and said to be left out of a PNG."""
    src = tmp_path / "scan.tif"
    params = [cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, 600, cv2.IMWRITE_TIFF_YDPI, 300]
    assert cv2.imwrite(str(src), _gradient(0, peak=65535), params)
    colorize_image(src, tmp_path / "colour.tif", model=tiny_model)
    from vidcolor.image import _tiff_resolution

    assert _tiff_resolution(tmp_path / "colour.tif") == (600.0, 300.0, 2)
    colorize_image(src, tmp_path / "colour.png", model=tiny_model)
    assert "resolution (a TIFF's, into a TIFF only)" in caplog.text


@pytest.mark.parametrize(("tint", "warned"), [((0.8, 1.0, 1.25), True), ((1.0, 1.0, 1.0), False)])
def test_a_toned_print_is_said_to_be_in_colour(tmp_path, tiny_model, caplog, tint, warned):
    """A sepia- or blue-toned print (R'G'B' scaled per channel): its tone is replaced, and said."""
    grey = _gradient(0).astype(np.float32)
    toned = np.clip(np.dstack([grey * k for k in tint]), 0, 255).astype(np.uint8)  # B, G, R
    cv2.imwrite(str(tmp_path / "print.png"), toned)
    stats = colorize_image(tmp_path / "print.png", tmp_path / "colour.png", model=tiny_model)
    assert ("already in colour: tinted or toned" in caplog.text) == warned and (stats.input_chroma >= 3) == warned


def test_a_colour_photo_is_said_to_have_colours_of_its_own(tmp_path, tiny_model, caplog):
    """A colour photo given by mistake: different colours at one brightness, not a tint or a tone."""
    grey = _gradient(0).astype(np.float32)
    halves = np.where(np.arange(grey.shape[1]) < grey.shape[1] // 2, 1.3, 0.75)
    photo = np.clip(np.dstack([grey * halves, grey, grey / halves]), 0, 255).astype(np.uint8)  # B, G, R
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    colorize_image(tmp_path / "photo.png", tmp_path / "colour.png", model=tiny_model)
    assert "already in colour: its own colours, not a tint or a tone" in caplog.text
