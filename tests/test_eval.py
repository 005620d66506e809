"""`vidcolor eval`: fidelity, colourfulness and temporal-consistency scores of a candidate video."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vidcolor import consistency
from vidcolor.cli import main
from vidcolor.consistency import ReferenceFlow, flows_agree
from vidcolor.errors import InputError
from vidcolor.evaluate import PSNR_CAP_DB, evaluate_videos

KEYS = {
    "reference",
    "candidate",
    "frames",
    "frames_reference",
    "frames_candidate",
    "psnr",
    "ssim",
    "colorfulness",
    "colorfulness_reference",
    "cdc",
    "cdc_reference",
    "warp_error",
    "warp_error_reference",
    "warp_error_ab",
    "warp_error_ab_reference",
}


def write_rgb_video(path: Path, frames: list[np.ndarray], rate: int = 25, ticks: list[int] | None = None) -> Path:
    """Writes (H, W, 3) uint8 R'G'B' frames losslessly (FFV1, bgr0): decoding returns them exactly.
    Frame i is at ticks[i] / rate seconds (default i / rate)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = ticks[index] if ticks else index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth coloured noise in [20, 235]: every channel varies, so flow and colourfulness have something to see."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth -= smooth.min(axis=(0, 1))
    smooth /= smooth.max(axis=(0, 1))
    return np.rint(20 + 215 * smooth).astype(np.uint8)


def moving(frames: int = 10, width: int = 64, height: int = 48, step: tuple[int, int] = (2, 1)) -> list[np.ndarray]:
    """A window sliding over a larger texture by `step` (x, y) px a frame: pure translation, new content enters."""
    dx, dy = step
    big = texture(height + dy * frames, width + dx * frames)
    return [big[t * dy : t * dy + height, t * dx : t * dx + width].copy() for t in range(frames)]


def grey(rgb: np.ndarray) -> np.ndarray:
    """R' = G' = B' = the frame's luma."""
    return np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


def tinted(rgb: np.ndarray, shift: int) -> np.ndarray:
    """The frame with red raised and blue lowered by `shift` code values: a chroma change, luma about kept."""
    out = rgb.astype(np.int16)
    out[..., 0] += shift
    out[..., 2] -= shift
    return np.clip(out, 0, 255).astype(np.uint8)


def flickering(frames: list[np.ndarray], shift: int = 30) -> list[np.ndarray]:
    return [tinted(f, shift) if t % 2 else f for t, f in enumerate(frames)]


def tint_error(shift: int) -> float:
    """Squared-error floor of a tint flip between consecutive frames, mean over 3 channels, [0, 1]^2 units."""
    return 2 * (shift / 255) ** 2 / 3


def pair(tmp_path: Path, reference: list[np.ndarray], candidate: list[np.ndarray]) -> tuple[Path, Path]:
    return (
        write_rgb_video(tmp_path / "reference.mkv", reference),
        write_rgb_video(tmp_path / "candidate.mkv", candidate),
    )


def test_identical_videos_score_the_psnr_cap_and_equal_consistency(tmp_path):
    frames = moving()
    scores = evaluate_videos(*pair(tmp_path, frames, frames))
    assert scores.frames == scores.frames_reference == scores.frames_candidate == len(frames)
    assert scores.psnr == PSNR_CAP_DB == 100.0
    assert scores.ssim == pytest.approx(1.0, abs=1e-6)
    assert scores.colorfulness == scores.colorfulness_reference > 10
    assert scores.cdc == scores.cdc_reference > 0  # the sliding window changes the histograms a little
    assert scores.warp_error == scores.warp_error_reference
    assert scores.warp_error_ab == scores.warp_error_ab_reference


def test_grey_candidate_has_no_colour(tmp_path):
    frames = moving()
    scores = evaluate_videos(*pair(tmp_path, frames, [grey(f) for f in frames]))
    assert scores.colorfulness == pytest.approx(0.0, abs=1e-9)
    assert scores.colorfulness_reference > 10
    assert math.isfinite(scores.psnr) and scores.psnr < PSNR_CAP_DB
    assert scores.ssim < 1
    assert scores.warp_error_ab == pytest.approx(0.0, abs=1e-6)  # grey has no colour to flicker


def test_static_scene_has_no_warp_error_and_flicker_is_caught(tmp_path):
    still = texture(48, 64)
    frames = [still] * 8
    scores = evaluate_videos(*pair(tmp_path, frames, flickering(frames)))
    assert scores.warp_error_reference < 1e-6
    assert scores.cdc_reference == 0.0
    assert scores.warp_error > 0.5 * tint_error(30)
    assert scores.cdc > scores.cdc_reference
    assert scores.warp_error_ab_reference < 1e-6 < 1.0 < scores.warp_error_ab  # a tint of 30 is several ab units


