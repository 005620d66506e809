"""Output containers and encoders: what each needs beyond a plain mux.

The container a run's segments are written in, the time base its video is written in, the
encoder it gets when none is named, and the settings some encoders need to open at all.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av

from .errors import EncodeError, OutputError, reason
from .media import copy_video_metadata, frame_rate, header_written

# AVFieldOrder values of interlaced video (top or bottom field first, coded and displayed).
INTERLACED_FIELD_ORDERS = (2, 3, 4, 5)
BOTTOM_FIRST_FIELD_ORDERS = (3, 5)  # AVFieldOrder: AV_FIELD_BB, AV_FIELD_BT (bottom coded first)
FIELD_CODING_ENCODERS = ("libx264", "mpeg2video", "prores_ks")


# Containers whose files do not give back the timestamps they were written with: AVI has none (it
# stores a video as a run of frame slots, one per tick of the time base, and fills every slot
# without a frame with an empty one); MPEG-TS, MPEG-PS and FLV shift them (by their mux delay, or
# the first segment's by the encoder's). Read back, segments in these started again at 0 or
# moved, and joining them failed. A run's segments for them are written in another container and
# remuxed into theirs at the end: for AVI in NUT, which keeps the packets as the encoder made
# them (stream headers in-band, as AVI wants them; AVI's frames are not reordered, so NUT's lack
# of decode times does not matter), for the others in MOV, which keeps the decode times of
# reordered frames.
REMUXED_CONTAINERS = {
    ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".mpg": "mpeg", ".mpeg": "mpeg",
    ".vob": "vob", ".flv": "flv",
}  # fmt: skip
# Extensions FFmpeg gives to another container than the one meant: it guesses SVCD's for .vob
# (MPEG-2 at SVCD sizes only), and a .vob failed once every frame was colorized.
SUFFIX_FORMATS = {".vob": "vob"}
SLOT_CONTAINERS = frozenset({"avi"})
SLOT_SEGMENT_SUFFIX = ".nut"
REMUXED_SEGMENT_SUFFIX = ".mov"
ANNEXB_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}  # length-prefixed units to start codes
ANNEXB_CONTAINERS = frozenset({"mpegts", "mpeg", "vob"})  # those that want start codes (FLV, like MOV, does not)
GLOBAL_HEADER = 1 << 22  # AV_CODEC_FLAG_GLOBAL_HEADER: the stream headers in extradata, not in-band


def remuxed_container(path: Path) -> str | None:
    """FFmpeg's name of `path`'s container when a run's segments for it are another's, else None."""
    return REMUXED_CONTAINERS.get(path.suffix.lower())


def container_format(path: Path) -> str | None:
    """FFmpeg's name of the container to write `path` in where its extension alone would name the
    wrong one (see SUFFIX_FORMATS), else None: FFmpeg's guess is right."""
    return SUFFIX_FORMATS.get(path.suffix.lower())


def is_slot_container(path: Path) -> bool:
    return remuxed_container(path) in SLOT_CONTAINERS


def segment_suffix(dst: Path) -> str:
    """The container a run's segments of `dst` are written in: dst's own, or another (see above)."""
    if is_slot_container(dst):
        return SLOT_SEGMENT_SUFFIX
    return REMUXED_SEGMENT_SUFFIX if remuxed_container(dst) else dst.suffix


# Ogg, whose video packets are timed by the frame: in a finer time base (an MP4's 1/12800) the
# first frame of a VP8 stream read back at 39.9 ms instead of 0, and a joined reel's frames
# bunched up at 40 ms.
FRAME_TICK_SUFFIXES = frozenset({".ogg", ".ogv"})


def output_time_base(source: av.video.stream.VideoStream, dst: Path) -> Fraction:
    """The time base the colorized video of `dst` is written in: the input's, except in a container of
    frame slots or frame ticks (Ogg), where it is one frame of the input's base rate (FFmpeg's
    r_frame_rate: the lowest rate at which every timestamp falls on a tick), so that a
    variable-rate input keeps its timing as empty slots where frames last longer. In the input's
    own time base a 25 fps reel from an MP4 (1/12800, which the AVI muxer turned into 1/600) was
    written as 5,777 slots at 600 fps. Unless that rate is unknown or below the average rate (two
    frames would share a slot): then the input's. An average above twice the base rate is not one
    of frames: FFmpeg 8 gives raw NTSC DV's time base (60,000) as its average rate."""
    base, average = source.guessed_rate, source.average_rate
    if average and base and average > 2 * base:
        average = None
    by_frame = is_slot_container(dst) or dst.suffix.lower() in FRAME_TICK_SUFFIXES
    if by_frame and base and (not average or average <= base * Fraction(1001, 1000)):
        return 1 / Fraction(base)
    return source.time_base


