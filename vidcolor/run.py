"""`colorize(src, dst)`: the whole run, as stages over frame batches (`vidcolor.stages`).

source (demux, decode) -> model (L -> ab) -> smoothing (ab along motion, reset at cuts) -> colour
(Cb/Cr planes, Y plane copied) -> segments, encoded in the caller's thread into the work folder
(see checkpoint.py). When every frame is written, the assembly muxes the segments and the
input's other streams (sound, subtitles), copied whole, into the output.

This module builds the stages from the options and hands them to the pipeline; `colorize_part`
and `assemble_parts` are the same run cut into parts of a long reel (`vidcolor batch --ray`).
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import av

from .checkpoint import Checkpoint, ResumePoint, work_dir
from .config import ColorizeOptions
from .containers import check_container, default_codec, frame_aspect
from .errors import EncodeError, InputError, reason
from .media import check_paths
from .model import file_sha256
from .pipeline import StageClock, run_inline, run_threaded
from .stages.assembly import Assembly
from .stages.colour import PASSAGE_GAP_SECONDS, PASSAGE_MIN_FRAMES, ColourStage
from .stages.context import Part, RunContext
from .stages.model import ModelStage
from .stages.segments import SegmentWriter
from .stages.smoothing import SmoothingStage
from .stages.source import Source
from .stats import RunStats

__all__ = ["Part", "assemble_parts", "colorize", "colorize_part"]

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass
class _Stages:
    """The stages of one run, in order; `smoothing` is None with --no-temporal."""

    source: Source
    model: ModelStage
    smoothing: SmoothingStage | None
    colour: ColourStage
    writer: SegmentWriter | None = None  # made once the checkpoint is open

    def restore(self, point: ResumePoint) -> None:
        """Each stage takes up the state an interrupted run had at the start of its next segment."""
        for stage in (self.source, self.model, self.smoothing, self.colour, self.writer):
            if stage is not None:
                stage.restore(point)

    def end(self) -> ResumePoint:
        """The run's state after its last frame, for the last segment."""
        stats = self.source.ctx.stats
        return replace(
            self.source.end(),
            smoothed=self.smoothing.smoothed if self.smoothing is not None else 0,
            cuts=list(stats.cuts),
            colour_passages=list(stats.colour_passages),
        )

    def close(self) -> None:
        self.source.close()
        if self.writer is not None:
            self.writer.abandon()


def _context(src: Path, dst: Path, options: ColorizeOptions, part: Part | None = None) -> RunContext:
    check_container(dst)
    if options.codec is None:
        options = replace(options, codec=default_codec(dst))
    stats = RunStats(input=str(src), output=str(dst), codec=options.codec, model=str(options.model))
    return RunContext(src, dst, options, stats, part)


def _stages(ctx: RunContext) -> _Stages:
    """The run's stages before the checkpoint (the model loaded: a model that cannot be had fails
    here, before a work folder is made)."""
    if ctx.part is not None and ctx.options.hints is not None:
        raise InputError(f"{ctx.src}: hints are carried along the whole reel, which is not cut into parts")
    source = Source(ctx, ctx.options.decoder)
    try:
        model = ModelStage(ctx, source)
    except BaseException:
        source.close()
        raise
    smoothing = SmoothingStage(ctx) if ctx.options.temporal else None
    colour = ColourStage(ctx, model.colour_device, frame_aspect(source.video, ctx.options.codec))
    return _Stages(source, model, smoothing, colour)


def _checkpoint_key(ctx: RunContext) -> dict:
    """What a resumed run must share with the interrupted one: the input and every option that
    changes the output (not the device or the threads, so a run can move to another machine)."""
    options, src, part = ctx.options, ctx.src, ctx.part
    info = src.stat()
    return {
        "part": None if part is None else [part.index, part.start, part.end],
        "input": str(src.resolve()),
        "input_size": info.st_size if src.is_file() else len(list(src.iterdir())),
        "input_mtime_ns": info.st_mtime_ns,
        "model_sha256": file_sha256(options.model),
        "codec": options.codec,
        "encoder_options": options.encoder_options(),
        "pixel_format": options.pixel_format,
        "temporal_strength": options.temporal_strength if options.temporal else None,
        "deflicker": options.deflicker and options.temporal,
        "render_size": options.render_size,
        "saturation": options.saturation,
        "frame_rate": str(options.frame_rate) if options.frame_rate else None,
        "batch_size": options.batch_size,
        "segment_seconds": options.segment_seconds,
    }


