"""vidcolor: colorize black-and-white video, keeping the luma, the sound and the timing."""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path

from .config import ColorizeOptions
from .errors import EncodeError, InputError, ModelError, OutputError, VidcolorError
from .run import colorize
from .stats import RunStats


def sample_path() -> Path:
    """The black-and-white sample installed with vidcolor: 4.8 s of a Chaplin street scene with its music
    (640x360, 25 fps, H.264 + AAC; its source and licence in samples/PROVENANCE.md beside it)."""
    return Path(__file__).with_name("samples") / "chaplin_street_excerpt.mp4"


__all__ = [
    "ColorizeOptions",
    "EncodeError",
    "InputError",
    "ModelError",
    "OutputError",
    "RunStats",
    "VidcolorError",
    "colorize",
    "sample_path",
]
