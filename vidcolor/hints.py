"""Colour hints: points of known colour a user gives in hints.json (docs/hints.md), checked, and
drawn into the hint plane a hinted model takes beside L.

A hint fixes the chroma (CIE a*, b*) at a point of the picture, never its luma. Its x and y are
pixels of the picture as it is displayed (after rotation metadata), origin top left; the plane is
drawn at the model's render size, as the training drew its hints (training/data.py sample_hints):
a square patch holding the colour's a / hint_scale, b / hint_scale and a mask of 1.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .colour import rgb_to_lab
from .errors import InputError, reason
from .media import quarter_turns
from .model import HINT_PLANES

DEFAULT_RADIUS = 2.0  # px of the displayed picture: a hint covers the square 2 * radius + 1 px across
HINT_KEYS = ("frame", "time", "x", "y", "color", "radius")  # the keys a hint may have
REQUIRED_KEYS = ("x", "y", "color")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Hint:
    """One colour point of a hints file."""

    number: int  # its place in the file, counting from 1 (what messages call it)
    x: int  # px of the displayed picture from its left edge
    y: int  # px from its top edge
    color: str  # sRGB "#rrggbb", as given
    a: float  # CIE a* of `color`
    b: float  # CIE b* of `color` (its L* is not used: the luma stays the picture's)
    radius: float = DEFAULT_RADIUS  # px of the displayed picture
    frame: int | None = None  # 0-based index of the decoded frame it starts at
    time: float | None = None  # or: seconds from the first frame; it starts at the frame shown then


@dataclass(frozen=True)
class Hints:
    """The hints of one file, in its order (a later hint paints over an earlier one where they meet)."""

    source: str  # the file's name, for messages
    hints: tuple[Hint, ...]

    def __len__(self) -> int:
        return len(self.hints)

    def __iter__(self):
        return iter(self.hints)

    def _error(self, hint: Hint, field: str, problem: str) -> InputError:
        return InputError(f"{self.source}: hint {hint.number} of {len(self.hints)}: {field}: {problem}")

    def check_picture(self, width: int, height: int, hints: Iterable[Hint] | None = None) -> None:
        """InputError naming the first hint whose point lies outside a displayed picture of
        width x height px."""
        for hint in self.hints if hints is None else hints:
            size = f"the picture is {width}x{height} px"
            if not 0 <= hint.x < width:
                raise self._error(hint, "x", f"{hint.x} is outside the picture ({size}: x from 0 to {width - 1})")
            if not 0 <= hint.y < height:
                raise self._error(hint, "y", f"{hint.y} is outside the picture ({size}: y from 0 to {height - 1})")

    def check_length(self, frames: int | None = None, seconds: float | None = None) -> None:
        """InputError naming the first hint at a frame or time past the end of a video of `frames`
        frames lasting `seconds` (either may be None where it is not known)."""
        for hint in self.hints:
            if frames is not None and hint.frame is not None and hint.frame >= frames:
                past = f"{hint.frame} is past the end: the video has {frames} frames (0 to {frames - 1})"
                raise self._error(hint, "frame", past)
            if seconds is not None and hint.time is not None and hint.time >= seconds:
                raise self._error(hint, "time", f"{hint.time:g} s is past the end: the video lasts {seconds:.3f} s")

    def for_still(self, width: int, height: int, name: str) -> tuple[Hint, ...]:
        """The hints of a still of width x height px (displayed), checked: a still is frame 0 at
        time 0, so a hint may give either as 0 or neither; any other frame or time is an error (a
        file meant for a video, most likely), as is a point outside the picture."""
        for hint in self.hints:
            if hint.frame not in (None, 0):
                raise self._error(hint, "frame", f"{hint.frame}, but {name} is a still (a still is frame 0)")
            if hint.time not in (None, 0):
                raise self._error(hint, "time", f"{hint.time:g} s, but {name} is a still (a still is time 0)")
        self.check_picture(width, height)
        return self.hints

    def starting(self, frame: int, start: float, end: float | None) -> tuple[Hint, ...]:
        """The hints that start at decoded frame `frame` (0-based), shown from `start` until `end`
        seconds after the first frame (None: the last frame): those giving its index, and those
        giving a time in [start, end). For the video path: a hint holds from there."""
        return tuple(
            hint
            for hint in self.hints
            if hint.frame == frame
            or (hint.time is not None and start <= hint.time and (end is None or hint.time < end))
        )


def hint_record(hint: Hint) -> dict:
    """A hint as the run's statistics list it: its number and its fields as the file gave them."""
    record = {"hint": hint.number, "x": hint.x, "y": hint.y, "color": hint.color, "radius": hint.radius}
    return record | {key: getattr(hint, key) for key in ("frame", "time") if getattr(hint, key) is not None}


def colour_ab(color: str) -> tuple[float, float]:
    """CIE a*, b* of an sRGB "#rrggbb" colour (the project's sRGB -> Lab, D65)."""
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], np.float32) / 255
    lab = rgb_to_lab(rgb)
    return float(lab[1]), float(lab[2])