def _assemble(ctx: RunContext, source: Source, paths: list[Path], temp: Path) -> None:
    if ctx.rotation is None:  # no frame was decoded in this process (every segment was done)
        ctx.rotation = source.first_rotation()
    Assembly(ctx, source.video).assemble(paths, temp)


def colorize(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    options: ColorizeOptions | None = None,
    progress: Progress | None = None,
    **overrides,
) -> RunStats:
    """Colorize the video `src` into `dst`; returns what the run did.

    Options come as a ColorizeOptions, or as its fields by keyword (`colorize(a, b, codec="ffv1")`).
    `dst` appears only when the run succeeds. Until then the run's finished segments are kept in a
    work folder beside it (checkpoint.work_dir): `resume=True` continues an interrupted run from
    there. `progress(frames_done)` is called after every batch.
    """
    options = replace(options or ColorizeOptions(), **overrides)
    src, dst = Path(src), Path(dst)
    check_paths(src, dst, options.overwrite)
    started = time.perf_counter()
    ctx = _context(src, dst, options)
    stages = _stages(ctx)
    clock = StageClock()
    checkpoint = temp = None
    fresh = not work_dir(dst).exists()  # a work folder this run makes, and removes if it stops with nothing in it
    try:
        checkpoint = Checkpoint.start(work_dir(dst), _checkpoint_key(ctx), ctx.options.resume, options.overwrite)
        _process(stages, checkpoint, progress, clock, started)
        temp = checkpoint.folder / f"output.part{dst.suffix}"
        _assemble(ctx, stages.source, checkpoint.paths(), temp)
        os.replace(temp, dst)
        checkpoint.remove()
        _warn_damage(ctx.stats)
        _report_colour_passages(ctx.stats)
    except av.FFmpegError as e:
        raise EncodeError(f"{dst}: writing failed ({reason(e)})") from e
    finally:
        _close(stages, checkpoint, temp)
        if checkpoint is None and fresh:
            # Stopped (Ctrl-C, SIGTERM) between making the work folder and taking it up: it is empty.
            shutil.rmtree(work_dir(dst), ignore_errors=True)
    return _finish(ctx.stats, started, clock)


def colorize_part(src: str | os.PathLike, dst: str | os.PathLike, options: ColorizeOptions, part: Part) -> RunStats:
    """Colorizes one Part of `src` into segments in the work folder of `dst` (a worker's share of
    a long reel); `assemble_parts` makes `dst` once every part is done. A part already done returns
    at once, and one interrupted continues where it stopped."""
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    ctx = _context(src, dst, options, part)
    stages = _stages(ctx)
    clock = StageClock()
    checkpoint = None
    try:
        folder = work_dir(dst) / part.folder_name
        checkpoint = Checkpoint.start(folder, _checkpoint_key(ctx), True, options.overwrite)
        _process(stages, checkpoint, None, clock, started)
    except av.FFmpegError as e:
        raise EncodeError(f"{dst}: writing part {part.index} failed ({reason(e)})") from e
    finally:
        _close(stages, checkpoint, None)
    return _finish(ctx.stats, started, clock)


def assemble_parts(
    src: str | os.PathLike, dst: str | os.PathLike, options: ColorizeOptions, parts: list[Part]
) -> RunStats:
    """Joins the finished parts of `src` (colorize_part) into `dst`, with the input's sound and
    subtitles; frame indices of cuts are counted over the whole reel."""
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    ctx = _context(src, dst, options)
    stats = ctx.stats
    # Nothing is decoded but a first frame: the CPU does.
    source = Source(ctx, "cpu")
    temp = work_dir(dst) / f"output.part{dst.suffix}"
    try:
        paths: list[Path] = []
        for part in parts:
            key = _checkpoint_key(replace(ctx, part=part))
            checkpoint = Checkpoint.finished(work_dir(dst) / part.folder_name, key)
            end = checkpoint.resume
            stats.cuts += [{**cut, "frame": cut["frame"] + stats.frames} for cut in end.cuts]
            stats.colour_passages += [
                {**p, "first_frame": p["first_frame"] + stats.frames, "last_frame": p["last_frame"] + stats.frames}
                for p in end.colour_passages
            ]
            stats.frames += end.frames
            stats.damaged_packets += end.damaged_packets
            stats.repaired_timestamps += end.repaired_timestamps
            stats.resized_frames += end.resized_frames
            stats.timestamp_jumps += end.timestamp_jumps
            paths += checkpoint.paths()
        source.decoded, source.last_pts = stats.frames, end.last_pts
        stats.colour_passages = _merged_passages(stats.colour_passages)
        stats.missing_frames = source.missing_frames()
        _assemble(ctx, source, paths, temp)
        os.replace(temp, dst)
        shutil.rmtree(work_dir(dst), ignore_errors=True)
        _warn_damage(stats)
        _report_colour_passages(stats)
    except av.FFmpegError as e:
        raise EncodeError(f"{dst}: joining the parts failed ({reason(e)})") from e
    finally:
        source.close()
        temp.unlink(missing_ok=True)
    return _finish(stats, started, StageClock())