def test_moving_pattern_flow_compensates_motion(tmp_path):
    frames = moving(step=(2, 1))
    uncompensated = np.mean([np.square(b / 255 - a / 255).mean() for a, b in zip(frames, frames[1:])])
    scores = evaluate_videos(*pair(tmp_path, frames, flickering(frames)))
    assert scores.warp_error_reference < 0.1 * uncompensated
    assert scores.warp_error > scores.warp_error_reference + 0.5 * tint_error(30)
    assert scores.cdc > scores.cdc_reference


def test_lagging_colour_is_less_consistent(tmp_path):
    """Colour taken from two frames earlier, on the current luma: it trails the moving content."""
    frames = moving(step=(2, 1))
    luma = [grey(f).astype(np.int16) for f in frames]
    chroma = [f.astype(np.int16) - y for f, y in zip(frames, luma)]
    lagging = [np.clip(luma[t] + chroma[max(t - 2, 0)], 0, 255).astype(np.uint8) for t in range(len(frames))]
    scores = evaluate_videos(*pair(tmp_path, frames, lagging))
    assert scores.warp_error > 10 * scores.warp_error_reference
    assert scores.psnr < PSNR_CAP_DB


@pytest.mark.parametrize("flow_side", [640, 32])
def test_pixels_leaving_the_frame_are_not_compared(monkeypatch, flow_side):
    """The window slides right and down, so content moves left and up: the first columns and rows leave.

    With the flow found at half size (32 px long side), it must be scaled back to frame pixels.
    """
    monkeypatch.setattr(consistency, "FLOW_MAX_SIDE", flow_side)
    before, after = moving(frames=2, step=(3, 2))
    flow = ReferenceFlow(64, 48)
    assert flow.flow_size == (min(64, flow_side), min(64, flow_side) * 3 // 4)
    where = flow.correspondence(flow.luma(before), flow.luma(after))
    assert not where.visible[:, :2].any() and not where.visible[:1, :].any()
    assert where.visible[4:-4, 4:-4].mean() > 0.9
    assert np.abs(where.map_x[8:-8, 8:-8] - np.arange(64)[8:-8] + 3).max() < 0.5
    assert np.abs(where.map_y[8:-8, 8:-8] - np.arange(48)[8:-8, None] + 2).max() < 0.5


def test_unrelated_frames_are_mostly_occluded():
    """At a cut the forward and backward flows disagree, so most pixels are left out of the warp error."""
    flow = ReferenceFlow(64, 48)
    where = flow.correspondence(flow.luma(texture(48, 64, seed=3)), flow.luma(texture(48, 64, seed=4)))
    assert where.visible.mean() < 0.5


def test_forward_backward_test_follows_sundaram():
    def agree(forward: tuple[float, float], backward: tuple[float, float]) -> bool:
        as_field = [np.full((2, 2, 2), v, np.float32) for v in (forward, backward)]
        return bool(flows_agree(*as_field).all())

    assert agree((5, -3), (-5, 3))  # the backward flow undoes the forward one
    assert agree((0.6, 0), (0, 0))  # 0.36 < 0.5 px^2 of slack: sub-pixel noise is not occlusion
    assert not agree((0.8, 0), (0, 0))  # 0.64 > 0.0064 + 0.5
    assert agree((20, 0), (-18.7, 0))  # 1.69 < 0.01 * (400 + 349.69) + 0.5 = 7.997: proportional slack
    assert not agree((20, 0), (-17, 0))  # 9 > 7.39
    assert not agree((4, 0), (0, 4))  # 32 > 0.82: the backward flow goes elsewhere


def direct_cdc(frames: list[np.ndarray]) -> float:
    """TCVC's CDC spelled out with loops: per-channel 256-bin histograms, JS divergence in bits."""

    def histogram(channel: np.ndarray) -> list[float]:
        counts = [0] * 256
        for value in channel.ravel().tolist():
            counts[value] += 1
        return [c / channel.size for c in counts]

    def js(p: list[float], q: list[float]) -> float:
        total = 0.0
        for a, b in zip(p, q):
            m = (a + b) / 2
            total += (a * math.log2(a / m) if a else 0.0) / 2 + (b * math.log2(b / m) if b else 0.0) / 2
        return total

    per_step = []
    for d in (1, 2, 4):
        values = [
            js(histogram(frames[t][..., c]), histogram(frames[t + d][..., c]))
            for t in range(len(frames) - d)
            for c in range(3)
        ]
        if values:
            per_step.append(sum(values) / len(values))
    return sum(per_step) / len(per_step) if per_step else float("nan")


@pytest.mark.parametrize("count", [2, 3, 5, 6])
def test_cdc_equals_direct_js_divergence(tmp_path, count):
    rng = np.random.default_rng(count)
    # Few distinct values, so neighbouring frames' histograms overlap partly.
    reference = [(rng.integers(0, 5, (8, 8, 3)) * 50).astype(np.uint8) for _ in range(count)]
    candidate = [(rng.integers(0, 3, (8, 8, 3)) * 100).astype(np.uint8) for _ in range(count)]
    scores = evaluate_videos(*pair(tmp_path, reference, candidate))
    assert scores.cdc_reference == pytest.approx(direct_cdc(reference), rel=1e-9)
    assert scores.cdc == pytest.approx(direct_cdc(candidate), rel=1e-9)
    assert scores.cdc != pytest.approx(scores.cdc_reference)


def test_cdc_is_one_for_disjoint_histograms(tmp_path):
    """Log base 2: black then white share no histogram bin, the largest possible divergence."""
    frames = [np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)]
    scores = evaluate_videos(*pair(tmp_path, frames, frames))
    assert scores.cdc == 1.0