def read_hints(path: str | Path) -> Hints:
    """The hints of a hints.json file, checked against the format (docs/hints.md); InputError
    naming the hint and the field where it is not met. Where the points lie is checked later,
    against the picture (Hints.check_picture, Hints.for_still)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such hints file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the hints file ({reason(e)})") from e
    return parse_hints(text, str(path))


def parse_hints(text: str, source: str = "hints.json") -> Hints:
    """The hints of the JSON text `text` (see read_hints); `source` names it in messages."""
    try:
        document = json.loads(text, object_pairs_hook=_no_repeated_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"{source}: not valid JSON: line {e.lineno}, column {e.colno}: {e.msg}") from e
    except ValueError as e:  # a key given twice, NaN or Infinity
        raise InputError(f"{source}: {e}") from e
    example = '{"hints": [{"x": 212, "y": 140, "color": "#a83226"}]}'
    if not isinstance(document, dict) or "hints" not in document:
        raise InputError(f'{source}: must be an object with a "hints" list, such as {example}')
    unknown = sorted(set(document) - {"hints"})
    if unknown:
        raise InputError(f'{source}: unknown key "{unknown[0]}" (the file holds only "hints")')
    items = document["hints"]
    if not isinstance(items, list):
        raise InputError(f'{source}: "hints" must be a list, such as {example}')
    return Hints(source, tuple(_hint(item, number, len(items), source) for number, item in enumerate(items, 1)))


def _hint(item: object, number: int, total: int, source: str) -> Hint:
    where = f"{source}: hint {number} of {total}"
    if not isinstance(item, dict):
        raise InputError(f'{where}: must be an object such as {{"x": 212, "y": 140, "color": "#a83226"}}')
    for key in item:
        if key not in HINT_KEYS:
            raise InputError(f'{where}: unknown key "{key}" (a hint has {", ".join(HINT_KEYS)})')
    for key in REQUIRED_KEYS:
        if key not in item:
            raise InputError(f'{where}: {key}: missing (every hint has "x", "y" and "color")')
    if "frame" in item and "time" in item:
        raise InputError(f"{where}: frame, time: both given; a hint starts at a frame or at a time, not both")
    x, y = (_count(item[key], f"{where}: {key}", "px of the displayed picture") for key in ("x", "y"))
    color = item["color"]
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        raise InputError(f'{where}: color: must be an sRGB colour "#rrggbb" such as "#a83226", not {json.dumps(color)}')
    radius = _number(item.get("radius", DEFAULT_RADIUS), f"{where}: radius", "px")
    frame = _count(item["frame"], f"{where}: frame", "a 0-based frame index") if "frame" in item else None
    time = _number(item["time"], f"{where}: time", "seconds") if "time" in item else None
    return Hint(number, x, y, color.lower(), *colour_ab(color), radius=radius, frame=frame, time=time)


def _count(value: object, where: str, unit: str) -> int:
    """A whole number of at least 0 (JSON's 12 or 12.0), else InputError."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: must be a whole number ({unit}), not {json.dumps(value)}")
    if value < 0:
        raise InputError(f"{where}: must be 0 or more ({unit}), not {value}")
    return value


def _number(value: object, where: str, unit: str) -> float:
    """A number of at least 0, else InputError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: must be a number ({unit}), not {json.dumps(value)}")
    if value < 0:
        raise InputError(f"{where}: must be 0 or more ({unit}), not {value:g}")
    return float(value)


def _no_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f'key "{key}" given twice in one object')
    return dict(pairs)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _stored(u: float, v: float, displayed: tuple[int, int], turns: int) -> tuple[float, float]:
    """(row, column) in the stored picture of the point `u` across, `v` down the displayed one
    (continuous pixel coordinates), where the displayed picture is np.rot90(stored, turns) (how
    the video path turns a picture with a display rotation upright); `displayed` is (height, width)."""
    height, width = displayed
    if turns == 1:
        return u, height - v
    if turns == 2:
        return height - v, width - u
    if turns == 3:
        return width - u, v
    return v, u


def hint_plane(
    hints: Sequence[Hint],
    displayed: tuple[int, int],
    shape: tuple[int, int],
    rows: slice = slice(None),
    columns: slice = slice(None),
    rotation: int = 0,
    scale: float = 110.0,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """The hint plane (3, h, w) float32 of `shape` (h, w) that a hinted model takes beside the L of
    a picture displayed at `displayed` (height, width) px: a / scale, b / scale and a mask of 1
    where a hint is, 0 elsewhere (`scale` is the model's ModelInfo.hint_scale).

    The plane covers `rows` x `columns` of the picture as stored (all of it by default; the
    picture inside black bars, bars.predict_picture), stored turned from how it is displayed by
    `rotation` degrees (a video's display rotation: np.rot90(stored, rotation // 90) is what is
    displayed), so it lines up with the L the model is given. Each hint covers the square of
    displayed pixels within `radius` of its point, scaled to the plane, and at least the plane's
    pixel under the point; a hint whose point lies outside the region is left out. `weights`, one
    per hint, are the mask's values instead of 1 (a hint fading out along a shot: hint_track).
    """
    turns = quarter_turns(rotation)
    stored = displayed if turns % 2 == 0 else displayed[::-1]
    top, bottom, _ = rows.indices(stored[0])
    left, right, _ = columns.indices(stored[1])
    down, across = shape[0] / (bottom - top), shape[1] / (right - left)  # plane px per stored px
    plane = np.zeros((HINT_PLANES, *shape), np.float32)
    for hint, weight in zip(hints, [1.0] * len(hints) if weights is None else weights):
        row, column = _stored(hint.x + 0.5, hint.y + 0.5, displayed, turns)
        row, column = (row - top) * down, (column - left) * across
        if not (0 <= row < shape[0] and 0 <= column < shape[1]):
            continue
        corners = [
            _stored(u, v, displayed, turns)
            for u in (hint.x - hint.radius, hint.x + hint.radius + 1)
            for v in (hint.y - hint.radius, hint.y + hint.radius + 1)
        ]
        ys = [(r - top) * down for r, _ in corners]
        xs = [(c - left) * across for _, c in corners]
        # the plane's pixels whose centres lie in the square, and the one under the point
        y0, y1 = min(math.ceil(min(ys) - 0.5), int(row)), max(math.ceil(max(ys) - 0.5), int(row) + 1)
        x0, x1 = min(math.ceil(min(xs) - 0.5), int(column)), max(math.ceil(max(xs) - 0.5), int(column) + 1)
        patch = (slice(max(0, y0), min(shape[0], y1)), slice(max(0, x0), min(shape[1], x1)))
        plane[(0, *patch)] = hint.a / scale
        plane[(1, *patch)] = hint.b / scale
        plane[(2, *patch)] = weight
    return plane


# How far a hint's colour reaches past the cells the model was told about (spread_hints): a
# Gaussian of this share of the picture's short side, and of this many L* across tones. Chosen on
# the calibration photos, never on the held-out ones (docs/hints.md, "Spreading what the network
# left out").
SPREAD_REACH = 0.4
SPREAD_TONE = 20.0


def spread_hints(
    ab: np.ndarray,
    lightness: np.ndarray,
    plane: np.ndarray,
    scale: float = 110.0,
    reach: float = SPREAD_REACH,
    tone: float = SPREAD_TONE,
) -> np.ndarray:
    """The model's ab (N, h, w, 2) moved onto the hints of its hint plane (N, 3, H, W) and, fading
    with distance and with difference in lightness (L* (N, H, W), the model's input), around them.

    The network follows hints only part of the way (it learnt them as a prior, Zhang et al.
    2017), so each hinted cell keeps what is left, its hint's ab less the model's, and that
    remainder spreads as a joint bilateral field: a cell at distance d with lightness difference
    dL takes exp(-d^2 / 2 (reach * short side)^2 - dL^2 / 2 tone^2) of it, normalised where
    several hints overlap. At a hint the result is the hint's colour (or that share of the way to
    it that is its weight along a shot: hint_track); across an edge in L* it falls off quickly; far
    away it is the model's. `scale` is the plane's ab scale (ModelInfo.hint_scale)."""
    import cv2

    n, h, w, _ = ab.shape
    out = ab.copy()
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    spatial = 2 * (reach * min(h, w)) ** 2
    for k in range(n):
        weight = plane[k, 2]
        if not weight.any():
            continue
        cover = cv2.resize((weight > 0).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        cells = np.flatnonzero(cover > 0)
        share = cover.ravel()[cells]  # of each cell the hints cover
        held = cv2.resize(weight, (w, h), interpolation=cv2.INTER_AREA).ravel()[cells] / share  # their weight
        wanted = np.stack(
            [
                cv2.resize(plane[k, c] * (weight > 0), (w, h), interpolation=cv2.INTER_AREA).ravel()[cells]
                for c in (0, 1)
            ],
            axis=-1,
        ) * (scale / share[:, None])
        tones = cv2.resize(lightness[k], (w, h), interpolation=cv2.INTER_AREA)
        remainder = wanted - out[k].reshape(-1, 2)[cells]
        near = (ys.ravel()[cells, None, None] - ys) ** 2 + (xs.ravel()[cells, None, None] - xs) ** 2
        alike = (tones.ravel()[cells, None, None] - tones) ** 2
        kernel = share[:, None, None] * np.exp(-near / spatial - alike / (2 * tone**2))  # (cells, h, w)
        field = np.einsum("chw,cz->hwz", kernel, remainder * held[:, None])
        field /= np.maximum(kernel.sum(axis=0), 1.0)[..., None]
        out[k] += field.astype(np.float32)
    return out
