"""Colour hints (issue 28): hints.json checked (one line naming the hint and the field, exit 1,
nothing written), drawn into the hint plane at the render size, given to the model for a still;
`vidcolor frame` for placing them on a video's frame."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import VideoSpec, picture, run_cli, write_video
from onnx import TensorProto, helper

from vidcolor.cli import main
from vidcolor.colour import rgb_to_lab, rgb_to_luma
from vidcolor.errors import InputError
from vidcolor.hints import Hint, Hints, colour_ab, hint_plane, parse_hints, spread_hints
from vidcolor.model import METADATA_KEY, OnnxColorizer, read_info

HINT_SCALE = 110.0


def write_following_model(path: Path) -> Path:
    """A tiny hinted vidcolor model that paints each hint's colour over its 4x4 cell of the output
    and nothing elsewhere (grey): ab = mean of the hinted ab over the cell / share of it hinted."""
    import onnx

    pool = dict(kernel_shape=[4, 4], strides=[4, 4], ceil_mode=1)
    select_ab = helper.make_tensor("select_ab", TensorProto.FLOAT, [2, 3, 1, 1], [1, 0, 0, 0, 1, 0])
    select_mask = helper.make_tensor("select_mask", TensorProto.FLOAT, [1, 3, 1, 1], [0, 0, 1])
    zero_l = helper.make_tensor("zero_l", TensorProto.FLOAT, [2, 1, 1, 1], [0, 0])
    eps = helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-6])
    nodes = [
        helper.make_node("AveragePool", ["hints"], ["pooled"], **pool),
        helper.make_node("Conv", ["pooled", "select_ab"], ["ab_sum"], kernel_shape=[1, 1]),
        helper.make_node("Conv", ["pooled", "select_mask"], ["share"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["share", "eps"], ["share_eps"]),
        helper.make_node("Div", ["ab_sum", "share_eps"], ["hinted"]),
        helper.make_node("AveragePool", ["L"], ["pooled_l"], **pool),  # L is read, and counts for nothing
        helper.make_node("Conv", ["pooled_l", "zero_l"], ["nothing"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["hinted", "nothing"], ["ab"]),
    ]
    graph = helper.make_graph(
        nodes,
        "follows_hints",
        [
            helper.make_tensor_value_info("L", TensorProto.FLOAT, ["n", 1, "h", "w"]),
            helper.make_tensor_value_info("hints", TensorProto.FLOAT, ["n", 3, "h", "w"]),
        ],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["n", 2, "oh", "ow"])],
        [select_ab, select_mask, zero_l, eps],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "format": 1,
        "input": "L",
        "output": "ab",
        "l_scale": 50.0,
        "l_shift": 1.0,
        "ab_scale": HINT_SCALE,  # the output is a / 110, b / 110, as the hint plane holds them
        "head": "regression",
        "output_stride": 4,
        "size_multiple": 16,
        "render_size": 32,
        "hint_input": "hints",
        "hint_scale": HINT_SCALE,
        "training": {"command": "tests"},
    }
    helper.set_model_props(model, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def hinted_model(tmp_path_factory) -> Path:
    return write_following_model(tmp_path_factory.mktemp("models") / "follows.onnx")


def _gradient(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 3 + y * 2) % 200 + 30).astype(np.uint8)


def _still(path: Path, height: int = 48, width: int = 64) -> Path:
    cv2.imwrite(str(path), _gradient(height, width))
    return path


def _hints_file(path: Path, document) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def _failure(capsys, args: list[str]) -> str:
    """Runs `vidcolor ARGS` in this process: it must fail with one line; returns that line."""
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("vidcolor: error: ") and "Traceback" not in err, err
    return lines[0]


GOOD = {"x": 1, "y": 2, "color": "#a83226"}


# (hints.json, what the one line must say) for each mistake; the picture is 64x48 px
BAD_FILES = {
    "malformed JSON": ('{"hints": [{"x": 1, "y": 2,}]}', ["not valid JSON", "line 1"]),
    "not an object": ("[1, 2]", ['"hints" list']),
    "hints not a list": ({"hints": GOOD}, ['"hints" must be a list']),
    "unknown key in the file": ({"hints": [GOOD], "points": []}, ['unknown key "points"']),
    "unknown key in a hint": ({"hints": [GOOD, {**GOOD, "colour": "#ffffff"}]}, ["hint 2 of 2", '"colour"']),
    "a key twice": ('{"hints": [{"x": 1, "x": 2, "y": 2, "color": "#a83226"}]}', ['"x" given twice']),
    "hint not an object": ({"hints": [GOOD, 7]}, ["hint 2 of 2", "must be an object"]),
    "x missing": ({"hints": [GOOD, {"y": 2, "color": "#a83226"}]}, ["hint 2 of 2", "x: missing"]),
    "y missing": ({"hints": [{"x": 1, "color": "#a83226"}]}, ["hint 1 of 1", "y: missing"]),
    "color missing": ({"hints": [{"x": 1, "y": 2}]}, ["hint 1 of 1", "color: missing"]),
    "color a name": ({"hints": [{**GOOD, "color": "red"}]}, ["hint 1 of 1", "color", '"red"']),
    "color short": ({"hints": [{**GOOD, "color": "#a832"}]}, ["hint 1 of 1", "color", '"#a832"']),
    "color not hex": ({"hints": [{**GOOD, "color": "#a8322g"}]}, ["hint 1 of 1", "color"]),
    "color a number": ({"hints": [{**GOOD, "color": 11022886}]}, ["hint 1 of 1", "color", "11022886"]),
    "frame and time": ({"hints": [{**GOOD, "frame": 0, "time": 0}]}, ["hint 1 of 1", "frame, time: both given"]),
    "negative radius": ({"hints": [GOOD, GOOD, {**GOOD, "radius": -1}]}, ["hint 3 of 3", "radius", "0 or more"]),
    "radius not a number": ({"hints": [{**GOOD, "radius": "2"}]}, ["hint 1 of 1", "radius", "number"]),
    "x not whole": ({"hints": [{**GOOD, "x": 1.5}]}, ["hint 1 of 1", "x: must be a whole number"]),
    "x negative": ({"hints": [{**GOOD, "x": -1}]}, ["hint 1 of 1", "x: must be 0 or more"]),
    "x outside": ({"hints": [GOOD, {**GOOD, "x": 64}]}, ["hint 2 of 2", "x: 64 is outside", "64x48 px"]),
    "y outside": ({"hints": [{**GOOD, "y": 48}]}, ["hint 1 of 1", "y: 48 is outside", "64x48 px"]),
    "frame past a still": ({"hints": [{**GOOD, "frame": 1}]}, ["hint 1 of 1", "frame: 1", "is a still"]),
    "time past a still": ({"hints": [{**GOOD, "time": 2.5}]}, ["hint 1 of 1", "time: 2.5 s", "is a still"]),
    "time negative": ({"hints": [{**GOOD, "time": -1}]}, ["hint 1 of 1", "time: must be 0 or more"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_hints_file_is_one_line_exit_1_and_nothing_written(tmp_path, capsys, hinted_model, case):
    document, said = BAD_FILES[case]
    src, dst = _still(tmp_path / "photo.png"), tmp_path / "colour.png"
    hints = _hints_file(tmp_path / "hints.json", document)
    line = _failure(capsys, [str(src), str(dst), "--model", str(hinted_model), "--hints", str(hints), "-q"])
    assert str(hints) in line, line
    for words in said:
        assert words in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hints.json", "photo.png"]  # nothing written


def test_a_missing_hints_file_and_the_real_exit_code(tmp_path, hinted_model):
    src, dst = _still(tmp_path / "photo.png"), tmp_path / "colour.png"
    result = run_cli(str(src), str(dst), "--model", str(hinted_model), "--hints", str(tmp_path / "nope.json"))
    assert result.returncode == 1 and "nope.json: no such hints file" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and not dst.exists()


def test_a_video_is_checked_against_its_length():
    """For the video path: a frame or time past the end (where the length is known) names the hint."""
    hints = parse_hints(json.dumps({"hints": [{**GOOD, "frame": 9}, {**GOOD, "time": 0.4}]}), "h.json")
    hints.check_length(frames=10, seconds=0.5)
    hints.check_length()  # nothing known: nothing to check
    with pytest.raises(InputError, match=r"h\.json: hint 1 of 2: frame: 9 is past the end: the video has 9 frames"):
        hints.check_length(frames=9)
    with pytest.raises(InputError, match=r"hint 2 of 2: time: 0\.4 s is past the end"):
        hints.check_length(frames=10, seconds=0.4)


def test_a_hint_starts_at_its_frame_or_at_the_frame_shown_at_its_time():
    hints = parse_hints(json.dumps({"hints": [{**GOOD, "frame": 3}, {**GOOD, "time": 0.1}, GOOD]}))
    frame_starts = [0.0, 0.04, 0.08, 0.12, 0.16]  # 25 fps: 0.1 s is shown by frame 2 (0.08-0.12)
    found = {
        i: [h.number for h in hints.starting(i, start, frame_starts[i + 1] if i + 1 < 5 else None)]
        for i, start in enumerate(frame_starts)
    }
    assert found == {0: [], 1: [], 2: [2], 3: [1], 4: []}


def test_a_still_takes_hints_at_frame_0_time_0_or_neither():
    hints = parse_hints(json.dumps({"hints": [{**GOOD, "frame": 0}, {**GOOD, "time": 0}, GOOD]}))
    assert len(hints.for_still(64, 48, "photo.png")) == 3


@pytest.mark.parametrize(
    ("color", "lab"),
    [
        # sRGB primaries in CIELAB (D65), as published (e.g. Lindbloom's calculator)
        ("#ff0000", (53.24, 80.09, 67.20)),
        ("#00FF00", (87.73, -86.18, 83.18)),
        ("#0000ff", (32.30, 79.19, -107.86)),
        ("#808080", (53.59, 0.0, 0.0)),
    ],
)
def test_a_hint_carries_its_colours_a_and_b(color, lab):
    hint = parse_hints(json.dumps({"hints": [{"x": 0, "y": 0, "color": color}]})).hints[0]
    assert hint.color == color.lower()
    assert abs(hint.a - lab[1]) < 0.1 and abs(hint.b - lab[2]) < 0.1, (hint.a, hint.b)
    assert colour_ab(color) == (hint.a, hint.b)


def _hint(x: int, y: int, radius: float = 2.0, color: str = "#a83226", number: int = 1) -> Hint:
    return Hint(number, x, y, color, *colour_ab(color), radius=radius)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), inclusive, of the nonzero cells."""
    rows, columns = np.nonzero(mask)
    return int(rows.min()), int(rows.max()), int(columns.min()), int(columns.max())