FASTSTART_SUFFIXES = {".mp4", ".m4v", ".mov", ".3gp", ".3g2"}  # FFmpeg's mov/mp4 muxers, which take movflags


def open_output(temp: Path, dst: Path, segment: bool = False) -> av.container.OutputContainer:
    """Opens the temporary file that becomes `dst`, or a `segment` of it; the container is chosen
    by temp's extension."""
    # A NUT segment keeps the times it is given: left to itself it would move a segment that starts
    # before 0 (an input's first frame can) later, and not the others.
    options = {"avoid_negative_ts": "disabled"} if segment and temp.suffix == SLOT_SEGMENT_SUFFIX else {}
    if not segment and temp.suffix.lower() in FASTSTART_SUFFIXES:
        # The index (moov) at the front, as `ffmpeg -movflags +faststart`: a browser or a web
        # archive plays the reel before all of it has arrived. The muxer rewrites the file once
        # at the end to move it there.
        options["movflags"] = "+faststart"
    try:
        return av.open(str(temp), "w", format=container_format(temp), options=options)
    except ValueError as e:
        raise _unknown_container(dst) from e
    except av.FFmpegError as e:
        raise OutputError(f"{dst}: cannot create output ({reason(e)})") from e


# Containers of raw frames: FFmpeg's Y4M muxer takes only frames handed over in memory
# (wrapped_avframe), which cannot be written as segments and joined, nor copied from a file.
RAW_FRAME_CONTAINERS = frozenset({"yuv4mpegpipe"})
DEFAULT_CODEC = "libx264"
# Containers whose own codec is the default where they take H.264 too: MXF, whose index holds frame
# offsets of 127 at most (x264's long GOPs do not fit), and DVD's VOB, whose players play MPEG-2.
OWN_CODEC_CONTAINERS = frozenset({"mxf", "vob"})
# When the container's own encoder is not in this FFmpeg (Ogg's Theora), the first of these it takes.
FALLBACK_CODECS = ("libvpx-vp9", "libvpx", "mpeg4", "ffv1")


def _unknown_container(dst: Path) -> OutputError:
    return OutputError(f"{dst}: no known container for the extension '{dst.suffix}' (use .mp4, .mkv, .mov)")


def _container_of(dst: Path, folder: Path) -> tuple[str, str] | None:
    """FFmpeg's name of the container `dst`'s extension names and the container's own video codec
    (a file in `folder` is opened to ask), or None for an unknown extension."""
    try:
        with av.open(str(folder / f"probe{dst.suffix}"), "w", format=container_format(dst)) as probe:
            return probe.format.name, probe.default_video_codec
    except ValueError:
        return None


def check_container(dst: Path) -> None:
    """Refuses, before any work, an output whose extension names no container vidcolor can write."""
    with tempfile.TemporaryDirectory() as folder:
        container = _container_of(dst, Path(folder))
    if container is None:
        raise _unknown_container(dst)
    if container[0] in RAW_FRAME_CONTAINERS:
        raise OutputError(
            f"{dst}: vidcolor cannot write raw frames ({dst.suffix}); for lossless output use .mkv with --codec ffv1"
        )


def default_codec(dst: Path) -> str:
    """The encoder for `dst` when none is named: libx264, unless dst's container cannot hold H.264;
    then the container's own (WebM: VP9, MXF: MPEG-2, as `ffmpeg` chooses), or, where this FFmpeg
    has no encoder for that (Ogg's Theora), the first of FALLBACK_CODECS the container takes."""
    with tempfile.TemporaryDirectory() as folder:
        container = _container_of(dst, Path(folder))
        if container is None:
            return DEFAULT_CODEC  # an unknown container: check_container says so
        name, own = container
        holds = functools.partial(_holds, name)
        if name not in OWN_CODEC_CONTAINERS and holds(DEFAULT_CODEC):
            return DEFAULT_CODEC
        if _is_encoder(own):
            return av.Codec(own, "w").name
        # None fits: setup_video_stream names the container and the codec.
        return next((codec for codec in FALLBACK_CODECS if holds(codec)), DEFAULT_CODEC)


def _is_encoder(codec: str) -> bool:
    try:
        return av.Codec(codec, "w").is_encoder
    except av.codec.codec.UnknownCodecError:
        return False


