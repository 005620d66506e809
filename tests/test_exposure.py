"""Film flicker: what the model sees is steadied in exposure; cuts, flashes and fades are not flicker."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidcolor.exposure import JUMP, ExposureSteadier, apply_gains


def _picture(seed: int = 0) -> np.ndarray:
    """A textured picture, L* 10..90, (h, w), with a layout of light and dark of its own."""
    rng = np.random.default_rng(seed)
    layout = cv2.resize(rng.random((6, 8)), (64, 48), interpolation=cv2.INTER_LINEAR)
    return (10 + 60 * layout + 20 * rng.random((48, 64))).astype(np.float32)


def _exposed(picture: np.ndarray, gains) -> np.ndarray:
    """The picture under exposure gains (on L* + 16, as film's exposure acts), (N, h, w)."""
    return apply_gains(np.repeat(picture[None], len(gains), axis=0), np.asarray(gains, np.float32))


def _log_exposure(lightness: np.ndarray) -> np.ndarray:
    return np.log(lightness.mean(axis=(1, 2)) + 16)


def test_a_steady_picture_is_left_alone():
    frames = _exposed(_picture(), [1.0] * 20)
    assert np.array_equal(ExposureSteadier().gains(frames), np.ones(20, np.float32))


def test_flicker_is_steadied():
    gains = 1 + 0.05 * np.random.default_rng(1).standard_normal(60)  # 5% flicker, frame to frame
    frames = _exposed(_picture(), gains)
    steadied = apply_gains(frames, ExposureSteadier().gains(frames))
    before, after = np.diff(_log_exposure(frames)).std(), np.diff(_log_exposure(steadied)).std()
    assert after < 0.5 * before, (before, after)


def test_a_cut_or_a_flash_is_not_corrected():
    gains = [1.0] * 10 + [1.6] * 10  # a cut to a brighter shot (a jump beyond flicker)
    frames = np.concatenate([_exposed(_picture(0), gains[:10]), _exposed(_picture(1), gains[10:])])
    out = ExposureSteadier().gains(frames)
    assert np.all(out == 1), out  # the new shot keeps its own exposure from its first frame
    # A cut to another picture about as bright: within flicker's range of exposure, but not flicker.
    frames = np.concatenate([_exposed(_picture(0), [1.0] * 10), _exposed(_picture(1), [1.1] * 10)])
    out = ExposureSteadier().gains(frames)
    assert np.all(out == 1), out
    flash = _exposed(_picture(), [1.0] * 5 + [1.6] + [1.0] * 5)
    out = ExposureSteadier().gains(flash)
    assert np.all(out == 1), out  # nor is the frame after a flash pulled towards it


def test_a_fade_is_followed_not_sawtoothed():
    gains = np.linspace(1.0, 0.4, 30)  # a fade of 3% a frame in exposure
    steps = np.diff(np.log(gains)).max()
    assert abs(steps) < JUMP  # each step is within what counts as flicker
    frames = _exposed(_picture(), gains)
    out = ExposureSteadier().gains(frames)
    steadied = _log_exposure(apply_gains(frames, out))
    assert np.all(np.diff(steadied) <= 1e-6) and steadied[-1] < steadied[0] - 0.6  # it still fades, lagging
    assert np.all(np.diff(out[1:]) >= -1e-6)  # the correction grows to a steady lag, it never snaps back
    assert out.max() < 1.25


def test_state_carries_across_a_resume():
    gains = 1 + 0.05 * np.random.default_rng(2).standard_normal(30)
    frames = _exposed(_picture(), gains)
    whole = ExposureSteadier().gains(frames)
    first = ExposureSteadier()
    head = first.gains(frames[:13])
    second = ExposureSteadier()
    second.restore(first.state())
    assert np.array_equal(np.concatenate([head, second.gains(frames[13:])]), whole)
    assert ExposureSteadier().state() == []


def test_memory_is_validated():
    with pytest.raises(ValueError, match="memory"):
        ExposureSteadier(memory=0.0)


def test_the_model_sees_a_flickering_picture_steadied(tiny_model):
    from vidcolor.image import predict_ab
    from vidcolor.model import OnnxColorizer

    colorizer = OnnxColorizer(tiny_model)
    luma = (_picture() / 100).astype(np.float32)  # Y' in [0, 1], a picture with a layout
    lumas = [np.clip(luma * gain, 0, 1) for gain in (1.0, 1.08, 0.93, 1.05, 0.95)]
    _, plain = predict_ab(colorizer, lumas)
    _, steadied = predict_ab(colorizer, lumas, steady=ExposureSteadier().gains)
    plain_change = np.abs(plain[1:] - plain[0]).mean()
    steadied_change = np.abs(steadied[1:] - steadied[0]).mean()
    assert np.array_equal(steadied[0], plain[0])  # the first frame is seen as it is
    assert steadied_change < 0.5 * plain_change, (steadied_change, plain_change)
