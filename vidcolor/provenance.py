"""Where a result came from: code revision, library versions and machine, recorded beside numbers."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def git_revision() -> str:
    """Short git revision of the checkout vidcolor runs from; empty when it is not one."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def library_versions() -> dict[str, str]:
    """Versions of vidcolor and of the libraries that decide its speed."""
    import av
    import cv2
    import numpy as np
    import onnxruntime

    from . import __version__

    return {
        "vidcolor": __version__,
        "python": platform.python_version(),
        "av": av.__version__,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }


def machine() -> str:
    return f"{platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cores"