def test_a_hint_covers_the_square_within_its_radius_with_its_colour():
    hint = _hint(20, 10, radius=3)
    plane = hint_plane([hint], (48, 64), (48, 64), scale=HINT_SCALE)
    assert plane.shape == (3, 48, 64) and plane.dtype == np.float32
    assert _box(plane[2]) == (7, 13, 17, 23) and plane[2].sum() == 49  # 7x7 px, the point in its middle
    mask = plane[2] > 0
    assert np.allclose(plane[0][mask], hint.a / HINT_SCALE) and np.allclose(plane[1][mask], hint.b / HINT_SCALE)
    assert not plane[:, ~mask].any()
    edge = hint_plane([_hint(0, 47, radius=3)], (48, 64), (48, 64))  # clipped at the picture's edge
    assert _box(edge[2]) == (44, 47, 0, 3)
    assert hint_plane([_hint(5, 5, radius=0)], (48, 64), (48, 64))[2].sum() == 1  # radius 0: one pixel


def test_later_hints_paint_over_earlier_ones():
    first, second = _hint(10, 10, 3, "#ff0000", 1), _hint(12, 10, 3, "#0000ff", 2)
    plane = hint_plane([first, second], (48, 64), (48, 64))
    assert np.isclose(plane[1, 10, 12], second.b / HINT_SCALE) and np.isclose(plane[1, 10, 8], first.b / HINT_SCALE)


