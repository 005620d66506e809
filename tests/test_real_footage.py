"""The shipped model on real film from ../shared/data (slower; CI runs it)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import SHARED, packets_of
from vidcolor.training.evaluate import evaluate_clip

from vidcolor import colorize
from vidcolor.metrics import colorfulness
from vidcolor.model import DEFAULT_MODEL

pytestmark = pytest.mark.slow


def _need(path):
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI must run with ../shared beside the checkout")
        pytest.skip(f"{path} not present")
    return path


def _frames(path):
    with av.open(str(path)) as c:
        return list(c.decode(c.streams.video[0]))


def test_chaplin_is_coloured_with_its_soundtrack(tmp_path):
    src = _need(SHARED / "video" / "archival" / "chaplin_street.mp4")
    dst = tmp_path / "chaplin_colour.mp4"
    stats = colorize(src, dst)
    before, after = _frames(src), _frames(dst)
    assert stats.frames == len(before) == len(after) == 241
    assert [Fraction(f.pts) * f.time_base for f in after] == [Fraction(f.pts) * f.time_base for f in before]
    assert packets_of(dst, "audio") == packets_of(src, "audio")
    assert np.mean([colorfulness(f.to_ndarray(format="rgb24") / 255) for f in after[::24]]) > 8.0
    assert np.mean([colorfulness(f.to_ndarray(format="rgb24") / 255) for f in before[::24]]) < 2.0


# Measured with the bundled model on 2026-11-23 (`python -m vidcolor.training.evaluate --clips`):
# hue agreement 0.78 / 0.73, colourfulness ratio 0.45 / 1.09. (field_play_audio is a known failure
# of this first model: the field comes out as water, hue agreement -0.63; see docs/quality.md, "Colour clips".)
@pytest.mark.parametrize("clip", ["juggle_grass.mp4", "dog_path.mp4"])
def test_colour_clip_turned_grey_gets_plausible_colour(clip):
    """Grass and foliage must come out green-ish, not grey: the predicted hue agrees with the true one."""
    scores = evaluate_clip(DEFAULT_MODEL, _need(SHARED / "video" / "color" / clip))
    assert scores.frames >= 8
    assert scores.hue_agreement > 0.5, f"hue agreement {scores.hue_agreement:.2f}"
    assert scores.colorfulness_ratio > 0.35, f"colourfulness ratio {scores.colorfulness_ratio:.2f}"


def _first_seconds(src, dst, seconds: float) -> None:
    """Copies the first `seconds` of the video stream's packets (from the first keyframe) into dst."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        source = inp.streams.video[0]
        target = out.add_stream_from_template(source)
        for packet in inp.demux(source):
            if packet.pts is not None and packet.pts * source.time_base >= seconds:
                break
            if packet.size:
                packet.stream = target
                out.mux(packet)


def test_temporal_smoothing_steadies_real_footage(tmp_path):
    """On a real 720p clip: less colour flicker than per-frame colour, at no cost in accuracy or colour."""
    from vidcolor.evaluate import evaluate_videos

    clip = tmp_path / "dog_path_2s.mp4"
    _first_seconds(_need(SHARED / "video" / "color" / "dog_path.mp4"), clip, 2.0)
    scores = {}
    for temporal in (False, True):
        out = tmp_path / f"out_{temporal}.mkv"
        colorize(clip, out, codec="ffv1", temporal=temporal)
        scores[temporal] = evaluate_videos(clip, out)
    per_frame, smooth = scores[False], scores[True]
    assert smooth.frames == per_frame.frames >= 50
    assert smooth.warp_error_ab < 0.6 * per_frame.warp_error_ab
    assert smooth.warp_error < per_frame.warp_error
    assert smooth.cdc < per_frame.cdc
    assert smooth.psnr > per_frame.psnr - 0.2
    assert smooth.colorfulness > 0.95 * per_frame.colorfulness


def _flickering(src, dst, amplitude: float, seed: int = 0) -> None:
    """`src`'s luma as old film flickers (each frame's exposure scaled at random: Y - 16 by 1 + amplitude
    * N(0, 1)), neutral chroma, lossless."""
    rng = np.random.default_rng(seed)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        source = inp.streams.video[0]
        stream = out.add_stream("ffv1", rate=source.average_rate)
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        for frame in inp.decode(source):
            planes = frame.reformat(format="yuv420p").to_ndarray().astype(np.float32)
            luma = planes[: frame.height]
            planes[: frame.height] = np.clip((luma - 16) * (1 + amplitude * rng.standard_normal()) + 16, 16, 235)
            planes[frame.height :] = 128
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.rint(planes).astype(np.uint8), format="yuv420p")))
        out.mux(stream.encode(None))


def test_a_flickering_films_colour_does_not_pulse_with_it(tmp_path):
    """Old film's exposure flickers; the model's colour follows exposure. Steadied for the model, the
    colour flickers less, and the output's luma is still the input's, flicker and all."""
    from vidcolor.evaluate import evaluate_videos

    truth = tmp_path / "dog_path_2s.mp4"
    _first_seconds(_need(SHARED / "video" / "color" / "dog_path.mp4"), truth, 2.0)
    clip = tmp_path / "flickering.mkv"
    _flickering(truth, clip, 0.05)
    scores = {}
    for deflicker in (False, True):
        out = tmp_path / f"out_{deflicker}.mkv"
        stats = colorize(clip, out, codec="ffv1", deflicker=deflicker)
        assert stats.luma_exact and stats.cuts == []
        for a, b in zip(_frames(clip), _frames(out), strict=True):  # the luma is the input's
            assert np.array_equal(a.to_ndarray()[: a.height], b.to_ndarray()[: b.height])
        scores[deflicker] = evaluate_videos(truth, out)
    plain, steadied = scores[False], scores[True]
    assert steadied.warp_error_ab < 0.85 * plain.warp_error_ab, (steadied.warp_error_ab, plain.warp_error_ab)
    assert steadied.psnr > plain.psnr - 0.2
    assert steadied.colorfulness > 0.95 * plain.colorfulness
