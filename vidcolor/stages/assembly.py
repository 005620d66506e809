"""The final assembly: the finished segments and the input's other streams (sound, subtitles,
copied whole, or sound re-encoded where the container needs it) muxed by time into the output,
with the timestamp repairs containers need: decode times put back, copied streams kept in time
where the video's clock started again, every stream from 0 in containers of frame slots."""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.bitstream

from ..containers import (
    ANNEXB_CONTAINERS,
    ANNEXB_FILTERS,
    is_slot_container,
    keep_pixel_aspect,
    open_output,
    output_time_base,
    remuxed_container,
)
from ..errors import EncodeError
from ..media import (
    convert_subtitle,
    copy_video_metadata,
    describe_stream,
    frame_rate,
    goes_back,
    is_subtitle_gap,
    open_input,
    plan_streams,
)
from .context import RunContext

log = logging.getLogger(__name__)


class Assembly:
    """Writes the output of the run `ctx` from its segments; `video` is the input's video stream."""

    def __init__(self, ctx: RunContext, video: av.video.stream.VideoStream):
        self.ctx, self.src, self.dst, self.video = ctx, ctx.src, ctx.dst, video
        self.stats = ctx.stats

    def assemble(self, paths: list[Path], temp: Path) -> None:
        """Muxes the finished segments `paths` and the input's copied streams into `temp`, by time.
        Streams too damaged for the muxer to take are left out (warned, listed in the stats)."""
        try:
            self._mux(paths, temp, copy=True)
        except av.FFmpegError as e:
            if not self.stats.copied_streams and not self.stats.reencoded_streams:
                raise
            log.warning("%s: its other streams cannot be copied (%s); writing the video alone", self.src, e)
            temp.unlink(missing_ok=True)
            self._mux(paths, temp, copy=False)

    def _mux(self, paths: list[Path], temp: Path, copy: bool) -> None:
        inp = open_input(self.src, self.ctx.options.frame_rate)
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
                            f"{self.ctx.options.codec} reorders frames, which {self.dst.suffix} cannot time: "
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
        if self.ctx.rotation:
            stream.set_display_rotation(self.ctx.rotation)
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
