"""The segment writer, the last stage: encodes the colorized frames into segment files in the
run's work folder, each from its own encoder, and commits each closed segment to the checkpoint
with the run's state at its end, so that `--resume` and Ray parts can start from there."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import av

from ..checkpoint import Checkpoint, ResumePoint
from ..containers import field_coding, format_options, open_output, segment_suffix, setup_video_stream
from ..errors import InputError
from .context import FrameItem, RunContext
from .source import Source

log = logging.getLogger(__name__)


class SegmentWriter:
    """`source`: the run's Source (the encoder copies its video stream's rate, time base and field
    order; read when needed, since the source may reopen its input); `end`: the run's state after
    its last frame, asked for when every frame is written."""

    def __init__(
        self,
        ctx: RunContext,
        source: Source,
        checkpoint: Checkpoint,
        end: Callable[[], ResumePoint],
    ):
        self.ctx, self.source, self.checkpoint, self.end = ctx, source, checkpoint, end
        self.segment: tuple[av.container.OutputContainer, av.video.stream.VideoStream, str] | None = None
        self.frames = 0  # frames in the open segment
        # Every segment is encoded at the reel's size (the stream's, as a resumed run finds it too):
        # segments of different sizes joined into one stream were undecodable after the first.
        header = source.video.codec_context
        self.size: tuple[int, int] | None = (header.width, header.height) if header.width and header.height else None

    def restore(self, point: ResumePoint) -> None:
        stats = self.ctx.stats
        stats.frames = stats.resumed_frames = point.frames
        stats.resized_frames = point.resized_frames

    def __call__(self, batches: Iterator[list[FrameItem]]) -> Iterator[int]:
        """Encodes into segments; yields the number of frames written so far after every batch."""
        stats = self.ctx.stats
        for batch in batches:
            for item in batch:
                if item.warmup:
                    continue
                if item.segment is not None and self.segment is not None:
                    item.segment.resized_frames = stats.resized_frames
                    self._close(item.segment, complete=False)
                if self.segment is None:
                    self.open()
                container, stream, _ = self.segment
                if not self.frames:
                    self._configure(stream, item.out)
                if (item.out.width, item.out.height) != self.size:
                    self._resized(item.out)
                for packet in stream.encode(item.out):  # PyAV scales a frame of another size to the stream's
                    container.mux(packet)
                self.frames += 1
                stats.frames += 1
            yield stats.frames
        end = self.end()
        if not self.frames:
            if self.checkpoint.resume is not None:
                raise InputError(f"{self.ctx.src}: frame {end.frames} of the interrupted run is no longer there")
            raise InputError(f"{self.ctx.src}: no video frame could be decoded")
        end.resized_frames = stats.resized_frames
        self._close(end, complete=True)
        yield stats.frames

    def open(self) -> None:
        """Opens the next segment's file and encoder; the frame geometry is set by the first frame."""
        ctx = self.ctx
        name = self.checkpoint.segment_name(segment_suffix(ctx.dst))
        container = open_output(self.checkpoint.part_path(name), ctx.dst, segment=True)
        try:
            stream = setup_video_stream(
                container, self.source.video, ctx.options.codec, ctx.options.encoder_options(), ctx.dst
            )
        except BaseException:
            container.close()
            raise
        self.segment, self.frames = (container, stream, name), 0

    def abandon(self) -> None:
        """Closes and removes an unfinished segment after a failure (finished ones stay for --resume)."""
        if self.segment is not None:
            container, _, name = self.segment
            self.segment = None
            try:
                container.close()
            except Exception:  # noqa: BLE001 - already failing
                pass
            self.checkpoint.part_path(name).unlink(missing_ok=True)

    def _resized(self, frame: av.VideoFrame) -> None:
        stats = self.ctx.stats
        if not stats.resized_frames:
            log.warning(
                "%s: frame %d is %dx%d, the reel %dx%d: frames of another size are scaled to the reel's "
                "(their luma is no longer the input's)",
                self.ctx.src, stats.frames, frame.width, frame.height, *self.size,
            )  # fmt: skip
        stats.resized_frames += 1
        stats.luma_exact = False

    def _configure(self, stream: av.video.stream.VideoStream, first: av.VideoFrame) -> None:
        codec = self.ctx.options.codec
        ctx = stream.codec_context
        self.size = self.size or (first.width, first.height)
        ctx.width, ctx.height = self.size
        ctx.pix_fmt = first.format.name
        options, field_order = field_coding(self.source.video, codec, ctx.options, first)
        ctx.options = {**options, **format_options(codec, first.format.name)}
        if field_order:
            ctx.field_order = field_order
        ctx.color_range = first.color_range
        ctx.colorspace = first.colorspace
        ctx.color_primaries = first.color_primaries
        ctx.color_trc = first.color_trc
        self.ctx.stats.pixel_format = first.format.name

    def _close(self, point: ResumePoint, complete: bool) -> None:
        container, stream, name = self.segment
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
        self.segment = None
        self.checkpoint.commit(name, self.frames, point, complete)
