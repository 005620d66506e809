"""One file of a batch colorized, its failure caught and described: the unit that a local
batch (`vidcolor.batch`) and a Ray worker (`vidcolor.distributed`) both run."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .config import ColorizeOptions
from .errors import VidcolorError
from .progress import ProgressBar

log = logging.getLogger(__name__)

HINTS_SUFFIX = ".hints.json"  # a file's own colour hints, beside it: reel.mp4 -> reel.hints.json


def with_own_hints(src: Path, options: ColorizeOptions) -> ColorizeOptions:
    """The options for `src` of a batch: with its own hints file where one lies beside it."""
    own = src.with_name(src.stem + HINTS_SUFFIX)
    return replace(options, hints=own) if options.hints is None and own.is_file() else options


@dataclass
class Outcome:
    input: str
    output: str
    status: str  # "done", "skipped" (output already there) or "failed"
    frames: int = 0
    seconds: float = 0.0
    message: str = ""  # why it failed


def colorize_one(src: Path, dst: Path, options: ColorizeOptions, label: str | None = None) -> Outcome:
    """One video or image of a batch, its failure caught and described: the unit a worker runs."""
    from .image import colorize_image, picture_by_picture
    from .run import colorize

    outcome = Outcome(str(src), str(dst), "done")
    dst.parent.mkdir(parents=True, exist_ok=True)
    options = with_own_hints(src, options)
    bar = ProgressBar(src, label) if label else None
    started = time.perf_counter()
    try:
        if picture_by_picture(src, dst):
            outcome.frames = colorize_image(src, dst, options, progress=bar).frames
        else:
            # An interrupted video continues from its last checkpoint, so rerunning a batch loses nothing.
            outcome.frames = colorize(src, dst, replace(options, resume=True), progress=bar).frames
    except VidcolorError as e:
        outcome.status, outcome.message = "failed", str(e)
    except Exception as e:  # noqa: BLE001 - one bad reel must not stop the other thousand
        log.debug("unexpected failure on %s", src, exc_info=True)
        outcome.status, outcome.message = "failed", f"{type(e).__name__}: {e}"
    finally:
        if bar:
            bar.close()
    outcome.seconds = round(time.perf_counter() - started, 2)
    return outcome
