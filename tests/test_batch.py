"""`vidcolor batch`: every video of a folder tree, finished ones skipped, bad ones reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import VideoSpec, packets_of, picture, read_video, run_cli, write_video

from vidcolor.batch import find_videos, run_batch
from vidcolor.config import ColorizeOptions
from vidcolor.errors import VidcolorError


def _folder(tmp_path):
    """in/a.mp4, in/reel2/b.mov (with audio), in/broken.mp4 (text), in/notes.txt."""
    root = tmp_path / "in"
    (root / "reel2").mkdir(parents=True)
    write_video(root / "a.mp4", VideoSpec(frames=5))
    write_video(root / "reel2" / "b.mov", VideoSpec(frames=7, audio_tracks=1))
    (root / "broken.mp4").write_text("not a video at all\n")
    (root / "notes.txt").write_text("catalogue\n")
    return root


def test_a_folder_is_colorized_past_a_broken_file(tmp_path, tiny_model):
    root, out = _folder(tmp_path), tmp_path / "out"
    result = run_cli("batch", str(root), str(out), "--model", str(tiny_model), "-q", "--json")
    assert result.returncode == 1, result.stderr  # one failed
    outcomes = {json.loads(line)["input"].split("/in/")[1]: json.loads(line) for line in result.stdout.splitlines()}
    assert set(outcomes) == {"a.mp4", "broken.mp4", "reel2/b.mov"}  # notes.txt is not a video
    assert outcomes["broken.mp4"]["status"] == "failed" and outcomes["broken.mp4"]["message"]
    assert outcomes["a.mp4"]["status"] == outcomes["reel2/b.mov"]["status"] == "done"
    assert outcomes["a.mp4"]["frames"] == 5 and outcomes["reel2/b.mov"]["frames"] == 7
    assert len(read_video(out / "a.mp4")[0]) == 5
    frames = read_video(out / "reel2" / "b.mov")[0]
    assert len(frames) == 7 and np.ptp(frames[0].to_ndarray()[48:]) > 0  # chroma, not grey
    assert not (out / "broken.mp4").exists() and not list(out.rglob("*.part*"))
    assert "Traceback" not in result.stderr

    # Run again: the finished videos are skipped, untouched; the broken one fails again.
    before = (out / "a.mp4").stat().st_mtime_ns
    again = run_cli("batch", str(root), str(out), "--model", str(tiny_model), "-q")
    assert again.returncode == 1
    assert (out / "a.mp4").stat().st_mtime_ns == before
    table = again.stdout
    assert "0 done, 2 skipped, 1 failed" in table and "broken.mp4" in table


def test_a_clean_folder_exits_zero_and_suffix_sets_the_container(tmp_path, tiny_model):
    root = _folder(tmp_path)
    (root / "broken.mp4").unlink()
    outcomes = run_batch(root, tmp_path / "out", ColorizeOptions(model=tiny_model, codec="ffv1"), suffix=".mkv")
    assert [o.status for o in outcomes] == ["done", "done"]
    assert (tmp_path / "out" / "a.mkv").is_file() and (tmp_path / "out" / "reel2" / "b.mkv").is_file()
    result = run_cli("batch", str(root), str(tmp_path / "out"), "--model", str(tiny_model), "--suffix", "mkv", "-q")
    assert result.returncode == 0 and "0 done, 2 skipped, 0 failed" in result.stdout


def test_same_output_twice_is_a_failure_not_an_overwrite(tmp_path, tiny_model):
    root = tmp_path / "in"
    root.mkdir()
    write_video(root / "x.mp4", VideoSpec(frames=3))
    write_video(root / "x.mov", VideoSpec(frames=4))
    outcomes = run_batch(root, tmp_path / "out", ColorizeOptions(model=tiny_model), suffix=".mkv")
    assert [o.status for o in outcomes] == ["done", "failed"] and "same output" in outcomes[1].message
    assert len(read_video(tmp_path / "out" / "x.mkv")[0]) == 4  # x.mov sorts before x.mp4 and wins


def test_an_output_folder_inside_the_input_is_not_read_back(tmp_path, tiny_model):
    root = _folder(tmp_path)
    (root / "broken.mp4").unlink()
    out = root / "colour"
    run_batch(root, out, ColorizeOptions(model=tiny_model))
    assert find_videos(root, exclude=out.resolve()) == sorted([root / "a.mp4", root / "reel2" / "b.mov"])
    assert [o.status for o in run_batch(root, out, ColorizeOptions(model=tiny_model))] == ["skipped", "skipped"]


def test_no_videos_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("batch", str(tmp_path / "empty"), str(tmp_path / "out"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "no video files" in result.stderr
    missing = run_cli("batch", str(tmp_path / "nope"), str(tmp_path / "out"))
    assert missing.returncode == 1 and "no such folder" in missing.stderr


def test_a_ray_batch_matches_the_local_one(tmp_path, tiny_model):
    """Also a long reel (4 s with 1 s parts): cut into parts on Ray, whole locally."""
    pytest.importorskip("ray", reason="Ray is the ray extra; CI installs it")
    root = _folder(tmp_path)
    write_video(root / "long.mp4", VideoSpec(frames=100, width=96, height=64, audio_tracks=1, options={"g": "10"}))
    options = ColorizeOptions(model=tiny_model, codec="ffv1")
    local = run_batch(root, tmp_path / "local", options, suffix=".mkv")
    ray_run = run_batch(
        root, tmp_path / "ray", options, suffix=".mkv", ray_address="auto", cpus_per_video=1, part_seconds=1.0
    )
    assert [(o.status, o.frames) for o in ray_run] == [(o.status, o.frames) for o in local]
    assert [o.status for o in ray_run] == ["done", "failed", "done", "done"]
    for name in ("a.mkv", "reel2/b.mkv", "long.mkv"):
        ours, theirs = read_video(tmp_path / "ray" / name)[0], read_video(tmp_path / "local" / name)[0]
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs, strict=True):
            assert a.pts == b.pts and np.array_equal(picture(a), picture(b))  # luma: always exact
            # Chroma: exact, except where a part's warmed-up smoother rounds differently (1 code at most).
            ya, yb = a.to_ndarray(format="yuv444p").astype(int), b.to_ndarray(format="yuv444p").astype(int)
            assert np.abs(ya - yb).max() <= (1 if name == "long.mkv" else 0)
    assert packets_of(tmp_path / "ray" / "long.mkv", "audio") == packets_of(tmp_path / "local" / "long.mkv", "audio")
    assert not list((tmp_path / "ray").glob(".*.vidcolor"))  # the parts' work folder is gone
    # Finished videos are skipped on Ray as locally.
    again = run_batch(root, tmp_path / "ray", options, suffix=".mkv", ray_address="auto", cpus_per_video=1)
    assert [o.status for o in again] == ["skipped", "failed", "skipped", "skipped"]


def test_ray_missing_is_one_clear_line(tmp_path, tiny_model, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    root = _folder(tmp_path)
    with pytest.raises(VidcolorError, match=r"vidcolor\[ray\]"):
        run_batch(root, tmp_path / "out", ColorizeOptions(model=tiny_model), ray_address="auto")


def _album(tmp_path):
    """A box of scanned prints beside a reel: in/prints/*.jpg|.png, an album of pages, a video."""
    import cv2

    root = tmp_path / "in"
    (root / "prints").mkdir(parents=True)
    y, x = np.mgrid[0:48, 0:64]
    grey = ((x * 3 + y * 2) % 200 + 20).astype(np.uint8)
    cv2.imwrite(str(root / "prints" / "scan001.jpg"), grey)
    cv2.imwrite(str(root / "prints" / "scan002.png"), grey[::-1])
    cv2.imwritemulti(str(root / "album.tif"), [grey, grey[:, ::-1]])
    write_video(root / "reel.mp4", VideoSpec(frames=5))
    return root


def test_stills_are_colorized_one_by_one_when_asked(tmp_path, tiny_model):
    """A box of scanned prints: `batch` looked for videos only and said there were none."""
    import cv2

    root, out = _album(tmp_path), tmp_path / "out"
    result = run_cli("batch", str(root), str(out), "--model", str(tiny_model), "-q", "--json", "--stills")
    assert result.returncode == 0, result.stderr
    outcomes = {json.loads(line)["input"].split("/in/")[1]: json.loads(line) for line in result.stdout.splitlines()}
    assert {name: o["frames"] for name, o in outcomes.items()} == {
        "album.tif": 2,
        "prints/scan001.jpg": 1,
        "prints/scan002.png": 1,
        "reel.mp4": 5,
    }
    colour = cv2.imread(str(out / "prints" / "scan002.png"))
    assert colour.shape == (48, 64, 3) and np.abs(colour[..., 2].astype(int) - colour[..., 0]).max() > 12
    assert len(cv2.imreadmulti(str(out / "album.tif"))[1]) == 2


def test_stills_without_the_flag_are_left_alone_and_said(tmp_path, tiny_model):
    root = _album(tmp_path)
    (root / "reel.mp4").unlink()
    result = run_cli("batch", str(root), str(tmp_path / "out"), "--model", str(tiny_model), "-q")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "it holds 3 image files: --stills colorizes each" in result.stderr
