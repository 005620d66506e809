"""The main job on media the tests make: frames, timing, luma, sound, metadata."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import packets_of, picture, read_video, record_model_inputs, run_cli

from vidcolor import ColorizeOptions, colorize
from vidcolor.errors import EncodeError, OutputError, VidcolorError
from vidcolor.formats import planar_format, plane_array


def _chroma_spread(frame: av.VideoFrame) -> float:
    fmt = planar_format(frame.format.name)
    mid = 1 << (fmt.depth - 1)
    return max(float(np.abs(plane_array(frame, i, fmt.dtype).astype(np.int32) - mid).mean()) for i in (1, 2))


def _timestamps(frames) -> list[Fraction]:
    return [Fraction(f.pts) * f.time_base for f in frames]


def test_frames_and_timestamps_kept(make_video, tiny_model, tmp_path):
    src = make_video(frames=30, rate=Fraction(30000, 1001))
    dst = tmp_path / "out.mp4"
    stats = colorize(src, dst, model=tiny_model)
    before, rate_in = read_video(src)
    after, rate_out = read_video(dst)
    assert stats.frames == len(before) == len(after) == 30
    assert _timestamps(after) == _timestamps(before)
    assert rate_out == rate_in


def test_variable_frame_rate_kept(make_video, tiny_model, tmp_path):
    src = make_video(suffix=".mkv", frames=20, vfr=True)
    dst = tmp_path / "out.mkv"
    colorize(src, dst, model=tiny_model)
    before, _ = read_video(src)
    after, _ = read_video(dst)
    times = _timestamps(before)
    assert len(set(np.diff([float(t) for t in times]).round(4))) > 1, "the input really is VFR"
    assert _timestamps(after) == times


@pytest.mark.parametrize("codec", ["ffv1", "libx264"])
def test_avi_holds_one_slot_per_frame_across_segments(make_video, tiny_model, tmp_path, codec):
    """AVI has no timestamps: a frame's place in the file is its time. A run in several segments
    comes out with every frame in its slot (no empty ones, nothing shifted) and the sound kept,
    though the input's time base (1/12800) and its AAC's lead-in before the first frame are finer
    than a slot."""
    src = make_video(frames=30, time_base=Fraction(1, 12800), audio_tracks=1)
    assert packets_of(src, "audio")[0][0][1] < 0, "the sound really starts before the picture"
    dst = tmp_path / "out.avi"
    stats = colorize(src, dst, model=tiny_model, codec=codec, segment_seconds=0.5)
    before, _ = read_video(src)
    with av.open(str(dst)) as container:
        video = container.streams.video[0]
        assert video.time_base == Fraction(1, 25)
        assert video.frames == stats.frames == 30  # the file's index: one slot per frame
        after = list(container.decode(video))
    assert len(after) == 30
    if codec == "ffv1":  # (FFmpeg guesses an h264 frame's time in AVI from its decode order)
        assert _timestamps(after) == _timestamps(before)
        assert all(np.array_equal(picture(a), picture(b)) for a, b in zip(after, before))
    assert np.all(np.diff([f.pts for f in after]) == 1)
    assert [p[0] for p in packets_of(dst, "audio")[0]] == [p[0] for p in packets_of(src, "audio")[0]]


def test_avi_keeps_a_variable_frame_rate_as_empty_slots(make_video, tiny_model, tmp_path):
    src = make_video(suffix=".mkv", codec="ffv1", frames=14, vfr=True)
    dst = tmp_path / "out.avi"
    colorize(src, dst, model=tiny_model, codec="ffv1", segment_seconds=0.3)
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert len(set(np.diff([float(t) for t in _timestamps(before)]).round(4))) > 1, "the input really is VFR"
    assert _timestamps(after) == _timestamps(before)


def test_avi_refuses_a_codec_it_cannot_hold_before_it_starts(make_video, tiny_model, tmp_path):
    src = make_video(frames=6)
    dst = tmp_path / "out.avi"
    with pytest.raises(EncodeError, match="avi container cannot hold libx265"):
        colorize(src, dst, model=tiny_model, codec="libx265")
    assert not dst.exists()


@pytest.mark.parametrize(
    "pix_fmt,width,height",
    [("yuv420p", 64, 48), ("yuv420p", 33, 17), ("yuv444p", 40, 30), ("yuv422p", 50, 36), ("yuv420p10le", 48, 32)],
)
def test_luma_bit_exact_with_ffv1(make_video, tiny_model, tmp_path, pix_fmt, width, height):
    src = make_video(suffix=".mkv", codec="ffv1", pix_fmt=pix_fmt, width=width, height=height, frames=6)
    dst = tmp_path / "out.mkv"
    stats = colorize(src, dst, model=tiny_model, codec="ffv1")
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert stats.luma_exact
    assert after[0].format.name == pix_fmt
    assert (after[0].width, after[0].height) == (width, height)
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(picture(a), picture(b))


def test_a_pixel_format_asked_for_is_written(make_video, tiny_model, tmp_path):
    """--pix-fmt yuv420p from 10-bit 4:2:2 (a ProRes or DNxHR master): a copy browsers and phones
    play, which High 4:2:2 10-bit H.264 is not. The luma is the input's rounded to 8 bits (shifted,
    it was half a code dark on average), and the stats say it is not exact."""
    src = make_video(suffix=".mkv", codec="ffv1", pix_fmt="yuv422p10le", frames=4)
    dst = tmp_path / "out.mkv"
    stats = colorize(src, dst, model=tiny_model, codec="ffv1", pixel_format="yuv420p")
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert stats.pixel_format == "yuv420p" and after[0].format.name == "yuv420p" and not stats.luma_exact
    for a, b in zip(before, after, strict=True):
        expected = np.minimum((picture(a).astype(np.int64) + 2) >> 2, 255)
        assert np.array_equal(picture(b), expected)
    assert _chroma_spread(after[0]) > 5
    # What the encoder does not write is one line before any frame is written; so is a name that is not Y'CbCr.
    result = run_cli(str(src), str(tmp_path / "no.mp4"), "--codec", "mpeg4", "--pix-fmt", "yuv422p", "-q")
    assert result.returncode == 1 and "--pix-fmt: mpeg4 does not write yuv422p; it writes yuv420p" in result.stderr
    assert not (tmp_path / "no.mp4").exists() and "Traceback" not in result.stderr
    result = run_cli(str(src), str(tmp_path / "no.mkv"), "--pix-fmt", "rgb24", "-q")
    assert result.returncode != 0 and "planar Y'CbCr" in result.stderr and "Traceback" not in result.stderr


def test_grey_in_colour_out(make_video, tiny_model, tmp_path):
    src = make_video(frames=4)
    dst = tmp_path / "out.mp4"
    colorize(src, dst, model=tiny_model)
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert _chroma_spread(before[0]) < 1
    assert _chroma_spread(after[0]) > 5


def test_saturation_scales_the_colour_and_keeps_thepicture(make_video, tiny_model, tmp_path):
    src = make_video(suffix=".mkv", codec="ffv1", frames=4)
    spreads = {}
    for saturation in (0.0, 0.5, 1.0):
        dst = tmp_path / f"out{saturation}.mkv"
        stats = colorize(src, dst, model=tiny_model, codec="ffv1", saturation=saturation, temporal=False)
        after, _ = read_video(dst)
        assert stats.luma_exact
        spreads[saturation] = _chroma_spread(after[0])
    assert spreads[0.0] < 0.5  # no colour at all
    assert spreads[1.0] > 5 and 0.35 < spreads[0.5] / spreads[1.0] < 0.65
    with pytest.raises(VidcolorError, match="saturation"):
        colorize(src, tmp_path / "bad.mkv", model=tiny_model, saturation=-1.0)


def test_regression_head_model(make_video, tmp_path):
    from conftest import write_tiny_model

    model = write_tiny_model(tmp_path / "regression.onnx", head="regression")
    dst = tmp_path / "out.mp4"
    colorize(make_video(frames=3), dst, model=model)
    after, _ = read_video(dst)
    assert _chroma_spread(after[0]) > 2


@pytest.mark.parametrize(
    "codec,suffix,expected",
    [
        ("libx264", ".mp4", "yuv420p10le"),
        ("libx265", ".mkv", "yuv420p10le"),
        ("ffv1", ".mkv", "yuv420p10le"),
        ("prores_ks", ".mov", "yuv422p10le"),
    ],
)
def test_ten_bit_stays_ten_bit(make_video, tiny_model, tmp_path, codec, suffix, expected):
    src = make_video(suffix=".mkv", codec="ffv1", pix_fmt="yuv420p10le", frames=4)
    dst = tmp_path / f"out{suffix}"
    stats = colorize(src, dst, model=tiny_model, codec=codec)
    after, _ = read_video(dst)
    assert stats.pixel_format == expected and after[0].format.name == expected
    assert len(after) == 4 and _chroma_spread(after[0]) > 5 * 4


@pytest.mark.parametrize(
    "codec,suffix,expected",
    [
        ("mjpeg", ".mov", "yuv420p"),  # limited range, kept: FFmpeg calls it non-standard for JPEG
        ("mpeg2video", ".mpg", "yuv420p"),  # its time base must be one frame
        ("mpeg2video", ".ts", "yuv420p"),
        ("dnxhd", ".mov", "yuv422p"),  # as DNxHR HQ: plain DNxHD takes a few broadcast sizes only
        ("dnxhd", ".mxf", "yuv422p"),
        ("libsvtav1", ".mkv", "yuv420p"),  # its segments are read by libdav1d, which has no encoder
    ],
)
def test_archival_and_broadcast_codecs(make_video, tiny_model, tmp_path, codec, suffix, expected):
    src = make_video(width=256, height=128, frames=8, time_base=Fraction(1, 12800), audio_tracks=1)
    dst = tmp_path / f"out{suffix}"
    stats = colorize(src, dst, model=tiny_model, codec=codec, segment_seconds=0.15)
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert stats.pixel_format == expected and after[0].format.name == expected
    assert len(after) == 8 and _chroma_spread(after[0]) > 5
    _assert_same_timing(after, before)
    _assert_sound_kept(src, dst, stats)


@pytest.mark.parametrize(
    "codec,suffix",
    [
        ("mpeg2video", ".mxf"),
        ("mpeg2video", ".mpg"),
        ("mpeg4", ".avi"),
        ("mjpeg", ".mov"),
        ("libvpx", ".ogg"),
        ("libx264", ".mp4"),
    ],
)
def test_encoders_without_a_crf_keep_the_picture(make_video, tiny_model, tmp_path, codec, suffix):
    """MPEG-2 (MXF's own), MPEG-4 Part 2 and MJPEG encoded at FFmpeg's default of 200 kbit/s, VP8
    under a cap of 256 kbit/s: chaplin_street's luma came out at 30-34 dB PSNR against the input's.
    They now get a fixed quantizer (ffmpeg's -q:v 2) or the CRF under a high cap."""
    src = tmp_path / "grain.mkv"  # film grain: detail that costs bits (the test pattern is too easy for VP8)
    rng = np.random.default_rng(0)
    with av.open(str(src), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame(640, 480, "yuv420p")
            grain = rng.integers(16, 236, (240, 320), dtype=np.uint8)
            plane_array(frame, 0, np.uint8)[:] = np.kron(grain, np.ones((2, 2), np.uint8))
            for index in (1, 2):
                plane_array(frame, index, np.uint8)[:] = 128
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    dst = tmp_path / f"out{suffix}"
    colorize(src, dst, model=tiny_model, codec=codec)
    before, _ = read_video(src)
    after, _ = read_video(dst)
    error = np.mean([np.mean((picture(a).astype(float) - picture(b)) ** 2) for a, b in zip(before, after, strict=True)])
    assert 10 * np.log10(255**2 / error) > 32  # before: 14-25 dB; x264 at CRF 18 (the default): 34.6 dB


@pytest.mark.parametrize(
    "suffix,codec",
    [
        (".mkv", "libx264"),  # Matroska keeps no decode times: the join failed (before 2026-11-29)
        (".mkv", "libx265"),
        (".webm", "libvpx-vp9"),
        (".mp4", "libx264"),
        (".mov", "prores_ks"),
        (".ts", "libx264"),  # the join failed, and the sound was left out
        (".mpg", "libx264"),  # the join failed
        (".mpg", "mpeg2video"),
        (".avi", "libx264"),
        (".flv", "libx264"),  # the join failed
        (".nut", "libx264"),  # the sound was left out: NUT refused its lead-in before 0
        (".ogg", "libvpx"),  # the frames bunched up at 40 ms: Ogg times VP8 by the frame
        (".vob", "mpeg2video"),  # failed at the end: FFmpeg guesses SVCD's muxer for .vob
        (".3gp", "libx264"),
    ],
)
def test_a_reel_of_many_segments_joins_in_every_container(make_video, tiny_model, tmp_path, suffix, codec):
    """Every container, from a reel in several segments (a reel longer than --segment-seconds)."""
    src = make_video(width=96, height=64, frames=30, time_base=Fraction(1, 12800), audio_tracks=1)
    dst = tmp_path / f"out{suffix}"
    stats = colorize(src, dst, model=tiny_model, codec=codec, segment_seconds=0.3)
    assert stats.frames == 30
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert len(after) == 30
    _assert_same_timing(after, before)
    _assert_sound_kept(src, dst, stats)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".ts"])
def test_a_variable_frame_rate_reel_of_many_segments_keeps_its_times(make_video, tiny_model, tmp_path, suffix):
    """Reordered frames (x264) at a variable frame rate, joined from several segments."""
    src = make_video(suffix=".mkv", frames=40, vfr=True)
    dst = tmp_path / f"out{suffix}"
    colorize(src, dst, model=tiny_model, segment_seconds=0.3)
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert len(after) == 40
    _assert_same_timing(after, before)


def _assert_sound_kept(src, dst, stats) -> None:
    """The AAC sound copied packet for packet, unless the container cannot hold it (WebM, MPEG-PS,
    MXF, Ogg): then it is re-encoded in the container's own codec, as long as it was."""
    own = {".webm": "opus", ".mpg": "mp2", ".vob": "mp2", ".mxf": "pcm_s16le", ".ogg": "flac"}.get(dst.suffix)
    if own is None:
        assert len(packets_of(dst, "audio")[0]) == len(packets_of(src, "audio")[0]) > 0
        assert stats.reencoded_streams == [] and stats.dropped_streams == []
        return
    assert stats.reencoded_streams == ["#1"] and stats.dropped_streams == []
    seconds = []
    for path in (src, dst):
        with av.open(str(path)) as c:
            sound = c.streams.audio[0]
            frames = list(c.decode(sound))
            seconds.append(sum(f.samples for f in frames) / sound.rate)
            if path == dst:
                assert sound.codec_context.name == own
    assert seconds[1] == pytest.approx(seconds[0], abs=0.05)


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_pcm_without_channel_positions_is_copied_into_mp4(make_video, tiny_model, tmp_path, suffix):
    """Stereo PCM read from an AVI has two channels and no layout, which MP4 and MOV refused: the
    sound was left out. It gets FFmpeg's usual layout for two channels; the samples are the same."""
    pcm = dict(audio_tracks=1, audio_codec="pcm_s16le", audio_channels=2)
    src = make_video(suffix=".avi", codec="mjpeg", pix_fmt="yuvj420p", **pcm)
    with av.open(str(src)) as c:
        assert c.streams.audio[0].codec_context.layout.name == "2 channels", "the input really has no layout"
    dst = tmp_path / f"out{suffix}"
    stats = colorize(src, dst, model=tiny_model)
    assert stats.dropped_streams == []
    with av.open(str(dst)) as c:
        assert c.streams.audio[0].codec_context.layout.name == "stereo"
    samples = [b"".join(data for data, _ in packets_of(path, "audio")[0]) for path in (src, dst)]
    assert samples[0] == samples[1] != b""


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".vob", ".avi", ".ts"])
def test_a_dvd_keeps_its_sound(make_video, tiny_model, tmp_path, suffix):
    """A DVD's VOB holds navigation packets (a data stream) beside its MPEG-2 picture and AC-3 sound.
    Matroska and MP4 refused their header with them, and the fallback wrote the video alone: the
    sound was lost, exit 0. Into .vob the run failed at the end: FFmpeg guesses SVCD's muxer for
    the extension. The navigation packets are left out everywhere (the VOB muxer writes its own;
    AVI took them as a stream of unknown kind, MPEG-TS as private data)."""
    dvd = dict(container_format="dvd", codec="mpeg2video", width=96, height=64, frames=12)
    src = make_video(".vob", audio_tracks=1, audio_codec="ac3", audio_channels=2, **dvd)
    with av.open(str(src)) as c:
        assert [s.type for s in c.streams] == ["data", "video", "audio"], "the input has a DVD's streams"
    dst = tmp_path / f"out{suffix}"
    stats = colorize(src, dst, model=tiny_model)
    assert stats.copied_streams == ["#2"] and stats.reencoded_streams == []
    assert stats.dropped_streams == ["stream #0 (data dvd_nav_packet)"]
    samples = [b"".join(data for data, _ in packets_of(path, "audio")[0]) for path in (src, dst)]
    assert samples[0] == samples[1] != b""
    frames, _ = read_video(dst)
    assert len(frames) == 12
    if suffix == ".vob":
        with av.open(str(dst)) as c:
            assert c.format.name == "mpeg" and c.streams.video[0].codec_context.name == "mpeg2video"