def _report_colour_passages(stats: RunStats) -> None:
    """Keeps the passages of PASSAGE_MIN_FRAMES or more in the stats, and names them in one warning
    unless one passage is nearly the whole reel (a colour film: said as it began, from its first frames)."""
    passages = [p for p in stats.colour_passages if p["last_frame"] - p["first_frame"] + 1 >= PASSAGE_MIN_FRAMES]
    stats.colour_passages = passages
    if not passages or max(p["last_frame"] - p["first_frame"] + 1 for p in passages) >= 0.9 * stats.frames:
        return
    shown = ", ".join(f"{_clock(p['start'])}-{_clock(p['end'])}" for p in passages[:5])
    more = f" and {len(passages) - 5} more" if len(passages) > 5 else ""
    frames = sum(p["last_frame"] - p["first_frame"] + 1 for p in passages)
    log.warning(
        "%s: %d frames at %s%s are in colour of their own (different colours at one brightness: not a tint "
        "or a tone); their colour is replaced by the model's too, the luma kept",
        stats.input, frames, shown, more,
    )  # fmt: skip


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{int(minutes)}:{seconds:04.1f}"


def _merged_passages(passages: list[dict]) -> list[dict]:
    """Passages in order, those less than PASSAGE_GAP_SECONDS apart made one (across parts' joins)."""
    merged: list[dict] = []
    for passage in passages:
        if merged and passage["start"] - merged[-1]["end"] <= PASSAGE_GAP_SECONDS:
            merged[-1].update(last_frame=passage["last_frame"], end=passage["end"])
        else:
            merged.append(dict(passage))
    return merged


def _warn_damage(stats: RunStats) -> None:
    """One warning for a damaged input, with the counts (also in the stats)."""
    if stats.damaged_packets or stats.missing_frames:
        damage = []
        if stats.damaged_packets:
            damage.append(f"{stats.damaged_packets} damaged video packets could not be decoded")
        if stats.missing_frames:
            damage.append(f"about {stats.missing_frames} frames are missing from its end (the file is cut short)")
        log.warning(
            "%s: %s; the %d frames that decoded are kept with their timestamps",
            stats.input,
            " and ".join(damage),
            stats.frames,
        )


def _process(
    stages: _Stages, checkpoint: Checkpoint, progress: Progress | None, clock: StageClock, started: float
) -> None:
    """Runs the stages from the checkpoint on, until every frame is in a finished segment; notes
    when the first batch was written (`started`: the run's start on the perf_counter clock)."""
    ctx = stages.source.ctx
    stages.writer = SegmentWriter(ctx, stages.source, checkpoint, stages.end)
    if checkpoint.resume is not None:
        stages.restore(checkpoint.resume)
    if checkpoint.complete:
        return
    stages.writer.open()  # fails here, before any work, if the container or encoder cannot be had
    chain = [("decode", stages.source.batches), ("model", stages.model)]
    if stages.smoothing is not None:
        chain.append(("temporal", stages.smoothing))
    chain += [("colour", stages.colour), ("encode", stages.writer)]
    done = run_threaded(chain, clock=clock) if ctx.options.threaded else run_inline(chain, clock)
    try:
        for frames in done:
            if not ctx.stats.first_batch_seconds:
                ctx.stats.first_batch_seconds = time.perf_counter() - started
                ctx.stats.first_batch_frames = frames
            if progress:
                progress(frames)
    finally:
        done.close()


def _close(stages: _Stages, checkpoint: Checkpoint | None, temp: Path | None) -> None:
    stages.close()
    if temp is not None:
        temp.unlink(missing_ok=True)
    if checkpoint is not None and not checkpoint.segments:
        checkpoint.remove()  # nothing worth resuming


def _finish(stats: RunStats, started: float, clock: StageClock) -> RunStats:
    stats.wall_seconds = time.perf_counter() - started
    stats.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB
    stats.busy_seconds = {k: round(v, 6) for k, v in clock.busy.items()}
    return stats
