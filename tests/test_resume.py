"""Resume: an interrupted run (Ctrl-C, SIGKILL) continues from its last segment and gives the output
an uninterrupted run gives, frame for frame and timestamp for timestamp, with the sound whole."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import packets_of, picture, read_video, run_cli

from vidcolor import colorize
from vidcolor.checkpoint import MANIFEST, work_dir
from vidcolor.errors import OutputError

# Keyframes every 10 frames at 25 fps and a segment every 0.5 s: segments start at frames 13, 26,
# 39 and 52, none of them a keyframe, so a resumed run decodes from the keyframe before.
GOP = {"g": "10", "sc_threshold": "0"}


def _interrupt_after(frames: int):
    def progress(done: int) -> None:
        if done >= frames:
            raise KeyboardInterrupt

    return progress


def _whole_and_interrupted(src, folder, options: dict, after: int):
    """(output of an uninterrupted run, OUTPUT of a run stopped by Ctrl-C once `after` frames were
    written): the second leaves only its work folder. The stopped run's stages run inline, so that
    it stops where `after` says: in threads the encoder may be a few batches past the progress
    report, and had finished one segment more in one of 25 runs here."""
    whole = folder / "whole.mkv"
    colorize(src, whole, **options)
    out = folder / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        colorize(src, out, progress=_interrupt_after(after), threaded=False, **options)
    return whole, out


def _edit_manifest(out, edit) -> None:
    path = work_dir(out) / MANIFEST
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _frames(path):
    """(pts, planes) of every frame, each plane's picture (`conftest.picture`)."""
    frames, _ = read_video(path)
    return [(f.pts, [picture(f, i) for i in range(len(f.planes))]) for f in frames]


def _same_video(a, b) -> None:
    fa, fb = _frames(a), _frames(b)
    assert [pts for pts, _ in fa] == [pts for pts, _ in fb]
    for (pts, planes_a), (_, planes_b) in zip(fa, fb):
        for pa, pb in zip(planes_a, planes_b):
            assert np.array_equal(pa, pb), f"frame at pts {pts} differs"


@pytest.mark.parametrize("suffix,codec", [(".mkv", "ffv1"), (".mp4", "libx264"), (".mkv", "libx264")])
def test_interrupted_run_resumes_to_the_same_output(make_video, tiny_model, tmp_path, suffix, codec):
    # 128 px wide: at 96x64 PyAV's x264 itself does not repeat (the same frames, fed twice in one
    # process, come out as two streams), so no resumed run could match an uninterrupted one there.
    src = make_video(suffix, frames=60, width=128, height=64, audio_tracks=1, subtitles=True, options=GOP)
    options = dict(model=tiny_model, codec=codec, batch_size=4, segment_seconds=0.5)
    whole = tmp_path / f"whole{suffix}"
    colorize(src, whole, **options)

    out = tmp_path / f"out{suffix}"
    with pytest.raises(KeyboardInterrupt):
        colorize(src, out, progress=_interrupt_after(44), threaded=False, **options)  # see _whole_and_interrupted
    assert not out.exists()
    manifest = json.loads((work_dir(out) / MANIFEST).read_text())
    assert [s["frames"] for s in manifest["segments"]] == [13, 13, 13]
    assert manifest["resume"]["frames"] == 39 and not manifest["complete"]

    stats = colorize(src, out, resume=True, **options)
    assert stats.resumed_frames == 39 and stats.frames == 60
    assert not work_dir(out).exists()
    _same_video(out, whole)
    assert packets_of(out, "video") == packets_of(whole, "video")  # the encoded bytes too
    assert packets_of(out, "audio") == packets_of(src, "audio") != [[]]
    assert packets_of(out, "subtitle") == packets_of(whole, "subtitle") != [[]]


