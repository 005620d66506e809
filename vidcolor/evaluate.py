"""`vidcolor eval REFERENCE CANDIDATE`: a colorized video scored against the true colour video.

Fidelity per frame (PSNR, SSIM), colourfulness, and two measures of temporal consistency:
colour distribution consistency (CDC, Liu et al. 2021, "Temporally Consistent Video Colorization
with Deep Feature Propagation and Self-regularization Learning") and warp error (Lai et al. 2018,
"Learning Blind Video Temporal Consistency"). Both videos are decoded together, frame by frame in
decode order; only the few recent frames the temporal measures need are kept.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from .consistency import FLOW_MAX_SIDE, ColourConsistency, ReferenceFlow, warp_error
from .errors import InputError, VidcolorError, reason
from .media import open_input, video_stream
from .metrics import colorfulness, psnr, ssim
from .progress import ProgressBar

log = logging.getLogger(__name__)

PSNR_CAP_DB = 100.0  # a frame's PSNR when it equals its reference (otherwise infinite); keeps JSON standard

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass(frozen=True)
class VideoScores:
    """What `vidcolor eval` measures. Means run over the frames (or frame pairs) both videos have."""

    reference: str  # path of the true colour video
    candidate: str  # path of the video scored against it
    frames: int  # frame pairs compared: the first min(frames_reference, frames_candidate) in decode order
    frames_reference: int  # frames decoded from each file; they differ only when the lengths do
    frames_candidate: int
    psnr: float  # dB over R'G'B' in [0, 1]; a frame equal to its reference counts as PSNR_CAP_DB, not inf
    ssim: float  # vidcolor.metrics.ssim, computed in float32
    colorfulness: float  # Hasler & Suesstrunk (2003), 0-255 scale, of the candidate
    colorfulness_reference: float
    cdc: float  # colour distribution consistency of the candidate alone, JS divergence in bits; lower is steadier
    cdc_reference: float
    warp_error: float  # Lai et al. (2018) along the reference's flow, in [0, 1]^2 units; lower is steadier
    warp_error_reference: float
    # The same warp error on CIE a*b* only (ab units squared): the luma term, which a colorizer that
    # keeps the input's luma shares with the reference and with a grey video, left out.
    warp_error_ab: float
    warp_error_ab_reference: float

    def to_dict(self) -> dict:
        """The scores as plain JSON types; a measure that could not be taken (too few frames) is None."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


# -- both videos together -----------------------------------------------------------------------


class _Totals:
    """Running sums over frame pairs, turned into VideoScores at the end."""

    def __init__(self, width: int, height: int) -> None:
        self.frames = 0
        self.psnr = self.ssim = self.colorfulness = self.colorfulness_reference = 0.0
        self.cdc, self.cdc_reference = ColourConsistency(), ColourConsistency()
        self.flow = ReferenceFlow(width, height)
        self.warp: list[float] = []
        self.warp_reference: list[float] = []
        self.warp_ab: list[float] = []
        self.warp_ab_reference: list[float] = []
        # The last frame pair: luma, reference, candidate, and the a*b* of both (each converted once).
        self._previous: tuple[np.ndarray, ...] | None = None

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        """Takes the next pair of (H, W, 3) uint8 frames."""
        truth = reference.astype(np.float32) / 255
        ours = candidate.astype(np.float32) / 255
        self.psnr += min(float(psnr(ours, truth)), PSNR_CAP_DB)
        self.ssim += ssim(ours, truth, dtype=np.float32)
        self.colorfulness += colorfulness(ours)
        self.colorfulness_reference += colorfulness(truth)
        self.cdc.add(candidate)
        self.cdc_reference.add(reference)
        luma = self.flow.luma(reference)
        truth_ab, ours_ab = _ab(truth), _ab(ours)
        if self._previous is not None:
            luma_before, truth_before, ours_before, truth_ab_before, ours_ab_before = self._previous
            where = self.flow.correspondence(luma_before, luma)
            self.warp.append(warp_error(ours_before, ours, where))
            self.warp_reference.append(warp_error(truth_before, truth, where))
            self.warp_ab.append(warp_error(ours_ab_before, ours_ab, where))
            self.warp_ab_reference.append(warp_error(truth_ab_before, truth_ab, where))
        self._previous = luma, truth, ours, truth_ab, ours_ab
        self.frames += 1

    def scores(self, reference: Path, candidate: Path, frames_reference: int, frames_candidate: int) -> VideoScores:
        n = self.frames
        return VideoScores(
            reference=str(reference),
            candidate=str(candidate),
            frames=n,
            frames_reference=frames_reference,
            frames_candidate=frames_candidate,
            psnr=self.psnr / n,
            ssim=self.ssim / n,
            colorfulness=self.colorfulness / n,
            colorfulness_reference=self.colorfulness_reference / n,
            cdc=self.cdc.value(),
            cdc_reference=self.cdc_reference.value(),
            warp_error=_nanmean(self.warp),
            warp_error_reference=_nanmean(self.warp_reference),
            warp_error_ab=_nanmean(self.warp_ab),
            warp_error_ab_reference=_nanmean(self.warp_ab_reference),
        )