@pytest.mark.parametrize(("x", "y", "radius"), [(100, 60, 2), (0, 0, 6), (319, 239, 4), (37, 201, 10)])
def test_a_hint_is_scaled_to_the_render_size(x, y, radius):
    """A 320x240 picture rendered at 96x64 (3.33 and 3.75 px to one): the patch is where the point
    falls and about as wide as the radius scaled, and at least one pixel."""
    shape, displayed = (64, 96), (240, 320)
    down, across = shape[0] / displayed[0], shape[1] / displayed[1]
    mask = hint_plane([_hint(x, y, radius)], displayed, shape)[2]
    top, bottom, left, right = _box(mask)
    assert top <= int((y + 0.5) * down) <= bottom and left <= int((x + 0.5) * across) <= right
    for low, high, scale, centre, size in ((top, bottom, down, y, shape[0]), (left, right, across, x, shape[1])):
        span = (2 * radius + 1) * scale
        assert high - low + 1 <= max(1, span + 1)
        if low > 0 and high < size - 1:  # not clipped by the edge
            assert high - low + 1 >= max(1, span - 1)
            assert abs((low + high + 1) / 2 - (centre + 0.5) * scale) <= 1
    tiny = hint_plane([_hint(x, y, 0)], displayed, shape)[2]
    assert tiny.sum() == 1 and tiny[int((y + 0.5) * down), int((x + 0.5) * across)] == 1