def test_without_the_temporal_state_the_join_would_differ(make_video, tiny_model, tmp_path):
    """The saved smoother state is what makes the join seamless: dropping it changes the frames."""
    src = make_video(frames=30, width=96, height=64, options=GOP)
    options = dict(model=tiny_model, codec="ffv1", batch_size=4, segment_seconds=0.5)
    whole, out = _whole_and_interrupted(src, tmp_path, options, after=24)

    def drop_state(manifest):
        (work_dir(out) / manifest["resume"]["state"]).unlink()
        manifest["resume"]["state"] = None

    _edit_manifest(out, drop_state)
    colorize(src, out, resume=True, **options)
    a, b = _frames(out), _frames(whole)
    assert all(np.array_equal(x, y) for x, y in zip(a[12][1], b[12][1]))  # the first segment is the same
    assert not all(np.array_equal(x, y) for x, y in zip(a[13][1], b[13][1]))  # the join is not


@pytest.mark.parametrize("seek_pts", [None, 7], ids=["no-timestamp", "seek-misses"])
def test_resume_without_a_usable_seek_decodes_from_the_start(make_video, tiny_model, tmp_path, seek_pts):
    src = make_video(frames=50, width=96, height=64, options=GOP)
    options = dict(model=tiny_model, codec="ffv1", batch_size=4, segment_seconds=0.5)
    whole, out = _whole_and_interrupted(src, tmp_path, options, after=24)
    _edit_manifest(out, lambda manifest: manifest["resume"].update(seek_pts=seek_pts))
    assert colorize(src, out, resume=True, **options).resumed_frames == 13
    _same_video(out, whole)


def test_image_sequence_resumes(tmp_path, tiny_model):
    folder = tmp_path / "scan"
    folder.mkdir()
    import av

    with av.open(str(folder / "f_%03d.png"), "w", format="image2") as container:
        stream = container.add_stream("png", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "gray"
        for i in range(30):
            grey = (np.add.outer(np.arange(48), np.arange(64) + 3 * i) % 256).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(grey, format="gray")))
    options = dict(model=tiny_model, codec="ffv1", batch_size=4, segment_seconds=0.25)
    whole, out = _whole_and_interrupted(folder, tmp_path, options, after=20)
    assert colorize(folder, out, resume=True, **options).resumed_frames >= 6
    _same_video(out, whole)


def test_leftover_work_is_never_thrown_away_silently(make_video, tiny_model, tmp_path):
    src = make_video(frames=50, width=96, height=64, options=GOP)
    options = dict(model=tiny_model, codec="ffv1", batch_size=4, segment_seconds=0.5)
    out = tmp_path / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        colorize(src, out, progress=_interrupt_after(24), **options)
    with pytest.raises(OutputError, match="--resume"):
        colorize(src, out, **options)  # neither --resume nor --overwrite
    with pytest.raises(OutputError, match="codec: .ffv1. then, .libx264. now"):
        colorize(src, out, resume=True, **{**options, "codec": "libx264"})  # other settings: refused
    assert work_dir(out).exists()
    stats = colorize(src, out, overwrite=True, **options)  # starting over is asked for explicitly
    assert stats.resumed_frames == 0 and stats.frames == 50 and not work_dir(out).exists()


def test_recordings_joined_into_one_file_resume_by_count(make_video, tiny_model, tmp_path):
    """Two TS recordings joined with `cat`: the second's clock starts again, so a time names a frame
    of each. A run interrupted in the second resumes to the uninterrupted run's output: the jump
    count and the input's last time travel in the resume point, and the resumed run counts frames
    from the start instead of seeking a time (FFmpeg's seek here lands anywhere; the frame check
    after it caught a wrong landing in the cases tried, this does not rely on it)."""
    spec = dict(width=96, height=64, options=GOP)
    parts = [make_video(".ts", frames=n, color_range=r, **spec) for n, r in ((60, 1), (30, 2))]
    src = tmp_path / "joined.ts"
    src.write_bytes(parts[0].read_bytes() + parts[1].read_bytes())
    options = dict(model=tiny_model, codec="ffv1", batch_size=4, segment_seconds=0.5)
    whole, out = _whole_and_interrupted(src, tmp_path, options, after=70)
    manifest = json.loads((work_dir(out) / MANIFEST).read_text())
    assert manifest["resume"]["frames"] > 60 and manifest["resume"]["timestamp_jumps"] == 1
    stats = colorize(src, out, resume=True, **options)
    assert stats.resumed_frames == manifest["resume"]["frames"] and stats.frames == 90
    _same_video(whole, out)


