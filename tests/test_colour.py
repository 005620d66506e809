"""Colour math: Lab round trips, luma lightness, chroma from ab, pixel-format choice."""

from __future__ import annotations

import numpy as np
import pytest

from vidcolor.colour import (
    ab_gamut_bins,
    chroma_from_lab,
    lab_to_rgb,
    luma_to_lightness,
    rgb_to_chroma,
    rgb_to_lab,
    rgb_to_luma,
    ycbcr_to_rgb,
)
from vidcolor.formats import output_format, planar_format
from vidcolor.metrics import colorfulness, psnr, ssim


def test_lab_round_trip():
    rgb = np.random.default_rng(0).random((500, 3), dtype=np.float32)
    assert np.abs(lab_to_rgb(rgb_to_lab(rgb)) - rgb).max() < 1e-4


def test_known_lab_values():
    lab = rgb_to_lab(np.array([[1, 1, 1], [0, 0, 0], [1, 0, 0]], np.float32))
    assert np.allclose(lab[0], [100, 0, 0], atol=0.05)
    assert np.allclose(lab[1], [0, 0, 0], atol=0.05)
    assert np.allclose(lab[2], [53.24, 80.09, 67.20], atol=0.1)  # sRGB red, CIE D65


def test_grey_lightness_matches_lab():
    grey = np.linspace(0, 1, 50, dtype=np.float32)
    rgb = np.repeat(grey[:, None], 3, axis=1)
    assert np.allclose(luma_to_lightness(grey), rgb_to_lab(rgb)[:, 0], atol=0.01)


@pytest.mark.parametrize("matrix", ["bt601", "bt709", "bt2020"])
def test_ycbcr_round_trip(matrix):
    rgb = np.random.default_rng(1).random((500, 3), dtype=np.float32)
    cb, cr = rgb_to_chroma(rgb, matrix)
    assert np.abs(ycbcr_to_rgb(rgb_to_luma(rgb, matrix), cb, cr, matrix) - rgb).max() < 1e-5


def test_chroma_from_lab_reproduces_the_colour():
    rgb = np.random.default_rng(2).uniform(0.1, 0.9, (300, 3)).astype(np.float32)
    luma = rgb_to_luma(rgb)
    ab = rgb_to_lab(rgb)[:, 1:]
    cb, cr = chroma_from_lab(luma, ab, "bt709")
    back = ycbcr_to_rgb(luma, cb, cr)
    # Hue survives; lightness is the untouched luma's, so compare chroma direction in Lab.
    got, want = rgb_to_lab(back)[:, 1:], ab
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1) + 1e-6)
    saturated = np.linalg.norm(want, axis=1) > 10
    assert np.median(cos[saturated]) > 0.97


def test_neutral_ab_gives_neutral_chroma():
    cb, cr = chroma_from_lab(np.linspace(0, 1, 20, dtype=np.float32), np.zeros((20, 2), np.float32), "bt709")
    assert np.abs(cb).max() < 1e-3 and np.abs(cr).max() < 1e-3


def test_gamut_bins():
    bins = ab_gamut_bins()
    assert 200 < len(bins) < 330
    assert [0, 0] in bins.tolist()


def test_colorfulness_orders_images():
    grey = np.full((8, 8, 3), 0.5, np.float32)
    vivid = np.random.default_rng(3).random((8, 8, 3)).astype(np.float32)
    assert colorfulness(grey) == 0.0 and colorfulness(vivid) > 50


@pytest.mark.parametrize(
    "codec,source,expected,exact",
    [
        ("libx264", "yuv420p", "yuv420p", True),
        ("libx264", "yuvj420p", "yuv420p", True),
        ("libx264", "gray", "yuv420p", True),
        ("libx264", "yuv420p10le", "yuv420p10le", True),
        ("ffv1", "yuv444p16le", "yuv444p16le", True),
        ("prores_ks", "yuv420p10le", "yuv422p10le", True),
        ("prores_ks", "yuv420p", "yuv422p10le", True),
        ("libx264", "yuv444p16le", "yuv444p10le", False),
    ],
)
def test_output_format(codec, source, expected, exact):
    fmt, luma_exact = output_format(codec, planar_format(source))
    assert (fmt.name, luma_exact) == (expected, exact)


def test_planar_format_rejects_packed():
    assert planar_format("rgb24") is None and planar_format("nv12") is None and planar_format("yuv420p10be") is None