@pytest.mark.parametrize("rotation", [90, 180, 270, -90])
def test_a_hint_on_a_rotated_video_lands_on_its_stored_pixel(rotation):
    """x and y count the displayed picture; a video with a display rotation is stored turned: the
    plane, for the picture as stored, has the hint where the stored picture holds that point."""
    turns = round(rotation / 90) % 4
    stored = np.zeros((30, 50), np.uint8)
    stored[7, 41] = 1
    displayed = np.rot90(stored, turns)  # what is shown (as the run turns it: stages.model.ModelStage._predict_upright)
    ((y, x),) = np.argwhere(displayed)
    plane = hint_plane([_hint(int(x), int(y), 0)], displayed.shape, stored.shape, rotation=rotation)
    assert np.array_equal(plane[2], stored.astype(np.float32))
    # with a radius and scaled: the plane for the stored picture is the displayed one's, turned back
    hint = _hint(int(x), int(y), 3)
    upright = hint_plane([hint], displayed.shape, (2 * displayed.shape[0], 2 * displayed.shape[1]))
    turned = hint_plane([hint], displayed.shape, (2 * stored.shape[0], 2 * stored.shape[1]), rotation=rotation)
    assert np.array_equal(turned, np.ascontiguousarray(np.rot90(upright, -turns, axes=(1, 2))))


def test_a_hint_plane_of_the_picture_inside_black_bars():
    """The model sees the picture inside bars alone (bars.predict_picture): the plane covers that
    region only, at its render size; a hint on a bar is left out."""
    inside, on_bar = _hint(40, 30, 0), _hint(40, 5, 0)
    rows, columns = slice(12, 52), slice(0, 96)  # bars 12 px high above and below, 64x96 frame
    plane = hint_plane([inside, on_bar], (64, 96), (20, 48), rows, columns)
    assert plane[2].sum() == 1 and plane[2, int((30 - 12 + 0.5) / 2), int((40 + 0.5) / 2)] == 1