def test_single_frame_has_no_temporal_scores(tmp_path):
    frames = [texture(48, 64)]
    scores = evaluate_videos(*pair(tmp_path, frames, frames))
    assert math.isnan(scores.cdc) and math.isnan(scores.warp_error_reference)
    as_dict = scores.to_dict()
    assert as_dict["cdc"] is None and as_dict["warp_error"] is None and as_dict["psnr"] == 100.0
    json.dumps(as_dict, allow_nan=False)


def test_different_lengths_compare_the_common_prefix(tmp_path, caplog):
    frames = moving(frames=8)
    with caplog.at_level(logging.WARNING, logger="vidcolor.evaluate"):
        scores = evaluate_videos(*pair(tmp_path, frames, frames[:5]))
    assert (scores.frames, scores.frames_reference, scores.frames_candidate) == (5, 8, 5)
    assert scores.psnr == PSNR_CAP_DB
    assert "compared the first 5" in caplog.text


@pytest.mark.parametrize("case", ["half the frame rate", "a frame missing"])
def test_frames_of_other_moments_are_an_input_error(tmp_path, case):
    """Frames are paired in decode order: a candidate at another frame rate, or one that lost a
    frame, was scored against other moments of the reference without a word."""
    frames = moving(8)
    reference = write_rgb_video(tmp_path / "ref.mkv", frames)
    if case == "half the frame rate":
        candidate = write_rgb_video(tmp_path / "cand.mkv", frames[::2], rate=25, ticks=[0, 2, 4, 6])
    else:
        candidate = write_rgb_video(tmp_path / "cand.mkv", frames[:3] + frames[4:], ticks=[0, 1, 2, 4, 5, 6, 7])
    with pytest.raises(InputError, match="frame [13] is at .* another frame rate, or frames missing"):
        evaluate_videos(reference, candidate)
    # The same frames at the same moments score as they did.
    assert evaluate_videos(reference, write_rgb_video(tmp_path / "same.mkv", frames)).psnr == PSNR_CAP_DB


def test_size_mismatch_is_an_input_error(make_video):
    with pytest.raises(InputError, match="frame sizes differ"):
        evaluate_videos(make_video(width=64), make_video(width=80))


def test_cli_prints_json_with_every_key(make_video, capsys):
    video = make_video(frames=6)
    assert main(["eval", str(video), str(video), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == KEYS
    assert report["frames"] == report["frames_reference"] == report["frames_candidate"] == 6
    assert report["psnr"] == 100.0 and report["reference"] == report["candidate"] == str(video)
    scores = KEYS - {"reference", "candidate", "frames", "frames_reference", "frames_candidate"}
    assert all(isinstance(report[k], float) for k in scores)


def test_cli_table(make_video, capsys):
    video = make_video(frames=4)
    assert main(["eval", str(video), str(video), "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["metric", "candidate", "reference"]
    assert lines[1].split() == ["psnr", "(dB)", "100.000"]
    assert lines[-1] == "4 frames compared"


def test_cli_missing_file_is_one_line(make_video, capsys, tmp_path):
    missing = tmp_path / "nope.mp4"
    assert main(["eval", str(missing), str(make_video())]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vidcolor: error: ") and "nope.mp4: no such file" in err[0]