def test_stopped_as_the_work_folder_is_made_leaves_nothing(make_video, tiny_model, tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM right after the work folder was made, before the run held it, left the empty
    folder behind (and the next run asked for --resume or --overwrite). An earlier run's folder stays."""
    from vidcolor.checkpoint import Checkpoint

    src = make_video(frames=30, width=96, height=64, options=GOP)
    options = dict(model=tiny_model, codec="ffv1", batch_size=4, segment_seconds=0.5)
    with pytest.raises(KeyboardInterrupt):  # an earlier run, interrupted with a segment done
        colorize(src, tmp_path / "again.mkv", progress=_interrupt_after(20), **options)
    earlier = sorted(p.name for p in work_dir(tmp_path / "again.mkv").iterdir())
    assert any(name.startswith("segment-") for name in earlier)
    made = Checkpoint.start.__func__

    def stopped(cls, folder, *args, **kwargs):
        made(cls, folder, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "start", classmethod(stopped))
    with pytest.raises(KeyboardInterrupt):
        colorize(src, tmp_path / "out.mkv", **options)
    assert not work_dir(tmp_path / "out.mkv").exists()
    with pytest.raises(KeyboardInterrupt):
        colorize(src, tmp_path / "again.mkv", resume=True, **options)
    assert sorted(p.name for p in work_dir(tmp_path / "again.mkv").iterdir()) == earlier


def test_resume_with_nothing_to_resume_just_runs(make_video, tiny_model, tmp_path):
    src = make_video(frames=6)
    stats = colorize(src, tmp_path / "out.mkv", model=tiny_model, codec="ffv1", resume=True)
    assert stats.frames == 6 and stats.resumed_frames == 0


def test_sigkill_then_resume(make_video, tiny_model, tmp_path):
    src = make_video(frames=150, width=320, height=240, audio_tracks=1, options=GOP)
    # FFV1, so that the frames can be compared exactly: PyAV's x264 does not always code the same
    # frames the same way (its macroblock-tree rate control; docs/resume.md), and failed here once in 30.
    args = [str(src), "--model", str(tiny_model), "--codec", "ffv1"]
    args += ["--batch-size", "2", "--segment-seconds", "0.5", "-q"]
    whole = tmp_path / "whole.mkv"
    assert run_cli(*args[:1], str(whole), *args[1:]).returncode == 0

    out = tmp_path / "out.mkv"
    process = subprocess.Popen([sys.executable, "-m", "vidcolor", args[0], str(out), *args[1:]])
    manifest = work_dir(out) / MANIFEST
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and len(json.loads(manifest.read_text())["segments"]) >= 2:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before it could be killed; make the clip longer"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not out.exists()

    refused = run_cli(*args[:1], str(out), *args[1:])
    assert refused.returncode == 1 and "--resume" in refused.stderr and "Traceback" not in refused.stderr
    resumed = run_cli(*args[:1], str(out), *args[1:], "--resume", "--stats-json", str(tmp_path / "s.json"))
    assert resumed.returncode == 0, resumed.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert 0 < stats["resumed_frames"] < 150 and stats["frames"] == 150
    assert not work_dir(out).exists()
    _same_video(out, whole)
    assert packets_of(out, "audio") == packets_of(whole, "audio") != [[]]  # Matroska times in ms: as the whole run


def test_ctrl_c_keeps_finished_segments_and_says_how_to_go_on(make_video, tiny_model, tmp_path):
    src = make_video(frames=150, width=320, height=240, options=GOP)
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "vidcolor", str(src), str(out), "--model", str(tiny_model)]
    process = subprocess.Popen(
        [*cmd, "--batch-size", "2", "--segment-seconds", "0.5", "-q"], stderr=subprocess.PIPE, text=True
    )
    manifest = work_dir(out) / MANIFEST
    deadline = time.monotonic() + 120
    while not manifest.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists()
    names = {p.name for p in work_dir(out).iterdir()}
    assert MANIFEST in names and not [n for n in names if ".part" in n]  # the unfinished segment is gone


