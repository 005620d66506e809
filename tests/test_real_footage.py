"""The shipped model on real film from ../shared/data (slower; CI runs it)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import SHARED, packets_of

from vidcolor import colorize
from vidcolor.metrics import colorfulness, hue_agreement

pytestmark = pytest.mark.slow


def _need(path):
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI must run with ../shared beside the checkout")
        pytest.skip(f"{path} not present")
    return path


def _frames(path, step=1):
    with av.open(str(path)) as c:
        return [f for i, f in enumerate(c.decode(c.streams.video[0])) if i % step == 0]


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


# Measured with the bundled model on 2026-11-23: hue agreement 0.78 / 0.73, colourfulness ratio
# 0.45 / 1.09. (field_play_audio is a known failure of this first model: the field comes out as
# water, hue agreement -0.66; see the README.)
@pytest.mark.parametrize("clip", ["juggle_grass.mp4", "dog_path.mp4"])
def test_colour_clip_turned_grey_gets_plausible_colour(tmp_path, clip):
    """Grass and foliage must come out green-ish, not grey: the predicted hue agrees with the true one."""
    src = _need(SHARED / "video" / "color" / clip)
    dst = tmp_path / "out.mp4"
    colorize(src, dst)  # the model sees only the Y plane: a colour clip is a grey clip to it
    truth = [f.to_ndarray(format="rgb24") / 255 for f in _frames(src, 30)]
    ours = [f.to_ndarray(format="rgb24") / 255 for f in _frames(dst, 30)]
    cos = [hue_agreement(o[::4, ::4], t[::4, ::4]) for t, o in zip(truth, ours, strict=True)]
    ratio = [colorfulness(o) / colorfulness(t) for t, o in zip(truth, ours, strict=True)]
    assert np.mean(cos) > 0.5, f"hue agreement {np.mean(cos):.2f}"
    assert np.mean(ratio) > 0.35, f"colourfulness ratio {np.mean(ratio):.2f}"
