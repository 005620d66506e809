"""`vidcolor-train`: train a colorization model on folders of colour photos."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from .mobilenet import DEFAULT_TFLITE
from .model import ModelDims
from .train import TrainOptions, summary_json, train


def _ints(count: int):
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
        if len(values) != count or min(values) < 1:
            raise argparse.ArgumentTypeError(f"{count} positive integers, not {text!r}")
        return values

    return parse


def _four_ints(text: str) -> tuple[int, ...]:
    """'16,32,64,128' -> (16, 32, 64, 128): one non-negative count per level of the U-Net."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if len(values) != 4 or min(values) < 0:
        raise argparse.ArgumentTypeError(f"four non-negative integers, one per level, not {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="vidcolor-train", description=__doc__)
    parser.add_argument(
        "--data", type=Path, action="append", required=True, help="folder of colour photos (repeatable)"
    )
    parser.add_argument("--out", type=Path, required=True, help="ONNX model to write")
    parser.add_argument("--steps", type=int, default=TrainOptions.steps)
    parser.add_argument("--batch-size", type=int, default=TrainOptions.batch_size)
    parser.add_argument("--crop", type=int, default=TrainOptions.crop, help="training crop size, px")
    parser.add_argument("--lr", type=float, default=TrainOptions.lr)
    parser.add_argument("--head", choices=["classification", "regression"], default=TrainOptions.head)
    parser.add_argument("--film-augment", action="store_true", help="degrade input luma like archival film")
    parser.add_argument(
        "--spectral-augment",
        action="store_true",
        help="input luma as orthochromatic or blue-sensitive film would record it, at random",
    )
    parser.add_argument(
        "--rebalance", type=float, default=TrainOptions.rebalance, help="class rebalancing lambda (1: none)"
    )
    parser.add_argument("--l1-weight", type=float, default=0.0, help="L1 on decoded ab beside the classification loss")
    parser.add_argument("--gan-steps", type=int, default=0, help="PatchGAN steps after the main run (default 0)")
    parser.add_argument("--gan-weight", type=float, default=TrainOptions.gan_weight, help="adversarial loss weight")
    parser.add_argument("--temperature", type=float, default=TrainOptions.temperature)
    parser.add_argument("--val-fraction", type=float, default=TrainOptions.val_fraction)
    parser.add_argument("--val-every", type=int, default=TrainOptions.val_every)
    parser.add_argument("--checkpoint", type=Path, help="resumable state file (resumes if it exists)")
    parser.add_argument("--seed", type=int, default=TrainOptions.seed)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    parser.add_argument(
        "--widths",
        type=_four_ints,
        default=ModelDims.widths,
        help="channels at 1/2, 1/4, 1/8, 1/16 of the input (default %(default)s)",
    )
    parser.add_argument(
        "--blocks",
        type=_four_ints,
        default=ModelDims.blocks,
        help="residual blocks at each of those levels (default %(default)s)",
    )
    parser.add_argument(
        "--arch",
        choices=["unet", "mobilenet"],
        default="unet",
        help="unet: the network from scratch; mobilenet: an ImageNet MobileNetV2 encoder (see --pretrained)",
    )
    parser.add_argument(
        "--pretrained",
        type=Path,
        default=DEFAULT_TFLITE,
        help="the MobileNetV2 TFLite file for --arch mobilenet (default %(default)s)",
    )
    parser.add_argument(
        "--decoder-widths",
        type=_ints(3),
        default=(96, 48, 32),
        help="--arch mobilenet: decoder channels at 1/16, 1/8, 1/4 (default %(default)s)",
    )
    parser.add_argument("--freeze-steps", type=int, default=0, help="steps with the pretrained encoder frozen")
    parser.add_argument(
        "--encoder-lr", type=float, default=TrainOptions.encoder_lr, help="encoder learning rate as a share of --lr"
    )
    parser.add_argument(
        "--hints", action="store_true", help="train with colour-hint inputs (ab + mask beside L, --arch mobilenet)"
    )
    parser.add_argument(
        "--init",
        type=Path,
        help="start from a finished run's --checkpoint (the weights it selected) or an exported model (.onnx), "
        "with a fresh schedule",
    )
    parser.add_argument("--summary-json", type=Path, help="write losses and timings here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for folder in args.data:
        if not folder.is_dir():
            parser.error(f"--data {folder}: no such folder")
    multiple = 32 if args.arch == "mobilenet" else 16
    if args.steps < 1 or args.batch_size < 1 or args.crop % multiple:
        parser.error(f"--steps and --batch-size must be positive and --crop a multiple of {multiple}")
    if args.hints and args.arch != "mobilenet":
        parser.error("--hints needs --arch mobilenet")
    if args.arch == "mobilenet" and not args.pretrained.is_file():
        parser.error(f"--pretrained {args.pretrained}: no such file")
    if args.init is not None and not args.init.is_file():
        parser.error(f"--init {args.init}: no such file")
    if min(args.widths) < 1:
        parser.error("--widths must all be positive")
    if not 0 < args.rebalance <= 1:
        parser.error("--rebalance must be in (0, 1]")
    options = TrainOptions(
        data=tuple(args.data),
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
        head=args.head,
        film_augment=args.film_augment,
        spectral_augment=args.spectral_augment,
        rebalance=args.rebalance,
        l1_weight=args.l1_weight,
        gan_steps=args.gan_steps,
        gan_weight=args.gan_weight,
        temperature=args.temperature,
        val_fraction=args.val_fraction,
        val_every=args.val_every,
        checkpoint=args.checkpoint,
        seed=args.seed,
        threads=args.threads,
        command=shlex.join(["vidcolor-train", *argv]),
        pretrained=args.pretrained if args.arch == "mobilenet" else None,
        freeze_steps=args.freeze_steps,
        encoder_lr=args.encoder_lr,
        init=args.init,
        dims=ModelDims(widths=args.widths, blocks=args.blocks)
        if args.arch == "unet"
        else ModelDims(widths=args.decoder_widths, arch="mobilenet", hints=args.hints),
    )
    summary = train(options)
    if args.summary_json:
        args.summary_json.write_text(summary_json(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
