"""The exceptions vidcolor raises; each also inherits the built-in it is a kind of."""

from __future__ import annotations


class VidcolorError(Exception):
    """Base class: a failure the CLI reports as one line, without a traceback."""


class InputError(VidcolorError, ValueError):
    """The input is missing, unreadable, not media, or has no video stream."""


class OutputError(VidcolorError, OSError):
    """The output cannot be written: it exists, is the input, or its folder is missing or read-only."""


class ModelError(VidcolorError, RuntimeError):
    """The model file is missing, is not a vidcolor model, or fails its checks."""


class EncodeError(VidcolorError, RuntimeError):
    """The encoder or muxer refused the requested settings or failed while writing."""


class DecodeDeviceError(VidcolorError, RuntimeError):
    """Decoding on the GPU was asked for and no CUDA device could be opened for it."""


def reason(e: BaseException) -> str:
    """What went wrong, in words: an FFmpeg or OS error's own text without its error number
    ("Invalid data found when processing input", not "[Errno 1094995529] Invalid data ...")."""
    text = getattr(e, "strerror", None)
    return text if isinstance(text, str) and text else str(e)
