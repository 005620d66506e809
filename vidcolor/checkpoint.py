"""A run's progress on disk, so an interrupted run continues instead of starting over.

A run writes its colorized video as closed segments (each encoded on its own, starting with a
keyframe) into a hidden work folder beside OUTPUT (`.NAME.vidcolor/`). When a segment is complete it is
renamed into place and the manifest is rewritten (atomically) with where the next segment starts
and the run's state there: frame count, timestamp repair, scene cuts and the temporal smoother's
state. A resumed run seeks the input to the keyframe before that frame, decodes up to it,
restores the state and goes on, so its
frames and timestamps are those of a run that was never stopped. The last step remuxes the
segments, with the input's sound and subtitles copied whole, into OUTPUT; then the folder goes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .errors import OutputError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def work_dir(dst: Path) -> Path:
    """The work folder of a run writing `dst`: hidden, beside it, so renames stay on one file system."""
    return dst.with_name(f".{dst.name}.vidcolor")


@dataclass
class ResumePoint:
    """Where a segment starts, and the run's state just before its first frame."""

    frames: int  # frames decoded (and written) before it
    seek_pts: int | None  # the input pts of its first frame (None: the input has no timestamps there)
    last_pts: int | None  # pts of the frame before it, as written (after any repair)
    damaged_packets: int = 0
    repaired_timestamps: int = 0
    smoothed: int = 0  # frames through the temporal stage before it
    cuts: list[dict] = field(default_factory=list)
    colour_passages: list[dict] = field(default_factory=list)  # of the input in colour of its own, before it
    missing_frames: int = 0  # at the end of a run: frames the input announces but does not hold
    resized_frames: int = 0  # frames of another size than the reel's, scaled to it
    timestamp_jumps: int = 0  # times the video's clock started again before it
    last_source_pts: int | None = None  # the input pts of the frame before it (before any repair)
    temporal: dict[str, np.ndarray] | None = None  # TemporalSmoother.state() before its first frame
    exposure: list[float] = field(default_factory=list)  # ExposureSteadier.state() before its first frame
    hints: dict = field(default_factory=dict)  # HintTrack.state() before its first frame (its arrays: in temporal)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "temporal"}


@dataclass
class Segment:
    name: str  # file name in the work folder
    frames: int


class Checkpoint:
    """The work folder of one run: finished segments and the manifest saying how to go on."""

    def __init__(self, folder: Path, key: dict):
        self.folder = folder
        self.key = key  # what must match for a resume: the input file and every option that changes the output
        self.segments: list[Segment] = []
        self.resume: ResumePoint | None = None  # where the next segment starts (or the run ended); None at first
        self.complete = False  # every frame is in the segments

    @classmethod
    def start(cls, folder: Path, key: dict, resume: bool, overwrite: bool) -> Checkpoint:
        """The checkpoint in `folder`: a fresh one, or the saved one when resuming.

        An earlier run's work folder is continued with `resume`, discarded with `overwrite` (also
        when it was made with other settings), and otherwise refused, so an interrupted run's work
        is never thrown away by accident.
        """
        checkpoint = cls(folder, key)
        if folder.exists():
            if resume:
                try:
                    if checkpoint._load():
                        log.info("%s: resuming after %d frames", folder, checkpoint.frames)
                        return checkpoint
                    log.warning("%s: no readable manifest; starting from the beginning", folder)
                except OutputError:
                    if not overwrite:
                        raise
            elif not overwrite:
                raise OutputError(
                    f"an interrupted run left its work in {folder}; pass --resume to continue it, "
                    "or --overwrite to start over"
                )
            shutil.rmtree(folder)
        elif resume:
            log.info("%s: no interrupted run to resume; starting from the beginning", folder)
        try:
            folder.mkdir(parents=True)
        except OSError as e:
            raise OutputError(f"{folder}: cannot create the work folder ({e.strerror})") from e
        return checkpoint

    @classmethod
    def finished(cls, folder: Path, key: dict) -> Checkpoint:
        """The checkpoint in `folder` of a run that wrote every frame; OutputError if there is none."""
        checkpoint = cls(folder, key)
        if not folder.is_dir() or not checkpoint._load() or not checkpoint.complete:
            raise OutputError(f"{folder}: not finished")
        return checkpoint

    def _load(self) -> bool:
        """Reads the manifest; False when there is nothing usable (then the run starts over)."""
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return False
        saved = manifest.get("key", {})
        if saved != self.key:
            changed = ", ".join(
                f"{k}: {saved.get(k)!r} then, {self.key.get(k)!r} now"
                for k in sorted(set(saved) | set(self.key))
                if saved.get(k) != self.key.get(k)
            )
            raise OutputError(
                f"{self.folder}: the interrupted run had another input or other settings ({changed}); "
                "resume with the same ones, or pass --overwrite to start over"
            )
        self.segments = [Segment(**s) for s in manifest["segments"]]
        self.complete = manifest.get("complete", False)
        point = dict(manifest["resume"])
        state = point.pop("state", None)
        self.resume = ResumePoint(**point)
        listed = {s.name for s in self.segments} | {MANIFEST}
        if state:
            listed.add(state)
            with np.load(self.folder / state) as saved:
                self.resume.temporal = {name: saved[name] for name in saved.files}
        for path in self.folder.iterdir():
            if path.name not in listed:  # a segment or output cut off mid-write
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return True

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    def segment_name(self, suffix: str) -> str:
        return f"segment-{len(self.segments):06d}{suffix}"

    def part_path(self, name: str) -> Path:
        """Where a segment is written until it is complete."""
        return self.folder / f"{Path(name).stem}.part{Path(name).suffix}"

    def commit(self, name: str, frames: int, point: ResumePoint, complete: bool) -> None:
        """Records a finished segment (written at part_path(name)) and the state after it: where the
        next one starts or, when `complete`, the end of the run."""
        os.replace(self.part_path(name), self.folder / name)
        self.segments.append(Segment(name, frames))
        self.resume, self.complete = point, complete
        saved, state = point.to_dict(), None
        if point.temporal and not complete:
            # Named by segment, so that the manifest on disk always names the state that goes with it.
            state = f"temporal-{len(self.segments):06d}.npz"
            part = self.folder / f"{Path(state).stem}.part.npz"  # np.savez keeps a .npz suffix
            np.savez(part, **point.temporal)
            os.replace(part, self.folder / state)
        saved["state"] = state
        manifest = {
            "format": FORMAT_VERSION,
            "vidcolor": __version__,
            "key": self.key,
            "segments": [asdict(s) for s in self.segments],
            "resume": saved,
            "complete": complete,
        }
        part = self.folder / f"{MANIFEST}.part"
        with open(part, "w") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, self.folder / MANIFEST)
        for old in self.folder.glob("temporal-*.npz"):
            if old.name != state:
                old.unlink()

    def paths(self) -> list[Path]:
        return [self.folder / s.name for s in self.segments]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
