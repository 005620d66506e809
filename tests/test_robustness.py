"""Damaged and odd input: what decodes is kept, the damage is counted, odd formats keep their shape.

Every input is generated here; the faults (a full disk, a read error) are provoked, not mocked
where the real thing can be had."""

from __future__ import annotations

import json
import logging
import random
import resource
import signal
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import VideoSpec, packets_of, picture, read_video, write_video
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidcolor import colorize
from vidcolor.errors import InputError
from vidcolor.formats import planar_format, plane_array
from vidcolor.media import estimate_frames

GOP = {"g": "10"}


def _cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidcolor", *map(str, args)], capture_output=True, text=True, **kwargs)


def _decodable(path) -> list[int]:
    """pts of every frame a plain PyAV decode gets from a damaged file (errors skipped)."""
    found = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for packet in container.demux(stream):
            try:
                found += [f.pts for f in packet.decode()]
            except av.InvalidDataError:
                pass
    return found


def test_a_truncated_file_keeps_what_decodes_and_counts_what_is_missing(tmp_path, tiny_model):
    spec = VideoSpec(frames=100, width=96, height=64, audio_tracks=1, options=GOP)
    spec.container_options = {"movflags": "faststart"}
    whole = write_video(tmp_path / "whole.mp4", spec)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])  # the index (moov) is at the start, the data cut
    result = _cli(cut, tmp_path / "out.mp4", "--model", tiny_model, "--stats-json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    expected = _decodable(cut)
    assert 0 < stats["frames"] == len(expected) < 100
    assert stats["missing_frames"] == 100 - len(expected)
    assert result.stderr.count("WARNING") == 1 and f"about {100 - len(expected)} frames are missing" in result.stderr
    frames, _ = read_video(tmp_path / "out.mp4")
    with av.open(str(cut)) as c:
        time_base = c.streams.video[0].time_base
    out_times = [float(f.pts * f.time_base) for f in frames]
    assert out_times == pytest.approx([float(p * time_base) for p in expected])


def test_a_truncated_file_without_its_index_is_one_clear_line(tmp_path, tiny_model):
    whole = write_video(tmp_path / "whole.mp4", VideoSpec(frames=30, options=GOP))  # moov at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = _cli(cut, tmp_path / "out.mp4", "--model", tiny_model)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "without its index (the 'moov' box): it was cut short" in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_a_truncated_matroska_file_estimates_what_is_missing(tmp_path, tiny_model):
    whole = write_video(tmp_path / "whole.mkv", VideoSpec(frames=100, width=96, height=64, options=GOP))
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    stats = colorize(cut, tmp_path / "out.mkv", model=tiny_model)
    assert stats.frames == len(_decodable(cut)) and 0 < stats.frames < 100
    assert abs(stats.missing_frames - (100 - stats.frames)) <= 2  # estimated from the announced duration


def test_corruption_in_the_middle_is_skipped_and_counted(tmp_path, tiny_model):
    whole = write_video(tmp_path / "whole.mp4", VideoSpec(frames=100, width=96, height=64, options=GOP))
    data = bytearray(whole.read_bytes())
    rng = random.Random(1)
    middle = len(data) // 2
    for i in range(middle, middle + 3000):
        data[i] = rng.randrange(256)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    result = _cli(bad, tmp_path / "out.mp4", "--model", tiny_model, "--stats-json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["damaged_packets"] > 0 and result.stderr.count("WARNING") == 1
    assert "damaged video packets could not be decoded" in result.stderr
    frames, _ = read_video(tmp_path / "out.mp4")
    with av.open(str(whole)) as c:
        original = {p.pts for p in c.demux(video=0) if p.size}
    pts = [f.pts for f in frames]
    assert len(frames) == stats["frames"] > 50 and pts == sorted(set(pts))
    # Timestamps are the input's, except where the decoder gave a damaged frame none (repaired, counted).
    assert len(set(pts) - original) <= stats["repaired_timestamps"]


def test_a_read_error_names_the_byte_offset_and_frame(make_video, tiny_model, tmp_path, monkeypatch):
    src = make_video(frames=30)
    real_demux = av.container.InputContainer.demux

    def failing(container, *args, **kwargs):
        for n, packet in enumerate(real_demux(container, *args, **kwargs)):
            if n == 10:
                raise OSError(5, "Input/output error")
            yield packet

    monkeypatch.setattr(av.container.InputContainer, "demux", failing)
    with pytest.raises(InputError, match=r"read error at byte [1-9]\d*, after frame \d+ \(.*Input/output error"):
        colorize(src, tmp_path / "out.mp4", model=tiny_model)
    assert not (tmp_path / "out.mp4").exists()


def test_a_full_disk_is_one_clear_line_and_leaves_nothing(make_video, tiny_model, tmp_path):
    """The file-size limit makes writes fail as on a full disk (EFBIG instead of ENOSPC)."""
    src = make_video(frames=60, width=160, height=120)

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out" / "colour.mp4"
    out.parent.mkdir()
    result = _cli(src, out, "--model", tiny_model, "-q", preexec_fn=small_disk)
    assert result.returncode == 1
    assert result.stderr.startswith("vidcolor: error: ") and result.stderr.count("\n") == 1
    assert "File too large" in result.stderr and "Traceback" not in result.stderr
    assert list(out.parent.iterdir()) == []  # neither OUTPUT nor a partial segment


def test_odd_sized_420_into_x264_keeps_its_geometry_as_444(make_video, tiny_model, tmp_path):
    src = make_video(".mkv", codec="ffv1", width=33, height=17, frames=3)
    stats = colorize(src, tmp_path / "out.mp4", model=tiny_model)
    frames, _ = read_video(tmp_path / "out.mp4")
    assert (frames[0].width, frames[0].height) == (33, 17) and len(frames) == 3
    assert stats.pixel_format == frames[0].format.name == "yuv444p"  # x264 takes 4:2:0 at even sizes only
    even = colorize(make_video(width=32, height=18, frames=2), tmp_path / "even.mp4", model=tiny_model)
    assert even.pixel_format == "yuv420p"  # and only odd sizes pay for it


@pytest.mark.parametrize(
    "codec,suffix,order",
    [
        ("libx264", ".mp4", "tff"),
        ("libx264", ".mp4", "bff"),  # read back as top first until 2026-11-30 (x264 started top first)
        ("libx264", ".mov", "bff"),
        ("ffv1", ".mkv", "tff"),
        ("ffv1", ".mkv", "bff"),
        ("prores_ks", ".mov", "tff"),
        ("mpeg2video", ".mpg", "tff"),  # MPEG-PS and TS read the order from the pictures themselves
        ("mpeg2video", ".ts", "bff"),
    ],
)
def test_interlaced_stays_interlaced(make_video, tiny_model, tmp_path, codec, suffix, order):
    """Field order kept, in the container's label and in the coded pictures: until 2026-11-29 every
    encoder coded top-field-first input as bottom field first (the frames vidcolor made lacked the
    flag), so players showed the two fields of each frame in the wrong order."""
    src = make_video(".mkv", frames=4, field_order=order)
    with av.open(str(src)) as c:
        field_order = c.streams.video[0].codec_context.field_order
    assert field_order == {"tff": 2, "bff": 3}[order], "the test input is interlaced in that order"
    colorize(src, tmp_path / f"out{suffix}", model=tiny_model, codec=codec)
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        assert c.streams.video[0].codec_context.field_order == field_order
        if codec in ("libx264", "mpeg2video"):
            assert all(f.interlaced_frame for f in c.decode(video=0))  # coded as fields, not only flagged


@pytest.mark.parametrize("order", ["tff", None])
def test_an_interlaced_frame_gets_its_chroma_field_by_field(make_video, tiny_model, tmp_path, monkeypatch, order):
    """The colour stage is told which frames hold two fields, so that interlaced 4:2:0 gets each
    chroma row from its own field's lines (tests/test_colour.py); until 2026-11-30 every frame's
    chroma rows averaged both fields, so a moving edge's colour flickered from field to field."""
    import vidcolor.stages.colour

    real, told = vidcolor.stages.colour.chroma_planes, []

    def recording(*args, interlaced=False, **kwargs):
        told.append(interlaced)
        return real(*args, interlaced=interlaced, **kwargs)

    monkeypatch.setattr(vidcolor.stages.colour, "chroma_planes", recording)
    src = make_video(".mkv", frames=6, codec="ffv1", field_order=order)
    colorize(src, tmp_path / "out.mkv", model=tiny_model, codec="ffv1")
    assert told == [order is not None] * 6


def test_a_size_change_mid_reel_is_scaled_to_the_reel_in_every_segment(make_video, tiny_model, tmp_path):
    """Two captures joined into one MPEG-TS (320x240, then 640x360). Each segment took the size of
    its first frame, and segments of two sizes joined into one stream did not decode after the
    first (H.264 errors on every later frame, exit 0). Now every frame is the reel's size."""
    first = make_video(".ts", width=64, height=48, frames=10)
    second = make_video(".ts", width=96, height=64, frames=10)
    src = tmp_path / "joined.ts"
    src.write_bytes(first.read_bytes() + second.read_bytes())
    dst = tmp_path / "out.mp4"
    stats = colorize(src, dst, model=tiny_model, segment_seconds=0.2)
    assert stats.frames == 20 and stats.resized_frames == 10 and not stats.luma_exact
    with av.open(str(dst)) as c:
        c.streams.video[0].codec_context.options = {"err_detect": "explode"}  # a damaged frame raises
        frames = list(c.decode(video=0))
    assert len(frames) == 20 and {(f.width, f.height) for f in frames} == {(64, 48)}


def test_frames_of_two_sizes_in_one_batch_reach_the_exposure_steadier_in_order(
    make_video, tiny_model, tmp_path, monkeypatch
):
    """A reel whose size changes and changes back within one batch (3 frames, 2 of another size,
    3 more): the steadier, which follows exposure from one frame to the next, saw the batch grouped
    by size, the second run of frames before the two between them."""
    from vidcolor.exposure import ExposureSteadier

    seen = []
    gains = ExposureSteadier.gains

    def recording(self, lightness):
        seen.append(lightness.shape)
        return gains(self, lightness)

    monkeypatch.setattr(ExposureSteadier, "gains", recording)
    parts = [make_video(".ts", width=w, height=h, frames=n) for w, h, n in ((64, 48, 3), (128, 48, 2), (64, 48, 3))]
    src = tmp_path / "joined.ts"
    src.write_bytes(b"".join(part.read_bytes() for part in parts))
    stats = colorize(src, tmp_path / "out.mp4", model=tiny_model, batch_size=8)
    assert stats.frames == 8
    assert [shape[0] for shape in seen] == [3, 2, 3]  # runs of one size, in order
    assert seen[0][1:] == seen[2][1:] != seen[1][1:]


def test_alpha_is_left_out_and_luma_kept(make_video, tiny_model, tmp_path, caplog):
    """12-bit 4:4:4 with an alpha plane (as ProRes 4444 decodes): it went to 10-bit 4:2:0, luma
    rounded, while the stats said luma was exact. The alpha plane is left out, with a warning."""
    src = make_video(".mkv", codec="ffv1", pix_fmt="yuva444p12le", frames=3)
    dst = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="vidcolor"):
        stats = colorize(src, dst, model=tiny_model, codec="ffv1")
    assert "alpha" in caplog.text
    assert stats.pixel_format == "yuv444p12le" and stats.luma_exact
    before, _ = read_video(src)
    after, _ = read_video(dst)
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(plane_array(a, 0, np.uint16), plane_array(b, 0, np.uint16))


def _raw_ntsc_dv(make_video):
    """A raw DV file as a camcorder tape is captured: 720x480 4:1:1 at 29.97 fps, pixels 8:9,
    PCM sound, a timecode. FFmpeg 8 reads it with a time base of 1/60000 and an average rate of
    60,000 frames a second."""
    dv = dict(width=720, height=480, pix_fmt="yuv411p", rate=Fraction(30000, 1001), time_base=Fraction(1001, 30000))
    src = make_video(".dv", codec="dvvideo", frames=6, audio_tracks=1, audio_codec="pcm_s16le", audio_channels=2, **dv)
    with av.open(str(src)) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(8, 9) and c.metadata.get("timecode")
    return src


@pytest.mark.parametrize(
    "codec,suffix",
    [
        ("libx264", ".mov"),  # failed at the end: the timecode track took 60,000 frames a second
        ("prores_ks", ".mov"),  # the pixel aspect was lost at the join
        ("libx264", ".avi"),  # 1,782 slots at 600 fps for 89 frames
        ("ffv1", ".mkv"),
    ],
)
def test_raw_dv_keeps_its_rate_pixel_aspect_and_timecode(make_video, tiny_model, tmp_path, codec, suffix):
    src = _raw_ntsc_dv(make_video)
    assert estimate_frames(src) == 6  # the progress bar's total: 11,988 at 60,000 frames a second
    dst = tmp_path / f"out{suffix}"
    stats = colorize(src, dst, model=tiny_model, codec=codec)
    assert stats.frames == 6 and stats.dropped_streams == []
    with av.open(str(dst)) as c:
        video = c.streams.video[0]
        assert video.guessed_rate == Fraction(30000, 1001)
        assert len([p for p in c.demux(video) if p.size]) == 6
        if suffix != ".mkv":  # Matroska takes the ratio from a field PyAV cannot set; FFV1's pictures carry it
            assert video.sample_aspect_ratio == Fraction(8, 9)
        if suffix == ".mov":
            assert video.metadata.get("timecode") == "00:00:00:00"
        # DV is interlaced, bottom field first, though its stream does not say so: it was coded
        # and labelled as progressive.
        assert video.codec_context.field_order == 3
        assert all(frame.interlaced_frame for frame in c.decode(video=0))


def _shown_width(path) -> int:
    """The width the first frame is shown at: scaled by its own pixel aspect ratio (FFmpeg's scale
    filter reads it from the frame; PyAV does not expose it)."""
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        graph = av.filter.Graph()
        size = {"width": frame.width, "height": frame.height}
        graph.link_nodes(
            graph.add_buffer(**size, format=frame.format, time_base=frame.time_base),
            graph.add("scale", "w=iw*sar:h=ih:eval=frame"),
            graph.add("buffersink"),
        ).configure()
        graph.push(frame)
        return graph.pull().width


def test_ffv1_frames_carry_the_pixel_aspect_of_a_mov(make_video, tiny_model, tmp_path):
    """FFV1 stores each frame's pixel aspect ratio; frames decoded from ProRes have none (the MOV's
    pasp holds it), so 8:9 ProRes into FFV1 came out with square pixels, shown 720 wide, not 640."""
    src = make_video(".mov", codec="prores_ks", pix_fmt="yuv422p10le", width=720, height=480, frames=3,
                     sample_aspect_ratio=Fraction(8, 9))  # fmt: skip
    with av.open(str(src)) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(8, 9) and _shown_width(src) == 720
    dst = tmp_path / "out.mkv"
    colorize(src, dst, model=tiny_model, codec="ffv1")
    assert _shown_width(dst) == 640


def test_a_pixel_aspect_the_output_cannot_hold_is_a_warning(make_video, tiny_model, tmp_path, caplog):
    src = _raw_ntsc_dv(make_video)
    with caplog.at_level(logging.WARNING, logger="vidcolor"):
        colorize(src, tmp_path / "out.webm", model=tiny_model)
    assert "pixels are 8:9" in caplog.text and "libvpx-vp9 in .webm" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vidcolor"):
        colorize(src, tmp_path / "out.mkv", model=tiny_model)  # x264's pictures carry the ratio
    assert "pixels are" not in caplog.text


def _grey_frames(stream: av.video.stream.VideoStream, count: int):
    for i in range(count):
        grey = np.full((stream.height, stream.width, 3), 20 * i, np.uint8)
        frame = av.VideoFrame.from_ndarray(grey, "rgb24").reformat(format=stream.pix_fmt)
        frame.pts = i
        yield frame


def _with_still(path, film_frames: int, cover: bool = False):
    """A file with a one-frame MJPEG still before its film (none: sound alone) and a second of
    sound; `cover` marks the still as a cover picture (an M4A's or MP3's, a Matroska's attachment)."""
    with av.open(str(path), "w") as c:
        still = c.add_stream("mjpeg", rate=1)
        still.width, still.height, still.pix_fmt = 32, 32, "yuvj420p"
        if cover:
            still.disposition = av.stream.Disposition.attached_pic
        streams = [(still, 1)]
        if film_frames:
            film = c.add_stream("libx264", rate=25)
            film.width, film.height, film.pix_fmt = 64, 48, "yuv420p"
            streams.append((film, film_frames))
        sound = c.add_stream("aac", rate=48000, layout="mono")
        for stream, count in streams:
            c.mux([p for frame in _grey_frames(stream, count) for p in stream.encode(frame)] + stream.encode(None))
        for start in range(0, 48000, 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            c.mux(sound.encode(chunk))
        c.mux(sound.encode(None))
    return path


def test_the_film_is_colorized_not_a_still_before_it(tiny_model, tmp_path):
    """The first video stream was taken: where a still came first (a Matroska's cover picture), it
    was colorized, one frame, and the film copied grey, exit 0. The stream is the one `ffmpeg`
    takes; the still is copied."""
    src = _with_still(tmp_path / "in.mkv", film_frames=12)
    stats = colorize(src, tmp_path / "out.mkv", model=tiny_model)
    assert stats.frames == 12 and stats.copied_streams == ["#0", "#2"]
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert [s.codec_context.name for s in c.streams] == ["mjpeg", "h264", "aac"]


def test_sound_with_a_cover_picture_is_not_a_video(tiny_model, tmp_path):
    """An M4A with its album cover: the cover was colorized as a video of one frame."""
    src = _with_still(tmp_path / "in.mp4", film_frames=0, cover=True)
    with pytest.raises(InputError, match="no video stream .only a cover picture"):
        colorize(src, tmp_path / "out.mp4", model=tiny_model)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_recordings_joined_into_one_file_keep_their_sound(make_video, tiny_model, tmp_path, caplog, suffix):
    """Two MPEG-TS captures joined with `cat`: the clock starts again at the join. The frames were
    moved on, the sound was not: the muxer refused it, and the output was written without it
    (exit 0). Now each stream continues where it was, and picture and sound stay together."""
    parts = [make_video(".ts", frames=25, audio_tracks=1, audio_codec="mp2", audio_channels=2) for _ in range(2)]
    src = tmp_path / "joined.ts"
    src.write_bytes(b"".join(part.read_bytes() for part in parts))
    dst = tmp_path / f"out{suffix}"
    with caplog.at_level(logging.WARNING, logger="vidcolor"):
        stats = colorize(src, dst, model=tiny_model)
    assert stats.frames == 50 and stats.copied_streams == ["#1"] and stats.dropped_streams == []
    assert stats.timestamp_jumps == 1 and any("timestamps go back" in r.getMessage() for r in caplog.records)
    before = [p for part in parts for p in packets_of(part, "audio")[0]]
    after = packets_of(dst, "audio")[0]
    assert [data for data, _ in after] == [data for data, _ in before]  # every packet, in order
    times = [t for _, t in after]
    assert times == sorted(times)
    # Picture and sound of the second part begin together as they did in it, within a frame.
    first = [float(f.pts * f.time_base) for f in (read_video(dst)[0][25], read_video(parts[1])[0][0])]
    sound = [times[len(packets_of(parts[0], "audio")[0])], packets_of(parts[1], "audio")[0][0][1]]
    assert abs((sound[0] - first[0]) - (sound[1] - first[1])) < 0.04


def test_a_packet_whose_time_goes_back_is_left_out_unless_the_video_jumped_too(make_video):
    """A damaged timestamp in one sound packet (0.5 s back) is not a new recording: the packet is left
    out and counted (the muxer refused it, and the output lost all its sound); only where the
    video's clock started again too is the stream moved on from there."""
    from vidcolor.stages.assembly import _continuous

    src = make_video(".mp4", frames=25, audio_tracks=1)  # AAC: 47 packets a second

    opened = []  # the containers stay open while their packets are used (a packet reads its stream)

    def packets():
        opened.append(av.open(str(src)))
        read = [p for p in opened[-1].demux(opened[-1].streams.audio[0]) if p.size]
        times = [p.pts for p in read]
        back = round(0.5 / read[0].time_base)
        read[10].pts -= back  # a damaged time, or a new recording's clock
        read[10].dts = read[10].pts
        return read, times, back

    read, times, back = packets()
    dropped: dict[int, int] = {}
    kept = list(_continuous(iter(read), False, dropped))
    assert dropped == {read[0].stream.index: 1} and [p.pts for p in kept] == times[:10] + times[11:]
    read, times, back = packets()
    dropped = {}
    moved = [p.pts for p in _continuous(iter(read), True, dropped)]
    # Packet 10 follows packet 9, and the rest follow it as they did in the input.
    assert not dropped and moved[:10] == times[:10] and moved[10] == times[9] + (times[10] - times[9])
    assert [moved[i] - moved[10] for i in range(11, len(moved))] == [
        times[i] - (times[10] - back) for i in range(11, len(times))
    ]
    for c in opened:
        c.close()


def test_a_sound_packet_read_twice_is_kept_once_and_one_at_the_same_time_follows_by_a_tick(make_video):
    """A DVD's VOB: FFmpeg's MPEG-PS demuxer gave one AC-3 packet twice (same bytes, byte offset and
    time), and MP4's muxer refused the second, at the same time as the first: the whole sound was
    left out. The copy read twice is left out; a different packet at the same time follows the one
    before by a tick, as `ffmpeg` puts it."""
    from vidcolor.stages.assembly import _continuous

    src = make_video(".mp4", frames=25, audio_tracks=1)

    opened = []  # the containers stay open while their packets are used (a packet reads its stream)

    def sound():
        opened.append(av.open(str(src)))
        return [p for p in opened[-1].demux(opened[-1].streams.audio[0]) if p.size]

    read, again = sound(), sound()
    assert (again[5].pos, again[5].size, again[5].dts) == (read[5].pos, read[5].size, read[5].dts)
    twice = read[:6] + [again[5]] + read[6:]
    kept = list(_continuous(iter(twice), False, {}))
    assert [p.pts for p in kept] == [p.pts for p in read]
    other = sound()
    other[6].dts, other[6].pts = other[5].dts, other[5].pts  # another packet, at the time of the one before
    moved = [p.dts for p in _continuous(iter(other), False, {})]
    assert moved[6] == moved[5] + 1 and moved == sorted(set(moved)) and len(moved) == len(read)
    for c in opened:
        c.close()


def test_ten_bit_hevc_input(make_video, tiny_model, tmp_path):
    src = make_video(
        ".mkv", codec="libx265", pix_fmt="yuv420p10le", frames=4, options={"x265-params": "log-level=error"}
    )
    stats = colorize(src, tmp_path / "out.mkv", model=tiny_model)
    frames, _ = read_video(tmp_path / "out.mkv")
    assert len(frames) == 4 and stats.pixel_format == frames[0].format.name == "yuv420p10le"


@pytest.mark.parametrize("width,height,frames", [(16, 16, 3), (64, 48, 1)], ids=["16x16", "one-frame"])
def test_tiny_and_single_frame_videos(make_video, tiny_model, tmp_path, width, height, frames):
    src = make_video(width=width, height=height, frames=frames, audio_tracks=1)
    stats = colorize(src, tmp_path / "out.mp4", model=tiny_model)
    out, _ = read_video(tmp_path / "out.mp4")
    assert stats.frames == len(out) == frames and (out[0].width, out[0].height) == (width, height)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(16, 72),
    height=st.integers(16, 56),
    pix_fmt=st.sampled_from(["yuv420p", "yuv422p", "yuv444p", "gray", "yuv420p10le", "yuv444p16le"]),
    rate=st.sampled_from([Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(50), Fraction(1)]),
    time_base=st.sampled_from([None, Fraction(1, 1000), Fraction(1, 90000), Fraction(1, 48000)]),
    vfr=st.booleans(),
)
def test_any_size_format_rate_and_time_base(tmp_path_factory, tiny_model, width, height, pix_fmt, rate, time_base, vfr):
    """Frame count, timestamps, geometry and luma survive whatever the input's numbers (ffv1 in NUT
    keeps the input's time base)."""
    folder = tmp_path_factory.mktemp("prop")
    if vfr and time_base is None:
        time_base = Fraction(1, 1000)
    spec = VideoSpec(width=width, height=height, frames=4, pix_fmt=pix_fmt, codec="ffv1", rate=rate,
                     time_base=time_base, vfr=vfr)  # fmt: skip
    src = write_video(folder / "in.nut", spec)
    stats = colorize(src, folder / "out.nut", model=tiny_model, codec="ffv1")
    before, _ = read_video(src)
    after, _ = read_video(folder / "out.nut")
    assert stats.frames == len(after) == len(before) == 4
    assert [float(f.pts * f.time_base) for f in after] == [float(f.pts * f.time_base) for f in before]
    assert (after[0].width, after[0].height) == (width, height)
    assert stats.luma_exact
    for a, b in zip(before, after):
        shift = planar_format(b.format.name).depth - planar_format(a.format.name).depth
        assert np.array_equal(picture(a).astype(np.uint32) << shift, picture(b))


FUZZ_SCRIPT = r"""
import random, sys, traceback
from pathlib import Path
from vidcolor import colorize
from vidcolor.errors import VidcolorError
from vidcolor.media import estimate_frames, open_input, time_span

model, folder, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
seeds = sorted(folder.glob("seed*"))
failures = []
for case in range(count):
    rng = random.Random(case)
    seed = rng.choice(seeds)
    data = bytearray(seed.read_bytes())
    kind = rng.choice(["flip", "zero", "cut", "splice"])
    if kind == "flip":
        for _ in range(rng.randint(1, 40)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "zero":
        start = rng.randrange(len(data))
        data[start : start + rng.randint(1, 4096)] = bytes(min(4096, len(data) - start))
    elif kind == "cut":
        data = data[: rng.randrange(1, len(data))]
    else:
        start, end = sorted(rng.randrange(len(data)) for _ in range(2))
        data[end:end] = data[start:end]
    path = folder / f"case{case}{seed.suffix}"
    path.write_bytes(bytes(data))
    try:
        estimate_frames(path)
        time_span(path)
        try:
            open_input(path).close()
        except VidcolorError:
            pass
        colorize(path, folder / f"out{case}.mkv", model=model, codec="ffv1", overwrite=True)
    except VidcolorError:
        pass  # one clear line for the user: the expected outcome for a file too damaged to use
    except BaseException:
        failures.append(f"case {case} ({kind} of {seed.name}):\n{traceback.format_exc()}")
    path.unlink()
print("\n".join(failures) or "ok")
print(len(list(folder.glob("out*.mkv"))))
sys.exit(1 if failures else 0)
"""


def test_fuzzing_the_probe_and_demux_layer(tmp_path, tiny_model):
    """Mutated files (bytes flipped, zeroed, cut, spliced) either colorize or fail with one clear
    error: no other exception, no crash, no hang. In a child process, so a crash is caught."""
    write_video(tmp_path / "seed1.mp4", VideoSpec(frames=12, audio_tracks=1, subtitles=True, options=GOP))
    write_video(tmp_path / "seed2.mkv", VideoSpec(frames=12, audio_tracks=1, subtitles=True, codec="ffv1"))
    write_video(tmp_path / "seed3.mov", VideoSpec(frames=12, vfr=True, rotation=90))
    result = subprocess.run(
        [sys.executable, "-c", FUZZ_SCRIPT, str(tiny_model), str(tmp_path), "300"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    verdict, colorized = result.stdout.split()
    assert verdict == "ok"
    assert 60 < int(colorized) < 300  # most mutations still decode; many do not: both paths are exercised


def _batch_sizes(monkeypatch) -> list[int]:
    """The number of frames of each batch the model stage passes on, in the list returned."""
    from vidcolor.stages.model import ModelStage

    sizes = []
    real_model = ModelStage.__call__

    def counting(self, batches):
        for batch in real_model(self, batches):
            sizes.append(len(batch))
            yield batch

    monkeypatch.setattr(ModelStage, "__call__", counting)
    return sizes


def test_8k_frames_go_through_one_per_batch(make_video, tiny_model, tmp_path, monkeypatch):
    """An 8K frame is 50 MB decoded: batches shrink to one such frame, so the frames in flight stay
    within what eight 1080p frames take (peak memory is measured in docs/performance.md, "Memory", not asserted)."""
    sizes = _batch_sizes(monkeypatch)
    src = make_video(".mkv", codec="ffv1", width=7680, height=4320, frames=3)
    stats = colorize(src, tmp_path / "out.mkv", model=tiny_model, codec="ffv1", batch_size=8)
    before, _ = read_video(src)
    after, _ = read_video(tmp_path / "out.mkv")
    assert stats.frames == len(after) == 3 and (after[0].width, after[0].height) == (7680, 4320)
    assert sizes == [1, 1, 1]
    assert np.array_equal(picture(before[2]), picture(after[2]))  # luma kept


@pytest.mark.parametrize("pix_fmt,expected", [("yuv420p", [8, 2]), ("yuv444p16le", [2, 2, 2, 2, 2])])
def test_batches_are_sized_by_the_bytes_of_a_frame(make_video, tiny_model, tmp_path, monkeypatch, pix_fmt, expected):
    """The frames in flight are bounded in bytes: a 16-bit 4:4:4 frame (a film scan's) takes four
    times the bytes of an 8-bit 4:2:0 one of the same size, and goes fewer to a batch. Until
    2026-11-30 the bound counted pixels: a 2K scan went five frames to a batch, 1.8 GB in flight."""
    from vidcolor.stages import source

    sizes = _batch_sizes(monkeypatch)
    monkeypatch.setattr(source, "BYTES_PER_BATCH", 8 * 64 * 48 * 3 // 2)  # eight 8-bit 4:2:0 frames of 64x48
    src = make_video(".mkv", codec="ffv1", pix_fmt=pix_fmt, width=64, height=48, frames=10)
    stats = colorize(src, tmp_path / "out.mkv", model=tiny_model, codec="ffv1", batch_size=8)
    assert stats.frames == 10 and sizes == expected
