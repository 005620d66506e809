"""Temporal smoothing: stable colour on static scenes, resets at cuts, no colour dragged by motion."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from vidcolor import colorize
from vidcolor.temporal import TemporalSmoother

RENDER = (128, 192)  # (H, W) L at render size
MODEL = (32, 48)  # ab at a quarter of it


def texture(seed: int, shape=RENDER) -> np.ndarray:
    """A smooth random L* picture with features the flow can follow."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 2.5)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return 20 + 60 * noise


def constant_ab(a: float, b: float) -> np.ndarray:
    return np.broadcast_to(np.array([a, b], np.float32), (*MODEL, 2)).copy()


def test_static_scene_is_unchanged():
    smoother = TemporalSmoother()
    lightness, ab = texture(0), constant_ab(30, -20)
    ab[:, :20] = (-10, 45)  # two colours, so an edge exists
    for i in range(8):
        result = smoother.smooth(lightness, ab)
        assert result.cut == (i == 0)
        np.testing.assert_allclose(result.ab, ab, atol=1e-3)
    assert result.trust > 0.9


def test_flicker_is_damped_without_washing_colour_out():
    rng = np.random.default_rng(1)
    lightness, base = texture(2), constant_ab(35, 25)
    smoother = TemporalSmoother()
    raw, smooth = [], []
    for _ in range(30):
        # The same coat, predicted with a hue that wobbles from frame to frame.
        angle = rng.normal(0, 0.35)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
        prediction = base @ rotation.T
        raw.append(prediction)
        smooth.append(smoother.smooth(lightness, prediction).ab)
    raw, smooth = np.stack(raw[10:]), np.stack(smooth[10:])
    assert smooth.std(axis=0).mean() < 0.5 * raw.std(axis=0).mean()
    magnitude = np.linalg.norm(smooth, axis=-1).mean()
    assert magnitude > 0.98 * np.linalg.norm(base, axis=-1).mean()


def test_chroma_is_not_worn_away_where_the_hue_changes_across_a_moving_picture():
    # One chroma, its hue turning a full circle every 24 px, moving a fraction of a pixel a frame:
    # carried along the flow, neighbouring hues are interpolated frame after frame, and averaged
    # ab vectors are shorter than either.
    base = texture(7, (RENDER[0], RENDER[1] + 40))
    smoother = TemporalSmoother()
    for i in range(60):
        shift = 0.37 * i
        lightness = cv2.warpAffine(base, np.float32([[1, 0, -shift], [0, 1, 0]]), (RENDER[1], RENDER[0]))
        angle = 2 * np.pi * (np.arange(MODEL[1]) * 4 + 1.5 + shift) / 24  # the hue moves with the picture
        ab = np.zeros((*MODEL, 2), np.float32)
        ab[..., 0], ab[..., 1] = 30 * np.cos(angle), 30 * np.sin(angle)
        result = smoother.smooth(lightness, ab)
    assert result.trust > 0.5
    assert np.linalg.norm(result.ab, axis=-1).mean() > 0.9 * 30  # interpolating the vectors alone: 0.79


@pytest.mark.parametrize("scene_b", ["other_texture", "same_histogram"])
def test_hard_cut_resets(scene_b):
    a = texture(3)
    if scene_b == "other_texture":
        b = 100 - texture(4) * 0.8  # a different picture with a different brightness distribution
    else:
        b = np.ascontiguousarray(np.rot90(a, 2))  # the same values, rearranged: same histogram
    smoother = TemporalSmoother()
    for _ in range(5):
        assert smoother.smooth(a, constant_ab(40, 10)).ab.mean() > 0
    after = smoother.smooth(b, constant_ab(-30, -30))
    assert after.cut
    np.testing.assert_array_equal(after.ab, constant_ab(-30, -30))  # nothing carried across the cut


def test_a_strobe_is_not_a_cut():
    # The same textured scene panning, with every other frame washed out by a flash (as in
    # tears_of_steel frames 192-204): L changes everywhere, the picture does not.
    smoother = TemporalSmoother()
    wide = texture(8, (RENDER[0], RENDER[1] + 40))
    for i in range(11):
        lightness = np.ascontiguousarray(wide[:, 2 * i : 2 * i + RENDER[1]])
        if i % 2:
            lightness = 55 + 0.4 * lightness  # lifted and flattened, like an overexposed frame
        result = smoother.smooth(lightness, constant_ab(20, 30))
        assert result.cut == (i == 0), i
    # The flash frames do break brightness constancy: their pixels mostly do not "follow" by L.
    flash = 55 + 0.4 * np.ascontiguousarray(wide[:, 22 : 22 + RENDER[1]])
    assert smoother._trust(*_flow_inputs(smoother, flash), np.ones((3, 3), np.uint8))[1] < 0.3