@pytest.mark.parametrize("depth,full_range", [(8, False), (8, True), (10, False)])
def test_fast_chroma_planes_match_the_reference(depth, full_range):
    from vidcolor.chroma import chroma_planes, lightness_table
    from vidcolor.formats import code_range

    rng = np.random.default_rng(4)
    fmt = planar_format("yuv444p" if depth == 8 else "yuv444p10le")
    black, white, excursion = code_range(depth, full_range)
    luma = rng.integers(int(black), int(white) + 1, (24, 40)).astype(fmt.dtype)
    ab = rng.uniform(-60, 60, (24, 40, 2)).astype(np.float32)
    cb, cr = chroma_planes(luma, ab, depth, fmt, full_range, "bt709", guided=False)
    y = (luma.astype(np.float32) - black) / (white - black)
    assert np.allclose(lightness_table(depth, full_range)[luma], luma_to_lightness(y), atol=1e-3)
    ref_cb, ref_cr = chroma_from_lab(y, ab, "bt709")
    mid = 2 ** (depth - 1)
    for got, want in ((cb, ref_cb), (cr, ref_cr)):
        assert np.abs(got.astype(np.float64) - (want * excursion + mid)).max() <= 1.0 * 2 ** (depth - 8)


@pytest.mark.parametrize(
    "pix_fmt,size,ab_scale",
    [
        ("yuv420p", (1280, 720), 1 / 15),
        ("yuv420p", (97, 55), 1 / 15),
        ("yuv422p", (321, 180), 1 / 15),
        ("yuv444p10le", (200, 120), 1 / 15),
        # A small frame: the model's ab grid is finer than the chroma planes, along one axis or both.
        ("yuv420p", (96, 64), 1.5),
        ("yuv422p", (96, 64), (0.3, 0.8)),
    ],
)
def test_the_torch_colour_stage_matches_opencvs(pix_fmt, size, ab_scale):
    """`--colour-device cuda` runs TorchChroma; on torch's CPU device it must give OpenCV's planes."""
    pytest.importorskip("torch")
    import cv2

    from vidcolor.chroma import chroma_planes
    from vidcolor.torch_colour import TorchChroma, area_weights, stretch_weights

    rng = np.random.default_rng(7)
    fmt = planar_format(pix_fmt)
    width, height = size
    top = 2**fmt.depth - 1
    # Smooth picture with hard edges (clipped), and smooth colour at a model-like size.
    luma = cv2.GaussianBlur(rng.uniform(0, top, (height, width)).astype(np.float32), (0, 0), 3)
    luma = np.clip(luma * 3 - top, 0, top).astype(fmt.dtype)
    scale_y, scale_x = ab_scale if isinstance(ab_scale, tuple) else (ab_scale, ab_scale)
    ab_shape = (max(2, round(height * scale_y)), max(2, round(width * scale_x)), 2)
    ab = rng.normal(0, 40, ab_shape).astype(np.float32)
    ab = cv2.GaussianBlur(ab, (0, 0), 1)
    torch_chroma = TorchChroma("cpu")
    for full_range, interlaced in ((False, False), (True, False), (False, True)):
        expected = chroma_planes(luma, ab, fmt.depth, fmt, full_range, "bt709", interlaced=interlaced)
        got = torch_chroma(luma, ab, fmt.depth, fmt, full_range, "bt709", interlaced=interlaced)
        for want, have in zip(expected, got, strict=True):
            assert have.shape == want.shape and have.dtype == want.dtype
            difference = np.abs(have.astype(int) - want.astype(int))
            assert difference.max() <= 2 and difference.mean() < 0.05
    # The weights are OpenCV's INTER_AREA: an image shrunk, and one grown along an axis, computed both ways.
    image = rng.uniform(0, 100, (17, 97)).astype(np.float32)
    for weights, (width_to, height_to) in ((area_weights, (23, 5)), (stretch_weights, (40, 30))):
        want = cv2.resize(image, (width_to, height_to), interpolation=cv2.INTER_AREA)
        assert np.allclose(weights(17, height_to) @ image @ weights(97, width_to).T, want, atol=1e-3)


@pytest.mark.parametrize("height", [16, 18])
def test_an_interlaced_frames_chroma_rows_follow_its_own_field(height):
    """Interlaced 4:2:0: chroma rows 0, 2, ... go with the top field's lines, 1, 3, ... with the
    bottom's. A frame whose fields differ (a dark top field, a bright bottom one: something moved
    between them) gets on each chroma row the colour of its own field's picture."""
    from vidcolor.chroma import chroma_planes

    fmt = planar_format("yuv420p")
    ab = np.full((4, 4, 2), (25.0, 35.0), np.float32)
    combed = np.empty((height, 16), np.uint8)
    combed[0::2], combed[1::2] = 60, 170
    dark, bright = (
        chroma_planes(np.full((height, 16), code, np.uint8), ab, 8, fmt, False, "bt709") for code in (60, 170)
    )
    fields = chroma_planes(combed, ab, 8, fmt, False, "bt709", interlaced=True)
    frame = chroma_planes(combed, ab, 8, fmt, False, "bt709")
    for got, top, bottom, mixed in zip(fields, dark, bright, frame, strict=True):
        assert got.shape == top.shape == (height // 2, 8)
        assert np.array_equal(got[0::2], top[0::2]) and np.array_equal(got[1::2], bottom[1::2])
        assert not np.array_equal(got[0::2], got[1::2])
        assert (mixed == mixed[0, 0]).all()  # a progressive frame's chroma rows average both
    # Chroma at full height (4:2:2) already has a row per line, field by field.
    fmt422 = planar_format("yuv422p")
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            chroma_planes(combed, ab, 8, fmt422, False, "bt709", interlaced=True),
            chroma_planes(combed, ab, 8, fmt422, False, "bt709"),
            strict=True,
        )
    )


