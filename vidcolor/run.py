"""`colorize(src, dst)`: the whole job, as stages over frame batches.

decode (demux, decode, copied packets in order) -> model (L -> ab) -> temporal (ab smoothed
along motion, reset at cuts) -> colour (Cb/Cr planes, Y plane copied) -> encode and mux, here in
the caller's thread.
"""

from __future__ import annotations

import logging
import os
import resource
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .backends import RuntimeRequest, cuda_device_count, load_colorizer
from .chroma import chroma_planes, render_lightness
from .config import ColorizeOptions
from .errors import EncodeError, InputError
from .formats import PlanarFormat, matrix_name, output_format, planar_format, plane_array
from .media import (
    check_paths,
    convert_subtitle,
    is_subtitle_gap,
    open_input,
    open_output,
    plan_streams,
    setup_video_stream,
)
from .model import read_info
from .pipeline import StageClock, run_inline, run_threaded
from .stats import RunStats
from .temporal import TemporalSmoother

log = logging.getLogger(__name__)

MAX_ITEMS_PER_BATCH = 256  # copied packets also travel in batches; this bounds a batch of them
Progress = Callable[[int], None]


@dataclass
class FrameItem:
    frame: av.VideoFrame  # decoded input frame, planar Y'CbCr or grey
    fmt: PlanarFormat
    lightness: np.ndarray | None = None  # (H, W) L* at render size, kept for the temporal stage
    ab: np.ndarray | None = None  # (h, w, 2) predicted colour at model resolution
    out: av.VideoFrame | None = None  # the colorized frame


@dataclass
class PacketItem:
    packet: av.Packet  # a packet of a copied stream, passed through in demux order


def _planar(frame: av.VideoFrame) -> tuple[av.VideoFrame, PlanarFormat]:
    """The frame in a planar Y'CbCr layout; frames already planar are not touched."""
    fmt = planar_format(frame.format.name)
    if fmt is not None:
        return frame, fmt
    depth = max((c.bits for c in frame.format.components), default=8)
    rgb = frame.format.name.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr"))
    target = ("yuv444p" if rgb else "yuv420p") + ("" if depth <= 8 else "16le" if rgb else "10le")
    converted = frame.reformat(format=target)
    converted.pts, converted.time_base = frame.pts, frame.time_base
    return converted, planar_format(target)