def test_hints_given_to_a_model_without_hint_inputs_are_an_error(tmp_path, capsys, tiny_model):
    src, dst = _still(tmp_path / "photo.png"), tmp_path / "colour.png"
    hints = _hints_file(tmp_path / "hints.json", {"hints": [GOOD]})
    assert read_info(tiny_model).hint_input is None
    line = _failure(capsys, [str(src), str(dst), "--model", str(tiny_model), "--hints", str(hints)])
    assert "takes no colour hints" in line and "--hints" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hints.json", "photo.png"]


def _recording(monkeypatch) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Makes colorize_image's model record each (L, hint plane) it is given."""
    import vidcolor.backends

    real, seen = vidcolor.backends.load_colorizer, []

    class Recording:
        def __init__(self, request):
            self.inner = real(request)
            self.info, self.device, self.name = self.inner.info, self.inner.device, self.inner.name

        def predict_ab(self, lightness, hints=None):
            seen.append((lightness.copy(), None if hints is None else hints.copy()))
            return self.inner.predict_ab(lightness, hints)

    monkeypatch.setattr(vidcolor.backends, "load_colorizer", Recording)
    return seen


def test_the_hint_plane_reaches_the_model_at_the_render_size(tmp_path, monkeypatch, hinted_model):
    seen = _recording(monkeypatch)
    src, dst = _still(tmp_path / "photo.png", 96, 128), tmp_path / "colour.png"
    hints = _hints_file(tmp_path / "hints.json", {"hints": [{"x": 100, "y": 20, "color": "#3c6e2f", "radius": 4}]})
    assert main([str(src), str(dst), "--model", str(hinted_model), "--hints", str(hints), "-q"]) == 0
    ((lightness, plane),) = seen
    assert lightness.shape == (1, 32, 48) and plane.shape == (1, 3, 32, 48)  # render size 32 (short side)
    a, b = colour_ab("#3c6e2f")
    mask = plane[0, 2] > 0
    assert np.allclose(plane[0, 0][mask], a / HINT_SCALE) and np.allclose(plane[0, 1][mask], b / HINT_SCALE)
    top, bottom, left, right = _box(mask)
    assert top <= int(20.5 / 3) <= bottom and left <= int(100.5 * 48 / 128) <= right
    assert bottom - top + 1 == 3 and right - left + 1 == 3  # 9 px across, a third of it
    assert mask.sum() == 9
    main([str(src), str(tmp_path / "plain.png"), "--model", str(hinted_model), "-q"])
    assert seen[1][1] is None  # without --hints, none (the runtime feeds zeros)