def _holds(container: str, codec: str) -> bool:
    """Whether `container` (FFmpeg's name) takes `codec`'s video: its header is written in memory
    with a small stream of it."""

    def add(probe: av.container.OutputContainer) -> None:
        stream = probe.add_stream(codec)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"

    return header_written(container, add)


# Encoders whose time base must be one frame (MPEG-1/2 code the frame rate, from a short list).
FRAME_RATE_ENCODERS = frozenset({"mpeg1video", "mpeg2video"})
# DNxHR, the resolution-independent DNxHD, by the pixel format it is given (8-bit 4:2:2 high quality,
# 10-bit 4:2:2, 4:4:4); without a DNxHR profile DNxHD takes a few broadcast sizes and bit rates only.
DNXHR_PROFILES = {"yuv422p": "dnxhr_hq", "yuv422p10le": "dnxhr_hqx", "yuv444p10le": "dnxhr_444"}


def format_options(codec: str, pix_fmt: str) -> dict[str, str]:
    """Encoder options that depend on the pixel format chosen for the first frame."""
    if codec == "dnxhd" and pix_fmt in DNXHR_PROFILES:
        return {"profile": DNXHR_PROFILES[pix_fmt]}
    return {}


DV_FIELD_ORDER = 3  # AV_FIELD_BB: DV codes the bottom field first (IEC 61834, SMPTE 314M)


def input_fields(source: av.video.stream.VideoStream, first: av.VideoFrame | None = None) -> tuple[bool, int]:
    """Whether the input is interlaced, and its field order (AVFieldOrder, 0 where unknown): the
    stream's where it gives one; where it says nothing (raw DV), its first frame's interlaced flag,
    and DV's bottom field first. Raw DV was coded as progressive and labelled so: players showed
    its two fields woven together, combing every moving edge."""
    order = source.codec_context.field_order if source.codec_context else 0
    if order in INTERLACED_FIELD_ORDERS:
        return True, order
    if order == 0 and first is not None and first.interlaced_frame:
        return True, DV_FIELD_ORDER if source.codec_context.name == "dvvideo" else 0
    return False, order


def field_coding(
    source: av.video.stream.VideoStream, codec: str, options: dict[str, str], first: av.VideoFrame | None = None
) -> tuple[dict[str, str], int]:
    """Encoder options and field order (0: leave it) for `source`: interlaced input stays interlaced,
    its field order kept, and encoders that code fields (x264, MPEG-2, ProRes) are told to
    (interlaced DCT and motion estimation). Each frame's own order travels with it (see run.py)."""
    interlaced, field_order = input_fields(source, first)
    if interlaced and codec in FIELD_CODING_ENCODERS and "+ildct" not in options.get("flags", ""):
        options = {**options, "flags": options.get("flags", "") + "+ildct+ilme"}
    if interlaced and codec == "libx264" and field_order in BOTTOM_FIRST_FIELD_ORDERS:
        # Told by the frames alone, x264 coded the pictures bottom first, but MP4 and MOV read the
        # stream back as top first, x264's default (ffmpeg needs `-x264-params bff=1` the same way).
        params = options.get("x264-params")
        if "bff=1" not in (params or "").split(":"):
            options = {**options, "x264-params": f"{params}:bff=1" if params else "bff=1"}
    return options, field_order