class _Job:
    """One run's state shared by its stages."""

    def __init__(self, src: Path, dst: Path, options: ColorizeOptions):
        self.options = options
        self.src, self.dst = src, dst
        self.stats = RunStats(input=str(src), output=str(dst), codec=options.codec, model=str(options.model))
        self.inp = open_input(src, options.frame_rate)
        self.video = self.inp.streams.video[0]
        try:
            self.colorizer = load_colorizer(self._runtime_request())
        except BaseException:
            self.inp.close()
            raise
        self.stats.device, self.stats.backend = self.colorizer.device, self.colorizer.name
        self.video.thread_type = "AUTO"  # frame threading in the decoder
        self.out: av.container.OutputContainer | None = None
        self.plan = None
        self.out_video = None
        self.out_fmt: PlanarFormat | None = None
        self.last_pts: int | None = None
        self.rotation = 0  # display rotation of the input, degrees
        self.decoded = 0  # video frames decoded so far
        self.smoother = TemporalSmoother(options.temporal_strength) if options.temporal else None
        self.smoothed = 0  # frames through the temporal stage so far

    def _runtime_request(self) -> RuntimeRequest:
        options = self.options
        ctx = self.video.codec_context
        shape = None
        gpu = options.device == "cuda" or (options.device == "auto" and cuda_device_count() > 0)
        if gpu and options.backend in ("auto", "onnxruntime", "tensorrt") and ctx.width and ctx.height:
            # TensorRT (native or ONNX Runtime's provider) optimizes for the input shape up front.
            shape = read_info(options.model).render_shape(ctx.height, ctx.width, options.render_size)
        return options.runtime_request(shape)

    # -- stages -------------------------------------------------------------------------------

    def decode(self, _: Iterator) -> Iterator[list]:
        batch: list = []
        frames_in_batch = 0
        video_index = self.video.index
        copied = self.plan.copied
        for packet in self._demux():
            index = packet.stream.index
            if index == video_index:
                for frame in self._decode_packet(packet):
                    batch.append(self._frame_item(frame))
                    frames_in_batch += 1
            elif index in copied and packet.size:
                batch.append(PacketItem(packet))
            if frames_in_batch >= self.options.batch_size or len(batch) >= MAX_ITEMS_PER_BATCH:
                yield batch
                batch, frames_in_batch = [], 0
        if batch:
            yield batch

    def _demux(self) -> Iterator[av.Packet]:
        packets = self.inp.demux()
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as e:
                where = f"after frame {self.decoded}" if self.decoded else "before the first frame"
                raise InputError(f"{self.src}: read error {where} ({e})") from e
            yield packet

    def _decode_packet(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.InvalidDataError as e:
            self.stats.damaged_packets += 1
            if self.stats.damaged_packets == 1:
                log.warning("%s: damaged video data (%s); keeping every frame that decodes", self.src, e)
            return []

    def _frame_item(self, frame: av.VideoFrame) -> FrameItem:
        if self.last_pts is None:
            self.rotation = round(frame.rotation or 0)
        frame, fmt = _planar(frame)
        pts = frame.pts
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            # Encoders need strictly increasing timestamps; make one up only where the input has none.
            step = self._ticks_per_frame()
            pts = (self.last_pts + step) if self.last_pts is not None else 0
            self.stats.repaired_timestamps += 1
            frame.pts = pts
        self.last_pts = pts
        self.decoded += 1
        return FrameItem(frame, fmt)

    def _ticks_per_frame(self) -> int:
        rate = self.video.average_rate or self.video.guessed_rate or Fraction(25)
        return max(1, round(1 / (rate * self.video.time_base)))

    def model(self, batches: Iterator[list]) -> Iterator[list]:
        render_size = self.options.render_size
        for batch in batches:
            items = [item for item in batch if isinstance(item, FrameItem)]
            groups: dict[tuple, list[FrameItem]] = {}
            for item in items:
                groups.setdefault((item.frame.height, item.frame.width), []).append(item)
            for (height, width), group in groups.items():
                shape = self.colorizer.info.render_shape(height, width, render_size)
                self.stats.render_shape = shape
                lightness = np.stack(
                    [
                        render_lightness(plane_array(i.frame, 0, i.fmt.dtype), i.fmt, self._full_range(i), shape)
                        for i in group
                    ]
                )
                keep = self.smoother is not None
                for item, ab, lit in zip(group, self.colorizer.predict_ab(lightness), lightness):
                    item.ab = ab
                    item.lightness = lit if keep else None
            yield batch

    def temporal(self, batches: Iterator[list]) -> Iterator[list]:
        for batch in batches:
            for item in batch:
                if not isinstance(item, FrameItem):
                    continue
                result = self.smoother.smooth(item.lightness, item.ab)
                item.ab, item.lightness = result.ab, None
                if result.cut and self.smoothed:
                    time_base = item.frame.time_base or self.video.time_base
                    self.stats.cuts.append(
                        {"frame": self.smoothed, "time": round(float(item.frame.pts * time_base), 3)}
                    )
                self.smoothed += 1
            yield batch

    def colour(self, batches: Iterator[list]) -> Iterator[list]:
        for batch in batches:
            for item in batch:
                if isinstance(item, FrameItem):
                    item.out = self._colour_frame(item)
                    item.frame = None  # release the decoded frame early
            yield batch

    # -- per frame ------------------------------------------------------------------------------

    def _full_range(self, item: FrameItem) -> bool:
        return item.fmt.full_range or item.frame.color_range == 2

    def _colour_frame(self, item: FrameItem) -> av.VideoFrame:
        frame, fmt = item.frame, item.fmt
        if self.out_fmt is None:
            self.out_fmt, self.stats.luma_exact = output_format(self.options.codec, fmt)
            if not self.stats.luma_exact:
                log.warning(
                    "%s cannot hold %d-bit luma; writing %s (luma rounded)",
                    self.options.codec,
                    fmt.depth,
                    self.out_fmt.name,
                )
        out_fmt = self.out_fmt
        out = av.VideoFrame(frame.width, frame.height, out_fmt.name)
        luma_in = plane_array(frame, 0, fmt.dtype)
        luma_out = plane_array(out, 0, out_fmt.dtype)
        shift = out_fmt.depth - fmt.depth
        if shift >= 0:
            np.left_shift(luma_in, shift, out=luma_out, dtype=out_fmt.dtype, casting="unsafe")
        else:
            luma_out[:] = (luma_in >> -shift).astype(out_fmt.dtype)
        full_range = self._full_range(item)
        matrix = matrix_name(frame.colorspace, frame.height)
        cb, cr = chroma_planes(luma_in, item.ab, fmt.depth, out_fmt, full_range, matrix)
        plane_array(out, 1, out_fmt.dtype)[:] = cb
        plane_array(out, 2, out_fmt.dtype)[:] = cr
        out.pts, out.time_base = frame.pts, frame.time_base
        out.color_range = 2 if full_range else (frame.color_range or 0)
        out.colorspace = frame.colorspace
        out.color_primaries = frame.color_primaries
        out.color_trc = frame.color_trc
        return out

    # -- sink ---------------------------------------------------------------------------------

    def _configure_video(self, first: av.VideoFrame) -> None:
        ctx = self.out_video.codec_context
        ctx.width, ctx.height = first.width, first.height
        ctx.pix_fmt = first.format.name
        ctx.color_range = first.color_range
        ctx.colorspace = first.colorspace
        ctx.color_primaries = first.color_primaries
        ctx.color_trc = first.color_trc
        if self.rotation:
            self.out_video.set_display_rotation(self.rotation)
        self.stats.pixel_format = first.format.name

    def encode(self, batches: Iterator[list]) -> Iterator[int]:
        """Encodes and muxes; yields the number of frames written so far after every batch."""
        pending: list[PacketItem] = []  # copied packets that arrive before the video is configured
        configured = False
        for batch in batches:
            for item in batch:
                if isinstance(item, PacketItem):
                    if configured:
                        self._mux_copied(item.packet)
                    else:
                        pending.append(item)
                    continue
                if not configured:
                    self._configure_video(item.out)
                    configured = True
                    for held in pending:
                        self._mux_copied(held.packet)
                    pending.clear()
                self._mux_video(self.out_video.encode(item.out))
                self.stats.frames += 1
            yield self.stats.frames
        if not configured:
            raise InputError(f"{self.src}: no video frame could be decoded")
        self._mux_video(self.out_video.encode(None))
        yield self.stats.frames

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.out.mux(packet)

    def _mux_copied(self, packet: av.Packet) -> None:
        copy = self.plan.copied[packet.stream.index]
        if is_subtitle_gap(packet):
            return  # the mov muxer writes its own gap samples (copying doubles them); SRT needs none
        if copy.convert:
            packet = convert_subtitle(packet, copy.convert)
        packet.stream = copy.target
        self.out.mux(packet)


def colorize(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    options: ColorizeOptions | None = None,
    progress: Progress | None = None,
    **overrides,
) -> RunStats:
    """Colorize the video `src` into `dst`; returns what the run did.

    Options come as a ColorizeOptions, or as its fields by keyword (`colorize(a, b, codec="ffv1")`).
    `dst` appears only when the run succeeds: it is written beside itself under a temporary name
    and renamed at the end. `progress(frames_done)` is called after every batch.
    """
    options = replace(options or ColorizeOptions(), **overrides)
    src, dst = Path(src), Path(dst)
    check_paths(src, dst, options.overwrite)
    started = time.perf_counter()
    job = _Job(src, dst, options)
    temp = dst.with_name(f".{dst.stem}.vidcolor-{uuid.uuid4().hex[:8]}.part{dst.suffix}")
    clock = StageClock()
    try:
        job.out = open_output(temp, dst)
        job.out_video, job.plan = plan_streams(
            job.inp,
            job.out,
            job.video.index,
            lambda: setup_video_stream(job.out, job.video, options.codec, options.encoder_options()),
        )
        job.stats.copied_streams = [f"#{i}" for i in job.plan.copied]
        job.stats.dropped_streams = list(job.plan.dropped)
        job.out.metadata.update({k: v for k, v in job.inp.metadata.items() if k != "encoder"})
        stages = [("decode", job.decode), ("model", job.model)]
        if job.smoother is not None:
            stages.append(("temporal", job.temporal))
        stages += [("colour", job.colour), ("encode", job.encode)]
        done = run_threaded(stages, clock=clock) if options.threaded else run_inline(stages, clock)
        try:
            for frames in done:
                if progress:
                    progress(frames)
        finally:
            done.close()
        job.out.close()
        job.out = None
        os.replace(temp, dst)
    except av.FFmpegError as e:
        raise EncodeError(f"{dst}: writing failed ({e})") from e
    finally:
        job.inp.close()
        if job.out is not None:
            try:
                job.out.close()
            except Exception:  # noqa: BLE001 - already failing; the partial file is removed below
                pass
        temp.unlink(missing_ok=True)
    job.stats.wall_seconds = time.perf_counter() - started
    job.stats.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB
    job.stats.busy_seconds = {k: round(v, 6) for k, v in clock.busy.items()}
    return job.stats
