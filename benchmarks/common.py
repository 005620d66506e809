"""What every benchmark records beside its numbers: when, on what machine, with which versions.

The machine, library versions and revision come from `vidcolor.provenance`, so these scripts and
`vidcolor bench` describe a run the same way; the ffmpeg command-line tool's version is added.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from vidcolor.provenance import git_revision, library_versions, machine

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm")


def video_clips(folder: Path, parser) -> list[Path]:
    """The video files in `folder`, sorted by name; `parser` (argparse) says so and exits if there are none."""
    clips = sorted(c for c in folder.iterdir() if c.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        parser.error(f"no video clips in {folder}")
    return clips


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict:
    try:
        ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        ffmpeg = "not installed"
    return {**library_versions(), "ffmpeg": ffmpeg}


def emit(record: dict, json_out: Path | None) -> None:
    """Prints the record as one JSON line, and appends it to `json_out` when given."""
    line = json.dumps({**record, "machine": machine(), "versions": versions(), "revision": git_revision() or "unknown"})
    print(line, flush=True)
    if json_out:
        with json_out.open("a") as f:
            f.write(line + "\n")


def write_with_chroma(clip: Path, out: Path, chroma: Callable[[np.ndarray], np.ndarray]) -> None:
    """The clip's first video stream losslessly (FFV1, 4:2:0): its Y plane as it is, its Cb and Cr
    rows (8-bit, below the Y rows of PyAV's yuv420p array) replaced by `chroma(rows)`, frame by frame."""
    with av.open(str(clip)) as inp, av.open(str(out), "w") as dst:
        source = inp.streams.video[0]
        stream = dst.add_stream("ffv1", rate=source.average_rate)
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        for frame in inp.decode(source):
            planes = frame.reformat(format="yuv420p").to_ndarray()  # (H * 3 / 2, W): Y rows, then Cb and Cr
            planes[frame.height :] = chroma(planes[frame.height :])
            written = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            written.color_range, written.colorspace = frame.color_range, frame.colorspace
            dst.mux(stream.encode(written))
        dst.mux(stream.encode(None))
