"""Opening the input, and the input's other streams in the output: validation, stream planning, packet
copy, re-encoded sound and subtitle conversion. What each output container and encoder needs is in
containers.py."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.codec.hwaccel import HWAccel

from .errors import DecodeDeviceError, InputError, OutputError, reason

log = logging.getLogger(__name__)

# Subtitle codecs carrying plain UTF-8 text, convertible without loss when a container lacks one.
_TEXT_SUBTITLES = ("subrip", "mov_text", "text")
# Styled text subtitles (SubStation Alpha): their text converts, their styling and placement do not.
_STYLED_SUBTITLES = ("ass", "ssa")
_ASS_OVERRIDE = re.compile(r"\{[^}]*\}")  # {\i1}, {\pos(10,20)}: styling inside the text


# Still-image formats ffmpeg's image2 demuxer reads as numbered frame sequences (lower case).
SEQUENCE_SUFFIXES = frozenset(".dpx .tif .tiff .png .exr .jpg .jpeg .bmp .tga .jp2".split())
DECODERS = ("cpu", "cuda")  # where video is decoded: FFmpeg on the CPU, or NVDEC through its CUDA hwaccel
NVDEC_FORMATS = ("nv12", "p010le", "p016le")  # NVDEC's 4:2:0 pictures, as PyAV downloads them
DEFAULT_SEQUENCE_RATE = Fraction(24)  # frames per second of an image sequence given without a rate


@dataclass(frozen=True)
class ImageSequence:
    """Numbered frames in a folder: `pattern` is ffmpeg's printf-style name, e.g. reel_%06d.dpx."""

    pattern: Path
    start: int  # number of the first frame
    count: int


def quarter_turns(rotation: float | None) -> int:
    """Quarter turns anticlockwise (np.rot90's k, 0 to 3) that show upright a frame stored with a
    display rotation of `rotation` degrees (frame.rotation; None or 0: none)."""
    return round((rotation or 0) / 90) % 4


def find_sequence(folder: Path) -> ImageSequence:
    """The one numbered image sequence in `folder`; InputError if there is none, or a gap, or several."""
    runs: dict[tuple[str, int, str], list[int]] = {}
    for path in folder.iterdir():
        if path.suffix.lower() not in SEQUENCE_SUFFIXES or path.name.startswith("."):
            continue
        match = re.fullmatch(r"(.*?)(\d+)(\.[^.]+)", path.name)
        if match:
            prefix, digits, suffix = match.groups()
            runs.setdefault((prefix, len(digits), suffix), []).append(int(digits))
    if not runs:
        raise InputError(
            f"{folder}: a folder, but holds no numbered image frames ({', '.join(sorted(SEQUENCE_SUFFIXES))})"
        )
    if len(runs) > 1:
        names = ", ".join(f"{p}{'#' * w}{s}" for p, w, s in sorted(runs))
        raise InputError(f"{folder}: holds several image sequences ({names}); give a folder with one")
    (prefix, width, suffix), numbers = next(iter(runs.items()))
    numbers.sort()
    if numbers[-1] - numbers[0] + 1 != len(numbers):
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        raise InputError(f"{folder}: frames missing from the sequence (first: {missing[0]}); every frame must be there")
    return ImageSequence(folder / f"{prefix}%0{width}d{suffix}", numbers[0], len(numbers))


