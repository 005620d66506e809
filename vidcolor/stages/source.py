"""The source: opens and demuxes the input and decodes its video into batches of FrameItems.

It seeks for `--resume` (to the keyframe before the next segment's first frame) and for a Part of
a reel (with the smoother's warm-up before it), repairs timestamps encoders would refuse, counts
damaged packets and clocks that start again, marks where a new segment starts, and tells how many
frames a file cut short has lost at its end.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import replace

import av

from ..checkpoint import ResumePoint
from ..containers import lost_pixel_aspect
from ..errors import InputError, reason
from ..formats import PlanarFormat, planar_format
from ..media import TS_DISCONT, decoded_on, frame_rate, goes_back, open_input, set_decode_threads, video_stream
from .context import FrameItem, RunContext

log = logging.getLogger(__name__)

BYTES_PER_BATCH = 8 * 1920 * 1080 * 3 // 2  # a batch holds at most eight 8-bit 4:2:0 1080p frames' bytes (or one frame)
WARMUP_FORGOTTEN = 0.01  # a part's smoother may lack this share of a whole run's memory at its start (see Part)


def warmup_seconds(strength: float, rate: float) -> float:
    """Video run through the smoother before a part of a reel, unwritten: enough frames that what
    the smoother would remember from before them weighs at most WARMUP_FORGOTTEN (strength**frames)."""
    if strength <= 0:
        return 0.0
    return math.ceil(math.log(WARMUP_FORGOTTEN) / math.log(strength)) / rate


class Source:
    """The input of one run; `batches` is the first stage. `video` is the input's video stream."""

    def __init__(self, ctx: RunContext, decoder: str):
        self.ctx, self.src, self.decoder = ctx, ctx.src, decoder
        self.inp = open_input(ctx.src, ctx.options.frame_rate, decoder)
        try:
            self.video = video_stream(self.inp, ctx.src)
        except BaseException:
            self.inp.close()
            raise
        if ctx.part is None:
            lost = lost_pixel_aspect(self.video, ctx.options.codec, ctx.dst)
            if lost:
                log.warning("%s", lost)
            if (self.video.codec_context.pix_fmt or "").startswith("yuva"):
                log.warning("%s: its alpha (transparency) plane is left out; the picture is kept", ctx.src)
        set_decode_threads(self.video)
        self.resume: ResumePoint | None = None  # where an interrupted run goes on
        self.decoded = 0  # video frames decoded so far
        self.last_pts: int | None = None
        self.last_source_pts: int | None = None  # the input's pts of the frame before (before any repair)
        self.segment_time: float | None = None  # time (s) of the open segment's first frame

    def close(self) -> None:
        self.inp.close()

    def restore(self, point: ResumePoint) -> None:
        """Takes up where an interrupted run was at the start of its next segment."""
        stats = self.ctx.stats
        self.resume = point
        self.decoded = point.frames
        self.last_pts, self.last_source_pts = point.last_pts, point.last_source_pts
        stats.damaged_packets, stats.repaired_timestamps = point.damaged_packets, point.repaired_timestamps
        stats.missing_frames, stats.timestamp_jumps = point.missing_frames, point.timestamp_jumps

    def point(self, seek_pts: int | None) -> ResumePoint:
        """The source's state before the next frame, as a segment starting there records it."""
        stats = self.ctx.stats
        return ResumePoint(
            self.decoded, seek_pts, self.last_pts, stats.damaged_packets, stats.repaired_timestamps,
            timestamp_jumps=stats.timestamp_jumps, last_source_pts=self.last_source_pts,
        )  # fmt: skip

    def first_rotation(self) -> int:
        """The display rotation of the input's first frame, in degrees (0 if it has none)."""
        with open_input(self.src, self.ctx.options.frame_rate) as inp:
            first = next(inp.decode(inp.streams[self.video.index]), None)
            return round(first.rotation or 0) if first is not None else 0

    # -- the stage ---------------------------------------------------------------------------------

    def batches(self, _: Iterator) -> Iterator[list[FrameItem]]:
        point, part, options = self.resume, self.ctx.part, self.ctx.options
        if point is not None:
            frames = self._decoded_from(point)
        elif part is not None and part.index > 0:
            strength = options.temporal_strength if options.temporal else 0.0
            warmup = warmup_seconds(strength, float(frame_rate(self.video)))
            frames = self._decoded_after(max(0.0, part.start - warmup), part.start)
        else:
            frames = self._decoded()
        batch: list[FrameItem] = []
        for frame in frames:
            if self.ctx.rotation is None:  # the first frame this process decodes
                self.ctx.rotation = round(frame.rotation or 0)
                self.ctx.stats.decoder = _decoder_name(self.video, frame, self.decoder)
            if part is not None and frame.pts is not None:
                now = self._seconds(frame, frame.pts)
                if part.end is not None and now >= part.end:
                    break
                if now < part.start and part.index > 0:
                    if options.temporal:
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
        per batch, or one 2K film scan in 16-bit 4:4:4 (19 MB)."""
        size = item.fmt.frame_bytes(item.frame.width, item.frame.height)
        return max(1, min(self.ctx.options.batch_size, BYTES_PER_BATCH // size))

    # -- decoding ----------------------------------------------------------------------------------

    def _decoded(self) -> Iterator[av.VideoFrame]:
        for packet in self._demux():
            yield from self._decode_packet(packet)

    def _decoded_from(self, point: ResumePoint) -> Iterator[av.VideoFrame]:
        """The frames from a resume point on: the input is sought to the keyframe before it and
        decoded up to it, or, where that does not find the frame (no timestamps, inexact seeking),
        decoded from the start."""
        stats = self.ctx.stats
        damaged = stats.damaged_packets
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
                        stats.damaged_packets = damaged  # those before it were counted by the first run
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
        stats.damaged_packets = damaged
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
        self.inp = open_input(self.src, self.ctx.options.frame_rate, self.decoder)
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
            self.ctx.stats.damaged_packets += 1
            log.debug("%s: damaged video packet at byte %s (%s)", self.src, packet.pos, e)
            return []

    def missing_frames(self) -> int:
        """Frames the input announces but does not hold (a file cut short); 0 when it is whole.

        Containers with a full index (MP4, MOV) say exactly: index entries lying past the end of
        the file. Others (Matroska) announce a duration; the frames that would fill the time
        between the last frame decoded and that end are estimated from the frame rate."""
        if self.ctx.part is not None or not self.src.is_file() or self.last_pts is None:
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

    def end(self) -> ResumePoint:
        """The source's state after the last frame (missing frames counted)."""
        self.ctx.stats.missing_frames = self.missing_frames()
        return replace(self.point(None), missing_frames=self.ctx.stats.missing_frames)

    # -- per frame ---------------------------------------------------------------------------------

    def _frame_item(self, frame: av.VideoFrame) -> FrameItem:
        stats = self.ctx.stats
        source_pts = frame.pts
        frame, fmt = _planar(frame)
        item = FrameItem(frame, fmt, index=self.decoded)
        before = self.point(source_pts)
        pts, last_source = frame.pts, self.last_source_pts
        if source_pts is not None:
            self.last_source_pts = source_pts
        # The input's own times are compared (the repaired ones follow the frame before, not the input).
        if None not in (source_pts, last_source) and self.inp.format.flags & TS_DISCONT:
            back = (last_source - source_pts) * self.video.time_base
            if goes_back(last_source * self.video.time_base, source_pts * self.video.time_base):
                stats.timestamp_jumps += 1
                if stats.timestamp_jumps == 1:
                    log.warning(
                        "%s: its timestamps go back %.2f s at frame %d (recordings joined into one file?): "
                        "what follows is placed after what came before, in picture and sound",
                        self.src, back, self.decoded,
                    )  # fmt: skip
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            # Encoders need strictly increasing timestamps; make one up only where the input has none.
            step = max(1, round(1 / (frame_rate(self.video) * self.video.time_base)))
            pts = (self.last_pts + step) if self.last_pts is not None else 0
            stats.repaired_timestamps += 1
            frame.pts = pts
        self.last_pts = pts
        self.decoded += 1
        # A new segment (a resume point) at the first frame segment_seconds after the last one began.
        # It need not be a keyframe: a resumed run seeks to the keyframe before it and decodes up to it.
        item.seconds = now = self._seconds(frame, pts)
        if self.segment_time is None:
            self.segment_time = now
        elif now - self.segment_time >= self.ctx.options.segment_seconds:
            self.segment_time = now
            item.segment = before
        return item

    def _seconds(self, frame: av.VideoFrame, pts: int) -> float:
        """Time in seconds of `pts` in the frame's time base (the stream's if it has none)."""
        return float(pts * (frame.time_base or self.video.time_base))


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
        # Y'CbCr with an alpha plane (ProRes 4444, 12-bit): the same planes without it, luma untouched.
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
