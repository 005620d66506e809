"""Colour math shared by the runtime and training: sRGB <-> CIELab, luma -> L, Y'CbCr.

Everything here is pure numpy and works on float32 arrays with channels last.
R'G'B' values are gamma-encoded in [0, 1] and treated as sRGB (BT.709 primaries, D65 white).
L is CIE L* in [0, 100]; a and b are CIE a*, b* in roughly [-110, 110].
"""

from __future__ import annotations

import numpy as np

# D65 reference white, XYZ with Y = 1.
D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float32,
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ).astype(np.float32)

# Luma coefficients (Kr, Kb) per Y'CbCr matrix.
LUMA_COEFFICIENTS = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
    "bt2020": (0.2627, 0.0593),
}

LAB_EPSILON = 216 / 24389  # CIE epsilon, the linear/cube-root knee of f(t)
LAB_KAPPA = 24389 / 27


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float32)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055).astype(np.float32)


def _lab_f(t: np.ndarray) -> np.ndarray:
    return np.where(t > LAB_EPSILON, np.cbrt(t), (LAB_KAPPA * t + 16) / 116)


def _lab_f_inverse(f: np.ndarray) -> np.ndarray:
    f3 = f**3
    return np.where(f3 > LAB_EPSILON, f3, (116 * f - 16) / LAB_KAPPA)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> (..., 3) Lab."""
    xyz = srgb_to_linear(rgb) @ RGB_TO_XYZ.T / D65_WHITE
    f = _lab_f(xyz)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)
    return lab.astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) Lab -> (..., 3) sRGB in [0, 1], clipped to the gamut."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = _lab_f_inverse(f) * D65_WHITE
    return linear_to_srgb(xyz @ XYZ_TO_RGB.T)


def luma_to_lightness(luma: np.ndarray) -> np.ndarray:
    """Gamma-encoded luma Y' in [0, 1] -> L* of the neutral grey with that value.

    A black-and-white frame is R' = G' = B' = Y', so this is exactly its Lab lightness.
    """
    linear = srgb_to_linear(np.clip(luma, 0.0, 1.0))
    return (116 * _lab_f(linear) - 16).astype(np.float32)


def rgb_to_luma(rgb: np.ndarray, matrix: str = "bt709") -> np.ndarray:
    """(..., 3) R'G'B' -> Y', the grey value a video of this picture carries in its Y plane."""
    kr, kb = LUMA_COEFFICIENTS[matrix]
    return (kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]).astype(np.float32)


def rgb_to_chroma(rgb: np.ndarray, matrix: str = "bt709") -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) R'G'B' -> (Cb, Cr), each in [-0.5, 0.5]."""
    kr, kb = LUMA_COEFFICIENTS[matrix]
    luma = rgb_to_luma(rgb, matrix)
    cb = (rgb[..., 2] - luma) / (2 * (1 - kb))
    cr = (rgb[..., 0] - luma) / (2 * (1 - kr))
    return cb.astype(np.float32), cr.astype(np.float32)


# An input whose chroma is this far from grey on average (8-bit limited-range code values, the larger
# of Cb's and Cr's distance per pixel) is already in colour: a tinted or toned film (sepia, amber,
# blue), or a colour film. A grey film is 0 (chaplin_street.mp4); sepia and blue tints of it
# 11 and 13; the five colour clips 5.0-19.6. A slight cast of a code or so is not colour.
COLOUR_INPUT_CODES = 3.0


# A frame has colour of its own, not a tint or a tone, where its chroma varies independently of its
# luma: a tinted film's chroma is the same everywhere, a toned one's (sepia) a function of the
# luma, but a colour film has different colours at one brightness. Measured on means of 8x8 chroma
# samples, so that chroma noise (a worn tape's) and cross-colour average out, as the RMS (8-bit
# codes) of the chroma left once its mean at each of 16 luma levels is taken away. On every frame
# (chroma.own_colour): chaplin_street.mp4 0.00, a sepia and a blue tint of it 0.75-1.17, the same
# with heavy chroma noise 1.63-1.81 and with a cross-colour pattern (a 6-code rainbow) 2.06-2.13;
# bedroom 3.60-4.30, dog_path 4.84-5.22, juggle_grass 6.98-7.89, tears_of_steel_canal 3.30-18.88.
# A frame of one colour all over (a green field) is a tint to this measure: field_play_audio's
# frames 0.02-3.24.
COLOUR_FRAME_CODES = 2.5
COLOUR_BLOCK = 8  # chroma samples per block side
COLOUR_LUMA_LEVELS = 16


