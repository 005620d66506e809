"""`colorize(src, dst)`: the whole job, as stages over frame batches.

decode (demux, decode) -> model (L -> ab) -> temporal (ab smoothed along motion, reset at cuts)
-> colour (Cb/Cr planes, Y plane copied) -> encode, here in the caller's thread, into segments
(see checkpoint.py). When every frame is written, the segments and
the input's other streams (sound, subtitles), copied whole, are muxed into the output.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import math
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import av.bitstream
import numpy as np
from av.video.frame import PictureType

from .backends import RuntimeRequest, cuda_device_count, load_colorizer
from .bars import Box, predict_picture
from .checkpoint import Checkpoint, ResumePoint, work_dir
from .chroma import chroma_planes, own_colour, render_lightness
from .colour import COLOUR_FRAME_CODES, chroma_codes, colour_input_warning
from .config import ColorizeOptions
from .containers import (
    ANNEXB_CONTAINERS,
    ANNEXB_FILTERS,
    check_container,
    default_codec,
    field_coding,
    format_options,
    frame_aspect,
    is_slot_container,
    keep_pixel_aspect,
    lost_pixel_aspect,
    open_output,
    output_time_base,
    remuxed_container,
    segment_suffix,
    setup_video_stream,
)
from .errors import EncodeError, InputError, reason
from .exposure import ExposureSteadier
from .formats import PlanarFormat, matrix_name, output_format, planar_format, plane_array
from .media import (
    TS_DISCONT,
    check_paths,
    convert_subtitle,
    copy_video_metadata,
    decoded_on,
    describe_stream,
    frame_rate,
    goes_back,
    is_subtitle_gap,
    open_input,
    plan_streams,
    quarter_turns,
    set_decode_threads,
    video_stream,
)
from .model import file_sha256, read_info
from .pipeline import StageClock, run_inline, run_threaded
from .stats import RunStats
from .temporal import TemporalSmoother
from .torch_colour import TorchChroma, colour_device_for

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


# Frames in colour of their own less than this far apart make one passage; passages of fewer frames
# than PASSAGE_MIN_FRAMES are not reported (a flash, a frame of noise).
PASSAGE_GAP_SECONDS = 1.0
PASSAGE_MIN_FRAMES = 12
BYTES_PER_BATCH = 8 * 1920 * 1080 * 3 // 2  # a batch holds at most eight 8-bit 4:2:0 1080p frames' bytes (or one frame)
WARMUP_FORGOTTEN = 0.01  # a part's smoother may lack this share of a whole run's memory at its start (see Part)


def warmup_seconds(strength: float, rate: float) -> float:
    """Video run through the smoother before a part of a reel, unwritten: enough frames that what
    the smoother would remember from before them weighs at most WARMUP_FORGOTTEN (strength**frames)."""
    if strength <= 0:
        return 0.0
    return math.ceil(math.log(WARMUP_FORGOTTEN) / math.log(strength)) / rate


@dataclass(frozen=True)
class Part:
    """The frames of a long reel with times in [start, end) seconds, colorized on their own (on
    another machine) into the reel's work folder; `assemble_parts` joins the parts.

    The smoother is warmed up on the `warmup_seconds` before `start`, so colour carried along the
    motion does not restart at the join (it differs from one whole run only by what the smoother
    remembers from earlier than that: strength**frames, 1% by construction; 0.98**228 = 9.5 s at 24 fps)."""

    index: int
    start: float  # part 0 starts with the reel, whatever its first timestamp
    end: float | None  # None: to the end of the reel

    @property
    def folder_name(self) -> str:
        return f"part-{self.index:04d}"


@dataclass
class FrameItem:
    frame: av.VideoFrame  # decoded input frame, planar Y'CbCr or grey
    fmt: PlanarFormat
    lightness: np.ndarray | None = None  # (H, W) L* at render size, kept for the temporal stage
    ab: np.ndarray | None = None  # (h, w, 2) predicted colour at model resolution
    out: av.VideoFrame | None = None  # the colorized frame
    segment: ResumePoint | None = None  # set when a new segment starts at this frame
    warmup: bool = False  # only run through the model and the smoother, not written (see Part)
    own_colour: float = 0.0  # how far the input frame's own colour is from a tint's (chroma.own_colour)


def _planar(frame: av.VideoFrame) -> tuple[av.VideoFrame, PlanarFormat]:
    """The frame in a planar Y'CbCr layout; frames already planar are not touched."""
    fmt = planar_format(frame.format.name)
    if fmt is not None:
        return frame, fmt
    depth = max((c.bits for c in frame.format.components), default=8)
    rgb = frame.format.name.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr"))
    target = ("yuv444p" if rgb else "yuv420p") + ("" if depth <= 8 else "16le" if rgb else "10le")
    without_alpha = frame.format.name.replace("yuva", "yuv", 1)
    if planar_format(without_alpha) is not None:
        # Y'CbCr with an alpha plane (ProRes 4444, 12-bit): the same planes without it, luma untouched;
        # it went to 10-bit 4:2:0, luma rounded, while the stats said luma was exact.
        target = without_alpha
    converted = frame.reformat(format=target)
    converted.pts, converted.time_base = frame.pts, frame.time_base
    return converted, planar_format(target)


def _decoder_name(video: av.video.stream.VideoStream, frame: av.VideoFrame, decoder: str) -> str:
    """Where `video`'s first `frame` was decoded: "cuda" (NVDEC), or "cpu" (asked for, or NVDEC
    cannot decode the codec or could not start)."""
    where = decoded_on(video, frame)
    if decoder == "cuda" and where == "cuda":
        log.info("decoding %s on the GPU (NVDEC)", video.codec_context.name)
    elif decoder == "cuda":
        log.warning("NVDEC does not decode %s here: decoding it on the CPU", video.codec_context.name)
    return where