def _ab(rgb: np.ndarray) -> np.ndarray:
    """CIE a*, b* (H, W, 2) of an (H, W, 3) float32 R'G'B' frame in [0, 1]."""
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 1:])


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")


def _decoded(path: Path) -> Iterator[av.VideoFrame]:
    """The first video stream's frames in decode order; PyAV errors become InputError with the path."""
    container = open_input(path)
    try:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"  # frame threading in the decoder
        yield from container.decode(stream)
    except av.FFmpegError as e:
        raise InputError(f"{path}: cannot decode the video ({reason(e)})") from e
    finally:
        container.close()


def evaluate_videos(
    reference: str | Path, candidate: str | Path, progress: Callable[[int], None] | None = None
) -> VideoScores:
    """Scores `candidate` against the true colour video `reference`, frame by frame in decode order.

    Both must have the same frame size (InputError otherwise). When the frame counts differ, the
    common prefix is compared and a warning is logged. `progress(frames)` is called after each pair.
    """
    reference, candidate = Path(reference), Path(candidate)
    _check_file(reference)
    _check_file(candidate)
    references, candidates = _decoded(reference), _decoded(candidate)
    try:
        truth, ours = next(references, None), next(candidates, None)
        for path, frame in ((reference, truth), (candidate, ours)):
            if frame is None:
                raise InputError(f"{path}: no video frames could be decoded")
        totals = _Totals(truth.width, truth.height)
        clock = _PairClock(truth, ours)
        while truth is not None and ours is not None:
            if (truth.width, truth.height) != (ours.width, ours.height):
                raise InputError(
                    f"frame sizes differ at frame {totals.frames}: {reference} is {truth.width}x{truth.height}, "
                    f"{candidate} is {ours.width}x{ours.height}; scale the candidate to the reference's size"
                )
            apart = clock.apart(truth, ours)
            if apart is not None:
                raise InputError(
                    f"frame {totals.frames} is at {apart[0]:.3f} s in {reference} and at {apart[1]:.3f} s in "
                    f"{candidate} (from each video's first frame): another frame rate, or frames missing from one; "
                    "frames are compared in order, so they must show the same moments"
                )
            totals.add(truth.to_ndarray(format="rgb24"), ours.to_ndarray(format="rgb24"))
            if progress:
                progress(totals.frames)
            truth, ours = next(references, None), next(candidates, None)
        # Count what is left of the longer video; one of these is 0.
        frames_reference = totals.frames + (truth is not None) + sum(1 for _ in references)
        frames_candidate = totals.frames + (ours is not None) + sum(1 for _ in candidates)
    finally:
        references.close()
        candidates.close()
    if frames_reference != frames_candidate:
        log.warning(
            "%s has %d frames and %s has %d; compared the first %d",
            reference,
            frames_reference,
            candidate,
            frames_candidate,
            totals.frames,
        )
    return totals.scores(reference, candidate, frames_reference, frames_candidate)


class _PairClock:
    """Checks that the frames paired in decode order show the same moment: their times from each
    video's first frame agree to within half the reference's frame interval. A candidate at
    another frame rate (or one that lost a frame) was scored against other moments of the
    reference, without a word."""

    def __init__(self, truth: av.VideoFrame, ours: av.VideoFrame):
        self.starts = (_time(truth), _time(ours))
        self.previous: float | None = None  # the reference's last frame time, for its interval
        self.interval: float | None = None

    def apart(self, truth: av.VideoFrame, ours: av.VideoFrame) -> tuple[float, float] | None:
        """(reference time, candidate time) in seconds where they disagree, else None."""
        times = (_time(truth), _time(ours))
        if None in times or None in self.starts:
            return None
        times = (times[0] - self.starts[0], times[1] - self.starts[1])
        if self.previous is not None and self.interval is None and times[0] > self.previous:
            self.interval = times[0] - self.previous
        self.previous = times[0]
        if self.interval is not None and abs(times[0] - times[1]) > self.interval / 2:
            return times
        return None


