"""Archive formats beyond one video file: folders of numbered frames (DPX, TIFF, PNG) as input,
and a single still image in, a colorized image out."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from conftest import read_video, run_cli

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
