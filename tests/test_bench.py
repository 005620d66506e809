"""`vidcolor bench`: per-stage throughput beside a plain transcode of the same clip."""

from __future__ import annotations

import json

import av
import pytest

from vidcolor import colorize
from vidcolor.bench import bench, synthetic_clip, transcode
from vidcolor.cli import main
from vidcolor.config import ColorizeOptions

STAGES = {"decode", "model", "temporal", "colour", "encode"}


def test_transcode_keeps_every_frame(make_video, tmp_path):
    src = make_video(frames=9, audio_tracks=1)
    out = tmp_path / "plain.mp4"
    assert transcode(src, out, ColorizeOptions()) == (9, (64, 48))
    with av.open(str(out)) as c:
        assert len(list(c.decode(video=0))) == 9
        assert c.streams.video[0].codec_context.name == "h264"


def test_synthetic_clip(tmp_path):
    clip = synthetic_clip(tmp_path / "s.mp4", size=(96, 64), frames=7)
    with av.open(str(clip)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 7 and (frames[0].width, frames[0].height) == (96, 64)
    assert frames[0].to_ndarray()[:64].std() > 10  # texture for the encoder, not a flat field


@pytest.mark.parametrize("temporal", [True, False])
def test_bench_reports_every_stage_and_the_floor(make_video, tiny_model, tmp_path, temporal):
    clip = make_video(frames=10)
    result = bench(clip, ColorizeOptions(model=tiny_model, temporal=temporal), tmp_path)
    assert result.frames == 10 and result.size == (64, 48)
    assert set(result.stage_fps) == (STAGES if temporal else STAGES - {"temporal"})
    assert all(fps > 0 for fps in result.stage_fps.values())
    assert result.transcode_fps > 0 and result.vidcolor_fps > 0
    # Both fps are rounded to 0.01 and the ratio to 1e-4, hence the absolute tolerance.
    assert result.ratio == pytest.approx(result.vidcolor_fps / result.transcode_fps, rel=0.01, abs=2e-4)
    assert result.startup_seconds > 0 and result.steady_fps > 0  # 10 frames: a batch of 8, then 2
    assert result.steady_ratio == pytest.approx(result.steady_fps / result.transcode_fps, rel=0.01, abs=2e-4)
    assert {"vidcolor", "av", "onnxruntime", "libavcodec"} <= set(result.versions)
    assert result.encoder_options == {"crf": "18", "preset": "medium"}


def test_a_run_notes_its_first_batch_and_its_pace_after_it(make_video, tiny_model, tmp_path):
    """RunStats.steady_fps: the frames written after the first batch over the time after it."""
    stats = colorize(make_video(frames=10), tmp_path / "out.mkv", model=tiny_model, codec="ffv1", batch_size=4)
    assert stats.frames == 10 and stats.first_batch_frames == 4
    assert 0 < stats.first_batch_seconds < stats.wall_seconds
    assert stats.steady_fps == pytest.approx(6 / (stats.wall_seconds - stats.first_batch_seconds))
    assert stats.to_dict()["steady_fps"] == round(stats.steady_fps, 3)


def test_cli_json(make_video, capsys):
    clip = make_video(frames=6)
    assert main(["bench", str(clip), "--json", "--preset", "ultrafast"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["frames"] == 6
    assert record["encoder_options"]["preset"] == "ultrafast"
    assert set(record["stage_fps"]) == STAGES


def test_cli_missing_clip_is_one_line(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "nope.mp4")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vidcolor: error:") and "nope.mp4: no such file" in err[0]
