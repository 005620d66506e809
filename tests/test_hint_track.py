"""Colour hints on a video (issue 28): a hint holds from its frame to the next scene cut, its point
carried along the motion; checked against the video before anything is written; resumed runs,
batches and Ray take them."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from test_hints import HINT_SCALE, _failure, _hints_file, write_following_model

from vidcolor import colorize
from vidcolor.checkpoint import work_dir
from vidcolor.config import ColorizeOptions
from vidcolor.formats import plane_array
from vidcolor.hints import colour_ab

WIDTH, HEIGHT, SIDE, STEP = 128, 96, 24, 3  # the frame, the square that moves, px it moves per frame
SHOT, AFTER = 14, 6  # frames of the shot with the square, then of the next shot


@pytest.fixture(scope="module")
def hinted_model(tmp_path_factory) -> Path:
    return write_following_model(tmp_path_factory.mktemp("models") / "follows.onnx")


def _texture(rng, height: int, width: int, low: int, high: int) -> np.ndarray:
    noise = rng.integers(low, high, (height // 4, width // 4)).astype(np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def square_left(frame: int, zoom: int = 1) -> int:
    return zoom * (10 + STEP * frame)


def write_shot(path: Path, zoom: int = 1) -> Path:
    """SHOT frames of a bright textured square moving right over a darker texture, then a cut to
    AFTER frames of another picture (FFV1, 25 fps); `zoom` times the size, the square and its steps."""
    rng = np.random.default_rng(5)
    width, height, side = zoom * WIDTH, zoom * HEIGHT, zoom * SIDE
    background, square = _texture(rng, height, width, 30, 90), _texture(rng, side, side, 170, 240)
    other = _texture(np.random.default_rng(6), height, width, 60, 200)
    with av.open(str(path), "w") as c:
        stream = c.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(SHOT + AFTER):
            luma = background.copy() if i < SHOT else other
            if i < SHOT:
                top, left = zoom * 30, square_left(i, zoom)
                luma[top : top + side, left : left + side] = square
            frame = av.VideoFrame(width, height, "yuv420p")
            plane_array(frame, 0, np.uint8)[:] = luma
            plane_array(frame, 1, np.uint8)[:] = plane_array(frame, 2, np.uint8)[:] = 128
            frame.pts = i
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    return path


def _recording(monkeypatch) -> list[np.ndarray]:
    """Makes the run's model record each hint plane batch it is given."""
    import vidcolor.stages.model

    real, seen = vidcolor.stages.model.load_colorizer, []

    class Recording:
        def __init__(self, request):
            self.inner = real(request)
            self.info, self.device, self.name = self.inner.info, self.inner.device, self.inner.name

        def predict_ab(self, lightness, hints=None):
            seen.append(None if hints is None else hints.copy())
            return self.inner.predict_ab(lightness, hints)

    monkeypatch.setattr(vidcolor.stages.model, "load_colorizer", Recording)
    return seen