def _time(frame: av.VideoFrame) -> float | None:
    return float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None


# -- command line -------------------------------------------------------------------------------

_EPILOG = f"""\
metrics (means over frames, or over frame pairs for the temporal ones):
  psnr          dB over R'G'B' in [0, 1]; a frame identical to the reference counts as
                {PSNR_CAP_DB:g} dB (not infinity), so identical videos score exactly {PSNR_CAP_DB:g}
  ssim          SSIM (Gaussian window 11x11, sigma 1.5), mean over pixels and channels
  colorfulness  Hasler & Suesstrunk (2003), 0-255 scale; 0 for grey
  cdc           colour distribution consistency (Liu et al. 2021): Jensen-Shannon divergence
                (log base 2, in [0, 1]) of the 256-bin R, G, B histograms of frames t and t+d,
                averaged over channels and t, then over d in {{1, 2, 4}}; of each video alone
  warp_error    Lai et al. (2018): frame t+1 warped back to t along the reference's DIS optical
                flow (medium preset, long side <= {FLOW_MAX_SIDE} px), squared error over pixels that
                pass a forward-backward occlusion test, in [0, 1]^2 units; same flow for both videos
  warp_error_ab the same on CIE a*, b* only (ab units^2): colour flicker without the luma term
  Frames are paired in decode order and must show the same moments (times from each video's
  first frame within half a frame; another frame rate is an error); if the lengths differ, the
  common prefix is compared (with a warning). A value that needs more frames than there are is
  n/a (null in JSON).

exit codes: 0 done; 1 failed (missing or unreadable file, frame sizes or times differ); 2 usage; 130 interrupted.
"""

# (key in VideoScores, label, number format)
_TABLE = (
    ("psnr", "psnr (dB)", ".3f"),
    ("ssim", "ssim", ".5f"),
    ("colorfulness", "colorfulness", ".3f"),
    ("cdc", "cdc", ".6f"),
    ("warp_error", "warp_error", ".6f"),
    ("warp_error_ab", "warp_error_ab", ".4f"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidcolor eval",
        description="Score a colorized video against the true colour video:\n"
        "fidelity, colourfulness and temporal consistency (flicker).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("reference", type=Path, help="the true colour video")
    p.add_argument("candidate", type=Path, help="the video to score (colorized, per-frame or grey), same frame size")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, errors only")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _cell(value: float, fmt: str) -> str:
    return "n/a" if math.isnan(value) else format(value, fmt)


def format_table(scores: VideoScores) -> str:
    """The readable report: one row per metric, the candidate's value and the reference's own."""
    rows = [f"{'metric':<14}{'candidate':>14}{'reference':>14}"]
    for key, label, fmt in _TABLE:
        own = getattr(scores, f"{key}_reference", None)
        rows.append(f"{label:<14}{_cell(getattr(scores, key), fmt):>14}{'' if own is None else _cell(own, fmt):>14}")
    frames = f"{scores.frames} frames compared"
    if scores.frames_reference != scores.frames_candidate:
        frames += f" (reference {scores.frames_reference}, candidate {scores.frames_candidate})"
    return "\n".join([*rows, frames])


def main(argv: list[str] | None = None) -> int:
    """`vidcolor eval`; exit codes as in the epilog."""
    args = _parser().parse_args(argv)
    level = logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="vidcolor: %(levelname)s: %(message)s")
    bar = ProgressBar(args.reference, args.candidate.name)

    try:
        scores = evaluate_videos(args.reference, args.candidate, progress=None if args.quiet else bar)
        bar.close()
        print(json.dumps(scores.to_dict(), indent=2, allow_nan=False) if args.json else format_table(scores))
        return EXIT_OK
    except VidcolorError as e:
        bar.close()  # the message on a line of its own, not at the end of the bar's
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bar.close()
        print("vidcolor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