class _Job:
    """One run's state shared by its stages."""

    def __init__(self, src: Path, dst: Path, options: ColorizeOptions, part: Part | None = None, model: bool = True):
        check_container(dst)
        if options.codec is None:
            options = replace(options, codec=default_codec(dst))
        self.options = options
        self.src, self.dst, self.part = src, dst, part
        self.stats = RunStats(input=str(src), output=str(dst), codec=options.codec, model=str(options.model))
        # Without the model (joining parts) nothing is decoded but a first frame: the CPU does.
        decoder = options.decoder if model else "cpu"
        self.inp = open_input(src, options.frame_rate, decoder)
        self.chroma_planes = chroma_planes  # the colour stage's function (OpenCV), or TorchChroma
        try:
            self.video = video_stream(self.inp, src)
            lost = lost_pixel_aspect(self.video, options.codec, dst) if part is None else None
            if lost:
                log.warning("%s", lost)
            if part is None and (self.video.codec_context.pix_fmt or "").startswith("yuva"):
                log.warning("%s: its alpha (transparency) plane is left out; the picture is kept", src)
            if model:
                self.colorizer = load_colorizer(self._runtime_request())
                self.stats.device, self.stats.backend = self.colorizer.device, self.colorizer.name
                self.stats.colour_device = colour_device_for(options.colour_device, self.colorizer.device)
                if self.stats.colour_device != "cpu":
                    self.chroma_planes = TorchChroma(self.stats.colour_device)
        except BaseException:
            self.inp.close()
            raise
        set_decode_threads(self.video)
        self.checkpoint: Checkpoint | None = None
        self.segment: tuple[av.container.OutputContainer, av.video.stream.VideoStream, str] | None = None
        self.segment_frames = 0  # frames in the open segment
        self.segment_time: float | None = None  # time (s) of the open segment's first frame, in the decoder
        self.out_fmt: PlanarFormat | None = None
        self.frame_aspect = frame_aspect(self.video, options.codec)
        # Every segment is encoded at the reel's size (the stream's, as a resumed run finds it too):
        # segments of different sizes joined into one stream were undecodable after the first.
        header = self.video.codec_context
        self.size: tuple[int, int] | None = (header.width, header.height) if header.width and header.height else None
        self.last_pts: int | None = None
        self.last_source_pts: int | None = None  # the input's pts of the frame before (before any repair)
        self.rotation: int | None = None  # display rotation of the input, degrees
        self.box: Box | None = None  # the picture inside black bars the model last saw (logged when it changes)
        self.colour_checked = False  # whether the input's own colour was looked at (_say_if_in_colour)
        self.coloured = 0  # frames through the colour stage (its index of the next one)
        self.decoded = 0  # video frames decoded so far
        self.smoother = TemporalSmoother(options.temporal_strength) if options.temporal else None
        # what the model sees of a flickering film steadied, as part of temporal smoothing (see exposure)
        self.exposure = ExposureSteadier() if options.temporal and options.deflicker else None
        self.smoothed = 0  # frames through the temporal stage so far
        self.warmed = False  # the smoother has seen frames before this part (so a cut at its start counts)

    def checkpoint_key(self) -> dict:
        """What a resumed run must share with the interrupted one: the input and every option that
        changes the output (not the device or the threads, so a run can move to another machine)."""
        options, src = self.options, self.src
        info = src.stat()
        return {
            "part": None if self.part is None else [self.part.index, self.part.start, self.part.end],
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

    def restore(self, point: ResumePoint) -> None:
        """Takes up the state an interrupted run had at the start of its next segment."""
        self.decoded = self.stats.frames = point.frames
        self.stats.resumed_frames = point.frames
        self.last_pts, self.last_source_pts = point.last_pts, point.last_source_pts
        self.stats.damaged_packets = point.damaged_packets
        self.stats.repaired_timestamps = point.repaired_timestamps
        self.stats.cuts = list(point.cuts)
        self.stats.colour_passages = [dict(p) for p in point.colour_passages]
        self.coloured = point.frames
        self.stats.missing_frames = point.missing_frames
        self.stats.resized_frames = point.resized_frames
        self.stats.timestamp_jumps = point.timestamp_jumps
        self.smoothed = point.smoothed
        if self.smoother is not None:
            self.smoother.restore(point.temporal or {})
        if self.exposure is not None:
            self.exposure.restore(point.exposure)

    def _first_rotation(self) -> int:
        """The display rotation of the input's first frame, in degrees (0 if it has none)."""
        with open_input(self.src, self.options.frame_rate) as inp:
            first = next(inp.decode(inp.streams[self.video.index]), None)
            return round(first.rotation or 0) if first is not None else 0

    def _runtime_request(self) -> RuntimeRequest:
        options = self.options
        ctx = self.video.codec_context
        shape = None
        gpu = options.device == "cuda" or (options.device == "auto" and cuda_device_count() > 0)
        if gpu and options.backend in ("auto", "onnxruntime", "tensorrt") and ctx.width and ctx.height:
            # TensorRT (native or ONNX Runtime's provider) optimizes for the input shape up front.
            shape = read_info(options.model).render_shape(ctx.height, ctx.width, options.render_size)
            if round(self._first_rotation() / 90) % 2:
                shape = shape[::-1]  # the model sees the pictures upright (_predict_upright)
        return options.runtime_request(shape)

    # -- stages -------------------------------------------------------------------------------

    def decode(self, _: Iterator) -> Iterator[list]:
        point = self.checkpoint.resume if self.checkpoint else None
        part = self.part
        if point is not None:
            frames = self._decoded_from(point)
        elif part is not None and part.index > 0:
            strength = self.options.temporal_strength if self.smoother is not None else 0.0
            warmup = warmup_seconds(strength, float(frame_rate(self.video)))
            frames = self._decoded_after(max(0.0, part.start - warmup), part.start)
        else:
            frames = self._decoded()
        batch: list[FrameItem] = []
        for frame in frames:
            if part is not None and frame.pts is not None:
                now = self._seconds(frame, frame.pts)
                if part.end is not None and now >= part.end:
                    break
                if now < part.start and part.index > 0:
                    if self.smoother is not None:
                        batch.append(FrameItem(*_planar(frame), warmup=True))
                    continue
            item = self._frame_item(frame)
            if item.segment is not None and batch:
                yield batch  # a segment starts a batch, so batches (and results) are the same when resumed
                batch = []
            batch.append(item)
            if len(batch) >= self._batch_limit(item):
                yield batch
                batch = []
        if batch:
            yield batch

    def _batch_limit(self, item: FrameItem) -> int:
        """Frames per batch: --batch-size, fewer for frames larger than 8-bit 4:2:0 1080p, so that the
        frames in flight (a few batches per stage) stay within a fixed memory budget: one 8K frame
        per batch, or one 2K film scan in 16-bit 4:4:4 (19 MB; until 2026-11-30 the budget counted
        pixels, not bytes, and such scans went five to a batch: 1.8 GB in flight)."""
        size = item.fmt.frame_bytes(item.frame.width, item.frame.height)
        return max(1, min(self.options.batch_size, BYTES_PER_BATCH // size))

    def _decoded(self) -> Iterator[av.VideoFrame]:
        for packet in self._demux():
            yield from self._decode_packet(packet)

    def _decoded_from(self, point: ResumePoint) -> Iterator[av.VideoFrame]:
        """The frames from a resume point on: the input is sought to the keyframe before it and
        decoded up to it, or, where that does not find the frame (no timestamps, inexact seeking),
        decoded from the start."""
        damaged = self.stats.damaged_packets
        # Where the clock started again (recordings joined into one file), a time names two frames:
        # counted from the start instead.
        if point.seek_pts is not None and not point.timestamp_jumps:
            try:
                self.inp.seek(point.seek_pts, stream=self.video)  # the keyframe at or before it
                frames = self._decoded()
                for frame in frames:
                    if frame.pts is None or frame.pts > point.seek_pts:
                        break
                    if frame.pts == point.seek_pts:
                        self.stats.damaged_packets = damaged  # those before it were counted by the first run
                        yield frame
                        yield from frames
                        return
            except av.FFmpegError as e:
                log.debug("seeking to pts %s failed (%s)", point.seek_pts, e)
            log.info("%s: seeking did not find frame %d; decoding from the start", self.src, point.frames)
            self._reopen()
        frames = self._decoded()
        for skipped, _frame in enumerate(frames, 1):
            if skipped == point.frames:
                break
        else:
            raise InputError(f"{self.src}: has fewer frames than the interrupted run decoded ({point.frames})")
        self.stats.damaged_packets = damaged
        yield from frames

    def _decoded_after(self, start: float, reach: float) -> Iterator[av.VideoFrame]:
        """The frames from time `start` (s) on, sought to the keyframe before it. A seek that lands
        after time `reach` (an inexact index) is not trusted: then the input is decoded from the start."""
        try:
            self.inp.seek(int(start / self.video.time_base), stream=self.video)
        except av.FFmpegError as e:
            log.debug("seeking to %.3f s failed (%s)", start, e)
        else:
            frames = self._decoded()
            for frame in frames:
                now = None if frame.pts is None else self._seconds(frame, frame.pts)
                if now is None or now > reach:
                    break
                if now >= start:
                    yield frame
                    yield from frames
                    return
        log.info("%s: seeking did not find %.3f s; decoding from the start", self.src, start)
        self._reopen()
        for frame in self._decoded():
            if frame.pts is None or self._seconds(frame, frame.pts) >= start:
                yield frame

    def _reopen(self) -> None:
        index = self.video.index  # read before closing: the stream goes with its container
        self.inp.close()
        self.inp = open_input(self.src, self.options.frame_rate, self.options.decoder)
        self.video = self.inp.streams[index]
        set_decode_threads(self.video)

    def _demux(self) -> Iterator[av.Packet]:
        packets = self.inp.demux(self.video)
        position = 0  # byte offset of the end of the last packet read
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.FFmpegError, OSError) as e:
                where = f"after frame {self.decoded}" if self.decoded else "before the first frame"
                raise InputError(f"{self.src}: read error at byte {position}, {where} ({reason(e)})") from e
            if packet.pos is not None and packet.pos >= 0:
                position = packet.pos + packet.size
            yield packet

    def _decode_packet(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.InvalidDataError as e:
            self.stats.damaged_packets += 1
            log.debug("%s: damaged video packet at byte %s (%s)", self.src, packet.pos, e)
            return []

    def missing_frames(self) -> int:
        """Frames the input announces but does not hold (a file cut short); 0 when it is whole.

        Containers with a full index (MP4, MOV) say exactly: index entries lying past the end of
        the file. Others (Matroska) announce a duration; the frames that would fill the time
        between the last frame decoded and that end are estimated from the frame rate."""
        if self.part is not None or not self.src.is_file() or self.last_pts is None:
            return 0
        size = self.src.stat().st_size
        entries = self.video.index_entries
        if len(entries) and any(entry.pos + entry.size > size for entry in entries):
            return max(0, len(entries) - self.decoded)
        duration = self.inp.duration  # microseconds, from the container header
        rate = frame_rate(self.video)
        if not duration:
            return 0
        start = self.inp.start_time or 0
        last = float(self.last_pts * self.video.time_base) + float(1 / rate)
        gap = (start + duration) / av.time_base - last
        return round(gap * rate) if gap > max(1.0, float(3 / rate)) else 0

    def _frame_item(self, frame: av.VideoFrame) -> FrameItem:
        if self.rotation is None:  # the first frame this process decodes
            self.rotation = round(frame.rotation or 0)
            self.stats.decoder = _decoder_name(self.video, frame, self.options.decoder)
        source_pts = frame.pts
        frame, fmt = _planar(frame)
        item = FrameItem(frame, fmt)
        before = ResumePoint(
            self.decoded, source_pts, self.last_pts, self.stats.damaged_packets, self.stats.repaired_timestamps,
            timestamp_jumps=self.stats.timestamp_jumps, last_source_pts=self.last_source_pts,
        )  # fmt: skip
        pts, last_source = frame.pts, self.last_source_pts
        if source_pts is not None:
            self.last_source_pts = source_pts
        # The input's own times are compared (the repaired ones follow the frame before, not the input).
        if None not in (source_pts, last_source) and self.inp.format.flags & TS_DISCONT:
            back = (last_source - source_pts) * self.video.time_base
            if goes_back(last_source * self.video.time_base, source_pts * self.video.time_base):
                self.stats.timestamp_jumps += 1
                if self.stats.timestamp_jumps == 1:
                    log.warning(
                        "%s: its timestamps go back %.2f s at frame %d (recordings joined into one file?): "
                        "what follows is placed after what came before, in picture and sound",
                        self.src, back, self.decoded,
                    )  # fmt: skip
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            # Encoders need strictly increasing timestamps; make one up only where the input has none.
            step = self._ticks_per_frame()
            pts = (self.last_pts + step) if self.last_pts is not None else 0
            self.stats.repaired_timestamps += 1
            frame.pts = pts
        self.last_pts = pts
        self.decoded += 1
        # A new segment (a resume point) at the first frame segment_seconds after the last one began.
        # It need not be a keyframe: a resumed run seeks to the keyframe before it and decodes up to it.
        now = self._seconds(frame, pts)
        if self.segment_time is None:
            self.segment_time = now
        elif now - self.segment_time >= self.options.segment_seconds:
            self.segment_time = now
            item.segment = before
        return item

    def _ticks_per_frame(self) -> int:
        return max(1, round(1 / (frame_rate(self.video) * self.video.time_base)))

    def _seconds(self, frame: av.VideoFrame, pts: int) -> float:
        """Time in seconds of `pts` in the frame's time base (the stream's if it has none)."""
        return float(pts * (frame.time_base or self.video.time_base))

    def _predict_upright(self, lightness: np.ndarray) -> np.ndarray:
        """The model's ab for a batch of L (N, h, w) as stored, predicted on the pictures turned
        upright as they are shown (a phone's portrait video is stored on its side, with a display
        rotation): the model learnt from upright photos. On the 169 validation photos turned a
        quarter, it scored 1.1-1.2 dB less PSNR than upright, on frames of the five colour clips
        2.3-2.7 dB less."""
        turns = quarter_turns(self.rotation)
        if not turns:
            return self.colorizer.predict_ab(lightness)
        upright = np.ascontiguousarray(np.rot90(lightness, turns, axes=(1, 2)))
        return np.ascontiguousarray(np.rot90(self.colorizer.predict_ab(upright), -turns, axes=(1, 2)))

    def _lightness(
        self, group: list[FrameItem], shape: tuple[int, int], rows: slice = slice(None), columns: slice = slice(None)
    ) -> np.ndarray:
        """L* (N, h, w) at `shape` of the frames' Y planes, or of their `rows` x `columns`."""
        return np.stack(
            [
                render_lightness(plane_array(i.frame, 0, i.fmt.dtype)[rows, columns], i.fmt, self._full_range(i), shape)
                for i in group
            ]
        )

    def _say_if_in_colour(self, group: list[FrameItem]) -> None:
        """Warns once, from the first frames, where the input already has colour of its own."""
        self.colour_checked = True
        fmt = group[0].fmt
        if fmt.grey:
            return
        neutral, scale = float(1 << (fmt.depth - 1)), float(1 << fmt.depth) * 224 / 256
        codes = np.mean(
            [
                chroma_codes(
                    (plane_array(item.frame, 1, fmt.dtype)[::4, ::4] - neutral) / scale,
                    (plane_array(item.frame, 2, fmt.dtype)[::4, ::4] - neutral) / scale,
                )
                for item in group
            ]
        )
        self.stats.input_chroma = round(float(codes), 2)
        warning = colour_input_warning(self.src, codes, float(np.median([item.own_colour for item in group])))
        if warning and (self.part is None or self.part.index == 0):
            log.warning("%s", warning)

    def model(self, batches: Iterator[list]) -> Iterator[list]:
        render_size = self.options.render_size
        for batch in batches:
            if batch[0].segment is not None and self.exposure is not None:
                batch[0].segment.exposure = self.exposure.state()  # a segment starts a batch (decode)
            # Runs of frames of one size, in order: the exposure steadier follows frames one after
            # another (a batch of sizes A, B, A grouped by size had shown it the second A before the B).
            for (height, width), run in itertools.groupby(batch, key=lambda i: (i.frame.height, i.frame.width)):
                group = list(run)
                if not group[0].fmt.grey:
                    for item in group:
                        planes = (plane_array(item.frame, i, item.fmt.dtype) for i in range(3))
                        item.own_colour = own_colour(*planes, item.fmt, self._full_range(item))
                if not self.colour_checked:
                    self._say_if_in_colour(group)
                lightness, predicted, box = predict_picture(
                    self.colorizer.info,
                    self._predict_upright,
                    lambda shape, rows, columns, group=group: self._lightness(group, shape, rows, columns),
                    height,
                    width,
                    render_size,
                    None if self.exposure is None else self.exposure.gains,
                )
                self.stats.render_shape = lightness.shape[1:]
                keep = self.smoother is not None
                if box is not None and box != self.box:
                    rows, columns = box.pixels(height, width)
                    log.info(
                        "%s: black bars: the model sees rows %d-%d and columns %d-%d of %dx%d frames",
                        self.src, rows.start, rows.stop, columns.start, columns.stop, width, height,
                    )  # fmt: skip
                    self.box = box
                if self.options.saturation != 1.0:
                    predicted = predicted * np.float32(self.options.saturation)
                for item, ab, lit in zip(group, predicted, lightness):
                    item.ab = ab
                    item.lightness = lit if keep else None
            yield batch

    def temporal(self, batches: Iterator[list]) -> Iterator[list]:
        for batch in batches:
            for item in batch:
                if item.segment is not None:
                    item.segment.smoothed, item.segment.cuts = self.smoothed, list(self.stats.cuts)
                    item.segment.temporal = self.smoother.state()
                result = self.smoother.smooth(item.lightness, item.ab)
                item.ab, item.lightness = result.ab, None
                if item.warmup:
                    self.warmed = True
                    continue
                if result.cut and (self.smoothed or self.warmed):
                    seconds = round(self._seconds(item.frame, item.frame.pts), 3)
                    self.stats.cuts.append({"frame": self.smoothed, "time": seconds})
                self.smoothed += 1
            yield batch

    def colour(self, batches: Iterator[list]) -> Iterator[list]:
        for batch in batches:
            for item in batch:
                if not item.warmup:
                    self._note_own_colour(item)
                    item.out = self._colour_frame(item)
                item.frame = None  # release the decoded frame early
            yield batch

    def _note_own_colour(self, item: FrameItem) -> None:
        """Adds a frame in colour of its own to the passage it belongs to (frames within
        PASSAGE_GAP_SECONDS of each other make one), in the order frames are written."""
        passages = self.stats.colour_passages
        if item.segment is not None:
            item.segment.colour_passages = [dict(p) for p in passages]
        if item.own_colour >= COLOUR_FRAME_CODES:
            seconds = round(self._seconds(item.frame, item.frame.pts), 3)
            if passages and seconds - passages[-1]["end"] <= PASSAGE_GAP_SECONDS:
                passages[-1].update(last_frame=self.coloured, end=seconds)
            else:
                passages.append(
                    {"first_frame": self.coloured, "last_frame": self.coloured, "start": seconds, "end": seconds}
                )
        self.coloured += 1

    # -- per frame ------------------------------------------------------------------------------

    def _full_range(self, item: FrameItem) -> bool:
        return item.fmt.full_range or item.frame.color_range == 2

    def _colour_frame(self, item: FrameItem) -> av.VideoFrame:
        frame, fmt = item.frame, item.fmt
        if self.out_fmt is None:
            size = (frame.width, frame.height)
            try:
                self.out_fmt, self.stats.luma_exact = output_format(
                    self.options.codec, fmt, size, self.options.pixel_format
                )
            except ValueError as e:
                if self.options.pixel_format:
                    raise EncodeError(f"--pix-fmt: {e}") from e
                raise EncodeError(f"{e}: vidcolor writes Y'CbCr, so that luma stays the input's") from e
            if not self.stats.luma_exact and self.options.pixel_format:
                log.info("%s: %d-bit luma rounded to %d bits", self.out_fmt.name, fmt.depth, self.out_fmt.depth)
            elif not self.stats.luma_exact:
                log.warning(
                    "%s cannot hold %d-bit luma; writing %s (luma rounded)",
                    self.options.codec,
                    fmt.depth,
                    self.out_fmt.name,
                )
        out_fmt = self.out_fmt
        # The output is the decoded frame with its chroma replaced (converted first where the encoder
        # wants another format, its luma then put back exactly): it keeps the frame's own flags,
        # which PyAV cannot set on a new frame. From new frames, x264, MPEG-2 and ProRes coded
        # top-field-first input as bottom field first, and players show its motion in the wrong order.
        if out_fmt.name == frame.format.name:
            frame.make_writable()  # a copy where the decoder still holds the picture as a reference
            out = frame
        else:
            out = frame.reformat(format=out_fmt.name)
        out.pict_type = PictureType.NONE  # the encoder chooses its own frame types, not the input's
        luma_in = plane_array(frame, 0, fmt.dtype)
        if out is not frame:
            luma_out = plane_array(out, 0, out_fmt.dtype)
            shift = out_fmt.depth - fmt.depth
            if shift >= 0:
                np.left_shift(luma_in, shift, out=luma_out, dtype=out_fmt.dtype, casting="unsafe")
            else:  # rounded to the nearest code, as FFmpeg's scaler does (shifting alone made it 0.5 code dark)
                rounded = (luma_in.astype(np.uint32) + (1 << (-shift - 1))) >> -shift
                luma_out[:] = np.minimum(rounded, (1 << out_fmt.depth) - 1)
        full_range = self._full_range(item)
        matrix = matrix_name(frame.colorspace, frame.height)
        interlaced = bool(frame.interlaced_frame)  # its two fields get their own chroma rows (4:2:0)
        cb, cr = self.chroma_planes(luma_in, item.ab, fmt.depth, out_fmt, full_range, matrix, interlaced=interlaced)
        plane_array(out, 1, out_fmt.dtype)[:] = cb
        plane_array(out, 2, out_fmt.dtype)[:] = cr
        out.pts, out.time_base = frame.pts, frame.time_base
        out.color_range = 2 if full_range else (frame.color_range or 0)
        out.colorspace = frame.colorspace
        out.color_primaries = frame.color_primaries
        out.color_trc = frame.color_trc
        return self.frame_aspect(out) if self.frame_aspect else out

    # -- sink: segments ---------------------------------------------------------------------------

    def encode(self, batches: Iterator[list]) -> Iterator[int]:
        """Encodes into segments; yields the number of frames written so far after every batch."""
        for batch in batches:
            for item in batch:
                if item.warmup:
                    continue
                if item.segment is not None and self.segment is not None:
                    item.segment.resized_frames = self.stats.resized_frames
                    self._close_segment(item.segment, complete=False)
                if self.segment is None:
                    self.open_segment()
                container, stream, _ = self.segment
                if not self.segment_frames:
                    self._configure(stream, item.out)
                if (item.out.width, item.out.height) != self.size:
                    self._resized(item.out)
                for packet in stream.encode(item.out):  # PyAV scales a frame of another size to the stream's
                    container.mux(packet)
                self.segment_frames += 1
                self.stats.frames += 1
            yield self.stats.frames
        if not self.segment_frames:
            if self.checkpoint.resume is not None:
                raise InputError(f"{self.src}: frame {self.decoded} of the interrupted run is no longer there")
            raise InputError(f"{self.src}: no video frame could be decoded")
        self.stats.missing_frames = self.missing_frames()
        end = ResumePoint(
            self.decoded, None, self.last_pts, self.stats.damaged_packets, self.stats.repaired_timestamps,
            self.smoothed, list(self.stats.cuts), list(self.stats.colour_passages), self.stats.missing_frames,
            self.stats.resized_frames, timestamp_jumps=self.stats.timestamp_jumps, last_source_pts=self.last_source_pts,
        )  # fmt: skip
        self._close_segment(end, complete=True)
        yield self.stats.frames

    def open_segment(self) -> None:
        """Opens the next segment's file and encoder; the frame geometry is set by the first frame."""
        name = self.checkpoint.segment_name(segment_suffix(self.dst))
        container = open_output(self.checkpoint.part_path(name), self.dst, segment=True)
        try:
            stream = setup_video_stream(
                container, self.video, self.options.codec, self.options.encoder_options(), self.dst
            )
        except BaseException:
            container.close()
            raise
        self.segment, self.segment_frames = (container, stream, name), 0

    def _resized(self, frame: av.VideoFrame) -> None:
        if not self.stats.resized_frames:
            log.warning(
                "%s: frame %d is %dx%d, the reel %dx%d: frames of another size are scaled to the reel's "
                "(their luma is no longer the input's)",
                self.src, self.stats.frames, frame.width, frame.height, *self.size,
            )  # fmt: skip
        self.stats.resized_frames += 1
        self.stats.luma_exact = False

    def _configure(self, stream: av.video.stream.VideoStream, first: av.VideoFrame) -> None:
        ctx = stream.codec_context
        self.size = self.size or (first.width, first.height)
        ctx.width, ctx.height = self.size
        ctx.pix_fmt = first.format.name
        options, field_order = field_coding(self.video, self.options.codec, ctx.options, first)
        ctx.options = {**options, **format_options(self.options.codec, first.format.name)}
        if field_order:
            ctx.field_order = field_order
        ctx.color_range = first.color_range
        ctx.colorspace = first.colorspace
        ctx.color_primaries = first.color_primaries
        ctx.color_trc = first.color_trc
        self.stats.pixel_format = first.format.name

    def _close_segment(self, point: ResumePoint, complete: bool) -> None:
        container, stream, name = self.segment
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
        self.segment = None
        self.checkpoint.commit(name, self.segment_frames, point, complete)

    def abandon_segment(self) -> None:
        """Closes and removes an unfinished segment after a failure (finished ones stay for --resume)."""
        if self.segment is not None:
            container, _, name = self.segment
            self.segment = None
            try:
                container.close()
            except Exception:  # noqa: BLE001 - already failing
                pass
            self.checkpoint.part_path(name).unlink(missing_ok=True)

    # -- the output ---------------------------------------------------------------------------------

    def assemble(self, paths: list[Path], temp: Path) -> None:
        """Muxes the finished segments `paths` and the input's copied streams into `temp`, by time.
        Streams too damaged for the muxer to take are left out (warned, listed in the stats)."""
        if self.rotation is None:  # no frame was decoded in this process (every segment was done)
            self.rotation = self._first_rotation()
        try:
            self._mux(paths, temp, copy=True)
        except av.FFmpegError as e:
            if not self.stats.copied_streams and not self.stats.reencoded_streams:
                raise
            log.warning("%s: its other streams cannot be copied (%s); writing the video alone", self.src, e)
            temp.unlink(missing_ok=True)
            self._mux(paths, temp, copy=False)

    def _mux(self, paths: list[Path], temp: Path, copy: bool) -> None:
        inp = open_input(self.src, self.options.frame_rate)
        out = open_output(temp, self.dst)
        first = av.open(str(paths[0]))
        try:
            template = first.streams.video[0]
            self.stats.pixel_format = template.codec_context.pix_fmt or self.stats.pixel_format
            add_video = functools.partial(self._output_video, out, template)
            video, plan = plan_streams(inp, out, self.video.index, add_video, copy)
            self.stats.copied_streams = [f"#{i}" for i, c in plan.copied.items() if not c.reencode]
            self.stats.reencoded_streams = [f"#{i}" for i, c in plan.copied.items() if c.reencode]
            self.stats.dropped_streams = list(plan.dropped)
            out.metadata.update({k: v for k, v in inp.metadata.items() if k != "encoder"})
            out.set_chapters(inp.chapters())  # a reel's chapter marks, with their titles
            sources = [c.source for c in plan.copied.values()]
            dropped: dict[int, int] = {}  # by stream index: packets left out (their times go back)
            copied = _continuous(inp.demux(*sources), self.stats.timestamp_jumps > 0, dropped) if sources else iter(())
            ours, theirs = _timed(self._segment_packets(paths, video), 0), _timed(copied, 1)
            slots = is_slot_container(self.dst)
            if slots:
                ours, theirs = _from_zero(ours, theirs)
            merged = heapq.merge(ours, theirs, key=lambda p: p[:2])
            for _, from_input, packet in merged:
                if not from_input:
                    if slots and None not in (packet.pts, packet.dts) and packet.pts != packet.dts:
                        raise EncodeError(
                            f"{self.options.codec} reorders frames, which {self.dst.suffix} cannot time: "
                            "use another --codec or container"
                        )
                    packet.stream = video
                    out.mux(packet)
                    continue
                target = plan.copied[packet.stream.index]
                if target.reencode:
                    for encoded in _reencoded(packet, target.target):
                        out.mux(encoded)
                elif packet.size and not is_subtitle_gap(packet):
                    # The mov muxer writes its own gap samples (copying doubles them); SRT needs none.
                    if target.convert:
                        packet = convert_subtitle(packet, target.convert)
                    packet.stream = target.target
                    out.mux(packet)
            for stream in plan.copied.values():
                if stream.reencode:
                    for encoded in _reencoded(None, stream.target, stream.source):
                        out.mux(encoded)
            out.close()
            for index, count in dropped.items():
                log.warning(
                    "%s: left out %d packets of %s whose times go back (damaged timestamps)",
                    self.src, count, describe_stream(inp.streams[index]),
                )  # fmt: skip
        finally:
            first.close()
            inp.close()
            try:
                out.close()
            except av.FFmpegError:
                pass  # already failing; the caller removes the file

    def _output_video(self, out: av.container.OutputContainer, template: av.video.stream.VideoStream):
        try:
            stream = out.add_stream_from_template(template)
        except av.codec.codec.UnknownCodecError:
            # PyAV names the new stream's codec after the segment's decoder, and some decoders have
            # no encoder of that name (libdav1d, AV1's); a copy of the context does for remuxing.
            stream = out.add_stream_from_template(template, opaque=True)
        stream.time_base = output_time_base(self.video, self.dst)
        # The muxer's frame rate (Matroska's default duration) comes from here, not from the template.
        stream.codec_context.framerate = frame_rate(self.video)
        keep_pixel_aspect(self.video, stream)  # MOV reads it from the segments into the stream, not the codec
        copy_video_metadata(self.video, stream)
        if self.rotation:
            stream.set_display_rotation(self.rotation)
        return stream

    def _segment_packets(self, paths: list[Path], video: av.video.stream.VideoStream) -> Iterator[av.Packet]:
        """The segments' video packets, for `video` in OUTPUT, each with its decode time."""
        return _with_decode_times(self._segment_reads(paths, video), frame_rate(self.video))

    def _segment_reads(self, paths: list[Path], video: av.video.stream.VideoStream) -> Iterator[av.Packet]:
        """The segments' video packets as read. Segments in MOV for an MPEG-PS or TS OUTPUT hold
        H.264 and HEVC with length-prefixed units; those want start codes (MPEG-TS's muxer converts
        them itself; MPEG-PS's wrote them as they were, unplayable)."""
        for path in paths:
            with av.open(str(path)) as segment:
                stream = segment.streams.video[0]
                packets = (packet for packet in segment.demux(stream) if packet.size)
                annexb = ANNEXB_FILTERS.get(stream.codec_context.codec.canonical_name)
                if annexb and path.suffix != self.dst.suffix and remuxed_container(self.dst) in ANNEXB_CONTAINERS:
                    bsf = av.bitstream.BitStreamFilterContext(annexb, stream, video)
                    packets = (p for packet in itertools.chain(packets, [None]) for p in bsf.filter(packet))
                yield from packets


def _with_decode_times(packets: Iterator[av.Packet], rate: Fraction) -> Iterator[av.Packet]:
    """The segments' packets, with the decode times that Matroska and NUT do not store put back.
    They derive them from the presentation times, which leaves none for the first packets of
    each segment when frames are reordered (the encoder's delay: 2 for x264), and the muxer's own
    guess went back in time: a Matroska reel of two segments or more with x264 failed at the
    join. Each gets a frame (at `rate`) less than the next packet's, never more than its own
    presentation time nor as little as the packet's before; a segment too short to have one of
    its own is timed as the encoder does: the presentation times in order, as many frames late
    as its deepest reordering."""
    last: Fraction | None = None  # decode time in seconds of the packet before
    waiting: list[av.Packet] = []
    for packet in itertools.chain(packets, [None]):
        if packet is not None and packet.dts is None and packet.pts is not None:
            waiting.append(packet)
            continue
        if waiting:
            base = waiting[0].time_base
            step = max(1, round(1 / (rate * base)))
            if packet is not None:
                top = round(packet.dts * packet.time_base / base)
                times = [top - back * step for back in range(len(waiting), 0, -1)]
            else:
                order = sorted(p.pts for p in waiting)
                late = max(i - order.index(p.pts) for i, p in enumerate(waiting))
                times = [order[i - late] if i >= late else order[0] - (late - i) * step for i in range(len(waiting))]
            for earlier, dts in zip(waiting, times):
                earlier.dts = min(dts, earlier.pts)
                if last is not None and earlier.dts * base <= last:
                    earlier.dts = int(last / base) + 1
                last = earlier.dts * base
            yield from waiting
            waiting.clear()
        if packet is not None:
            if packet.dts is not None:
                last = packet.dts * packet.time_base
            yield packet


def _reencoded(
    packet: av.Packet | None, target: av.audio.stream.AudioStream, source: av.audio.stream.AudioStream | None = None
) -> Iterator[av.Packet]:
    """`packet`'s sound decoded and encoded for `target` (PyAV converts rate, format and frame size);
    with None, what the decoder of `source` and the encoder still hold."""
    if packet is not None:
        for frame in packet.decode():
            yield from target.encode(frame)
        return
    try:  # the demuxer's last, empty packet has usually flushed the decoder already
        frames = source.codec_context.decode(None)
    except av.EOFError:
        frames = []
    for frame in frames:
        yield from target.encode(frame)
    yield from target.encode(None)


Timed = tuple[float, int, av.Packet]  # (decode time in s, 0 for our video or 1 for a copied stream, packet)


def _from_zero(ours: Iterator[Timed], theirs: Iterator[Timed]) -> tuple[Iterator[Timed], Iterator[Timed]]:
    """Our video's and the copied streams' `_timed` packets, moved in time for a container of frame
    slots, where every stream starts at 0: the first frame to slot 0, and the copied streams by the
    same amount, unless that leaves them starting before 0: then they start at 0 too. A frame after
    an empty first slot is read back as at slot 0, the next at 2; and an MP3's lead-in (25 ms of
    encoder delay before the first frame) made the muxer delay every stream, the frames by a whole
    slot. The sound then starts with the picture, as in FFmpeg's own AVI files: the container has
    no way to start it earlier."""
    first, first_theirs = next(ours, None), next(theirs, None)
    if first is None:
        return iter(()), iter(())
    start = _seconds(first[2])
    start_theirs = min(start, _seconds(first_theirs[2])) if first_theirs is not None else start
    ours = _shifted(itertools.chain([first], ours), -start)
    theirs = _shifted(itertools.chain([first_theirs], theirs) if first_theirs else iter(()), -start_theirs)
    return ours, theirs


def _seconds(packet: av.Packet) -> Fraction:
    ts = packet.dts if packet.dts is not None else packet.pts
    return Fraction(ts * packet.time_base) if ts is not None else Fraction(0)


def _shifted(packets: Iterator[Timed], seconds: Fraction) -> Iterator[Timed]:
    for time_s, tag, packet in packets:
        ticks = round(seconds / packet.time_base)
        if packet.pts is not None:
            packet.pts += ticks
        if packet.dts is not None:
            packet.dts += ticks
        yield time_s + float(seconds), tag, packet


def _continuous(packets: Iterator[av.Packet], moved_on: bool, dropped: dict[int, int]) -> Iterator[av.Packet]:
    """The copied streams' packets, where a stream's start times go back by more than
    JUMP_BACK_SECONDS from its packet before: `moved_on` (the video's clock started again:
    recordings joined into one file, `cat` of two MPEG-TS captures), the stream is moved on from
    there so that it continues where it was, as the video's frames are; otherwise the packet is a
    damaged one, left out and counted in `dropped`. The muxer refused such packets, and the
    output was written without the sound. Only start times are compared: subtitle cues overlap.

    Sound must also rise in time by at least a tick: a sound packet read twice (FFmpeg's MPEG-PS
    demuxer gave one AC-3 packet of a DVD twice, the same bytes at the same place and time) is
    left out, and one at the time of the packet before is put a tick after it, as `ffmpeg` does."""
    starts: dict[int, Fraction] = {}  # by stream index: where its last packet started, in seconds
    ends: dict[int, Fraction] = {}  # ... and ended
    shifts: dict[int, int] = {}  # by stream index: ticks added to its timestamps since its last jump
    reads: dict[int, tuple] = {}  # by stream index: where the last sound packet was read (byte offset, size)
    for packet in packets:
        index, ts = packet.stream.index, packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            yield packet
            continue
        shift = shifts.get(index, 0)
        start = (ts + shift) * packet.time_base
        if index in starts and goes_back(starts[index], start):
            if not moved_on:
                dropped[index] = dropped.get(index, 0) + 1
                continue
            log.debug("stream #%d goes back from %.3f s to %.3f s: moved on", index, starts[index], start)
            shift += round((ends[index] - start) / packet.time_base)
            shifts[index] = shift
            start = (ts + shift) * packet.time_base
        if shift:
            packet.dts = packet.dts + shift if packet.dts is not None else None
            packet.pts = packet.pts + shift if packet.pts is not None else None
        if packet.stream.type == "audio" and index in starts and start <= starts[index]:
            if packet.pos is not None and packet.pos >= 0 and reads.get(index) == (packet.pos, packet.size):
                log.debug("stream #%d: the packet at byte %d read twice; once is kept", index, packet.pos)
                continue
            ticks = round(starts[index] / packet.time_base) + 1
            packet.dts = ticks if packet.dts is not None else None
            packet.pts = max(packet.pts, ticks) if packet.pts is not None else None
            start = ticks * packet.time_base
        if packet.stream.type == "audio":
            reads[index] = (packet.pos, packet.size)
        starts[index] = start
        ends[index] = max(ends.get(index, start), start + (packet.duration or 0) * packet.time_base)
        yield packet


def _timed(packets: Iterator[av.Packet], tag: int) -> Iterator[Timed]:
    """(decode time in s, tag, packet); a packet without timestamps keeps the time of the one before."""
    last = float("-inf")
    for packet in packets:
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is not None:
            last = float(ts * packet.time_base)
        yield last, tag, packet


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
    job = _Job(src, dst, options)
    clock = StageClock()
    temp = None
    fresh = not work_dir(dst).exists()  # a work folder this run makes, and removes if it stops with nothing in it
    try:
        job.checkpoint = Checkpoint.start(work_dir(dst), job.checkpoint_key(), options.resume, options.overwrite)
        _process(job, progress, clock, started)
        temp = job.checkpoint.folder / f"output.part{dst.suffix}"
        job.assemble(job.checkpoint.paths(), temp)
        os.replace(temp, dst)
        job.checkpoint.remove()
        _warn_damage(job.stats)
        _report_colour_passages(job.stats)
    except av.FFmpegError as e:
        raise EncodeError(f"{dst}: writing failed ({reason(e)})") from e
    finally:
        _close(job, temp)
        if job.checkpoint is None and fresh:
            # Stopped (Ctrl-C, SIGTERM) between making the work folder and taking it up: it is empty.
            shutil.rmtree(work_dir(dst), ignore_errors=True)
    return _finish(job, started, clock)


def colorize_part(src: str | os.PathLike, dst: str | os.PathLike, options: ColorizeOptions, part: Part) -> RunStats:
    """Colorizes one Part of `src` into segments in the work folder of `dst` (a worker's share of
    a long reel); `assemble_parts` makes `dst` once every part is done. A part already done returns
    at once, and one interrupted continues where it stopped."""
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    job = _Job(src, dst, options, part)
    clock = StageClock()
    try:
        folder = work_dir(dst) / part.folder_name
        job.checkpoint = Checkpoint.start(folder, job.checkpoint_key(), True, options.overwrite)
        _process(job, None, clock, started)
    except av.FFmpegError as e:
        raise EncodeError(f"{dst}: writing part {part.index} failed ({reason(e)})") from e
    finally:
        _close(job, None)
    return _finish(job, started, clock)


def assemble_parts(
    src: str | os.PathLike, dst: str | os.PathLike, options: ColorizeOptions, parts: list[Part]
) -> RunStats:
    """Joins the finished parts of `src` (colorize_part) into `dst`, with the input's sound and
    subtitles; frame indices of cuts are counted over the whole reel."""
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    job = _Job(src, dst, options, model=False)
    stats = job.stats
    temp = work_dir(dst) / f"output.part{dst.suffix}"
    try:
        paths: list[Path] = []
        for part in parts:
            job.part = part
            checkpoint = Checkpoint.finished(work_dir(dst) / part.folder_name, job.checkpoint_key())
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
        job.part, job.decoded, job.last_pts = None, stats.frames, end.last_pts
        stats.colour_passages = _merged_passages(stats.colour_passages)
        stats.missing_frames = job.missing_frames()
        job.assemble(paths, temp)
        os.replace(temp, dst)
        shutil.rmtree(work_dir(dst), ignore_errors=True)
        _warn_damage(stats)
        _report_colour_passages(stats)
    except av.FFmpegError as e:
        raise EncodeError(f"{dst}: joining the parts failed ({reason(e)})") from e
    finally:
        job.inp.close()
        temp.unlink(missing_ok=True)
    return _finish(job, started, StageClock())


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


def _process(job: _Job, progress: Progress | None, clock: StageClock, started: float) -> None:
    """Runs the stages from the job's checkpoint on, until every frame is in a finished segment;
    notes when the first batch was written (`started`: the run's start on the perf_counter clock)."""
    if job.checkpoint.resume is not None:
        job.restore(job.checkpoint.resume)
    if job.checkpoint.complete:
        return
    job.open_segment()  # fails here, before any work, if the container or encoder cannot be had
    stages = [("decode", job.decode), ("model", job.model)]
    if job.smoother is not None:
        stages.append(("temporal", job.temporal))
    stages += [("colour", job.colour), ("encode", job.encode)]
    done = run_threaded(stages, clock=clock) if job.options.threaded else run_inline(stages, clock)
    try:
        for frames in done:
            if not job.stats.first_batch_seconds:
                job.stats.first_batch_seconds = time.perf_counter() - started
                job.stats.first_batch_frames = frames
            if progress:
                progress(frames)
    finally:
        done.close()


def _close(job: _Job, temp: Path | None) -> None:
    job.inp.close()
    job.abandon_segment()
    if temp is not None:
        temp.unlink(missing_ok=True)
    if job.checkpoint is not None and not job.checkpoint.segments:
        job.checkpoint.remove()  # nothing worth resuming


def _finish(job: _Job, started: float, clock: StageClock) -> RunStats:
    job.stats.wall_seconds = time.perf_counter() - started
    job.stats.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB
    job.stats.busy_seconds = {k: round(v, 6) for k, v in clock.busy.items()}
    return job.stats