def test_sound_a_3gp_cannot_hold_is_re_encoded_as_aac(make_video, tiny_model, tmp_path):
    """3GP's own sound codec, AMR-NB, codes 8 kHz mono only: FLAC (or MP3) sound was left out of a
    .3gp. It is re-encoded in the first codec that opens for it there, AAC, as long as it was."""
    src = make_video(".mkv", frames=12, audio_tracks=1, audio_channels=2)
    dst = tmp_path / "out.3gp"
    stats = colorize(src, dst, model=tiny_model)
    assert stats.reencoded_streams == ["#1"] and stats.dropped_streams == []
    seconds = []
    for path in (src, dst):
        with av.open(str(path)) as c:
            sound = c.streams.audio[0]
            seconds.append(sum(f.samples for f in c.decode(sound)) / sound.rate)
            if path == dst:
                assert sound.codec_context.name == "aac" and sound.channels == 2
    assert seconds[1] == pytest.approx(seconds[0], abs=0.05)


def test_24_bit_pcm_is_copied_into_mxf(make_video, tiny_model, tmp_path):
    """MXF takes sound only beside a picture: asked about the sound alone it said no, and 24-bit PCM
    was re-encoded at 16 bits. It is copied, sample for sample."""
    src = make_video(suffix=".mov", frames=6, audio_tracks=1, audio_codec="pcm_s24le", audio_channels=2)
    dst = tmp_path / "out.mxf"
    stats = colorize(src, dst, model=tiny_model)
    assert stats.reencoded_streams == [] and stats.dropped_streams == []
    with av.open(str(dst)) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_s24le"
    samples = [b"".join(data for data, _ in packets_of(path, "audio")[0]) for path in (src, dst)]
    assert samples[0] == samples[1] != b""


