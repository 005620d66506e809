"""The training loop: seeded, resumable, validation-selected, exported to ONNX at the end."""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidcolor.colour import ab_gamut_bins
from vidcolor.provenance import git_revision

from .adversarial import adversarial_phase
from .data import PhotoSet, find_photos, is_validation, sample_hints
from .export import check_parity, contract, export_onnx, import_weights, load_exported, recalibrate
from .losses import annealed_mean, bin_weights, classification_loss, l1_loss
from .model import AB_SCALE, HINT_SCALE, L_SCALE, L_SHIFT, OUTPUT_STRIDE, ModelDims, build_model

RECALIBRATION_BATCHES = 8  # training batches that set the statistics of an imported model's batch norms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    data: tuple[Path, ...]  # folders searched for photos
    out: Path  # the ONNX model written at the end
    steps: int = 3000  # optimizer steps
    batch_size: int = 16  # photos per step
    crop: int = 128  # px, square training crops
    lr: float = 2e-3  # peak learning rate (one-cycle schedule)
    head: str = "classification"  # "classification" (Zhang et al.) or "regression" (L1)
    film_augment: bool = False  # degrade input luma like archival film (exposure, contrast, grain)
    spectral_augment: bool = False  # input luma as film of random colour sensitivity (ortho, blue) records it
    rebalance: float = 0.5  # classification head: Zhang et al.'s lambda (1.0: no class rebalancing)
    l1_weight: float = 0.0  # classification head: weight of an L1 term on the annealed-mean ab (0: none)
    gan_steps: int = 0  # PatchGAN steps after the main run (0: none); their final weights are exported
    gan_weight: float = 0.05  # adversarial loss weight beside the main objective
    temperature: float = 0.5  # annealed-mean temperature stored for the runtime (docs/training.md, "Decoding settings")
    render_size: int = 256  # px, the short side the runtime should render at
    val_fraction: float = 0.1  # share of photos held out for validation
    val_every: int = 250  # steps between validation passes
    checkpoint: Path | None = None  # resumable state, written every val_every steps
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch's default
    command: str = ""  # the command line, recorded in the model's metadata
    pretrained: Path | None = None  # MobileNetV2 TFLite file for the "mobilenet" encoder (dims.arch)
    freeze_steps: int = 0  # steps with the pretrained encoder frozen, before it is fine-tuned
    encoder_lr: float = 0.1  # the encoder's learning rate, as a share of lr, once unfrozen
    init: Path | None = None  # start from the weights a finished run's checkpoint selected (fresh schedule)
    dims: ModelDims = field(default_factory=ModelDims)


def photos_by_folder(paths: list[Path], roots: tuple[Path, ...]) -> dict[str, int]:
    """How many photos came from each source folder (a root's child, or under `more/`, its child)."""
    counts: dict[str, int] = {}
    for path in paths:
        root = next(r for r in roots if path.is_relative_to(r))
        parts = path.relative_to(root).parts[:-1]
        key = "/".join([str(root), *parts[: 2 if parts[:1] == ("more",) else 1]])
        counts[key] = counts.get(key, 0) + 1
    return counts


def _to_ab(raw: torch.Tensor, head: str, bins: torch.Tensor, temperature: float) -> torch.Tensor:
    return annealed_mean(raw, bins, temperature) if head == "classification" else raw * AB_SCALE