def independent_chroma(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> float:
    """RMS of a frame's chroma not explained by its luma, in 8-bit codes (see COLOUR_FRAME_CODES),
    from the frame's planes averaged over blocks of COLOUR_BLOCK chroma samples (all three at one
    size; luma: Y' in [0, 1], cb and cr in [-0.5, 0.5])."""
    levels = np.clip((luma.ravel() * COLOUR_LUMA_LEVELS).astype(np.intp), 0, COLOUR_LUMA_LEVELS - 1)
    count = np.maximum(np.bincount(levels, minlength=COLOUR_LUMA_LEVELS), 1)
    energy = 0.0
    for chroma in (cb.ravel(), cr.ravel()):
        mean = np.bincount(levels, chroma, COLOUR_LUMA_LEVELS) / count
        energy += float(np.mean((chroma - mean[levels]) ** 2))
    return float(np.sqrt(energy / 2)) * 224


def chroma_codes(cb: np.ndarray, cr: np.ndarray) -> float:
    """Mean over pixels of the larger of |Cb| and |Cr| (each in [-0.5, 0.5]), in 8-bit code values."""
    return float(np.maximum(np.abs(cb), np.abs(cr)).mean() * 224)


def colour_input_warning(src: object, codes: float, own: float = 0.0) -> str | None:
    """The warning for an input already in colour (`codes` from `chroma_codes`; `own` from
    `independent_chroma`: whether it is a tint or a tone, or colour of its own), or None."""
    if codes < COLOUR_INPUT_CODES:
        return None
    kind = "its own colours, not a tint or a tone" if own >= COLOUR_FRAME_CODES else "tinted or toned"
    return (
        f"{src}: already in colour: {kind} (its chroma {codes:.0f} codes from grey on average); that colour "
        "is replaced by the model's, the luma kept"
    )


def ycbcr_to_rgb(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, matrix: str = "bt709") -> np.ndarray:
    """Y' in [0, 1] and Cb, Cr in [-0.5, 0.5] -> (..., 3) R'G'B', clipped to [0, 1]."""
    kr, kb = LUMA_COEFFICIENTS[matrix]
    kg = 1 - kr - kb
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0).astype(np.float32)


def ycbcr_to_rgb_keeping_luma(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, matrix: str = "bt709") -> np.ndarray:
    """As ycbcr_to_rgb, but a colour outside [0, 1] is desaturated toward its grey until it fits,
    instead of clipped: the luma of the result is exactly `luma` (clipping changes it by up to
    several percent in saturated highlights and shadows). For pictures stored as R'G'B'."""
    kr, kb = LUMA_COEFFICIENTS[matrix]
    kg = 1 - kr - kb
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / kg
    rgb = np.stack([r, g, b], axis=-1)
    grey = luma[..., None]
    delta = rgb - grey
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(delta > 0, (1 - grey) / delta, np.where(delta < 0, -grey / delta, np.inf))
    scale = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    return np.clip(grey + delta * scale, 0.0, 1.0).astype(np.float32)


# Colour fades out over this many L* next to black and next to white. There a colour cannot be
# shown with the picture's own luma (a player clips it: the black of a title card came out dark
# red), and the model's colour is least sure (measured on 2026-11-30, docs/colour.md, "The fade at
# black and white": on the 169 validation photos 21.04 -> 21.21 dB at colourfulness 39.6 -> 39.0;
# 30 at the white end gains no more than turning all colour down does).
FADE_BLACK = 20.0
FADE_WHITE = 20.0


def chroma_fade(lightness: np.ndarray) -> np.ndarray:
    """Weight in [0, 1] of the colour at each L*: none at black and white, all of it from FADE_BLACK
    above black and FADE_WHITE below white."""
    black = lightness * np.float32(1 / FADE_BLACK) if FADE_BLACK else np.ones_like(lightness)
    white = (100 - lightness) * np.float32(1 / FADE_WHITE) if FADE_WHITE else np.ones_like(lightness)
    return np.clip(np.minimum(black, white), 0.0, 1.0).astype(np.float32)


def chroma_from_lab(luma: np.ndarray, ab: np.ndarray, matrix: str) -> tuple[np.ndarray, np.ndarray]:
    """Cb, Cr that give a frame with luma Y' (kept as it is) the colour ab.

    luma: (H, W) Y' in [0, 1]; ab: (H, W, 2). The colour is built in Lab with the lightness of
    the grey frame, converted to R'G'B', and only its colour differences are kept, so the
    decoder's R'G'B' is the Lab colour shifted to the untouched luma.
    """
    lightness = luma_to_lightness(luma)
    ab = ab * chroma_fade(lightness)[..., None]
    rgb = lab_to_rgb(np.concatenate([lightness[..., None], ab], axis=-1))
    return rgb_to_chroma(rgb, matrix)


def ab_gamut_bins(step: float = 10.0) -> np.ndarray:
    """Centres of the quantized ab grid cells that hold some in-gamut sRGB colour, (Q, 2).

    Zhang et al. (2016) quantize ab with a grid step of 10 and keep the 313 in-gamut cells;
    this computes that set from the sRGB gamut instead of shipping a table.
    """
    grid = np.arange(-110, 110 + step, step, dtype=np.float32)
    # Dense sample of the sRGB cube; every cell any sRGB colour falls in is in the gamut.
    levels = np.linspace(0, 1, 64, dtype=np.float32)
    rgb = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    ab = rgb_to_lab(rgb)[:, 1:]
    index = np.round((ab - grid[0]) / step).astype(np.int64)
    index = np.clip(index, 0, len(grid) - 1)
    occupied = np.zeros((len(grid), len(grid)), dtype=bool)
    occupied[index[:, 0], index[:, 1]] = True
    ia, ib = np.nonzero(occupied)
    return np.stack([grid[ia], grid[ib]], axis=-1).astype(np.float32)
