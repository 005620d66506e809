"""The package as users get it: what the wheel installs, and the bundled model."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from vidcolor.model import DEFAULT_MODEL, OnnxColorizer

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_only_vidcolor(tmp_path):
    # from a copy of the tracked tree: a stale build/ beside the checkout would hide a missing package
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns(".git", "build", "*.egg-info", ".*venv*", "_ckpt", "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, source, ignore=ignore)
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
            str(tmp_path),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("vidcolor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"vidcolor"}
    assert "vidcolor/models/default.onnx" in names
    assert "vidcolor/training/train.py" in names
    # every module of the source tree, subpackages included (an installed run imports them all)
    modules = {str(m.relative_to(ROOT)) for m in (ROOT / "vidcolor").rglob("*.py")}
    assert modules <= set(names), sorted(modules - set(names))
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert (
        "vidcolor = vidcolor.cli:main" in entry_points and "vidcolor-train = vidcolor.training.cli:main" in entry_points
    )


def test_bundled_model_describes_itself():
    info = OnnxColorizer(DEFAULT_MODEL).info
    assert info.head == "classification" and info.ab_bins is not None
    assert 0 < info.temperature <= 1
    assert info.training["command"].startswith("vidcolor-train")
    assert info.training["train_photos"] > 1000 and info.training["val_photos"] > 100
