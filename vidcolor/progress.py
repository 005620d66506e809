"""The command line's progress bar: a frame counter that appears with the first frame."""

from __future__ import annotations

from pathlib import Path


class ProgressBar:
    """Callable as a `progress(frames_done)` callback. The bar is drawn from the first call on, so a
    run that fails before any frame prints only its error line."""

    def __init__(self, total_from: Path, label: str):
        self.total_from = total_from  # the video whose announced frame count is the bar's total
        self.label = label
        self._bar = None

    def __call__(self, frames: int) -> None:
        if self._bar is None:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            from .image import is_image, picture_count
            from .media import estimate_frames

            source = self.total_from
            total = picture_count(source) if is_image(source) else estimate_frames(source)
            self._bar = tqdm(total=total, unit="frame", dynamic_ncols=True, desc=self.label)
            # Warnings while the bar is drawn go above it, each on its own line; written to stderr
            # as they were, they ran on at the end of the bar's line.
            self._logging = logging_redirect_tqdm()
            self._logging.__enter__()
        self._bar.update(frames - self._bar.n)

    def close(self) -> None:
        """Ends the bar's line; calling it again does nothing."""
        if self._bar is not None:
            self._logging.__exit__(None, None, None)
            self._bar.close()
            self._bar = None