def test_guided_upsampling_keeps_colour_inside_edges():
    from vidcolor.chroma import resize_ab, upsample_ab

    # A bright square on a dark ground; its colour, known only at 1/8 size, must not bleed out.
    lightness = np.full((128, 128), 20.0, np.float32)
    lightness[40:88, 40:88] = 80.0
    ab_true = np.zeros((128, 128, 2), np.float32)
    ab_true[40:88, 40:88] = (50.0, 40.0)
    import cv2

    ab_small = cv2.resize(ab_true, (16, 16), interpolation=cv2.INTER_AREA)
    guided = upsample_ab(ab_small, lightness)
    plain = resize_ab(ab_small, (128, 128))
    ring = np.zeros((128, 128), bool)
    ring[34:94, 34:94] = True
    ring[40:88, 40:88] = False  # just outside the square
    inside = np.zeros((128, 128), bool)
    inside[42:86, 42:86] = True
    assert np.abs(guided[ring]).mean() < 0.5 * np.abs(plain[ring]).mean()
    assert np.abs(guided[inside] - ab_true[inside]).mean() < np.abs(plain[inside] - ab_true[inside]).mean()


def test_psnr_and_ssim():
    rng = np.random.default_rng(5)
    a = rng.random((32, 32, 3)).astype(np.float32)
    noisy = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    assert psnr(a, a) == float("inf") and abs(ssim(a, a) - 1) < 1e-9
    assert 20 < psnr(a, noisy) < 30
    assert ssim(a, noisy) < ssim(a, np.clip(a + rng.normal(0, 0.01, a.shape), 0, 1)) < 1


def test_hue_agreement():
    from vidcolor.colour import lab_to_rgb
    from vidcolor.metrics import hue_agreement

    lab = np.zeros((8, 8, 3), np.float32)
    lab[..., 0], lab[..., 1], lab[..., 2] = 60, 40, 30
    reference = lab_to_rgb(lab)
    opposite = lab.copy()
    opposite[..., 1:] *= -1
    grey = lab.copy()
    grey[..., 1:] = 0
    assert hue_agreement(reference, reference) > 0.99
    assert hue_agreement(lab_to_rgb(opposite), reference) < -0.9  # gamut clipping bends the hue a little
    assert abs(hue_agreement(lab_to_rgb(grey), reference)) < 0.1
    # Grey to the eye, whatever the direction of its rounding: under one unit of ab counts as grey ...
    faint = lab.copy()
    faint[..., 1:] *= 0.4 / 50
    assert hue_agreement(lab_to_rgb(faint), reference) == 0
    # ... and a pale colour of the right hue agrees.
    pale = lab.copy()
    pale[..., 1:] *= 3 / 50
    assert hue_agreement(lab_to_rgb(pale), reference) > 0.9


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160), (1921, 1081)])
def test_the_render_downscale_is_opencvs_area_average(size):
    """`shrink` halves a plane at least four times the render size first (OpenCV's fast whole-block
    path); the result stays the one-step INTER_AREA average but for how the footprints' edge pixels
    are shared: on this fine texture 1.2 codes on average from 1080p, 1.9 from 4K, where a quarter
    of a render pixel's shift would make 8-9. Sizes that cannot be halved evenly take the one step."""
    import cv2

    from vidcolor.chroma import shrink

    rng = np.random.default_rng(3)
    width, height = size
    plane = cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), 2)
    plane = np.clip(plane * 4 - 382, 16, 235).astype(np.uint8)  # soft shapes with hard, clipped edges
    want = cv2.resize(plane, (336, 192), interpolation=cv2.INTER_AREA).astype(int)
    got = shrink(plane, (336, 192)).astype(int)
    assert got.shape == want.shape
    if width % 2:
        assert np.array_equal(got, want)
    else:
        assert np.abs(got - want).mean() < 2.5 and np.abs(got - want).max() <= 16