def train(options: TrainOptions) -> dict:
    """Train, export options.out, check ONNX parity; returns a summary (losses, timings)."""
    revision = git_revision() or "unknown"  # the code that trains: read now, a commit during the run must not count
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    if options.threads:
        torch.set_num_threads(options.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_amp = device.type == "cuda"

    paths = find_photos(list(options.data))
    train_paths = [p for p in paths if not is_validation(p, options.val_fraction)]
    val_paths = [p for p in paths if is_validation(p, options.val_fraction)]
    if not train_paths or not val_paths:
        raise ValueError(f"need photos on both sides of the split; found {len(paths)} under {options.data}")
    started = time.perf_counter()
    train_set, val_set = PhotoSet.load(train_paths), PhotoSet.load(val_paths)
    log.info(
        "loaded %d training and %d validation photos in %.0f s",
        len(train_set.images),
        len(val_set.images),
        time.perf_counter() - started,
    )

    bins_np = ab_gamut_bins()
    dims = ModelDims(
        **{
            **asdict(options.dims),
            "head": options.head,
            "num_bins": len(bins_np) if options.head == "classification" else 0,
        }
    )
    model = build_model(dims)
    if dims.arch == "mobilenet":
        if options.pretrained is None:
            raise ValueError("the mobilenet encoder needs its pretrained weights (pretrained=...)")
        model.load_pretrained(options.pretrained)
    parent = None
    if options.init is not None and options.init.suffix == ".onnx":
        parent = _start_from_export(model, dims, options, train_set)
    elif options.init is not None:
        state = torch.load(options.init, map_location="cpu", weights_only=False)
        chosen = state["best"][1] if state.get("selected_by") == "val_loss" and state["best"][1] else state["model"]
        model.load_state_dict(chosen)
        parent = {"checkpoint": str(options.init), "steps": state["step"]}
        log.info("starting from the weights of %s (a run of %d steps)", options.init, state["step"])
    model = model.to(device).to(memory_format=torch.channels_last)
    encoder = model.encoder_parameters() if dims.arch == "mobilenet" else []
    encoder_ids = {id(p) for p in encoder}
    rest = [p for p in model.parameters() if id(p) not in encoder_ids]
    bins = torch.from_numpy(bins_np).to(device)
    _, ab_sample = train_set.sample(np.random.default_rng(options.seed + 1), 256, 32)
    weights = torch.from_numpy(
        bin_weights(ab_sample.transpose(0, 2, 3, 1).reshape(-1, 2)[::4], bins_np, options.rebalance)
    ).to(device)
    groups = [{"params": rest, "lr": options.lr}]
    if encoder:
        groups.append({"params": encoder, "lr": options.lr * options.encoder_lr})
    optimizer = torch.optim.AdamW(groups, lr=options.lr, weight_decay=1e-4)
    peaks = [g["lr"] for g in groups]
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, peaks, total_steps=options.steps, pct_start=0.1)

    def set_frozen(frozen: bool) -> None:
        for p in encoder:
            p.requires_grad_(not frozen)

    scaler = torch.amp.GradScaler(enabled=use_amp)

    step, best, history = 0, (float("inf"), None), []
    if options.checkpoint and options.checkpoint.exists():
        state = torch.load(options.checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        rng.bit_generator.state = state["rng"]
        step, history = state["step"], state["history"]
        best = state["best"] if state.get("selected_by") == "val_loss" else best
        log.info("resumed from %s at step %d", options.checkpoint, step)

    val_l, val_ab = (torch.from_numpy(a).to(device) for a in val_set.fixed(options.crop))

    def objective(raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if options.head == "regression":
            return l1_loss(raw * AB_SCALE, target)
        loss = classification_loss(raw, target, bins, weights)
        if options.l1_weight:
            # Pulls the decoded colour toward the truth where the distribution is confidently wrong.
            loss = loss + options.l1_weight * l1_loss(annealed_mean(raw, bins, options.temperature), target)
        return loss

    def validate() -> dict:
        """Validation loss (the training objective, which selects the exported weights) and ab L1."""
        model.eval()
        l1, losses = [], []
        with torch.no_grad(), torch.autocast(device.type, enabled=use_amp):
            for i in range(0, len(val_l), 32):
                raw = model(val_l[i : i + 32] / L_SCALE - L_SHIFT).float()
                target = torch.nn.functional.avg_pool2d(val_ab[i : i + 32], OUTPUT_STRIDE)
                pred = _to_ab(raw, options.head, bins, options.temperature)
                l1.append((pred - target).abs().mean(dim=(1, 2, 3)))
                losses.append(float(objective(raw, target)) * len(raw))
        model.train()
        return {"val_loss": sum(losses) / len(val_l), "val_ab_l1": float(torch.cat(l1).mean())}

    if parent and step == 0:  # where the parent stands on this run's validation photos: the bar to beat
        record = {"step": 0, **validate()}
        history.append(record)
        best = (record["val_loss"], {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        log.info("step 0 (--init)  val loss %.4f  val ab L1 %.3f", record["val_loss"], record["val_ab_l1"])
    model.train()
    loop_start, running = time.perf_counter(), []
    while step < options.steps:
        set_frozen(step < options.freeze_steps)
        l_np, ab_np = train_set.sample(
            rng, options.batch_size, options.crop, options.film_augment, options.spectral_augment
        )
        lightness, ab = torch.from_numpy(l_np).to(device), torch.from_numpy(ab_np).to(device)
        extra = (torch.from_numpy(sample_hints(ab_np, rng, HINT_SCALE)).to(device),) if dims.hints else ()
        target = torch.nn.functional.avg_pool2d(ab, OUTPUT_STRIDE)
        with torch.autocast(device.type, enabled=use_amp):
            raw = model((lightness / L_SCALE - L_SHIFT).contiguous(memory_format=torch.channels_last), *extra)
        loss = objective(raw.float(), target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        step += 1
        running.append(loss.item())
        if step % options.val_every == 0 or step == options.steps:
            record = {
                "step": step,
                "train_loss": float(np.mean(running)),
                **validate(),
                "seconds": round(time.perf_counter() - loop_start, 1),
            }
            running = []
            history.append(record)
            log.info(
                "step %d  train loss %.4f  val loss %.4f  val ab L1 %.3f",
                step,
                record["train_loss"],
                record["val_loss"],
                record["val_ab_l1"],
            )
            if record["val_loss"] < best[0]:
                best = (record["val_loss"], {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            if options.checkpoint:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(),
                        "rng": rng.bit_generator.state,
                        "step": step,
                        "best": best,
                        "selected_by": "val_loss",
                        "history": history,
                    },
                    options.checkpoint,
                )

    if best[1] is not None:
        model.load_state_dict(best[1])
    gan_history = []
    if options.gan_steps:
        gan_history = adversarial_phase(
            model,
            sample=lambda: train_set.sample(
                rng, options.batch_size, options.crop, options.film_augment, options.spectral_augment
            ),
            objective=objective,
            to_ab=lambda raw: _to_ab(raw, options.head, bins, options.temperature),
            validate=validate,
            steps=options.gan_steps,
            weight=options.gan_weight,
            lr=options.lr,
            device=device,
            val_every=options.val_every,
        )
    model = model.cpu().float().eval()
    info = {
        "command": options.command,
        "data": [str(d) for d in options.data],
        "train_photos": len(train_set.images),
        "train_photos_by_folder": photos_by_folder(train_set.paths, options.data),
        "val_photos": len(val_set.images),
        "val_fraction": options.val_fraction,
        "steps": options.steps,
        "film_augment": options.film_augment,
        "spectral_augment": options.spectral_augment,
        "l1_weight": options.l1_weight,
        "gan_steps": options.gan_steps,
        "gan_weight": options.gan_weight,
        "arch": dims.arch,
        "pretrained": str(options.pretrained) if options.pretrained else None,
        "freeze_steps": options.freeze_steps,
        "encoder_lr": options.encoder_lr,
        "init": parent,
        "crop": options.crop,
        "batch_size": options.batch_size,
        "hints": dims.hints,
        "seed": options.seed,
        "best_val_loss": best[0],
        "revision": revision,
        "machine": f"{platform.machine()} {device.type}",
        "train_seconds": round(time.perf_counter() - loop_start, 1),
    }
    meta = contract(model, bins_np, options.temperature, options.render_size, info)
    export_onnx(model, options.out, meta)
    parity = check_parity(model, options.out)
    summary = {**info, "onnx_parity_max_ab": parity, "history": history, "gan_history": gan_history}
    log.info("wrote %s", options.out)
    return summary


def summary_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, default=str)


def _start_from_export(model, dims: ModelDims, options: TrainOptions, train_set: PhotoSet) -> dict:
    """Loads an exported model (a shipped default.onnx, say) into `model` for --init, checked.

    Its batch norms were folded away on export; they are recalibrated on a few training batches
    (hinted as in training) so that training continues from the exported function, and the result
    must match the file within the export's own parity tolerance.
    """
    proto, _, meta = load_exported(options.init)
    if ModelDims.from_dict(meta["dims"]) != dims:
        raise ValueError(f"--init {options.init}: its network {meta['dims']} is not this run's {dims.to_dict()}")
    folded = import_weights(model, proto, options.init)
    rng = np.random.default_rng(options.seed + 2)
    batches = []
    for _ in range(RECALIBRATION_BATCHES):
        l_np, ab_np = train_set.sample(rng, options.batch_size, options.crop)
        extra = (torch.from_numpy(sample_hints(ab_np, rng, HINT_SCALE)),) if dims.hints else ()
        batches.append((torch.from_numpy(l_np) / L_SCALE - L_SHIFT, *extra))
    recalibrate(model, folded, batches)
    parity = check_parity(model, options.init)
    steps = meta.get("training", {}).get("steps")
    log.info("starting from the exported model %s (%s steps; parity %.5f ab)", options.init, steps, parity)
    return {"model": str(options.init), "steps": steps, "parity_max_ab": parity}