RED = "#c0302a"
HINT = {"frame": 0, "x": square_left(0) + SIDE // 2, "y": 30 + SIDE // 2, "color": RED}


@pytest.mark.parametrize("zoom", [1, 3])  # 3: a picture larger than the size its points are followed at
def test_a_hinted_colour_stays_on_a_moving_object_and_stops_at_a_cut(tmp_path, monkeypatch, hinted_model, zoom):
    src = write_shot(tmp_path / "shot.mkv", zoom)
    hint = {k: zoom * v if k in ("x", "y") else v for k, v in HINT.items()}
    hints = _hints_file(tmp_path / "hints.json", {"hints": [hint]})
    seen = _recording(monkeypatch)
    stats = colorize(src, tmp_path / "out.mkv", model=hinted_model, codec="ffv1", hints=hints, batch_size=4)
    planes = np.concatenate(seen)
    assert len(planes) == SHOT + AFTER
    across = planes.shape[3] / (zoom * WIDTH)  # plane px per frame px
    for i, plane in enumerate(planes[:SHOT]):
        mask = plane[2]
        assert mask.max() == 1.0, f"frame {i}: the hint faded on a shot whose motion is plain"
        columns = np.nonzero(mask.any(axis=0))[0]
        centre = (columns.min() + columns.max() + 1) / 2 / across  # frame px
        assert abs(centre - (square_left(i, zoom) + zoom * SIDE / 2)) <= 3 * zoom, (i, centre)  # on the square
    assert not planes[SHOT:, 2].any()  # the cut ended it
    assert stats.cuts == [{"frame": SHOT, "time": SHOT / 25}]
    assert stats.hints_dropped == [{"hint": 1, **hint, "radius": 2.0} | {"cut_frame": SHOT, "cut_time": SHOT / 25}]
    # the square is red on the last frame of its shot (the model paints the hint's cell)
    with av.open(str(tmp_path / "out.mkv")) as c:
        frames = list(c.decode(video=0))
    cr = plane_array(frames[SHOT - 1], 2, np.uint8).astype(int)  # 4:2:0: half size
    top, left, side = zoom * 30 // 2, square_left(SHOT - 1, zoom) // 2, zoom * SIDE // 2
    inside = cr[top + side // 4 : top + 3 * side // 4, left + side // 4 : left + 3 * side // 4].mean()
    assert inside > 128 + 5 and cr[5, 5] == 128  # red (Cr up) on the square, grey where no hint went


def test_a_hint_by_time_starts_at_the_frame_shown_then(tmp_path, monkeypatch, hinted_model):
    src = write_shot(tmp_path / "shot.mkv")
    hint = {**HINT, "time": 0.2, "x": square_left(5) + SIDE // 2}
    del hint["frame"]
    seen = _recording(monkeypatch)
    colorize(src, tmp_path / "out.mkv", model=hinted_model, codec="ffv1", hints=_hints_file(tmp_path / "h.json",
             {"hints": [hint]}))  # fmt: skip
    planes = np.concatenate(seen)
    assert not planes[:5, 2].any() and planes[5, 2].max() == 1  # 0.2 s is frame 5 at 25 fps


@pytest.mark.parametrize(
    "hint,said",
    [
        ({**HINT, "frame": SHOT + AFTER}, ["hint 1 of 1", "frame", "past the end", f"{SHOT + AFTER} frames"]),
        ({"time": 0.8, "x": 1, "y": 1, "color": RED}, ["hint 1 of 1", "time: 0.8 s is past the end"]),
        ({**HINT, "x": WIDTH}, ["hint 1 of 1", "x: 128 is outside", "128x96 px"]),
    ],
)
def test_a_hint_past_the_end_or_outside_the_picture_is_one_line_and_nothing_written(
    tmp_path, capsys, hinted_model, hint, said
):
    src = write_shot(tmp_path / "shot.mkv")
    hints = _hints_file(tmp_path / "hints.json", {"hints": [hint]})
    line = _failure(capsys, [str(src), str(tmp_path / "out.mkv"), "--model", str(hinted_model), "--hints", str(hints)])
    assert all(s in line for s in said), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hints.json", "shot.mkv"]


def test_hints_for_a_video_need_a_model_with_hint_inputs(tmp_path, capsys, tiny_model):
    src = write_shot(tmp_path / "shot.mkv")
    hints = _hints_file(tmp_path / "hints.json", {"hints": [HINT]})
    line = _failure(capsys, [str(src), str(tmp_path / "out.mkv"), "--model", str(tiny_model), "--hints", str(hints)])
    assert "takes no colour hints" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hints.json", "shot.mkv"]


def _interrupt_after(frames: int):
    def progress(done: int) -> None:
        if done >= frames:
            raise KeyboardInterrupt

    return progress


def test_an_interrupted_hinted_run_resumes_to_the_same_output(tmp_path, hinted_model):
    """The hint's point, its weight and the track's last frame are in the checkpoint: a run
    resumed mid-shot carries the hint on as the uninterrupted one did."""
    src = write_shot(tmp_path / "shot.mkv")
    hints = _hints_file(tmp_path / "hints.json", {"hints": [HINT]})
    options = dict(model=hinted_model, codec="ffv1", hints=hints, batch_size=2, segment_seconds=0.16)
    whole = colorize(src, tmp_path / "whole.mkv", **options)
    out = tmp_path / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        colorize(src, out, progress=_interrupt_after(8), threaded=False, **options)
    manifest = json.loads((work_dir(out) / "manifest.json").read_text())
    assert 0 < manifest["resume"]["frames"] < SHOT and manifest["resume"]["hints"]["carried"]  # mid-shot
    resumed = colorize(src, out, resume=True, **options)
    assert resumed.resumed_frames > 0 and resumed.hints_dropped == whole.hints_dropped != []
    with av.open(str(tmp_path / "whole.mkv")) as a, av.open(str(out)) as b:
        for fa, fb in zip(a.decode(video=0), b.decode(video=0), strict=True):
            for i in range(3):
                assert np.array_equal(plane_array(fa, i, np.uint8), plane_array(fb, i, np.uint8)), fa.pts


def test_a_batch_takes_each_videos_own_hints_file(tmp_path, hinted_model):
    from vidcolor.batch import run_batch

    folder = tmp_path / "in"
    folder.mkdir()
    write_shot(folder / "a.mkv")
    write_shot(folder / "b.mkv")
    _hints_file(folder / "a.hints.json", {"hints": [HINT]})
    outcomes = run_batch(folder, tmp_path / "out", ColorizeOptions(model=hinted_model, codec="ffv1"))
    assert [o.status for o in outcomes] == ["done", "done"]
    with av.open(str(tmp_path / "out" / "a.mkv")) as a, av.open(str(tmp_path / "out" / "b.mkv")) as b:
        cr_a = plane_array(next(a.decode(video=0)), 2, np.uint8)
        cr_b = plane_array(next(b.decode(video=0)), 2, np.uint8)
    assert cr_a.max() > 128 + 5 and cr_b.max() == 128  # a's hint coloured a, and nothing of b


def test_a_reel_with_hints_is_one_ray_task(tmp_path):
    """Its hints are carried along the whole reel, so it is not cut into parts."""
    from vidcolor.distributed import split

    src = write_shot(tmp_path / "shot.mkv")
    assert len(split(src, ColorizeOptions(), 0.2)) == 4
    assert split(src, ColorizeOptions(hints=tmp_path / "h.json"), 0.2) == []


def test_the_hint_colour_is_what_the_model_gets(tmp_path, monkeypatch, hinted_model):
    src = write_shot(tmp_path / "shot.mkv")
    seen = _recording(monkeypatch)
    colorize(src, tmp_path / "out.mkv", model=hinted_model, codec="ffv1", hints=_hints_file(tmp_path / "h.json",
             {"hints": [HINT]}))  # fmt: skip
    plane = np.concatenate(seen)[3]
    a, b = colour_ab(RED)
    mask = plane[2] > 0
    assert np.allclose(plane[0][mask], a / HINT_SCALE) and np.allclose(plane[1][mask], b / HINT_SCALE)


def test_a_video_hint_without_frame_or_time_starts_at_the_first_frame(tmp_path, monkeypatch, hinted_model):
    src = write_shot(tmp_path / "shot.mkv")
    hint = {k: v for k, v in HINT.items() if k != "frame"}
    seen = _recording(monkeypatch)
    colorize(
        src,
        tmp_path / "out.mkv",
        model=hinted_model,
        codec="ffv1",
        hints=_hints_file(tmp_path / "h.json", {"hints": [hint]}),
    )
    planes = np.concatenate(seen)
    assert planes[0, 2].max() == 1.0 and planes[SHOT - 1, 2].max() == 1.0 and not planes[SHOT:, 2].any()