def _flow_inputs(smoother: TemporalSmoother, lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flow-size uint8 and float L the smoother compares with its previous frame."""
    height, width = smoother._lightness.shape
    small = cv2.resize(lightness.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(small * 2.55 + 0.5, 0, 255).astype(np.uint8), small


def square_scene(x: int, shape=RENDER) -> tuple[np.ndarray, np.ndarray]:
    """A bright square at column x on a dark textured floor: L at render size, true ab at model size."""
    lightness = 25 + 5 * texture(5, shape) / 80
    lightness[40:88, x : x + 48] = 80 + 5 * texture(6, shape)[40:88, x : x + 48] / 80
    ab = np.zeros((*MODEL, 2), np.float32)
    ab[10:22, x // 4 : (x + 48) // 4] = (60, 45)  # red square; the floor is grey
    return lightness, ab


def test_moving_object_does_not_drag_its_colour():
    smoother = TemporalSmoother()
    errors, behind = [], []
    for i in range(14):
        x = 8 + 8 * i
        lightness, truth = square_scene(x)
        out = smoother.smooth(lightness, truth).ab
        errors.append(np.abs(out - truth).mean())
        if i:
            # Where the square was one step ago and is no longer: the floor must be grey again.
            trail = out[10:22, (x - 8) // 4 : x // 4]
            behind.append(np.linalg.norm(trail, axis=-1).max())
    assert max(behind) < 6, behind  # red is 75 units of chroma; a dragged trail keeps most of it
    assert np.mean(errors) < 1.5, errors


def test_strength_zero_is_per_frame():
    smoother = TemporalSmoother(strength=0.0)
    rng = np.random.default_rng(7)
    for _ in range(4):
        ab = rng.normal(0, 20, (*MODEL, 2)).astype(np.float32)
        np.testing.assert_array_equal(smoother.smooth(texture(8), ab).ab, ab)


def test_the_same_frames_give_the_same_colour_wherever_numpy_puts_its_arrays():
    """Runs of the same clip must agree bit for bit (a resumed run is checked against a whole one):
    no step may round differently with the memory alignment of its buffers, which differs from
    run to run with the threads' allocations. Here the allocations before each run shift it."""
    rng = np.random.default_rng(9)
    frames = [
        (np.roll(texture(10), 3 * i, axis=1), rng.normal(0, 25, (*MODEL, 2)).astype(np.float32)) for i in range(4)
    ]
    runs = set()
    for shift in range(16):
        spacers = [np.empty(16 * shift + 8 * k, np.uint8) for k in range(4)]  # held, so later arrays land elsewhere
        smoother = TemporalSmoother()
        runs.add(b"".join(smoother.smooth(lightness, ab).ab.tobytes() for lightness, ab in frames))
        del spacers
    assert len(runs) == 1


@pytest.mark.parametrize("strength", [-0.1, 1.0])
def test_strength_is_validated(strength):
    with pytest.raises(ValueError):
        TemporalSmoother(strength)


def write_scenes(path, frames_per_scene: int = 6, size=(96, 64)) -> None:
    """A lossless grey video: a static scene, a hard cut to another, lossless so decode is exact."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for scene in range(2):
            light = texture(10 + scene, (height, width))
            if scene:
                light = 100 - light
            y = np.rint(16 + light / 100 * 219).astype(np.uint8)
            planes = np.concatenate([y.ravel(), np.full(width * height // 2, 128, np.uint8)])
            for _ in range(frames_per_scene):
                frame = av.VideoFrame(width, height, "yuv420p")
                for plane, chunk in zip(frame.planes, np.split(planes, [width * height, width * height * 5 // 4])):
                    plane.update(chunk.tobytes())
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def chroma(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray()[f.height :] for f in c.decode(video=0)]  # the Cb/Cr rows of yuv420p


def test_pipeline_lists_cuts_and_leaves_static_scenes_alone(tiny_model, tmp_path):
    src = tmp_path / "scenes.mkv"
    write_scenes(src)
    smooth = colorize(src, tmp_path / "smooth.mkv", model=tiny_model, codec="ffv1")
    plain = colorize(src, tmp_path / "plain.mkv", model=tiny_model, codec="ffv1", temporal=False)
    assert [c["frame"] for c in smooth.cuts] == [6]
    assert smooth.cuts[0]["time"] == pytest.approx(6 / 25)
    assert "temporal" in smooth.busy_seconds and "temporal" not in plain.busy_seconds
    assert plain.cuts == []
    # Static scenes: the smoothed colour equals the per-frame colour (to a code value of rounding).
    for a, b in zip(chroma(tmp_path / "smooth.mkv"), chroma(tmp_path / "plain.mkv"), strict=True):
        assert np.abs(a.astype(int) - b).max() <= 1


def test_temporal_strength_validated():
    from vidcolor.config import ColorizeOptions
    from vidcolor.errors import VidcolorError

    with pytest.raises(VidcolorError):
        ColorizeOptions(temporal_strength=1.5)
