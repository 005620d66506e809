"""vidcolor: colorize black-and-white video, keeping the luma, the sound and the timing."""

from __future__ import annotations

__version__ = "0.1.0"

from .config import ColorizeOptions
from .errors import EncodeError, InputError, ModelError, OutputError, VidcolorError
from .run import colorize
from .stats import RunStats

__all__ = [
    "ColorizeOptions",
    "EncodeError",
    "InputError",
    "ModelError",
    "OutputError",
    "RunStats",
    "VidcolorError",
    "colorize",
]