@pytest.mark.parametrize("temporal", [False, True], ids=["per-frame", "temporal"])
def test_parts_of_a_long_reel_join_into_the_whole_run(make_video, tiny_model, tmp_path, temporal):
    """What Ray does with a long reel, here in one process: parts colorized apart, then joined."""
    from vidcolor.config import ColorizeOptions
    from vidcolor.distributed import split
    from vidcolor.run import assemble_parts, colorize_part

    src = make_video(frames=100, width=96, height=64, audio_tracks=1, options=GOP)
    options = ColorizeOptions(model=tiny_model, codec="ffv1", temporal=temporal, segment_seconds=0.5)
    whole = tmp_path / "whole.mkv"
    colorize(src, whole, options)
    parts = split(src, options, 1.0)
    assert [(p.start, p.end) for p in parts] == [(0, 1), (1, 2), (2, 3), (3, None)]
    out = tmp_path / "out.mkv"
    for part in reversed(parts):  # any order, as on a cluster
        colorize_part(src, out, options, part)
    assert not out.exists()
    stats = assemble_parts(src, out, options, parts)
    assert stats.frames == 100 and not work_dir(out).exists()
    ours, theirs = _frames(out), _frames(whole)
    assert [pts for pts, _ in ours] == [pts for pts, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs):
        assert np.array_equal(a[0], b[0])
        difference = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a[1:], b[1:]))
        assert difference <= (1 if temporal else 0)
    assert packets_of(out, "audio") == packets_of(whole, "audio") != [[]]


def test_recordings_joined_into_one_file_are_not_cut_into_parts(make_video, tmp_path):
    """Parts are cut by time, and where the clock starts again a time names a frame of each recording."""
    from vidcolor.config import ColorizeOptions
    from vidcolor.distributed import split

    parts = [make_video(".ts", frames=50, width=64, height=48) for _ in range(2)]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(parts[0].read_bytes() + parts[1].read_bytes())
    assert len(split(parts[0], ColorizeOptions(), 0.5)) == 4  # one recording of 2 s: four parts
    assert split(joined, ColorizeOptions(), 0.5) == []


@pytest.mark.parametrize("strength", [0.5, 0.9, 0.98, 0.995])
def test_a_parts_warm_up_leaves_at_most_one_percent_of_the_smoothers_memory_out(strength):
    from vidcolor.stages import source

    frames = round(source.warmup_seconds(strength, 24.0) * 24)
    assert strength**frames <= source.WARMUP_FORGOTTEN < strength ** (frames - 1)
    assert source.warmup_seconds(0.0, 24.0) == 0.0


def test_a_part_without_warm_up_would_restart_the_colour(make_video, tiny_model, tmp_path, monkeypatch):
    """The warm-up is what keeps the smoother's memory across a join: without it a part's first
    frames are per-frame colour again and differ from the whole run."""
    from vidcolor import run
    from vidcolor.config import ColorizeOptions
    from vidcolor.stages import source

    src = make_video(frames=50, width=96, height=64, options=GOP)
    options = ColorizeOptions(model=tiny_model, codec="ffv1", segment_seconds=5)
    whole = tmp_path / "whole.mkv"
    colorize(src, whole, options)
    parts = [run.Part(0, 0.0, 1.0), run.Part(1, 1.0, None)]
    results = {}
    default = source.warmup_seconds
    for warmup in ("default", "none"):
        monkeypatch.setattr(source, "warmup_seconds", default if warmup == "default" else lambda strength, rate: 0.0)
        out = tmp_path / f"out-{warmup}.mkv"
        for part in parts:
            run.colorize_part(src, out, options, part)
        run.assemble_parts(src, out, options, parts)
        ours, theirs = _frames(out)[25], _frames(whole)[25]  # the first frame of part 1
        results[warmup] = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(ours[1], theirs[1]))
    assert results["default"] <= 1 < results["none"]
