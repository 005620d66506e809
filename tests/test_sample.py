"""The sample that ships in the package, and `vidcolor --sample`: a first command that needs nothing beside it.

The runs use the tests' tiny model, so they hold whichever model is bundled.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import packets_of, picture

import vidcolor
from vidcolor.cli import SAMPLE_OUTPUT, main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = vidcolor.sample_path()
SAMPLE_IN_WHEEL = "vidcolor/samples/chaplin_street_excerpt.mp4"
MAX_SAMPLE_BYTES = 1_500_000  # what a clone may carry for a first try


def _vidcolor(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidcolor", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _streams(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        return [s.type for s in c.streams]


def _frames_and_chroma(path: Path) -> tuple[int, float]:
    """(video frames, mean distance of U and V from neutral grey, in 8-bit codes)."""
    frames, distance = 0, 0.0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            frames += 1
            distance += np.mean([np.abs(picture(frame, p).astype(np.int32) - 128).mean() for p in (1, 2)])
    return frames, distance / max(frames, 1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a clean copy of the checkout: built in place, setuptools would also pack whatever an
    earlier build left in build/lib, a sample the package data no longer names included."""
    source, folder = tmp_path_factory.mktemp("source") / "vidcolor", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(folder),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    (built,) = folder.glob("vidcolor-*.whl")
    return built


def test_sample_and_its_provenance_are_in_the_wheel(wheel):
    with zipfile.ZipFile(wheel) as z:
        assert {SAMPLE_IN_WHEEL, "vidcolor/samples/PROVENANCE.md"} <= set(z.namelist())
        assert z.read(SAMPLE_IN_WHEEL) == SAMPLE.read_bytes()
    assert SAMPLE.parent.parent == Path(vidcolor.__file__).parent  # found beside the package, wherever installed


def test_provenance_names_the_source_the_licence_the_command_and_the_hash():
    text = (SAMPLE.parent / "PROVENANCE.md").read_text()
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest() in text
    assert f"{SAMPLE.stat().st_size:,} bytes" in text
    assert "Zulko/moviepy" in text and "media/chaplin.mp4" in text
    assert "The MIT License" in text and "Copyright (c) 2014 Zulko" in text
    assert re.search(r"^ffmpeg -i .*chaplin_street\.mp4 -t 4\.8 ", text, re.MULTILINE)


def test_sample_is_a_short_black_and_white_film_with_its_sound():
    assert SAMPLE.stat().st_size < MAX_SAMPLE_BYTES
    assert _streams(SAMPLE) == ["video", "audio"]
    with av.open(str(SAMPLE)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert (video.width, video.height, video.average_rate) == (640, 360, 25)
        assert 3.0 <= c.duration / av.time_base <= 6.0
        lumas = [picture(f).astype(np.int16) for f in c.decode(video)]
        c.seek(0)
        sound = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio)])
    frames, chroma = _frames_and_chroma(SAMPLE)
    assert frames == len(lumas) == 120
    assert chroma < 1.0  # black and white: U and V at neutral grey
    assert np.abs(lumas[-1] - lumas[0]).mean() > 5  # a scene that moves, not a still
    assert np.sqrt(np.mean(sound.astype(np.float64) ** 2)) > 0.01  # music, not silence


def test_sample_command_colorizes_it_keeping_frames_and_sound(tmp_path, tiny_model):
    result = _vidcolor(["--sample", "out.mp4", "--model", str(tiny_model), "--stats-json", "s.json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "vidcolor: wrote out.mp4 (120 frames," in result.stderr
    out = tmp_path / "out.mp4"
    assert _streams(out) == ["video", "audio"]
    frames, chroma = _frames_and_chroma(out)
    assert frames == _frames_and_chroma(SAMPLE)[0]
    assert chroma > 3.0  # grey in, colour out
    assert packets_of(out, "audio") == packets_of(SAMPLE, "audio")  # the sound copied, not re-encoded
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == frames
    assert {p.name for p in tmp_path.iterdir()} == {"out.mp4", "s.json"}


def test_sample_command_without_output_writes_the_default_name(tmp_path, tiny_model):
    result = _vidcolor(["--sample", "--model", str(tiny_model), "--no-temporal", "-q"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [SAMPLE_OUTPUT]
    assert _frames_and_chroma(tmp_path / SAMPLE_OUTPUT)[0] == 120


@pytest.mark.parametrize(
    "argv",
    [["--sample", "out.mp4", "extra.mp4"], ["in.mp4", "--sample", "out.mp4"], ["only-input.mp4"], []],
    ids=["sample-and-input", "input-then-sample", "input-without-output", "nothing"],
)
def test_sample_usage_errors(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "--sample [OUTPUT]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