def check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuses, before anything is opened or written, what would fail or damage a file."""
    for path, what in ((src, "read from standard input"), (dst, "write to standard output")):
        if str(path) == "-":
            # The input is read twice (the video, then its sound and subtitles, from the start), and
            # the output written in checkpointed segments that are joined at the end.
            raise (InputError if path is src else OutputError)(f"vidcolor cannot {what} ('-'): name a file")
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if src.is_dir():
        find_sequence(src)  # a folder is an image sequence, or an error
    elif not src.is_file():
        raise InputError(f"{src}: not a file")
    if not os.access(src, os.R_OK):
        raise InputError(f"{src}: not readable (permission denied)")
    if dst.exists() and (dst.resolve() == src.resolve() or os.path.samefile(src, dst)):
        raise OutputError(f"{dst}: output is the input; choose another output path")
    if dst.exists() and not overwrite:
        raise OutputError(f"{dst}: already exists; pass --overwrite to replace it")
    if dst.exists() and dst.is_dir():
        raise OutputError(f"{dst}: is a folder")
    folder = dst.parent
    if not folder.is_dir():
        raise OutputError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{folder}: output folder is not writable")


def _mp4_without_index(path: Path) -> bool:
    """An ISO-BMFF file (ftyp first) whose top-level boxes hold media data but no 'moov' index."""
    boxes = set()
    with open(path, "rb") as f:
        size = path.stat().st_size
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            length, kind = struct.unpack(">I4s", f.read(8))
            if length == 1 and offset + 16 <= size:
                (length,) = struct.unpack(">Q", f.read(8))
            if not boxes and kind != b"ftyp":
                return False
            boxes.add(kind)
            if length < 8:  # 0: to the end of the file
                break
            offset += length
    return b"moov" not in boxes and b"mdat" in boxes


def open_input(src: Path, frame_rate: Fraction | None = None, decoder: str = "cpu") -> av.container.InputContainer:
    """Opens a video file, or a folder of numbered frames as a video at `frame_rate` (default 24).

    decoder "cuda" decodes video files on the GPU (NVDEC, through FFmpeg's CUDA hwaccel), frames
    downloaded to memory; a stream NVDEC cannot decode falls back to the CPU decoder. No usable
    CUDA device is an error, not a silent fallback. Image sequences always decode on the CPU."""
    try:
        if src.is_dir():
            sequence = find_sequence(src)
            rate = frame_rate or DEFAULT_SEQUENCE_RATE
            options = {"framerate": str(rate), "start_number": str(sequence.start)}
            container = av.open(str(sequence.pattern), format="image2", options=options)
        elif decoder == "cuda":
            container = _open_hwaccel(src)
        else:
            container = av.open(str(src), metadata_errors="replace")
    except (av.FFmpegError, UnicodeDecodeError) as e:
        if src.is_file() and _mp4_without_index(src):
            raise InputError(
                f"{src}: an MP4/MOV file without its index (the 'moov' box): it was cut short before its end "
                "and cannot be read without it"
            ) from e
        raise InputError(f"{src}: not a video file vidcolor can read ({reason(e)})") from e
    if not _films(container):
        cover = " (only a cover picture)" if container.streams.video else ""
        container.close()
        raise InputError(f"{src}: has no video stream{cover}")
    return container


def _films(container: av.container.InputContainer) -> list[av.video.stream.VideoStream]:
    """The video streams that are not a cover picture (an MP3's or an M4A's, a Matroska's attachment)."""
    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def _open_hwaccel(src: Path) -> av.container.InputContainer:
    """`src` opened for decoding on the GPU (see open_input); DecodeDeviceError without a CUDA device."""
    hwaccel = HWAccel(device_type="cuda", allow_software_fallback=True)
    try:
        return av.open(str(src), metadata_errors="replace", hwaccel=hwaccel)
    except av.FFmpegError as e:
        # PyAV creates the CUDA device while opening; the same file opening without it means the
        # device, not the file, was the problem.
        try:
            av.open(str(src), metadata_errors="replace").close()
        except av.FFmpegError:
            raise e from None
        raise DecodeDeviceError(
            f"--decoder cuda: FFmpeg could not open a CUDA device ({reason(e)}); it needs an NVIDIA GPU, its driver "
            "and an FFmpeg built with CUDA (PyAV's wheels are). Use --decoder cpu"
        ) from e


def set_decode_threads(stream: av.video.stream.VideoStream) -> None:
    """Frame threads for FFmpeg's CPU decoders; none where NVDEC decodes (its work is on the GPU)."""
    # FFmpeg gives NVDEC one more decode surface per frame thread, and NVDEC has at most 32: with a
    # thread per core, NVDEC failed to start on many-core hosts and FFmpeg quietly decoded on the
    # CPU. Slice threads (PyAV's default) take no surfaces.
    stream.thread_type = "SLICE" if stream.codec_context.is_hwaccel else "AUTO"


def decoded_on(stream: av.video.stream.VideoStream, frame: av.VideoFrame) -> str:
    """Where `frame`, decoded from `stream`, was decoded: "cuda" (NVDEC) or "cpu"."""
    # is_hwaccel means only that a CUDA device was attached: where NVDEC could not start, FFmpeg
    # falls back to its CPU decoder. (The context's pix_fmt does not tell: PyAV reads it once, when
    # the stream opens.) The frame does: PyAV downloads NVDEC's 4:2:0 pictures in the semi-planar
    # layout NVDEC decodes to (NV12, P010, P016), which FFmpeg's CPU decoders never give. Its 4:4:4
    # pictures come down planar (yuv444p, yuv444p16le), as a CPU decoder's would: there the
    # attached device is all there is to go by.
    if not stream.codec_context.is_hwaccel:
        return "cpu"
    name = frame.format.name
    return "cuda" if name in NVDEC_FORMATS or name.startswith("yuv444p") else "cpu"


def video_stream(container: av.container.InputContainer, src: Path) -> av.video.stream.VideoStream:
    """The video stream to colorize: the one `ffmpeg` takes (av_find_best_stream: not a cover
    picture, the most pixels and frames), else the first with a decoder; InputError if none has
    one. The first alone was a Matroska's cover picture where it came before the film: one frame
    colorized, the film copied grey, exit 0."""
    films, best = _films(container), container.streams.best("video")
    candidates = ([best] if best in films else []) + [s for s in films if s is not best]
    for stream in candidates:
        try:
            if stream.codec_context is not None and stream.codec_context.codec is not None:
                return stream
        except av.FFmpegError:
            continue
    names = ", ".join(str(s.codec_context.name if s.codec_context else "unknown") for s in container.streams.video)
    raise InputError(f"{src}: its video ({names}) cannot be decoded: no decoder for it")


@dataclass
class CopiedStream:
    """An input stream whose packets go to the output unchanged (or with text-only conversion)."""

    source: av.stream.Stream
    target: av.stream.Stream
    convert: str | None = None  # "mov_text->subrip" style conversion of text subtitles, else None
    reencode: bool = False  # sound the container cannot hold as it is: decoded, encoded in its own codec


@dataclass
class StreamPlan:
    copied: dict[int, CopiedStream] = field(default_factory=dict)  # by input stream index
    dropped: list[str] = field(default_factory=list)  # descriptions of streams left out


# Data that means something only in the container it came in: a DVD's navigation packets (the VOB
# muxer writes its own; AVI took them as a stream of unknown kind, MPEG-TS as private data).
CONTAINER_BOUND_DATA = frozenset({"dvd_nav_packet"})


def describe_stream(stream: av.stream.Stream) -> str:
    # The codec's name (mp3), not its decoder's (mp3float); data streams have no decoder.
    ctx = stream.codec_context
    name = ctx.codec.canonical_name if ctx else getattr(stream, "name", None) or "data"
    language = stream.metadata.get("language")
    return f"stream #{stream.index} ({stream.type} {name}{', ' + language if language else ''})"


def plan_streams(
    inp: av.container.InputContainer,
    out: av.container.OutputContainer,
    video_index: int,
    add_video: Callable[[], av.video.stream.VideoStream],
    copy: bool = True,
) -> tuple[av.video.stream.VideoStream, StreamPlan]:
    """Adds the output streams in input order: `add_video()` for the colorized one, copies for the
    rest (unless `copy` is False: then they are all left out)."""
    plan = StreamPlan()
    supported = out.supported_codecs
    video = None
    for stream in inp.streams:
        if stream.index == video_index:
            video = add_video()
            continue
        if not copy:
            plan.dropped.append(describe_stream(stream))
            continue
        codec = stream.codec_context.name if stream.codec_context else None
        if stream.type == "data" and "timecode" in stream.metadata:
            # A QuickTime timecode track: the muxer rebuilds it from the video stream's metadata.
            continue
        if getattr(stream, "name", None) in CONTAINER_BOUND_DATA:
            plan.dropped.append(describe_stream(stream))
            log.warning("leaving out %s: it means something only in its own container", describe_stream(stream))
            continue
        text = codec in _TEXT_SUBTITLES + _STYLED_SUBTITLES
        if stream.type == "subtitle" and text and codec not in supported and not _takes(out, stream):
            target_codec = next((c for c in _TEXT_SUBTITLES[:2] if c in supported), None)
            if target_codec:
                target = out.add_mux_stream(target_codec)
                target.time_base = stream.time_base
                target.metadata.update(stream.metadata)
                target.disposition = stream.disposition
                plan.copied[stream.index] = CopiedStream(stream, target, f"{codec}->{target_codec}")
                if codec in _STYLED_SUBTITLES:
                    log.warning(
                        "converting %s to %s: its text is kept, its styling and placement are not",
                        describe_stream(stream),
                        target_codec,
                    )
                else:
                    log.info("converting %s to %s (text only, lossless)", describe_stream(stream), target_codec)
                continue
        # Data streams too: a DVD's navigation packets made Matroska and MP4 refuse the header,
        # and the fallback then wrote the video alone, without the reel's sound.
        if codec not in supported and not _takes(out, stream):
            target = _audio_encoder(out, stream) if stream.type == "audio" else None
            if target is not None:
                plan.copied[stream.index] = CopiedStream(stream, target, reencode=True)
                log.warning(
                    "re-encoding %s as %s: the %s container cannot hold it as it is",
                    describe_stream(stream),
                    target.codec_context.name,
                    out.format.name,
                )
                continue
            plan.dropped.append(describe_stream(stream))
            log.warning("leaving out %s: the %s container cannot hold it", describe_stream(stream), out.format.name)
            continue
        try:
            target = out.add_stream_from_template(stream)
        except (ValueError, av.FFmpegError) as e:
            plan.dropped.append(describe_stream(stream))
            log.warning("leaving out %s: %s", describe_stream(stream), e)
            continue
        target.metadata.update(stream.metadata)
        # Its role too: default, forced (subtitles), commentary, cover art (a picture, not a video track).
        target.disposition = stream.disposition
        if stream.type == "audio" and _placed_layout(stream.codec_context) != stream.codec_context.layout.name:
            # Channels without positions: MP4 and MOV refuse them. The samples are untouched.
            target.codec_context.layout = _placed_layout(stream.codec_context)
        plan.copied[stream.index] = CopiedStream(stream, target)
    return video, plan


# FFmpeg's default channel layout for each number of channels (av_channel_layout_default).
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0(side)", 6: "5.1(side)", 7: "6.1", 8: "7.1"}


def _placed_layout(ctx: av.audio.codeccontext.AudioCodecContext) -> str:
    """The sound's channel layout; where its channels have no positions (PCM from an AVI or WAV), the
    usual layout for their number, as `ffmpeg` guesses it (more than 8: left as it is)."""
    if all(c.name == "NONE" for c in ctx.layout.channels):
        return DEFAULT_LAYOUTS.get(ctx.channels, ctx.layout.name)
    return ctx.layout.name


# Sound encoders tried, after the container's own, for sound it cannot hold as it is.
FALLBACK_AUDIO_CODECS = ("aac", "mp2", "pcm_s16le")


def _audio_encoder(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream):
    """A stream of `out`'s own sound codec (Opus in WebM, MP2 in MPEG-PS, PCM in MXF) for sound it
    cannot hold as it is, else of the first of FALLBACK_AUDIO_CODECS that opens for this sound in
    it, at the input's rate where the codec takes it; None if there is none. The sound is kept,
    not its bytes: an MP3 reel into WebM lost its sound, and into 3GP too (its own AMR-NB codes
    8 kHz mono only)."""
    ctx = stream.codec_context
    if ctx is None or not ctx.sample_rate:
        return None  # sound FFmpeg cannot read (damaged, or an unknown codec): nothing to encode
    for name in (out.default_audio_codec, *FALLBACK_AUDIO_CODECS):
        try:
            codec = av.Codec(name, "w")
        except (ValueError, av.FFmpegError, TypeError):
            continue
        rates = codec.audio_rates
        rate = ctx.sample_rate if not rates or ctx.sample_rate in rates else max(rates)
        if out.format.name == "mxf":
            rate = 48000  # the only rate FFmpeg's MXF muxer takes
        if not _opens(out.format.name, codec.name, rate, _placed_layout(ctx)):
            continue
        target = out.add_stream(codec.name, rate=rate, layout=_placed_layout(ctx))
        target.metadata.update(stream.metadata)
        target.disposition = stream.disposition
        return target
    return None


def _opens(container: str, codec: str, rate: int, layout: str) -> bool:
    """Whether `codec`'s encoder opens for sound of `rate` and `layout` and `container` writes its
    header with it (MXF's beside a picture: it refuses sound alone)."""

    def add(probe: av.container.OutputContainer) -> None:
        probe.add_stream(codec, rate=rate, layout=layout).codec_context.open()

    return header_written(container, add, beside_a_picture=container == "mxf")


def _takes(out: av.container.OutputContainer, stream: av.stream.Stream) -> bool:
    """Whether a container like `out` writes its header with a copy of `stream` in it, alone or, as
    MXF wants its sound, beside a picture. PyAV's `supported_codecs` lists only the codecs a muxer
    vouches for, and MPEG-TS and MPEG-PS vouch for none but their own video: MP3 and AC-3 sound,
    which they hold, were left out; MXF refuses sound alone: 24-bit PCM was cut to 16 bits."""
    return any(
        header_written(out.format.name, lambda probe: probe.add_stream_from_template(stream), beside_a_picture)
        for beside_a_picture in (False, True)
    )


Probe = Callable[[av.container.OutputContainer], object]  # adds the streams a probe asks about


def header_written(container: str, add: Probe, beside_a_picture: bool = False) -> bool:
    """Whether `container` (FFmpeg's name) writes its header, in memory, with what `add` adds to it,
    beside a picture of its own video codec if asked."""
    probe = av.open(io.BytesIO(), "w", format=container)
    try:
        if beside_a_picture:
            picture = probe.add_stream(probe.default_video_codec, rate=25)
            picture.width, picture.height = 720, 576
            picture.pix_fmt = av.Codec(probe.default_video_codec, "w").video_formats[0].name
        add(probe)
        probe.start_encoding()
        return True
    except (ValueError, av.FFmpegError, TypeError):
        return False
    finally:
        with contextlib.suppress(av.FFmpegError):
            probe.close()  # MXF's trailer fails without a packet


def _subtitle_text(payload: bytes, codec: str) -> bytes:
    if codec == "mov_text":
        (length,) = struct.unpack(">H", payload[:2]) if len(payload) >= 2 else (0,)
        return payload[2 : 2 + length]
    if codec in _STYLED_SUBTITLES:
        # FFmpeg's ASS packet: ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text.
        fields = payload.decode("utf-8", "replace").split(",", 8)
        text = _ASS_OVERRIDE.sub("", fields[-1]).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
        return text.encode()
    return payload


def is_subtitle_gap(packet: av.Packet) -> bool:
    """An empty QuickTime text sample: the mov muxer's own "clear the screen" marker between cues."""
    codec = packet.stream.codec_context.name if packet.stream.codec_context else ""
    return codec == "mov_text" and bytes(packet) == b"\x00\x00"


def convert_subtitle(packet: av.Packet, conversion: str) -> av.Packet:
    """A text subtitle packet re-wrapped for another container's text format; timing unchanged."""
    source, target = conversion.split("->")
    text = _subtitle_text(bytes(packet), source)
    payload = struct.pack(">H", len(text)) + text if target == "mov_text" else text
    converted = av.Packet(payload)
    converted.pts, converted.dts, converted.duration = packet.pts, packet.dts, packet.duration
    converted.time_base = packet.time_base
    return converted


def frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The stream's frame rate as FFmpeg guesses it (av_guess_frame_rate, as `ffmpeg` takes it: the
    base rate unless that is implausibly high and the average is not), else its average rate, else 25.
    The average alone is not enough: FFmpeg 8 reads raw NTSC DV as 60,000 frames a second on average
    (its time base), and a MOV's timecode track refused that rate: the run failed at the end."""
    return stream.guessed_rate or stream.average_rate or Fraction(25)


def copy_video_metadata(source: av.video.stream.VideoStream, target: av.video.stream.VideoStream) -> None:
    """The input video's tags (language, timecode, title...) and role (default...) on the colorized
    stream; not the tags that describe the old encoding or that the muxer writes itself."""
    for key, value in source.metadata.items():
        if key not in ("encoder", "rotate", "handler_name", "vendor_id"):
            target.metadata[key] = value
    target.disposition = source.disposition


TS_DISCONT = 0x200  # AVFMT_TS_DISCONT: a format whose timestamps may start again (MPEG-TS, MPEG-PS)
# How far a stream's timestamps may go back before it is taken as a new recording whose clock
# started again (FFmpeg's rule for formats with timestamp discontinuities: 0.1 s).
JUMP_BACK_SECONDS = Fraction(1, 10)


def goes_back(before: Fraction, now: Fraction) -> bool:
    """Whether a stream's time `now` (s) after `before` (s) is a jump back: its clock started again."""
    return now + JUMP_BACK_SECONDS < before


def clock_jumps(path: Path) -> bool:
    """Whether the video's decode times go back anywhere in `path` (recordings joined into one
    MPEG-TS or MPEG-PS file), read from its packets without decoding them: there a time names
    more than one frame, so it cannot be cut into parts by time."""
    try:
        with av.open(str(path)) as container:
            if not container.format.flags & TS_DISCONT:
                return False
            stream = video_stream(container, path)
            last = None
            for packet in container.demux(stream):
                if packet.dts is None:
                    continue
                now = packet.dts * packet.time_base
                if last is not None and goes_back(last, now):
                    return True
                last = now
    except (av.FFmpegError, InputError):
        return False  # the run reports real errors
    return False


def time_span(path: Path, frame_rate: Fraction | None = None) -> tuple[float, float] | None:
    """(first timestamp, duration) in seconds of the video as its container announces it; None if unknown."""
    try:
        if path.is_dir():
            return 0.0, find_sequence(path).count / float(frame_rate or DEFAULT_SEQUENCE_RATE)
        with av.open(str(path)) as container:
            stream = video_stream(container, path)
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            if stream.duration:
                return start, float(stream.duration * stream.time_base)
            if container.duration:
                return start, container.duration / av.time_base
    except Exception:  # noqa: BLE001 - only for planning; the run reports real errors
        return None
    return None


def estimate_frames(path: Path) -> int | None:
    """The video frame count the container announces (or duration x rate), for progress bars; None if unknown."""
    try:
        if path.is_dir():
            return find_sequence(path).count
        with av.open(str(path)) as container:
            stream = video_stream(container, path)
            if stream.frames:
                return stream.frames
            if stream.duration:
                return round(stream.duration * stream.time_base * frame_rate(stream))
    except Exception:  # noqa: BLE001 - only for the progress bar; the run reports real errors
        return None
    return None
