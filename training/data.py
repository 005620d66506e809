"""Photos for training: found under folders, split by a hash of their path, cropped and flipped."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from vidcolor.colour import LUMA_COEFFICIENTS, luma_to_lightness, rgb_to_lab, rgb_to_luma

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
CACHE_SHORT_SIDE = 256  # px: photos are kept in memory at this short side (crops up to 256)
MIN_SATURATION = 2.0  # mean |ab| under this: a greyscale photo, skipped


def find_photos(folders: list[Path]) -> list[Path]:
    paths = []
    for folder in folders:
        paths += [p for p in sorted(Path(folder).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    return paths


def split_key(path: Path) -> str:
    """What the split hashes: the file name (issue 3's split of the first 1,798 photos), and for the
    sources added later, under a folder named `more`, the source folder too (their files are
    numbered 000000.jpg, ... in every source, and each must land on its own side)."""
    parts = path.parts
    if "more" in parts[:-2]:
        return f"{parts[-2]}/{parts[-1]}"
    return path.name


def is_validation(path: Path, fraction: float) -> bool:
    """Stable split: the same photo lands on the same side whatever else is in the folder."""
    digest = hashlib.sha1(split_key(path).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def load_rgb(path: Path, short_side: int = CACHE_SHORT_SIDE) -> np.ndarray | None:
    """Decode a photo as (H, W, 3) uint8 RGB with its short side resized to `short_side`."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    h, w = bgr.shape[:2]
    scale = short_side / min(h, w)
    size = (max(short_side, round(w * scale)), max(short_side, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.cvtColor(cv2.resize(bgr, size, interpolation=interpolation), cv2.COLOR_BGR2RGB)


# How often a photo is drawn, by a folder on its path: archival film shows people, faces, crowds
# and streets most, and the photo sources have least of them, so those folders count double.
SOURCE_WEIGHTS = {
    "facemask_nomask": 2.0,  # faces
    "coco128_lightly": 2.0,  # people, streets, interiors
    "camvid": 2.0,  # streets, pedestrians
    "urban100": 2.0,  # buildings, city
}


def source_weight(path: Path) -> float:
    return max([SOURCE_WEIGHTS.get(part, 1.0) for part in path.parts] or [1.0])


@dataclass
class PhotoSet:
    images: list[np.ndarray]  # uint8 RGB, short side CACHE_SHORT_SIDE
    paths: list[Path]

    @cached_property
    def draw_probabilities(self) -> np.ndarray:
        weights = np.array([source_weight(p) for p in self.paths])
        return weights / weights.sum()

    @classmethod
    def load(cls, paths: list[Path]) -> PhotoSet:
        images, kept = [], []
        for path in paths:
            rgb = load_rgb(path)
            if rgb is None:
                log.warning("skipping unreadable image %s", path)
                continue
            if np.abs(rgb_to_lab(rgb[::4, ::4] / 255.0)[..., 1:]).mean() < MIN_SATURATION:
                continue
            images.append(rgb)
            kept.append(path)
        return cls(images, kept)

    def sample(
        self, rng: np.random.Generator, batch: int, crop: int, film: bool = False, spectral: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """A random batch: L input (N, 1, crop, crop) and true ab (N, 2, crop, crop), float32.

        `film` degrades the input luma like archival film (exposure, contrast, gamma, grain);
        `spectral` renders it as film of another colour sensitivity would (see spectral_luma);
        the target colour stays the photo's own.
        """
        rgbs = []
        for i in rng.choice(len(self.images), size=batch, p=self.draw_probabilities):
            image = self.images[i]
            # Scale augmentation: crop a window of 1x to 1.5x the crop size and resize it down.
            window = min(int(crop * rng.uniform(1.0, 1.5)), *image.shape[:2])
            y = rng.integers(image.shape[0] - window + 1)
            x = rng.integers(image.shape[1] - window + 1)
            patch = image[y : y + window, x : x + window]
            patch = cv2.resize(patch, (crop, crop), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            rgbs.append(patch)
        rgb = np.stack(rgbs).astype(np.float32) / 255.0
        return lab_pair(rgb, rng if film else None, spectral_luma(rgb, rng) if spectral else None)

    def fixed(self, crop: int) -> tuple[np.ndarray, np.ndarray]:
        """Centre crops of every image, for a validation loss that is the same at every step."""
        rgbs = []
        for image in self.images:
            h, w = image.shape[:2]
            y, x = (h - crop) // 2, (w - crop) // 2
            rgbs.append(image[y : y + crop, x : x + crop])
        return lab_pair(np.stack(rgbs).astype(np.float32) / 255.0)


# Archival-film degradations of the input luma, per photo (see film_luma).
FILM_CONTRAST = (0.75, 1.25)  # multiplier about mid-grey
FILM_EXPOSURE = (-0.08, 0.08)  # offset, in Y' (0-1)
FILM_GAMMA = (0.8, 1.25)
FILM_GRAIN = (0.0, 0.04)  # standard deviation of Gaussian grain, in Y'


def film_luma(luma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, H, W) Y' -> the same pictures unevenly exposed and grainy, as film transfers often are."""
    n = len(luma)

    def draw(bounds: tuple[float, float]) -> np.ndarray:
        return rng.uniform(*bounds, size=(n, 1, 1)).astype(np.float32)

    out = (luma - 0.5) * draw(FILM_CONTRAST) + 0.5 + draw(FILM_EXPOSURE)
    out = np.clip(out, 0.0, 1.0) ** draw(FILM_GAMMA)
    grain = rng.standard_normal(luma.shape).astype(np.float32) * draw(FILM_GRAIN)
    # Film grain is a little larger than a pixel: soften the noise before adding it.
    grain = np.stack([cv2.GaussianBlur(g, (3, 3), 0.7) for g in grain])
    return np.clip(out + grain, 0.0, 1.0)


# Colour sensitivities of black-and-white film, as weights of R', G', B' (each sums to 1): film
# before the mid-1920s was orthochromatic (blind to red: lips and red coats dark, skies pale) or,
# earlier still, blue-sensitive; panchromatic film is close to the luma of a colour video.
ORTHOCHROMATIC = (0.05, 0.45, 0.50)
BLUE_SENSITIVE = (0.0, 0.15, 0.85)


def spectral_luma(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, H, W, 3) R'G'B' -> (N, H, W) grey pictures as film of a random colour sensitivity between
    panchromatic (the luma) and orthochromatic or blue-sensitive would record them."""
    n = len(rgb)
    other = np.where(rng.random((n, 1)) < 0.5, ORTHOCHROMATIC, BLUE_SENSITIVE)
    share = rng.uniform(0.0, 1.0, (n, 1))
    kr, kb = LUMA_COEFFICIENTS["bt709"]
    weights = (1 - share) * np.array([kr, 1 - kr - kb, kb]) + share * other
    return np.einsum("nhwc,nc->nhw", rgb, weights.astype(np.float32))


# Colour hints for training (Zhang et al. 2017): how many points a photo gets is geometric with
# this success probability, after a coin that gives none at all with HINT_NONE; each is a square
# patch of 1 to HINT_PATCH px whose mean true ab the point carries.
HINT_NONE = 0.5
HINT_GEOMETRIC_P = 1 / 8
HINT_PATCH = 9
HINT_MAX_POINTS = 64


def sample_hints(ab: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """True ab (N, 2, H, W) -> a hint plane (N, 3, H, W): a / scale, b / scale, mask."""
    n, _, h, w = ab.shape
    hints = np.zeros((n, 3, h, w), np.float32)
    for i in range(n):
        if rng.random() < HINT_NONE:
            continue
        for _ in range(min(int(rng.geometric(HINT_GEOMETRIC_P)), HINT_MAX_POINTS)):
            size = int(rng.integers(1, min(HINT_PATCH, h, w) + 1))
            y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
            mean = ab[i, :, y : y + size, x : x + size].mean(axis=(1, 2))
            hints[i, :2, y : y + size, x : x + size] = (mean / scale)[:, None, None]
            hints[i, 2, y : y + size, x : x + size] = 1.0
    return hints


def lab_pair(
    rgb: np.ndarray, film: np.random.Generator | None = None, luma: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) RGB -> L of the grey video frame (N, 1, H, W) and true ab (N, 2, H, W).

    The input is the lightness of the photo's luma, exactly what the runtime reads from a
    black-and-white frame's Y plane, so training and inference see the same L; or of `luma`,
    where given (spectral_luma). With a generator as `film`, the luma is degraded by film_luma.
    """
    luma = rgb_to_luma(rgb) if luma is None else luma
    if film is not None:
        luma = film_luma(luma, film)
    lightness = luma_to_lightness(luma)
    ab = rgb_to_lab(rgb)[..., 1:]
    return lightness[:, None], np.ascontiguousarray(ab.transpose(0, 3, 1, 2))
