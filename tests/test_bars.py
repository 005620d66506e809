"""Black bars (letterbox, pillarbox): the model sees the picture inside them, and they stay black."""

from __future__ import annotations

import av
import numpy as np
import pytest
from conftest import record_model_inputs

from vidcolor import colorize
from vidcolor.bars import Box, picture_box, place_ab
from vidcolor.formats import plane_array
from vidcolor.model import read_info


def _framed(height: int, width: int, rows: slice, columns: slice, frames: int = 3, noise: float = 0.0) -> np.ndarray:
    """L* frames (N, h, w): a textured picture at rows x columns, black (with `noise`) around it."""
    rng = np.random.default_rng(0)
    out = np.abs(rng.normal(0, noise, (frames, height, width))).astype(np.float32)
    out[:, rows, columns] = 30 + 50 * rng.random((frames, rows.stop - rows.start, columns.stop - columns.start))
    return out


def test_pillarbox_and_letterbox_are_found():
    box = picture_box(_framed(48, 84, slice(0, 48), slice(10, 74)))
    assert box == Box(0, 1, 10 / 84, 74 / 84)
    box = picture_box(_framed(60, 80, slice(8, 52), slice(0, 80), noise=2.0))  # an analog capture's noisy black
    assert box == Box(8 / 60, 52 / 60, 0, 1)


@pytest.mark.parametrize(
    "rows,columns",
    [
        (slice(0, 48), slice(0, 84)),
        (slice(0, 48), slice(1, 83)),
        (slice(0, 48), slice(30, 54)),
        (slice(0, 43), slice(0, 84)),
        (slice(3, 40), slice(0, 84)),
    ],
    ids=[
        "no bars",
        "bars thinner than 2%",
        "a picture under 40% of the width: a dark scene",
        "dark at the bottom only: the picture's own (a field at dusk)",
        "not centred",
    ],
)
def test_no_box_where_there_are_no_bars(rows, columns):
    assert picture_box(_framed(48, 84, rows, columns)) is None


def test_a_fade_to_black_is_not_bars():
    assert picture_box(np.zeros((3, 48, 84), np.float32)) is None


def test_bars_in_one_frame_only_are_not_bars_of_the_batch():
    frames = _framed(48, 84, slice(0, 48), slice(10, 74))
    frames[1] = _framed(48, 84, slice(0, 48), slice(0, 84), frames=1)[0]
    assert picture_box(frames) is None


def test_the_pictures_colour_goes_inside_the_box_and_none_in_the_bars():
    ab = np.full((2, 12, 16, 2), 20, np.float32)
    placed = place_ab(ab, Box(0, 1, 0.25, 0.75), (12, 24))
    assert placed.shape == (2, 12, 24, 2)
    assert np.all(placed[:, :, 6:18] == 20) and not placed[:, :, :6].any() and not placed[:, :, 18:].any()


def test_a_pillarboxed_video_shows_the_model_its_picture_alone(tiny_model, tmp_path, monkeypatch):
    """A 4:3 picture in a 16:9 frame: the model saw the bars too, and coloured the picture worse
    (0.83 dB less PSNR on the validation photos pillarboxed so; on dog_path and bedroom, 0.5 dB
    less on the picture) and tinted the bars."""
    import vidcolor.stages.model

    rng = np.random.default_rng(1)
    frame = np.full((72, 128), 16, np.uint8)  # limited-range black
    frame[:, 16:112] = rng.integers(60, 200, (72, 96))
    src = tmp_path / "pillarbox.mkv"
    with av.open(str(src), "w") as c:
        stream = c.add_stream("ffv1", rate=25)
        stream.height, stream.width, stream.pix_fmt = 72, 128, "yuv420p"
        for i in range(3):
            out = av.VideoFrame(128, 72, "yuv420p")
            plane_array(out, 0, np.uint8)[:] = frame
            plane_array(out, 1, np.uint8)[:] = plane_array(out, 2, np.uint8)[:] = 128
            out.pts = i
            c.mux(stream.encode(out))
        c.mux(stream.encode(None))
    seen = record_model_inputs(monkeypatch, vidcolor.stages.model, lambda ab: np.full_like(ab, 30))  # colour everywhere
    colorize(src, tmp_path / "out.mkv", model=tiny_model, codec="ffv1", temporal=False)
    given = seen[0]
    assert given.min() > 10  # no bars in what the model saw
    info = read_info(tiny_model)
    assert given.shape[1:] == info.render_shape(72, 96) != info.render_shape(72, 128)  # the 4:3 picture alone
    with av.open(str(tmp_path / "out.mkv")) as c:
        out = next(c.decode(video=0))
    cr = plane_array(out, 2, np.uint8).astype(int)
    assert np.all(cr[:, :4] == 128) and np.all(cr[:, -4:] == 128)  # the bars: black, no tint (away from the edge)
    assert cr[:, 12:52].mean() > 140  # the picture: the model's colour


def test_a_film_scan_with_black_edges_shows_the_model_its_picture_alone(tiny_model, tmp_path, monkeypatch):
    """A still: the scan of a frame with the film gate's black edge around it."""
    import cv2

    import vidcolor.backends
    from vidcolor.image import colorize_image

    rng = np.random.default_rng(2)
    scan = np.zeros((96, 128), np.uint8)
    scan[12:84, 16:112] = rng.integers(60, 200, (72, 96))
    cv2.imwrite(str(tmp_path / "scan.png"), scan)
    seen = record_model_inputs(monkeypatch, vidcolor.backends)
    colorize_image(tmp_path / "scan.png", tmp_path / "colour.png", model=tiny_model)
    assert seen[0].shape[1:] == read_info(tiny_model).render_shape(72, 96) and seen[0].min() > 10
    assert cv2.imread(str(tmp_path / "colour.png")).shape == (96, 128, 3)