def _assert_same_timing(after: list, before: list) -> None:
    """The same times up to a constant: containers that cannot start a stream before 0 delay all
    of them by the sound's lead-in (Matroska, as FFmpeg does), MPEG-PS and TS add their mux delay.
    MPEG-PS leaves some frames untimed (one PES packet can carry several; FFmpeg's own files too)."""
    timed = [(a.pts * a.time_base, b.pts * b.time_base) for a, b in zip(after, before) if a.pts is not None]
    assert len(timed) >= (2 if None in (a.pts for a in after) else len(before))
    offsets = [float(a - b) for a, b in timed]
    assert np.allclose(offsets, offsets[0], atol=1e-6) and 0 <= offsets[0] < 1


def test_webm_and_mxf_get_their_own_encoder_when_none_is_named(make_video, tiny_model, tmp_path):
    """`vidcolor in.webm out.webm` failed: the default encoder, libx264, cannot go in WebM (nor in MXF,
    whose index cannot hold x264's long GOPs)."""
    src = make_video(frames=4)
    stats = colorize(src, tmp_path / "out.webm", model=tiny_model)
    assert stats.codec == "libvpx-vp9"
    with av.open(str(tmp_path / "out.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
    assert colorize(src, tmp_path / "out.mkv", model=tiny_model).codec == "libx264"
    assert colorize(src, tmp_path / "out.mxf", model=tiny_model).codec == "mpeg2video"  # x264's GOPs are too long
    with pytest.raises(EncodeError, match="webm container cannot hold libx264"):  # named: never swapped
        colorize(src, tmp_path / "named.webm", model=tiny_model, codec="libx264")


def test_ogg_gets_an_encoder_this_ffmpeg_has(make_video, tiny_model, tmp_path):
    """Ogg's own video codec is Theora, which PyAV's FFmpeg can decode but not encode: `vidcolor in
    out.ogg` failed with a traceback. It gets Theora where there is an encoder, else VP8."""
    expected = "libtheora" if "libtheora" in av.codecs_available else "libvpx"
    dst = tmp_path / "out.ogg"
    assert colorize(make_video(frames=4), dst, model=tiny_model).codec == expected
    assert len(read_video(dst)[0]) == 4


def test_raw_frame_output_is_refused_before_any_work(make_video, tiny_model, tmp_path):
    """Y4M takes frames handed over in memory only, which cannot be joined from segments: the run
    failed after colorizing every frame. Now one line up front, naming the lossless way."""
    dst = tmp_path / "out.y4m"
    with pytest.raises(OutputError, match=r"cannot write raw frames \(\.y4m\).*--codec ffv1"):
        colorize(make_video(frames=3), dst, model=tiny_model)
    assert not any(".y4m" in p.name for p in tmp_path.iterdir())  # neither the output nor a work folder


@pytest.mark.parametrize("codec", ["libx265", "libsvtav1"])
def test_quiet_means_quiet_with_encoders_that_print_their_own_settings(make_video, tiny_model, tmp_path, codec):
    src = make_video(width=64, height=64, frames=3)
    result = run_cli(str(src), str(tmp_path / "out.mkv"), "--codec", codec, "--model", str(tiny_model), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_an_encoder_of_rgb_only_is_one_clear_error(make_video, tiny_model, tmp_path):
    dst = tmp_path / "out.mov"
    with pytest.raises(EncodeError, match="qtrle takes no planar Y'CbCr format"):
        colorize(make_video(frames=3), dst, model=tiny_model, codec="qtrle")
    assert not dst.exists()


def test_a_codec_the_container_cannot_hold_is_named(make_video, tiny_model, tmp_path):
    dst = tmp_path / "out.webm"
    with pytest.raises(EncodeError, match="webm container cannot hold mpeg2video"):
        colorize(make_video(frames=3), dst, model=tiny_model, codec="mpeg2video")
    assert not dst.exists()


def test_grey_pixel_format_gains_chroma_and_keepspicture(make_video, tiny_model, tmp_path):
    src = make_video(suffix=".mkv", codec="ffv1", pix_fmt="gray", frames=3)
    dst = tmp_path / "out.mkv"
    colorize(src, dst, model=tiny_model, codec="ffv1")
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert after[0].format.name == "yuv420p"
    assert np.array_equal(picture(before[1]), picture(after[1]))
    assert _chroma_spread(after[0]) > 5


def test_full_range_not_crushed(make_video, tiny_model, tmp_path):
    src = make_video(suffix=".mkv", codec="ffv1", pix_fmt="yuv420p", color_range=2, frames=3)
    dst = tmp_path / "out.mkv"
    colorize(src, dst, model=tiny_model, codec="ffv1")
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert after[0].color_range == 2
    assert np.array_equal(picture(before[0]), picture(after[0]))
    assert picture(after[0]).max() > 235 and picture(after[0]).min() < 16


def test_colour_metadata_and_rotation_kept(make_video, tiny_model, tmp_path):
    src = make_video(colorspace=1, color_range=1, rotation=90, frames=3)
    dst = tmp_path / "out.mp4"
    colorize(src, dst, model=tiny_model)
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert after[0].colorspace == before[0].colorspace == 1
    assert after[0].color_range == 1
    assert before[0].rotation == 90 and after[0].rotation == 90


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_the_model_sees_a_rotated_video_upright(tiny_model, tmp_path, monkeypatch, rotation):
    """A phone's portrait video is stored on its side with a display rotation. The model learnt
    from upright photos (on its side it scored 1.1-1.2 dB less on the validation photos), so it is
    given the picture as shown, and its colour is turned back to the stored picture."""
    import vidcolor.stages.model

    turns = round(rotation / 90) % 4  # what shows the stored picture upright: np.rot90(stored, turns)
    upright = np.full((64, 96), 60, np.uint8)
    upright[:16, :24] = 180  # a bright top-left corner, as shown (not so bright that its colour fades)
    stored = np.ascontiguousarray(np.rot90(upright, -turns))
    src = tmp_path / "portrait.mp4"
    with av.open(str(src), "w") as c:
        stream = c.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = *stored.shape, "yuv420p"
        stream.set_display_rotation(rotation)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.dstack([stored] * 3), "rgb24")
            frame.pts = i
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))

    def marking(ab):  # red (a* = 60) in the top-left quarter of what the model is given
        ab = np.zeros_like(ab)
        ab[:, : ab.shape[1] // 4, : ab.shape[2] // 4, 0] = 60
        return ab

    seen = record_model_inputs(monkeypatch, vidcolor.stages.model, marking)
    colorize(src, tmp_path / "out.mkv", model=tiny_model, codec="ffv1", temporal=False)
    given = seen[0][0]
    assert given.shape[0] < given.shape[1]  # landscape, as shown
    assert given[: given.shape[0] // 5, : given.shape[1] // 5].mean() > 60 > given[-10:, -10:].mean()
    with av.open(str(tmp_path / "out.mkv")) as c:
        out = next(c.decode(video=0))
    red = np.rot90(plane_array(out, 2, np.uint8).astype(int), turns)  # Cr, turned as shown
    corner, rest = red[:6, :8].mean(), red[-6:, -8:].mean()
    assert corner > rest + 20, (corner, rest)  # the colour is where the model put it, as shown


def test_audio_tracks_copied_byte_for_byte(make_video, tiny_model, tmp_path):
    src = make_video(frames=25, audio_tracks=2, audio_languages=("eng", "fra"))
    dst = tmp_path / "out.mp4"
    colorize(src, dst, model=tiny_model)
    before, after = packets_of(src, "audio"), packets_of(dst, "audio")
    assert len(before) == len(after) == 2
    assert [len(p) for p in before] == [len(p) for p in after] and len(before[0]) > 10
    assert before == after
    with av.open(str(dst)) as c:
        assert [s.language for s in c.streams.audio] == ["eng", "fra"]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_stream_roles_kept(make_video, tiny_model, tmp_path, suffix):
    """Dispositions were dropped: a forced subtitle became optional, a commentary track a main one,
    an MP4's cover art a one-frame video track."""
    made = make_video(frames=10, audio_tracks=2, subtitles=True)
    src = tmp_path / "roles.mp4"
    roles = {1: av.stream.Disposition.default, 2: av.stream.Disposition.comment, 3: av.stream.Disposition.forced}
    with av.open(str(made)) as inp, av.open(str(src), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for index, role in roles.items():
            streams[index].disposition = role
        for packet in inp.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    dst = tmp_path / f"out{suffix}"
    colorize(src, dst, model=tiny_model)
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        assert [s.disposition for s in b.streams] == [s.disposition for s in a.streams]
        assert b.streams[2].disposition == av.stream.Disposition.comment


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_chapters_kept(make_video, tiny_model, tmp_path, suffix):
    made = make_video(suffix=".mkv", frames=25)
    src = tmp_path / "chapters.mkv"
    marks = [(0, 500, "Opening"), (500, 1000, "Street")]  # ms
    with av.open(str(made)) as inp, av.open(str(src), "w") as out:
        video = out.add_stream_from_template(inp.streams.video[0])
        out.set_chapters(
            [
                {"id": i + 1, "start": a, "end": b, "time_base": Fraction(1, 1000), "metadata": {"title": t}}
                for i, (a, b, t) in enumerate(marks)
            ]
        )
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = video
                out.mux(packet)
    dst = tmp_path / f"out{suffix}"
    colorize(src, dst, model=tiny_model)

    def chapters(path):
        with av.open(str(path)) as c:
            marks = c.chapters()
        return [(m["start"] * m["time_base"], m["end"] * m["time_base"], m["metadata"]["title"]) for m in marks]

    assert chapters(dst) == chapters(src) == [(Fraction(a, 1000), Fraction(b, 1000), t) for a, b, t in marks]


def test_subtitles_copied(make_video, tiny_model, tmp_path):
    src = make_video(frames=10, subtitles=True)
    dst = tmp_path / "out.mp4"
    colorize(src, dst, model=tiny_model)
    assert packets_of(dst, "subtitle") == packets_of(src, "subtitle")


def test_overlapping_subtitle_cues_keep_their_times(make_video, tiny_model, tmp_path):
    """Cues may overlap (a second speaker's line during the first's): a stream that goes back is
    moved on only where its start times go back (recordings joined into one file), not where a cue
    starts before the one before has ended."""
    cues = ((0, 3000, "First line"), (1000, 1000, "Second speaker"), (2500, 1500, "Third"))
    src = make_video(".mkv", frames=10, subtitles=True, subtitle_cues=cues)
    dst = tmp_path / "out.mkv"
    colorize(src, dst, model=tiny_model)
    assert [t for _, t in packets_of(dst, "subtitle")[0]] == [0.0, 1.0, 2.5]
    assert packets_of(dst, "subtitle") == packets_of(src, "subtitle")


def test_subtitles_converted_to_container_text_format(make_video, tiny_model, tmp_path):
    src = make_video(frames=10, subtitles=True)  # mov_text, which Matroska cannot hold
    dst = tmp_path / "out.mkv"
    stats = colorize(src, dst, model=tiny_model)
    with av.open(str(dst)) as c:
        assert c.streams.subtitles[0].codec_context.name in ("subrip", "srt")
    texts = [p[0] for p in packets_of(dst, "subtitle")[0]]
    assert texts == [b"Hello", b"Colour ahoy"]
    assert stats.dropped_streams == []


def test_an_encoder_that_reorders_frames_into_avi_is_refused(make_video, tiny_model, tmp_path, monkeypatch):
    """AVI times a frame by its place in the file, so vidcolor codes without B-frames; an encoder that
    reorders anyway (x264 told so by its own parameters) would show every frame late: refused."""
    options = ColorizeOptions.encoder_options
    monkeypatch.setattr(
        ColorizeOptions, "encoder_options", lambda self: {**options(self), "x264-params": "bframes=2:b-adapt=0"}
    )
    dst = tmp_path / "out.avi"
    with pytest.raises(EncodeError, match="libx264 reorders frames, which .avi cannot time"):
        colorize(make_video(frames=12), dst, model=tiny_model)
    assert not dst.exists()


def test_styled_subtitles_keep_their_text_in_mp4(make_video, tiny_model, tmp_path):
    """SubStation Alpha (ASS) subtitles, as fansubs and restorations carry them in Matroska, were left
    out of MP4 and MOV. Their text is kept as the container's text subtitles; styling is not."""
    video = make_video(suffix=".mkv", frames=10)
    src = tmp_path / "styled.mkv"
    with av.open(str(video)) as inp, av.open(str(src), "w") as out:
        picture = out.add_stream_from_template(inp.streams.video[0])
        styled = out.add_mux_stream("ass")
        styled.time_base = Fraction(1, 1000)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = picture
                out.mux(packet)
        cue = av.Packet(b"0,0,Default,,0,0,0,,{\\i1}Hello,{\\i0} world\\Nsecond line")
        cue.pts = cue.dts = 100
        cue.duration, cue.time_base, cue.stream = 200, Fraction(1, 1000), styled
        out.mux(cue)
    for suffix, expected in ((".mp4", "mov_text"), (".mkv", "ass")):
        dst = tmp_path / f"out{suffix}"
        stats = colorize(src, dst, model=tiny_model)
        assert stats.dropped_streams == []
        with av.open(str(dst)) as c:
            assert c.streams.subtitles[0].codec_context.codec.canonical_name == expected
        texts = [p[0] for p in packets_of(dst, "subtitle")[0] if p[0] != b"\x00\x00"]
        if suffix == ".mp4":
            assert texts == [b"\x00\x18Hello, world\nsecond line"]  # mov_text: length, then the text
        else:
            assert texts == [b"0,0,Default,,0,0,0,,{\\i1}Hello,{\\i0} world\\Nsecond line"]  # copied as it is


def test_threaded_equals_inline(make_video, tiny_model, tmp_path):
    src = make_video(suffix=".mkv", codec="ffv1", frames=17, audio_tracks=1)
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    colorize(src, a, model=tiny_model, codec="ffv1", batch_size=3)
    colorize(src, b, model=tiny_model, codec="ffv1", threaded=False)
    fa, _ = read_video(a)
    fb, _ = read_video(b)
    assert len(fa) == len(fb) == 17
    for x, y in zip(fa, fb):
        for i in range(3):
            assert np.array_equal(picture(x, i), picture(y, i))


def test_stats(make_video, tiny_model, tmp_path):
    stats = colorize(make_video(frames=5), tmp_path / "o.mp4", model=tiny_model)
    d = stats.to_dict()
    assert d["frames"] == 5 and d["wall_seconds"] > 0
    assert set(d["busy_seconds"]) == {"decode", "model", "temporal", "colour", "encode"}
    assert d["cuts"] == []  # one continuous shot


def test_options_are_validated():
    from vidcolor.errors import VidcolorError

    with pytest.raises(VidcolorError):
        ColorizeOptions(batch_size=0)


def test_stream_order_kept(make_video, tiny_model, tmp_path):
    src = make_video(frames=5, audio_tracks=1, subtitles=True)
    dst = tmp_path / "out.mp4"
    colorize(src, dst, model=tiny_model)
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        assert [s.type for s in a.streams] == [s.type for s in b.streams] == ["video", "audio", "subtitle"]


def test_full_range_mjpeg_keeps_range_andpicture(make_video, tiny_model, tmp_path):
    src = make_video(suffix=".mkv", codec="mjpeg", pix_fmt="yuvj420p", color_range=2, frames=3)
    dst = tmp_path / "out.mkv"
    stats = colorize(src, dst, model=tiny_model, codec="ffv1")
    before, _ = read_video(src)
    after, _ = read_video(dst)
    assert before[0].format.name == "yuvj420p"
    assert stats.pixel_format == "yuv420p" and after[0].color_range == 2
    assert np.array_equal(picture(before[2]), picture(after[2]))


def _tinted_video(path, cb: int, cr: int, frames: int = 6, coloured: range = range(0)):
    """A film whose chroma is one tint throughout (cb, cr offsets from grey, 8-bit codes), but for
    the frames in `coloured`, in colour of their own: blue on the left, orange on the right."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            y, x = np.mgrid[0:48, 0:64]
            luma = (40 + (x * 2 + y + index * 3) % 160).astype(np.uint8)
            tint = [np.full((24, 32), 128 + offset, np.uint8) for offset in (cb, cr)]
            if index in coloured:
                tint[0][:, :16], tint[0][:, 16:] = 168, 96
                tint[1][:, :16], tint[1][:, 16:] = 112, 150
            planes = np.concatenate([luma.ravel(), *(t.ravel() for t in tint)])
            frame = av.VideoFrame.from_ndarray(planes.reshape(72, 64), format="yuv420p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("cb", "cr", "warned"), [(-12, 9, True), (0, 0, False), (1, -1, False)])
def test_a_film_already_in_colour_is_said_to_be(tiny_model, tmp_path, cb, cr, warned):
    """A tinted or toned film (sepia, amber, blue), or a colour one given by mistake: its colour was
    replaced without a word. It is said, once, and the stats give how far its chroma is from grey;
    a grey film, or one with a scanner's slight cast, is not warned about."""
    src = _tinted_video(tmp_path / "reel.mkv", cb, cr)
    stats = tmp_path / "s.json"
    result = run_cli(str(src), str(tmp_path / "out.mkv"), "--model", str(tiny_model), "--stats-json", str(stats))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("already in colour: tinted or toned") == int(warned)  # one colour throughout
    import json

    assert json.loads(stats.read_text())["input_chroma"] == pytest.approx(max(abs(cb), abs(cr)), abs=0.05)


def test_the_measure_of_colour_of_its_own_tells_tints_and_tones_from_colour():
    from vidcolor.colour import COLOUR_FRAME_CODES, independent_chroma

    rng = np.random.default_rng(3)
    luma = rng.uniform(0, 1, (12, 16)).astype(np.float32)
    grey = np.zeros_like(luma)
    tint = np.full_like(luma, 0.05)
    tone = 0.08 * luma  # sepia: the chroma follows the luma
    two_colours = np.where(np.arange(16) < 8, 0.06, -0.06).astype(np.float32) * np.ones_like(luma)
    assert independent_chroma(luma, grey, grey) == 0
    assert independent_chroma(luma, tint, -tint) < 0.01
    assert independent_chroma(luma, tone, -0.5 * tone) < 0.3 * COLOUR_FRAME_CODES  # within a luma level
    assert independent_chroma(luma, two_colours, grey) > 3 * COLOUR_FRAME_CODES


def test_a_passage_in_colour_anywhere_in_the_reel_is_said_and_listed(tiny_model, tmp_path, caplog):
    """A documentary reel that cuts to colour film in its middle: the check of the first frames says
    nothing, and the passage's own colour was replaced without a word. Frames in colour of their
    own (not a tint: a tinted reel around it) are found wherever they are, listed in the stats with
    their times, and named in one warning; the same from a resumed run and from parts joined."""
    from vidcolor.config import ColorizeOptions
    from vidcolor.distributed import split
    from vidcolor.run import assemble_parts, colorize_part

    src = _tinted_video(tmp_path / "reel.mkv", -10, 8, frames=96, coloured=range(30, 60))
    options = ColorizeOptions(model=tiny_model, codec="ffv1", segment_seconds=0.5)
    expected = [{"first_frame": 30, "last_frame": 59, "start": 1.25, "end": 2.458}]
    with caplog.at_level("WARNING", logger="vidcolor"):
        stats = colorize(src, tmp_path / "out.mkv", options)
    assert stats.colour_passages == expected
    assert "already in colour: tinted or toned" in caplog.text  # its first frames
    assert caplog.text.count("30 frames at 0:01.2-0:02.5 are in colour of their own") == 1

    def stop(done: int) -> None:
        if done >= 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        colorize(src, tmp_path / "resumed.mkv", options, progress=stop)
    resumed = colorize(src, tmp_path / "resumed.mkv", options, resume=True)
    assert resumed.resumed_frames and resumed.colour_passages == expected
    parts = split(src, options, 1.0)
    for part in parts:
        colorize_part(src, tmp_path / "parts.mkv", options, part)
    assert len(parts) > 2 and assemble_parts(src, tmp_path / "parts.mkv", options, parts).colour_passages == expected


def test_black_and_white_stay_neutral(tiny_model, tmp_path):
    """A title card: white letters on black. Colour on black (or on white) cannot be shown with that
    luma: the player clips it, and the black came out tinted (R' 9.5 of 255 on a title card, with
    the bundled model; the tiny model makes dark things blue). Colour fades out over the 20 L*
    next to black and to white, so black stays black, white white, and the greys between get colour."""
    with av.open(str(tmp_path / "card.mkv"), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for index in range(3):
            luma = np.full((64, 96), 16, np.uint8)  # black
            luma[20:44, 10:40] = 235  # white letters
            luma[20:44, 56:86] = 90 + index  # a grey patch
            planes = np.concatenate([luma.ravel(), np.full(2 * 48 * 32, 128, np.uint8)])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(planes.reshape(96, 96), format="yuv420p")))
        container.mux(stream.encode(None))
    colorize(tmp_path / "card.mkv", tmp_path / "out.mkv", model=tiny_model, codec="ffv1")
    frames, _ = read_video(tmp_path / "out.mkv")
    for frame in frames:
        cb, cr = (plane_array(frame, i, np.uint8).astype(int) - 128 for i in (1, 2))
        for rows, columns in ((slice(0, 8), slice(None)), (slice(12, 20), slice(7, 18))):  # black, white
            assert np.abs(cb[rows, columns]).max() <= 1 and np.abs(cr[rows, columns]).max() <= 1
        assert max(np.abs(cb[12:20, 31:41]).mean(), np.abs(cr[12:20, 31:41]).mean()) > 3  # the grey patch


def top_level_boxes(path) -> list[bytes]:
    """The types of an ISO media file's top-level boxes, in file order."""
    boxes, data = [], path.read_bytes()
    at = 0
    while at + 8 <= len(data):
        size, kind = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8]
        if size == 1:  # a 64-bit size follows the type
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        elif size == 0:  # to the end of the file
            size = len(data) - at
        boxes.append(kind)
        at += size
    return boxes


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_mp4_and_mov_have_their_index_in_front(make_video, tmp_path, tiny_model, suffix):
    """As `ffmpeg -movflags +faststart`: moov before mdat, so a browser plays the reel as it
    arrives; with its sound, in a run that writes segments and remuxes them too."""
    src = make_video(suffix=suffix, frames=30, audio_tracks=1)
    assert top_level_boxes(src).index(b"mdat") < top_level_boxes(src).index(b"moov")  # as written by PyAV
    for segments in (None, 0.5):
        dst = tmp_path / f"out{segments}{suffix}"
        options = {} if segments is None else {"segment_seconds": segments}
        colorize(src, dst, model=tiny_model, **options)
        boxes = top_level_boxes(dst)
        assert b"moov" in boxes and b"mdat" in boxes
        assert boxes.index(b"moov") < boxes.index(b"mdat"), boxes
        assert len(read_video(dst)[0]) == 30
