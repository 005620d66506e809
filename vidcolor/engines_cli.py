"""`vidcolor engines build|list`: prebuild TensorRT engines for the frame sizes of a collection,
so no run waits for a build, and see what the cache holds."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import VidcolorError
from .model import DEFAULT_MODEL, read_info
from .trt_engine import Profile, cached_engine, engine_dir

EXIT_OK, EXIT_FAILED = 0, 1


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1920x1080, not {text!r}") from None
    return width, height


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidcolor engines", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (or find) the engine for each frame size")
    build.add_argument("--size", type=_size, action="append", required=True, help="frame size WxH (repeatable)")
    build.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model (default: bundled)")
    build.add_argument("--render-size", type=int, help="short side the model sees (default: the model's)")
    build.add_argument("--batch-size", type=int, default=8, help="largest batch, as in the runs (default 8)")
    build.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    sub.add_parser("list", help="the engines in the cache and what each was built for")
    return p


def list_engines(cache: Path) -> list[dict]:
    """The key of every engine in `cache` (from the JSON written beside each), oldest first."""
    found = []
    for meta in sorted(cache.glob("*.json"), key=lambda p: p.stat().st_mtime):
        engine = meta.with_suffix(".engine")
        if engine.is_file():
            found.append({"engine": engine.name, "bytes": engine.stat().st_size, **json.loads(meta.read_text())})
    return found


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="vidcolor: %(message)s")
    cache = engine_dir()
    try:
        if args.command == "list":
            for entry in list_engines(cache):
                print(json.dumps(entry))
            print(f"cache: {cache}", file=sys.stderr)
            return EXIT_OK
        info = read_info(args.model)
        for width, height in args.size:
            shape = info.render_shape(height, width, args.render_size)
            profile = Profile(*shape, opt_batch=args.batch_size, max_batch=args.batch_size)
            print(cached_engine(args.model, profile, args.precision, cache))
    except VidcolorError as e:
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