def test_a_photo_on_its_side_takes_hints_as_it_is_shown(tmp_path, monkeypatch, hinted_model):
    """EXIF orientation 6: stored 40 px high, shown 64 px high; y = 50 is only in the picture as shown."""
    from test_stills_and_sequences import _with_orientation

    seen = _recording(monkeypatch)
    stored = np.full((40, 64), 120, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", stored)
    src = tmp_path / "photo.jpg"
    src.write_bytes(_with_orientation(jpeg.tobytes(), 6, "<"))
    hints = _hints_file(tmp_path / "hints.json", {"hints": [{"x": 30, "y": 50, "color": "#a83226", "radius": 0}]})
    assert main([str(src), str(tmp_path / "out.png"), "--model", str(hinted_model), "--hints", str(hints), "-q"]) == 0
    ((lightness, plane),) = seen
    height, width = plane.shape[2:]
    assert height > width  # upright
    assert plane[0, 2, int(50.5 * height / 64), int(30.5 * width / 40)] == 1 and plane[0, 2].sum() == 1


def test_a_letterboxed_still_gets_its_hints_inside_the_picture(tmp_path, monkeypatch, hinted_model):
    seen = _recording(monkeypatch)
    frame = np.zeros((96, 128), np.uint8)
    frame[16:80] = _gradient(64, 128)
    src = tmp_path / "letterbox.png"
    cv2.imwrite(str(src), frame)
    hints = _hints_file(tmp_path / "hints.json", {"hints": [{"x": 64, "y": 40, "color": "#a83226", "radius": 0}]})
    assert main([str(src), str(tmp_path / "out.png"), "--model", str(hinted_model), "--hints", str(hints), "-q"]) == 0
    ((lightness, plane),) = seen
    assert lightness.shape[1:] == plane.shape[2:] == (32, 64)  # the 64x128 picture alone, at 32 px
    assert plane[0, 2].sum() == 1 and plane[0, 2, int((40 - 16 + 0.5) / 2), int(64.5 / 2)] == 1


def _two_colour_photo(path: Path) -> np.ndarray:
    """A colour photo (left red, right green, a gradient in luma) written to `path`; its R'G'B'."""
    height, width = 64, 96
    rgb = np.zeros((height, width, 3), np.float32)
    rgb[:, : width // 2] = np.array([0xB0, 0x30, 0x20]) / 255
    rgb[:, width // 2 :] = np.array([0x30, 0x70, 0x40]) / 255
    rgb *= np.linspace(0.8, 1.0, height, dtype=np.float32)[:, None, None]
    cv2.imwrite(str(path), np.round(rgb[..., ::-1] * 255).astype(np.uint8))
    return np.round(rgb * 255) / 255


def test_a_still_hinted_with_its_true_colours_comes_out_closer_to_them(tmp_path, hinted_model):
    """End to end through ONNX Runtime with a model that follows hints: grey in, hints sampled
    from the true colours, the colour at the hinted points is the truth's (and not without)."""
    truth = _two_colour_photo(tmp_path / "truth.png")
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.round(rgb_to_luma(truth) * 255).astype(np.uint8))
    points = [(20, 30), (75, 30)]
    colours = ["#" + "".join(f"{round(v * 255):02x}" for v in truth[y, x]) for x, y in points]
    hints = _hints_file(
        tmp_path / "hints.json",
        {"hints": [{"x": x, "y": y, "color": c, "radius": 12} for (x, y), c in zip(points, colours)]},
    )
    model = ["--model", str(hinted_model), "-q"]
    assert main([str(grey), str(tmp_path / "hinted.png"), *model, "--hints", str(hints)]) == 0
    assert main([str(grey), str(tmp_path / "plain.png"), *model]) == 0
    true_ab = rgb_to_lab(truth)[..., 1:]

    def at_points(name: str) -> np.ndarray:
        out = cv2.imread(str(tmp_path / name))[..., ::-1].astype(np.float32) / 255
        return np.array([rgb_to_lab(out)[y, x, 1:] for x, y in points])

    truths = np.array([true_ab[y, x] for x, y in points])
    hinted, plain = at_points("hinted.png"), at_points("plain.png")
    errors = [float(np.linalg.norm(ab - truths, axis=1).max()) for ab in (hinted, plain)]
    assert errors[0] < 0.7 * errors[1], errors
    # each point got its own hint's hue (the guided upsampling spreads a small hint, so it is paler)
    cosines = np.sum(hinted * truths, axis=1) / np.linalg.norm(hinted, axis=1) / np.linalg.norm(truths, axis=1)
    assert cosines.min() > 0.95 and np.linalg.norm(hinted, axis=1).min() > 10, (cosines, hinted)


def test_the_stats_list_the_hints_used(tmp_path, hinted_model):
    src, stats = _still(tmp_path / "photo.png"), tmp_path / "stats.json"
    hints = _hints_file(tmp_path / "hints.json", {"hints": [GOOD, {**GOOD, "x": 5, "radius": 1, "frame": 0}]})
    args = [str(src), str(tmp_path / "out.png"), "--model", str(hinted_model), "--hints", str(hints), "-q"]
    assert main([*args, "--stats-json", str(stats)]) == 0
    listed = json.loads(stats.read_text())["hints"]
    assert listed == [
        {"hint": 1, "x": 1, "y": 2, "color": "#a83226", "radius": 2.0},
        {"hint": 2, "x": 5, "y": 2, "color": "#a83226", "radius": 1.0, "frame": 0},
    ]


def test_a_real_hinted_network_takes_hints_from_the_command_line(tmp_path, monkeypatch):
    """A tiny MobileColorNet with hint inputs, exported as vidcolor-train exports it (random, so it
    follows nothing): --hints reaches it through ONNX Runtime and changes its ab; the luma stays."""
    pytest.importorskip("torch")
    from test_pretrained import _net
    from vidcolor.training.export import contract, export_onnx

    from vidcolor.colour import ab_gamut_bins

    net, model = _net(), tmp_path / "m.onnx"
    export_onnx(net, model, contract(net, ab_gamut_bins(), 0.5, 64, {}))
    seen = _recording(monkeypatch)
    src = _still(tmp_path / "photo.png", 64, 96)
    hints = _hints_file(tmp_path / "hints.json", {"hints": [{"x": 50, "y": 30, "color": "#2040c0", "radius": 8}]})
    assert main([str(src), str(tmp_path / "hinted.png"), "--model", str(model), "--hints", str(hints), "-q"]) == 0
    ((lightness, plane),) = seen
    assert plane[0, 2].any()
    colorizer = OnnxColorizer(model)
    assert np.abs(colorizer.predict_ab(lightness, plane) - colorizer.predict_ab(lightness)).max() > 0.05
    out = cv2.imread(str(tmp_path / "hinted.png")).astype(np.float32)
    grey = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    assert np.abs(rgb_to_luma(out[..., ::-1]) - grey).max() <= 0.5 + 1e-3


# -- vidcolor frame ------------------------------------------------------------------------------


def _decoded(path: Path) -> list[tuple[float, np.ndarray]]:
    """(seconds after the first frame, Y plane) of every frame, decoded here with PyAV."""
    with av.open(str(path)) as c:
        frames = [(float(f.time), picture(f)) for f in c.decode(video=0)]
    return [(t - frames[0][0], y) for t, y in frames]


def _full_range(luma: np.ndarray) -> np.ndarray:
    return np.clip((luma.astype(np.float32) - 16) * 255 / 219, 0, 255)


@pytest.mark.parametrize("vfr", [False, True])
def test_vidcolor_frame_writes_the_frame_shown_at_a_time(tmp_path, capsys, vfr):
    src = write_video(tmp_path / "reel.mp4", VideoSpec(frames=12, vfr=vfr))
    frames = _decoded(src)
    for at in (0.0, 0.25, frames[5][0], frames[5][0] - 0.001, frames[-1][0] + 0.01):
        dst = tmp_path / f"at{at}.png"
        assert main(["frame", str(src), "--at", str(at), str(dst)]) == 0
        shown = max(i for i, (t, _) in enumerate(frames) if t <= at + 1e-9)
        png = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
        assert png.shape == (48, 64, 3)
        errors = [float(np.abs(png[..., 1] - _full_range(y)).mean()) for _, y in frames]
        assert int(np.argmin(errors)) == shown and errors[shown] < 1.5, (at, shown, errors)
        out = capsys.readouterr().out
        assert f"{dst}: 64x48 px, frame {shown} at {frames[shown][0]:.3f} s" in out, out
    assert main(["frame", str(src), "--frame", "7", str(tmp_path / "seven.png")]) == 0
    seven = cv2.imread(str(tmp_path / "seven.png"), cv2.IMREAD_GRAYSCALE)
    assert np.abs(seven - _full_range(frames[7][1])).mean() < 1.5


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_vidcolor_frame_is_upright_as_displayed(tmp_path, capsys, rotation):
    src = write_video(tmp_path / "portrait.mp4", VideoSpec(frames=4, width=64, height=48, rotation=rotation))
    dst = tmp_path / "frame.png"
    assert main(["frame", str(src), "--frame", "2", str(dst)]) == 0
    png = cv2.imread(str(dst), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    stored = _full_range(_decoded(src)[2][1])
    turns = round(rotation / 90) % 4
    assert np.abs(png - np.rot90(stored, turns)).mean() < 1.5
    width, height = (48, 64) if turns % 2 else (64, 48)
    assert png.shape == (height, width) and f"{width}x{height} px" in capsys.readouterr().out
    if shutil.which("ffmpeg"):  # FFmpeg's own player-side turn (autorotate) agrees
        theirs = tmp_path / "ffmpeg.png"
        ffmpeg = ["ffmpeg", "-loglevel", "error", "-i", str(src), "-vf", "select=eq(n\\,2)", "-frames:v", "1"]
        subprocess.run([*ffmpeg, str(theirs)], check=True)
        assert np.abs(cv2.imread(str(theirs)).astype(int) - cv2.imread(str(dst))).max() <= 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--at", "5"], "past the end: the video lasts 0.480 s"),
        (["--frame", "12"], "frame 12 is past the end: the video has 12 frames"),
    ],
)
def test_vidcolor_frame_past_the_end_is_an_error(tmp_path, capsys, args, said):
    src = write_video(tmp_path / "reel.mp4", VideoSpec(frames=12))
    line = _failure(capsys, ["frame", str(src), *args, str(tmp_path / "f.png")])
    assert said in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reel.mp4"]


def test_vidcolor_frame_writes_only_png_and_keeps_what_exists(tmp_path, capsys):
    src = write_video(tmp_path / "reel.mp4", VideoSpec(frames=2))
    assert "name it .png" in _failure(capsys, ["frame", str(src), "--at", "0", str(tmp_path / "f.jpg")])
    (tmp_path / "f.png").write_bytes(b"mine")
    assert "--overwrite" in _failure(capsys, ["frame", str(src), "--at", "0", str(tmp_path / "f.png")])
    assert (tmp_path / "f.png").read_bytes() == b"mine"


def test_hints_reads_the_issue_example():
    example = {
        "hints": [
            {"frame": 0, "x": 212, "y": 140, "color": "#a83226"},
            {"time": 12.5, "x": 640, "y": 360, "color": "#3c6e2f", "radius": 4},
        ]
    }
    hints = parse_hints(json.dumps(example))
    assert isinstance(hints, Hints) and len(hints) == 2
    first, second = hints
    assert (first.frame, first.time, first.radius) == (0, None, 2.0)
    assert (second.frame, second.time, second.radius, second.x, second.y) == (None, 12.5, 4.0, 640, 360)
    hints.check_picture(1280, 720)
    with pytest.raises(InputError, match="hint 2 of 2: x: 640 is outside"):
        hints.check_picture(640, 480)


def test_spread_hints_sets_the_hinted_cell_and_stops_at_an_edge_in_lightness():
    # a picture dark on the left, light on the right, the model's ab all zero, one hint on the left
    lightness = np.full((1, 64, 64), 30.0, np.float32)
    lightness[:, :, 32:] = 80.0
    ab = np.zeros((1, 16, 16, 2), np.float32)  # output stride 4
    plane = hint_plane([Hint(1, 8, 32, "#a83226", 40.0, 25.0, 2.0)], (64, 64), (64, 64))
    out = spread_hints(ab, lightness, plane[None], 110.0)
    assert np.allclose(out[0, 8, 2], [40.0, 25.0], atol=0.5)  # the hinted cell takes the hint's ab
    left, right = out[0, :, :8, 0].mean(), out[0, :, 8:, 0].mean()
    assert left > 15 and right < 0.2 * left  # spread along its tone, hardly across the edge
    assert np.array_equal(spread_hints(ab, lightness, np.zeros((1, 3, 64, 64), np.float32)), ab)  # no hint: as is


def test_spread_hints_takes_a_fading_hints_weight():
    lightness = np.full((1, 32, 32), 50.0, np.float32)
    ab = np.zeros((1, 8, 8, 2), np.float32)
    plane = hint_plane([Hint(1, 16, 16, "#a83226", 40.0, 25.0, 2.0)], (32, 32), (32, 32), weights=[0.5])
    out = spread_hints(ab, lightness, plane[None], 110.0)
    assert 15 < out[0, 4, 4, 0] < 25  # half way to the hint where it is half trusted
