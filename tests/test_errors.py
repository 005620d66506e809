"""User mistakes and bad files: one line on stderr, exit 1, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import run_cli

from vidcolor.cli import main


def _run(args: list[str], cwd: Path, quiet: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidcolor", *(["-q"] if quiet else []), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line_failure(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vidcolor: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000, layout="mono")
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 48000, 0
        for p in s.encode(f):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "progress-bar"])
def test_missing_input(folder, tiny_model, quiet):
    result = _run(["nope.mp4", "out.mp4", "--model", str(tiny_model)], folder, quiet)
    _assert_one_line_failure(result, "nope.mp4", "no such file")
    assert _files(folder) == set()


@pytest.mark.parametrize("where", ["input", "output"])
def test_standard_input_and_output_are_one_clear_line(make_video, tiny_model, folder, where):
    """'-' was taken for a file: "no such file", or an unknown container for the extension ''."""
    src = str(make_video(frames=2))
    args = ["-", "out.mp4"] if where == "input" else [src, "-"]
    result = _run([*args, "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "standard " + where, "name a file")
    assert _files(folder) == set()


def test_text_renamed_mp4(folder, tiny_model):
    (folder / "notes.mp4").write_text("this is not a video\n" * 50)
    result = _run(["notes.mp4", "out.mp4", "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "notes.mp4")
    assert _files(folder) == {"notes.mp4"}


def test_empty_file(folder, tiny_model):
    (folder / "empty.mkv").write_bytes(b"")
    result = _run(["empty.mkv", "out.mkv", "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "empty.mkv")
    assert _files(folder) == {"empty.mkv"}


def test_audio_only(folder, tiny_model):
    _audio_only(folder / "sound.mp4")
    result = _run(["sound.mp4", "out.mp4", "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "no video stream")
    assert _files(folder) == {"sound.mp4"}


def test_output_is_input(make_video, tiny_model, folder):
    src = make_video(frames=2)
    before = src.read_bytes()
    result = _run([str(src), str(src), "--model", str(tiny_model), "--overwrite"], folder)
    _assert_one_line_failure(result, "is the input")
    assert src.read_bytes() == before


def test_existing_output_needs_overwrite(make_video, tiny_model, folder):
    src = make_video(frames=2)
    (folder / "out.mp4").write_bytes(b"precious")
    result = _run([str(src), "out.mp4", "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "--overwrite")
    assert (folder / "out.mp4").read_bytes() == b"precious"
    assert _run([str(src), "out.mp4", "--model", str(tiny_model), "--overwrite"], folder).returncode == 0
    assert (folder / "out.mp4").read_bytes() != b"precious"
    assert _files(folder) == {"out.mp4"}


def test_output_folder_missing(make_video, tiny_model, folder):
    result = _run([str(make_video(frames=2)), "missing/out.mp4", "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "does not exist")
    assert _files(folder) == set()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_output_folder_read_only(make_video, tiny_model, folder):
    locked = folder / "locked"
    locked.mkdir(mode=0o500)
    result = _run([str(make_video(frames=2)), "locked/out.mp4", "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "not writable")


def test_unknown_output_extension(make_video, tiny_model, folder):
    result = _run([str(make_video(frames=2)), "out.xyz", "--model", str(tiny_model)], folder)
    _assert_one_line_failure(result, "out.xyz")
    assert _files(folder) == set()


def test_not_a_model(make_video, folder):
    (folder / "model.onnx").write_bytes(b"garbage")
    result = _run([str(make_video(frames=2)), "out.mp4", "--model", "model.onnx"], folder)
    _assert_one_line_failure(result, "model")
    assert _files(folder) == {"model.onnx"}


def test_unknown_encoder(make_video, tiny_model, folder):
    result = _run([str(make_video(frames=2)), "out.mp4", "--model", str(tiny_model), "--codec", "nosuchcodec"], folder)
    _assert_one_line_failure(result, "nosuchcodec")
    assert _files(folder) == set()


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["only-one-argument"])
    assert exit_info.value.code == 2


def test_success_writes_stats_json(make_video, tiny_model, folder):
    import json

    result = _run([str(make_video(frames=3)), "out.mp4", "--model", str(tiny_model), "--stats-json", "s.json"], folder)
    assert result.returncode == 0, result.stderr
    stats = json.loads((folder / "s.json").read_text())
    assert stats["frames"] == 3
    assert _files(folder) == {"out.mp4", "s.json"}


def test_a_warning_during_the_run_has_its_own_line(make_video, tiny_model, folder):
    """A warning while the progress bar was drawn (a stream left out, at the end) ran on at the end
    of the bar's line. It goes above the bar, on a line of its own."""
    src = make_video(frames=3, audio_tracks=1)
    result = _run([str(src), "out.m2v", "--model", str(tiny_model)], folder, quiet=False)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.replace("\r", "\n").splitlines()
    warnings = [line for line in lines if "WARNING" in line]
    assert warnings and all(line.startswith("vidcolor: WARNING: ") for line in warnings), result.stderr
    assert any("leaving out" in line for line in warnings) and any("frame/s" in line for line in lines)


@pytest.mark.parametrize("signum,code", [(2, 130), (15, 143)])
def test_interrupt_leaves_nothing(make_video, tiny_model, folder, signum, code):
    import signal
    import time

    src = make_video(frames=600, width=320, height=240)
    process = subprocess.Popen(
        [sys.executable, "-m", "vidcolor", "-q", str(src), "out.mp4", "--model", str(tiny_model), "--batch-size", "2"],
        cwd=folder,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(folder.glob(".out.mp4.vidcolor*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(folder.glob(".out.mp4.vidcolor*")), "the run never started writing"
    process.send_signal(signal.Signals(signum))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert _files(folder) == set()


def test_errors_say_what_happened_without_ffmpegs_error_number(tmp_path):
    """FFmpeg's reason in words, not its raw code ("[Errno 1094995529] Invalid data found ...")."""
    src = tmp_path / "garbage.mp4"
    src.write_bytes(b"not a video at all, only some bytes " * 200)
    result = run_cli(str(src), str(tmp_path / "out.mp4"))
    assert result.returncode == 1, result.stderr
    assert "not a video file vidcolor can read (Invalid data found" in result.stderr, result.stderr
    assert "Errno" not in result.stderr