def setup_video_stream(
    out: av.container.OutputContainer,
    source: av.video.stream.VideoStream,
    codec: str,
    options: dict[str, str],
    dst: Path,
) -> av.video.stream.VideoStream:
    """The colorized video stream for `dst`, written into `out` (dst itself or one of its segments),
    configured from the input stream; frame geometry comes later (and, where the stream does not
    say whether it is interlaced, the field coding: see field_coding)."""
    rate = frame_rate(source)
    options, field_order = field_coding(source, codec, options)
    # x265 and SVT-AV1 print their settings to stderr themselves, past FFmpeg's logging (and through
    # the progress bar): errors only. SVT-AV1 reads its level from the environment; one set wins.
    if codec == "libx265":
        options = {"x265-params": "log-level=error", **options}
    if codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")
    try:
        stream = out.add_stream(codec, rate=rate, options=options)
    except (ValueError, av.FFmpegError) as e:
        if codec in av.codecs_available:
            raise EncodeError(f"{dst}: the {out.format.name} container cannot hold {codec} video") from e
        raise EncodeError(f"encoder {codec!r} is not available: {e}") from e
    final = remuxed_container(dst)
    if final and out.format.name != final:
        # A segment for another container: refuse now what that one would refuse at the end.
        with av.open(io.BytesIO(), "w", format=final) as probe:
            try:
                probe.add_stream(codec)
            except ValueError as e:
                raise EncodeError(f"{dst}: the {final} container cannot hold {codec} video") from e
        if final in SLOT_CONTAINERS:
            stream.codec_context.flags &= ~GLOBAL_HEADER
    stream.time_base = stream.codec_context.time_base = output_time_base(source, dst)
    if codec in FRAME_RATE_ENCODERS:
        stream.time_base = stream.codec_context.time_base = 1 / Fraction(source.guessed_rate or rate)
    if is_slot_container(dst):
        # A frame's slot is its time, so frames are coded in display order: no B-frame reordering,
        # which in AVI puts every frame `delay` slots late (FFmpeg's own x264 AVI shows frame 0 at
        # 80 ms).
        stream.codec_context.max_b_frames = 0
    if field_order:
        stream.codec_context.field_order = field_order
    keep_pixel_aspect(source, stream)
    copy_video_metadata(source, stream)
    return stream


# Codecs whose pictures carry their pixel aspect ratio (H.264 and HEVC VUI, MPEG sequence headers,
# FFV1 and DV frame headers, JFIF). Matroska and WebM take the ratio from a stream field that PyAV
# cannot set, so there only these keep it; MOV, MP4 and the others take it from the encoder's.
ASPECT_IN_PICTURES = frozenset({"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4", "ffv1", "mjpeg", "dvvideo"})
STREAM_ASPECT_CONTAINERS = (".mkv", ".mka", ".webm")


# Encoders that store each frame's pixel aspect ratio rather than the stream's (FFV1's frame
# headers): a frame decoded from a codec without one (ProRes, whose ratio is the MOV's) has none.
FRAME_ASPECT_ENCODERS = frozenset({"ffv1"})


class FrameAspect:
    """Puts a pixel aspect ratio on each frame (FFmpeg's setsar filter: PyAV cannot set it on a frame).
    ProRes with 8:9 pixels from a MOV into FFV1 came out with square ones."""

    def __init__(self, aspect: Fraction):
        self.aspect = aspect
        self._graph: av.filter.Graph | None = None
        self._shape: tuple | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        shape = (frame.width, frame.height, frame.format.name, frame.time_base)
        if shape != self._shape:
            graph = av.filter.Graph()
            size = {"width": frame.width, "height": frame.height}
            graph.link_nodes(
                graph.add_buffer(**size, format=frame.format, time_base=frame.time_base),
                graph.add("setsar", f"{self.aspect.numerator}/{self.aspect.denominator}"),
                graph.add("buffersink"),
            ).configure()
            self._graph, self._shape = graph, shape
        self._graph.push(frame)
        return self._graph.pull()


def frame_aspect(source: av.video.stream.VideoStream, codec: str) -> FrameAspect | None:
    """What puts the input's non-square pixel aspect ratio on each frame, where `codec` needs it."""
    aspect = source.sample_aspect_ratio
    return FrameAspect(aspect) if codec in FRAME_ASPECT_ENCODERS and aspect and aspect != 1 else None


def keep_pixel_aspect(source: av.video.stream.VideoStream, stream: av.video.stream.VideoStream) -> None:
    """The input's pixel aspect ratio (anamorphic standard definition: 8:9, 16:11, ...) on `stream`."""
    if source.sample_aspect_ratio:
        stream.codec_context.sample_aspect_ratio = source.sample_aspect_ratio


def lost_pixel_aspect(source: av.video.stream.VideoStream, codec: str, dst: Path) -> str | None:
    """Why `dst` will show the input's non-square pixels as square, or None if it keeps them."""
    aspect = source.sample_aspect_ratio
    if not aspect or aspect == 1 or dst.suffix.lower() not in STREAM_ASPECT_CONTAINERS:
        return None
    with contextlib.suppress(ValueError, av.FFmpegError):
        if av.Codec(codec, "w").canonical_name in ASPECT_IN_PICTURES:
            return None
    return (
        f"{dst}: the input's pixels are {aspect.numerator}:{aspect.denominator}, and {codec} in {dst.suffix} "
        "cannot say so here: players will show the picture with square pixels, "
        "stretched or squeezed (.mov keeps the ratio, as do libx264, libx265, ffv1 and mpeg2video)"
    )
